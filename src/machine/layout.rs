//! The PC's physical memory map: where RAM sits around the legacy and PCI holes, and the
//! e820 table that describes it to boot loaders and kernels.

use super::boot::{e820, E820Entry};
use crate::mem::{PhysMem, RegionKind};
use crate::Error;

/// RAM below 4 GiB stops here when there is more: the rest is remapped above 4 GiB, leaving
/// 0xC000_0000–0xFFFF_FFFF for PCI, the APICs, the HPET and the BIOS ROM.
pub const LOW_RAM_END: u64 = 0xC000_0000;
/// Where the VGA window and the option/BIOS ROM area start (RAM stops here in e820's eyes).
pub const EBDA: u64 = 0x9_FC00;
/// The legacy VGA graphics window (the colour text buffer above it is plain RAM, see
/// `dev::vga`).
pub const VGA: std::ops::Range<u64> = 0xA_0000..0xB_8000;
/// The BIOS area the e820 map reports as reserved: the upper BIOS (0xF0000) and, below it,
/// the 64 KiB where the board writes its ACPI tables (`machine::acpi::TABLES_BASE`).
pub const BIOS: std::ops::Range<u64> = 0xE_0000..0x10_0000;
/// The APIC/HPET MMIO area reported as reserved.
pub const LAPIC_IOAPIC: [std::ops::Range<u64>; 3] = [
    0xFEC0_0000..0xFEC0_1000,
    0xFED0_0000..0xFED0_0400,
    0xFEE0_0000..0xFEE0_1000,
];

/// How `memory` bytes of RAM split around the hole below 4 GiB: (below 4 GiB, above).
pub fn ram_split(memory: u64) -> (u64, u64) {
    if memory <= LOW_RAM_END {
        (memory, 0)
    } else {
        (LOW_RAM_END, memory - LOW_RAM_END)
    }
}

/// Guest memory for `memory` bytes of RAM: RAM from 0 (the VGA window punched out as
/// MMIO) and, beyond [`LOW_RAM_END`], remapped above 4 GiB.
pub fn memory(memory: u64) -> Result<PhysMem, Error> {
    if memory < 2 << 20 {
        return Err(Error::option(
            "memory",
            format!("{memory} bytes is too little: the PC needs at least 2 MiB"),
        ));
    }
    let mut mem = PhysMem::new(memory)
        .map_err(|e| Error::Host(format!("cannot map {memory} bytes of guest RAM: {e}")))?;
    let (below, above) = ram_split(memory);
    let mut map = |r: std::ops::Range<u64>, k: RegionKind| mem.map(r, k).map_err(Error::Host);
    if above > 0 {
        // `PhysMem::new` mapped everything from 0; hand the part past the hole to 4 GiB.
        map(below..memory, RegionKind::Mmio)?;
        map(
            1 << 32..(1 << 32) + above,
            RegionKind::Ram { offset: below },
        )?;
    }
    map(VGA, RegionKind::Mmio)?;
    Ok(mem)
}

/// The e820 map of a PC with `memory` bytes of RAM.
pub fn e820_map(memory: u64) -> Vec<E820Entry> {
    let (below, above) = ram_split(memory);
    let mut v = vec![
        E820Entry {
            addr: 0,
            size: EBDA,
            kind: e820::RAM,
        },
        E820Entry {
            addr: EBDA,
            size: 0xA_0000 - EBDA,
            kind: e820::RESERVED,
        },
        E820Entry {
            addr: BIOS.start,
            size: BIOS.end - BIOS.start,
            kind: e820::RESERVED,
        },
        E820Entry {
            addr: 0x10_0000,
            size: below - 0x10_0000,
            kind: e820::RAM,
        },
    ];
    for r in LAPIC_IOAPIC {
        v.push(E820Entry {
            addr: r.start,
            size: r.end - r.start,
            kind: e820::RESERVED,
        });
    }
    if above > 0 {
        v.push(E820Entry {
            addr: 1 << 32,
            size: above,
            kind: e820::RAM,
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_machines_keep_all_ram_below_the_hole() {
        assert_eq!(ram_split(128 << 20), (128 << 20, 0));
        let map = e820_map(128 << 20);
        assert_eq!(
            map[3],
            E820Entry {
                addr: 0x10_0000,
                size: (128 << 20) - 0x10_0000,
                kind: e820::RAM
            }
        );
        assert!(map.iter().all(|e| e.addr + e.size <= 1 << 32));
        assert_eq!(
            map[2],
            E820Entry {
                addr: 0xE_0000,
                size: 0x2_0000,
                kind: e820::RESERVED
            },
            "the ACPI tables and the BIOS area are reserved"
        );
        assert!(BIOS.contains(&super::super::acpi::TABLES_BASE));
    }

    #[test]
    fn large_machines_remap_ram_above_4_gib() {
        let mem = 4 << 30;
        assert_eq!(ram_split(mem), (LOW_RAM_END, mem - LOW_RAM_END));
        assert_eq!(
            e820_map(mem).last(),
            Some(&E820Entry {
                addr: 1 << 32,
                size: mem - LOW_RAM_END,
                kind: e820::RAM
            })
        );
        let m = memory(mem).unwrap();
        assert_eq!(m.read_u8(LOW_RAM_END), None, "the PCI hole is not RAM");
        assert_eq!(m.read_u8(1 << 32), Some(0));
        assert_eq!(m.read_u8(0xA0000), None, "the VGA graphics window is MMIO");
        assert_eq!(m.read_u8(0xB8000), Some(0), "the text buffer is memory");
    }
}
