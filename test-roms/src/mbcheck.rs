//! Checks the multiboot kernels share: the machine state at entry, the memory map and sizes
//! expected for [`MEMORY`] of RAM, cross-checked with the CMOS, and the modules.

use iced_x86::code_asm::*;

use super::data;
use super::rt::{fnv1a, Rt, BSS, END, R, SCRATCH};
use super::MEMORY;
use vx86::machine::boot::E820Entry;

/// The e820 map of the machine the kernels are booted on.
pub fn e820() -> Vec<E820Entry> {
    vx86::machine::layout::e820_map(MEMORY)
}

/// mem_lower and mem_upper (KiB from 0 to the first hole; from 1 MiB to the next hole) for
/// the map: 639 KiB below the EBDA, and all RAM from 1 MiB up.
pub fn mem_lower_upper() -> (u32, u32) {
    let map = e820();
    let ram_at = |a: u64| {
        map.iter()
            .find(|e| e.kind == 1 && e.addr <= a && a < e.addr + e.size)
            .map_or(0, |e| e.addr + e.size - a)
    };
    (
        (ram_at(0).min(0xA_0000) / 1024) as u32,
        (ram_at(0x10_0000) / 1024) as u32,
    )
}

/// The map as dwords of 24-byte entries: base, length, type, then `fourth` (multiboot 1
/// puts a size field of 20 first instead: see [`mb1_map`]).
pub fn mb2_map() -> Vec<u32> {
    e820()
        .iter()
        .flat_map(|e| {
            [
                e.addr as u32,
                (e.addr >> 32) as u32,
                e.size as u32,
                (e.size >> 32) as u32,
                e.kind,
                0,
            ]
        })
        .collect()
}

/// The map as multiboot 1 lays it out: size (20), base, length, type.
pub fn mb1_map() -> Vec<u32> {
    e820()
        .iter()
        .flat_map(|e| {
            [
                20,
                e.addr as u32,
                (e.addr >> 32) as u32,
                e.size as u32,
                (e.size >> 32) as u32,
                e.kind,
            ]
        })
        .collect()
}

/// Checks the state multiboot promises at entry (Multiboot 0.6.96 §3.2, Multiboot2 §3.3):
/// CR0.PE set and CR0.PG clear, EFLAGS.VM and EFLAGS.IF clear, CS a flat 32-bit
/// read/execute segment, DS/ES/FS/GS/SS flat read/write data segments.
pub fn check_entry_state(r: &mut Rt) -> R {
    r.mov(eax, cr0)?;
    r.and(eax, 0x8000_0001u32)?;
    r.check_eq(eax, 1, "CR0.PG and CR0.PE at entry (PE only)")?;
    r.pushfd()?;
    r.pop(eax)?;
    r.and(eax, 0x2_0200)?;
    r.check_eq(eax, 0, "EFLAGS.VM and EFLAGS.IF at entry")?;
    r.sgdt(ptr(SCRATCH + 0x80))?;
    for (seg, name, code) in [
        (cs, "CS", true),
        (ds, "DS", false),
        (es, "ES", false),
        (fs, "FS", false),
        (gs, "GS", false),
        (ss, "SS", false),
    ] {
        // The descriptor the selector names in the GDT (SDM Vol. 3A 3.4.5).
        r.mov(esi, dword_ptr(SCRATCH + 0x82))?;
        r.xor(eax, eax)?;
        r.mov(ax, seg)?;
        r.and(eax, 0xFFF8)?;
        r.add(esi, eax)?;
        r.check_eq(
            dword_ptr(esi),
            0x0000_FFFF,
            &format!("{name} descriptor: base 15:0 and limit 15:0"),
        )?;
        r.mov(eax, dword_ptr(esi + 4))?;
        r.and(eax, 0xFFEF_9AFFu32)?;
        let want = if code { 0x00CF_9A00 } else { 0x00CF_9200 };
        r.check_eq(
            eax,
            want,
            &format!(
                "{name} descriptor: flat, 4 GiB, 32-bit, present, {}",
                if code {
                    "read/execute code"
                } else {
                    "read/write data"
                }
            ),
        )?;
    }
    r.print("entry state: protected mode, paging off, interrupts off, flat segments\n")
}

/// Checks that A20 is enabled: writes to an address with bit 20 set and to its alias below
/// 1 MiB must not meet. Writes low memory: run it after the boot information is read.
pub fn check_a20(r: &mut Rt) -> R {
    let high = BSS + 0xF00;
    let low = high & !(1 << 20);
    r.mov(dword_ptr(low), 0x5A5A_5A5A)?;
    r.mov(dword_ptr(high), 0xA5A5_A5A5u32)?;
    r.check_eq(
        dword_ptr(low),
        0x5A5A_5A5A,
        "A20 gate: memory at 1 MiB + 0x10f00 aliases 0x10f00",
    )?;
    r.print("A20 is enabled\n")
}

/// Checks `reg` (mem_upper in KiB) against the CMOS: registers 0x34/0x35 count the RAM above
/// 16 MiB in 64-KiB blocks, so mem_upper = 15 MiB + that.
pub fn check_upper_against_cmos(r: &mut Rt, reg: AsmRegister32) -> R {
    r.push(ecx)?;
    r.mov(al, 0x35)?;
    r.out(0x70, al)?;
    r.in_(al, 0x71)?;
    r.movzx(ecx, al)?;
    r.shl(ecx, 8)?;
    r.mov(al, 0x34)?;
    r.out(0x70, al)?;
    r.in_(al, 0x71)?;
    r.mov(cl, al)?;
    r.shl(ecx, 6)?;
    r.add(ecx, 15 * 1024)?;
    r.mov(eax, reg)?;
    r.sub(eax, ecx)?;
    r.pop(ecx)?;
    r.check_eq(
        eax,
        0,
        "mem_upper minus the CMOS's memory size (15 MiB + 0x34/0x35 * 64 KiB)",
    )
}

/// A module the boot-information kernels expect: (bytes, file name).
pub fn modules() -> [(Vec<u8>, &'static str); 2] {
    [(data::a_bytes(), data::A), (data::b_bytes(), data::B)]
}

/// Checks module `i` given as start and end addresses in ESI and EDI: page-aligned, above the
/// kernel (and above module `i - 1`, whose end is in EBP), the right length and contents.
pub fn check_module(r: &mut Rt, i: usize) -> R {
    let (bytes, _) = &modules()[i];
    let len = bytes.len() as u32;
    r.mov(eax, esi)?;
    r.and(eax, 0xFFF)?;
    r.check_eq(
        eax,
        0,
        &format!("module {i} start: page-aligned (offset in its page)"),
    )?;
    r.check_range(
        esi,
        END as u32,
        (MEMORY - bytes.len() as u64) as u32,
        &format!("module {i} start: above the kernel, in RAM"),
    )?;
    if i > 0 {
        r.mov(eax, esi)?;
        r.sub(eax, ebp)?;
        r.check_range(
            eax,
            0,
            0x1000,
            &format!("module {i} start minus module {} end", i - 1),
        )?;
    }
    r.mov(eax, edi)?;
    r.sub(eax, esi)?;
    r.check_eq(
        eax,
        len,
        &format!("module {i} length (mod_end - mod_start)"),
    )?;
    r.check_fnv(
        esi,
        len,
        fnv1a(bytes),
        &format!("module {i} contents (FNV-1a)"),
    )?;
    r.mov(ebp, edi)
}
