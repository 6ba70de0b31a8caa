//! The ACPI tables the machine writes into guest memory before a direct boot: RSDP, RSDT,
//! XSDT, FADT (+ FACS and DSDT), MADT and HPET, describing this board.
//!
//! References: ACPI 6.4 §5.2.5 (RSDP), §5.2.6 (system description table header), §5.2.7–8
//! (RSDT, XSDT), §5.2.9 (FADT, Table 5.6: field offsets; §5.2.9.3 IA-PC boot architecture
//! flags), §5.2.10 (FACS), §5.2.11.1 (DSDT), §5.2.12 (MADT: local APIC, I/O APIC, interrupt
//! source override, local APIC NMI structures), §5.2.3.2 (generic address structure);
//! IA-PC HPET specification 1.0a §3.2.4 (the HPET description table).
//!
//! Everything lives in the BIOS area at 0xE0000 (reserved in the e820 map): the RSDP first,
//! on a 16-byte boundary, so a kernel that scans 0xE0000–0xFFFFF for "RSD PTR " finds it
//! too, as well as one that takes its address from the boot information.
//!
//! The FADT is revision 5 (ACPI 5.0, 268 bytes) with both the 32-bit and the X_ forms of
//! every block; ACPI is always on (no SMI command port, SCI_EN set by the hardware). The
//! DSDT holds `\_S5` (SLP_TYP 0, the PIIX4's soft off), a processor device, and the PCI root
//! bridge with its windows and the ISA bridge's legacy devices.

use super::aml::{self, res};
use crate::dev::acpi_pm;
use crate::mem::PhysMem;
use crate::Error;

/// Where the tables go (the RSDP first).
pub const TABLES_BASE: u64 = 0xE_0000;
/// The OEM ID of every table.
pub const OEM_ID: &[u8; 6] = b"VX86  ";
/// The OEM table ID of every table.
pub const OEM_TABLE_ID: &[u8; 8] = b"VX86PC  ";
/// The OEM revision.
pub const OEM_REVISION: u32 = 1;
/// The creator ID ("ASL compiler" ID for the DSDT).
pub const CREATOR_ID: &[u8; 4] = b"VX86";
/// The creator revision.
pub const CREATOR_REVISION: u32 = 1;

/// FADT revision and length (ACPI 5.0).
pub const FADT_REVISION: u8 = 5;
/// FADT length for revision 5.
pub const FADT_LEN: usize = 268;

/// FADT field offsets (ACPI 6.4 Table 5.6).
pub mod fadt {
    /// FIRMWARE_CTRL: 32-bit FACS address.
    pub const FIRMWARE_CTRL: usize = 36;
    /// DSDT: 32-bit DSDT address.
    pub const DSDT: usize = 40;
    /// Reserved in ACPI 2.0+ (INT_MODEL in 1.0: 1 = multiple APIC).
    pub const INT_MODEL: usize = 44;
    /// Preferred_PM_Profile.
    pub const PM_PROFILE: usize = 45;
    /// SCI_INT: the SCI's ISA IRQ (2 bytes).
    pub const SCI_INT: usize = 46;
    /// SMI_CMD port (4 bytes); 0: no SMI, ACPI always on.
    pub const SMI_CMD: usize = 48;
    /// ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT (a byte each).
    pub const ACPI_ENABLE: usize = 52;
    /// PM1a_EVT_BLK (4 bytes).
    pub const PM1A_EVT_BLK: usize = 56;
    /// PM1b_EVT_BLK.
    pub const PM1B_EVT_BLK: usize = 60;
    /// PM1a_CNT_BLK.
    pub const PM1A_CNT_BLK: usize = 64;
    /// PM1b_CNT_BLK.
    pub const PM1B_CNT_BLK: usize = 68;
    /// PM2_CNT_BLK.
    pub const PM2_CNT_BLK: usize = 72;
    /// PM_TMR_BLK.
    pub const PM_TMR_BLK: usize = 76;
    /// GPE0_BLK.
    pub const GPE0_BLK: usize = 80;
    /// GPE1_BLK.
    pub const GPE1_BLK: usize = 84;
    /// PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN, GPE0_BLK_LEN, GPE1_BLK_LEN,
    /// GPE1_BASE, CST_CNT (a byte each, from here).
    pub const PM1_EVT_LEN: usize = 88;
    /// P_LVL2_LAT (2 bytes; > 100 means no C2).
    pub const P_LVL2_LAT: usize = 96;
    /// P_LVL3_LAT (2 bytes; > 1000 means no C3).
    pub const P_LVL3_LAT: usize = 98;
    /// DAY_ALRM, MON_ALRM, CENTURY (CMOS indices, a byte each).
    pub const DAY_ALRM: usize = 106;
    /// CENTURY.
    pub const CENTURY: usize = 108;
    /// IAPC_BOOT_ARCH (2 bytes).
    pub const IAPC_BOOT_ARCH: usize = 109;
    /// Flags (4 bytes).
    pub const FLAGS: usize = 112;
    /// RESET_REG (generic address structure).
    pub const RESET_REG: usize = 116;
    /// RESET_VALUE.
    pub const RESET_VALUE: usize = 128;
    /// ARM_BOOT_ARCH (2 bytes).
    pub const ARM_BOOT_ARCH: usize = 129;
    /// FADT minor version.
    pub const MINOR_VERSION: usize = 131;
    /// X_FIRMWARE_CTRL (8 bytes).
    pub const X_FIRMWARE_CTRL: usize = 132;
    /// X_DSDT (8 bytes).
    pub const X_DSDT: usize = 140;
    /// X_PM1a_EVT_BLK (GAS), then X_PM1b_EVT_BLK, X_PM1a_CNT_BLK, X_PM1b_CNT_BLK,
    /// X_PM2_CNT_BLK, X_PM_TMR_BLK, X_GPE0_BLK, X_GPE1_BLK, SLEEP_CONTROL_REG,
    /// SLEEP_STATUS_REG, 12 bytes each.
    pub const X_PM1A_EVT_BLK: usize = 148;
    /// X_PM1a_CNT_BLK.
    pub const X_PM1A_CNT_BLK: usize = 172;
    /// X_PM_TMR_BLK.
    pub const X_PM_TMR_BLK: usize = 208;
    /// X_GPE0_BLK.
    pub const X_GPE0_BLK: usize = 220;
}

/// FADT flag bit 0: WBINVD works.
pub const FADT_WBINVD: u32 = 1 << 0;
/// FADT flag bit 2: C1 is supported on all processors.
pub const FADT_PROC_C1: u32 = 1 << 2;
/// FADT flag bit 4: the power button is a control method (clear: a fixed-feature button).
pub const FADT_PWR_BUTTON: u32 = 1 << 4;
/// FADT flag bit 5: the sleep button is a control method device or absent.
pub const FADT_SLP_BUTTON: u32 = 1 << 5;
/// FADT flag bit 6: RTC wake status is not in the fixed register space.
pub const FADT_FIX_RTC: u32 = 1 << 6;
/// FADT flag bit 8: the PM timer is 32 bits wide.
pub const FADT_TMR_VAL_EXT: u32 = 1 << 8;
/// FADT flag bit 10: RESET_REG is supported.
pub const FADT_RESET_REG_SUP: u32 = 1 << 10;
/// IA-PC boot flag bit 0: legacy (ISA) devices are present.
pub const BOOT_LEGACY_DEVICES: u16 = 1 << 0;
/// IA-PC boot flag bit 1: an 8042 keyboard controller is at 0x60/0x64.
pub const BOOT_8042: u16 = 1 << 1;
/// The CMOS index of the century byte.
pub const CMOS_CENTURY: u8 = 0x32;

/// The PIIX3 reset control register and the value that resets through it (SRST | RCPU).
pub const RESET_PORT: u16 = 0xCF9;
/// RESET_VALUE.
pub const RESET_REG_VALUE: u8 = 0x06;

/// MADT flag bit 0: PCAT_COMPAT, an 8259 pair is present and must be masked to use the
/// I/O APIC.
pub const MADT_PCAT_COMPAT: u32 = 1;
/// MPS INTI flags: active high, level-triggered (polarity 01, trigger mode 11).
pub const MPS_LEVEL_HIGH: u16 = 0x000D;

/// What the tables describe: the board's addresses and the memory size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiConfig {
    /// Where RAM below 4 GiB ends; the PCI memory window starts there.
    pub low_ram_end: u64,
    /// The PM I/O base (PIIX4 PMBA): PM1a_EVT at +0, PM1a_CNT at +4, PM_TMR at +8, GPE0
    /// at +0xC.
    pub pm_base: u16,
    /// The SCI's ISA IRQ.
    pub sci_irq: u8,
    /// The local APIC's physical address.
    pub lapic_base: u64,
    /// The I/O APIC's physical address.
    pub ioapic_base: u64,
    /// The HPET's physical address.
    pub hpet_base: u64,
    /// The HPET's event timer block ID (the low 32 bits of its capabilities register).
    pub hpet_block_id: u32,
}

/// The tables, laid out from a base address.
#[derive(Clone, Debug)]
pub struct Tables {
    /// The RSDP's physical address.
    pub rsdp: u64,
    /// The image to copy to the base address.
    pub bytes: Vec<u8>,
}

/// The checksum byte that makes `bytes` sum to 0.
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)))
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// A generic address structure: address space (0 memory, 1 I/O), register bit width, bit
/// offset, access size (0 undefined/legacy, 1 byte … 4 qword), address.
pub fn gas(space: u8, bit_width: u8, access: u8, address: u64) -> [u8; 12] {
    let mut g = [0u8; 12];
    g[0] = space;
    g[1] = bit_width;
    g[3] = access;
    g[4..].copy_from_slice(&address.to_le_bytes());
    g
}

/// A system description table: the 36-byte header (length and checksum filled in) and
/// `body`.
pub fn sdt(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 36];
    put(&mut t, 0, signature);
    put(&mut t, 4, &((36 + body.len()) as u32).to_le_bytes());
    t[8] = revision;
    put(&mut t, 10, OEM_ID);
    put(&mut t, 16, OEM_TABLE_ID);
    put(&mut t, 24, &OEM_REVISION.to_le_bytes());
    put(&mut t, 28, CREATOR_ID);
    put(&mut t, 32, &CREATOR_REVISION.to_le_bytes());
    t.extend_from_slice(body);
    t[9] = checksum(&t);
    t
}

/// The RSDP (revision 2, 36 bytes) pointing at the RSDT and the XSDT.
pub fn rsdp(rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut r = vec![0u8; 36];
    put(&mut r, 0, b"RSD PTR ");
    put(&mut r, 9, OEM_ID);
    r[15] = 2;
    put(&mut r, 16, &rsdt.to_le_bytes());
    put(&mut r, 20, &36u32.to_le_bytes());
    put(&mut r, 24, &xsdt.to_le_bytes());
    // The ACPI 1.0 checksum covers the first 20 bytes, the extended one all 36.
    r[8] = checksum(&r[..20]);
    r[32] = checksum(&r);
    r
}

/// The FACS: 64 bytes, no checksum, version 2, no waking vector (no S3/S4 here).
pub fn facs() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    put(&mut f, 0, b"FACS");
    put(&mut f, 4, &64u32.to_le_bytes());
    f[32] = 2;
    f
}

/// The FADT pointing at the FACS and the DSDT.
pub fn fadt(cfg: &AcpiConfig, facs: u64, dsdt: u64) -> Vec<u8> {
    use fadt::*;
    let mut f = vec![0u8; FADT_LEN];
    let pm = cfg.pm_base as u32;
    put(&mut f, FIRMWARE_CTRL, &(facs as u32).to_le_bytes());
    put(&mut f, DSDT, &(dsdt as u32).to_le_bytes());
    f[INT_MODEL] = 1;
    f[PM_PROFILE] = 0;
    put(&mut f, SCI_INT, &(cfg.sci_irq as u16).to_le_bytes());
    // SMI_CMD, ACPI_ENABLE, ACPI_DISABLE stay 0: there is no SMM, ACPI is always on.
    let evt = pm + acpi_pm::PM1_STS as u32;
    let cnt = pm + acpi_pm::PM1_CNT as u32;
    let tmr = pm + acpi_pm::PM_TMR as u32;
    let gpe0 = pm + acpi_pm::GPE0_STS as u32;
    put(&mut f, PM1A_EVT_BLK, &evt.to_le_bytes());
    put(&mut f, PM1A_CNT_BLK, &cnt.to_le_bytes());
    put(&mut f, PM_TMR_BLK, &tmr.to_le_bytes());
    put(&mut f, GPE0_BLK, &gpe0.to_le_bytes());
    f[PM1_EVT_LEN] = acpi_pm::PM1_EVT_LEN;
    f[PM1_EVT_LEN + 1] = acpi_pm::PM1_CNT_LEN;
    f[PM1_EVT_LEN + 3] = acpi_pm::PM_TMR_LEN;
    f[PM1_EVT_LEN + 4] = acpi_pm::GPE0_BLK_LEN;
    // No C2 or C3: latencies above 100 and 1000 µs say so.
    put(&mut f, P_LVL2_LAT, &0x0FFFu16.to_le_bytes());
    put(&mut f, P_LVL3_LAT, &0x0FFFu16.to_le_bytes());
    f[CENTURY] = CMOS_CENTURY;
    // ISA devices and the 8042 are present; so is VGA (the text device), so "VGA not
    // present" stays clear, as do "MSI not supported" and "CMOS RTC not present".
    put(
        &mut f,
        IAPC_BOOT_ARCH,
        &(BOOT_LEGACY_DEVICES | BOOT_8042).to_le_bytes(),
    );
    let mut flags = FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_FIX_RTC;
    flags |= FADT_RESET_REG_SUP;
    if acpi_pm::TMR_VAL_EXT {
        flags |= FADT_TMR_VAL_EXT;
    }
    put(&mut f, FLAGS, &flags.to_le_bytes());
    put(&mut f, RESET_REG, &gas(1, 8, 0, RESET_PORT as u64));
    f[RESET_VALUE] = RESET_REG_VALUE;
    put(&mut f, X_FIRMWARE_CTRL, &facs.to_le_bytes());
    put(&mut f, X_DSDT, &dsdt.to_le_bytes());
    // The X_ blocks repeat the 32-bit ones with widths that match their lengths (ACPICA
    // warns when they disagree), access size left to the OS as the spec's legacy value.
    let x = |len: u8, addr: u32| gas(1, len * 8, 0, addr as u64);
    put(&mut f, X_PM1A_EVT_BLK, &x(acpi_pm::PM1_EVT_LEN, evt));
    put(&mut f, X_PM1A_CNT_BLK, &x(acpi_pm::PM1_CNT_LEN, cnt));
    put(&mut f, X_PM_TMR_BLK, &x(acpi_pm::PM_TMR_LEN, tmr));
    put(&mut f, X_GPE0_BLK, &x(acpi_pm::GPE0_BLK_LEN, gpe0));
    sdt(b"FACP", FADT_REVISION, &f[36..])
}

/// The MADT: one enabled local APIC (processor UID 0, APIC ID 0), the I/O APIC (ID 0,
/// GSI base 0), ISA IRQ 0 on GSI 2, the SCI level-triggered active high, and LINT1 as NMI
/// on every processor.
pub fn madt(cfg: &AcpiConfig) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(cfg.lapic_base as u32).to_le_bytes());
    b.extend_from_slice(&MADT_PCAT_COMPAT.to_le_bytes());
    // Type 0, processor local APIC: UID, APIC ID, flags (bit 0 enabled).
    b.extend_from_slice(&[0, 8, 0, 0, 1, 0, 0, 0]);
    // Type 1, I/O APIC: ID, reserved, address, GSI base.
    b.extend_from_slice(&[1, 12, 0, 0]);
    b.extend_from_slice(&(cfg.ioapic_base as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    // Type 2, interrupt source overrides: bus 0 (ISA), source IRQ, GSI, MPS INTI flags.
    let iso = |irq: u8, gsi: u32, flags: u16| {
        let mut e = vec![2, 10, 0, irq];
        e.extend_from_slice(&gsi.to_le_bytes());
        e.extend_from_slice(&flags.to_le_bytes());
        e
    };
    b.extend(iso(0, 2, 0));
    b.extend(iso(cfg.sci_irq, cfg.sci_irq as u32, MPS_LEVEL_HIGH));
    // Type 4, local APIC NMI: all processors (0xFF), conforming flags, LINT1.
    b.extend_from_slice(&[4, 6, 0xFF, 0, 0, 1]);
    sdt(b"APIC", 3, &b)
}

/// The HPET table: the event timer block ID, the base address (memory space), HPET number
/// 0, the minimum periodic tick (128 counter ticks) and no page protection.
pub fn hpet(cfg: &AcpiConfig) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&cfg.hpet_block_id.to_le_bytes());
    b.extend_from_slice(&gas(0, 64, 0, cfg.hpet_base));
    b.push(0);
    b.extend_from_slice(&128u16.to_le_bytes());
    b.push(0);
    sdt(b"HPET", 1, &b)
}

/// A PNP device with `_HID` `hid`, an optional `_UID`, and `_CRS` of `crs`.
fn pnp(name: &str, hid: &str, uid: Option<u64>, crs: &[Vec<u8>]) -> Vec<u8> {
    let mut body = aml::name("_HID", &aml::integer(aml::eisa_id(hid) as u64));
    if let Some(u) = uid {
        body.extend(aml::name("_UID", &aml::integer(u)));
    }
    body.extend(aml::name("_CRS", &res::template(crs)));
    aml::device(name, &body)
}

/// The ISA bridge (PCI 01.0) and the legacy devices behind it.
fn isa_bridge() -> Vec<u8> {
    let mut body = aml::name("_ADR", &aml::integer(0x0001_0000));
    body.extend(pnp(
        "KBD",
        "PNP0303",
        None,
        &[
            res::io(0x60, 0x60, 1, 1),
            res::io(0x64, 0x64, 1, 1),
            res::irq_no_flags(1),
        ],
    ));
    body.extend(pnp("MOU", "PNP0F13", None, &[res::irq_no_flags(12)]));
    for (i, (port, irq)) in [(0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3)]
        .into_iter()
        .enumerate()
    {
        body.extend(pnp(
            &format!("COM{}", i + 1),
            "PNP0501",
            Some(i as u64 + 1),
            &[res::io(port, port, 1, 8), res::irq_no_flags(irq)],
        ));
    }
    body.extend(pnp(
        "RTC",
        "PNP0B00",
        None,
        &[res::io(0x70, 0x70, 1, 2), res::irq_no_flags(8)],
    ));
    body.extend(pnp(
        "TMR",
        "PNP0100",
        None,
        &[res::io(0x40, 0x40, 1, 4), res::irq_no_flags(0)],
    ));
    body.extend(pnp(
        "PIC",
        "PNP0000",
        None,
        &[
            res::io(0x20, 0x20, 1, 2),
            res::io(0xA0, 0xA0, 1, 2),
            res::irq_no_flags(2),
        ],
    ));
    aml::device("ISA", &body)
}

/// The PCI root bridge: bus 0–255, the configuration ports, I/O below and above them, the
/// VGA window and the PCI memory hole from the top of low RAM to just below the I/O APIC.
fn pci_root(cfg: &AcpiConfig) -> Vec<u8> {
    let hole_start = cfg.low_ram_end.min(0xFEBF_FFFF) as u32;
    let mut body = aml::name("_HID", &aml::integer(aml::eisa_id("PNP0A03") as u64));
    body.extend(aml::name("_UID", &aml::integer(0)));
    body.extend(aml::name("_BBN", &aml::integer(0)));
    body.extend(aml::name(
        "_CRS",
        &res::template(&[
            res::word_bus_number(0, 0xFF),
            res::io(0xCF8, 0xCF8, 1, 8),
            res::word_io(0x0000, 0x0CF7),
            res::word_io(0x0D00, 0xFFFF),
            res::dword_memory(0x000A_0000, 0x000B_FFFF, true),
            res::dword_memory(hole_start, 0xFEBF_FFFF, false),
        ]),
    ));
    body.extend(isa_bridge());
    aml::device("PCI0", &body)
}

/// The `\_S5` package: SLP_TYPa, SLP_TYPb and two reserved values.
pub fn s5_package() -> Vec<u8> {
    let typ = acpi_pm::S5_SLP_TYP as u64;
    aml::package(&[
        aml::integer(typ),
        aml::integer(typ),
        aml::integer(0),
        aml::integer(0),
    ])
}

/// The DSDT (revision 2: 64-bit AML integers).
pub fn dsdt(cfg: &AcpiConfig) -> Vec<u8> {
    // Names at the root scope, as iasl encodes `\_S5` and `Scope (\_SB)` there.
    let mut aml_code = aml::name("_S5", &s5_package());
    let cpu = [
        aml::name("_HID", &aml::string("ACPI0007")),
        aml::name("_UID", &aml::integer(0)),
    ]
    .concat();
    let sb = [aml::device("CPU0", &cpu), pci_root(cfg)].concat();
    aml_code.extend(aml::scope("_SB", &sb));
    sdt(b"DSDT", 2, &aml_code)
}

/// The RSDT or XSDT: a header and the table addresses (4 or 8 bytes each).
fn sdt_list(signature: &[u8; 4], addrs: &[u64], wide: bool) -> Vec<u8> {
    let mut b = Vec::new();
    for &a in addrs {
        if wide {
            b.extend_from_slice(&a.to_le_bytes());
        } else {
            b.extend_from_slice(&(a as u32).to_le_bytes());
        }
    }
    sdt(signature, 1, &b)
}

/// Lays out every table from `base`: RSDP, FACS (64-byte aligned), DSDT, FADT, MADT,
/// HPET, RSDT, XSDT, each on a 16-byte boundary.
pub fn build(cfg: &AcpiConfig, base: u64) -> Tables {
    let mut img: Vec<u8> = vec![0; 64];
    let place = |img: &mut Vec<u8>, t: &[u8], align: usize| -> u64 {
        img.resize(img.len().next_multiple_of(align), 0);
        let at = base + img.len() as u64;
        img.extend_from_slice(t);
        at
    };
    let facs = place(&mut img, &facs(), 64);
    let dsdt = place(&mut img, &dsdt(cfg), 16);
    let fadt = place(&mut img, &fadt(cfg, facs, dsdt), 16);
    let madt = place(&mut img, &madt(cfg), 16);
    let hpet = place(&mut img, &hpet(cfg), 16);
    let tables = [fadt, madt, hpet];
    let rsdt = place(&mut img, &sdt_list(b"RSDT", &tables, false), 16);
    let xsdt = place(&mut img, &sdt_list(b"XSDT", &tables, true), 16);
    img[..36].copy_from_slice(&rsdp(rsdt as u32, xsdt));
    Tables {
        rsdp: base,
        bytes: img,
    }
}

/// Builds the tables at [`TABLES_BASE`] and writes them into guest memory; returns the
/// RSDP's address.
pub fn install(mem: &mut PhysMem, cfg: &AcpiConfig) -> Result<u64, Error> {
    let t = build(cfg, TABLES_BASE);
    mem.write_bytes(TABLES_BASE, &t.bytes)
        .map_err(|a| Error::Host(format!("cannot write the ACPI tables: {a:#x} is not RAM")))?;
    Ok(t.rsdp)
}

#[cfg(test)]
mod tests {
    use super::super::aml::decode;
    use super::*;

    fn cfg() -> AcpiConfig {
        AcpiConfig {
            low_ram_end: 128 << 20,
            pm_base: 0x600,
            sci_irq: 9,
            lapic_base: 0xFEE0_0000,
            ioapic_base: 0xFEC0_0000,
            hpet_base: 0xFED0_0000,
            hpet_block_id: 0x8086_A201,
        }
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }
    fn sums_to_zero(b: &[u8]) -> bool {
        checksum(b) == 0
    }

    /// The table at physical `addr` of an image built at `base`, by its length field.
    fn table(t: &Tables, base: u64, addr: u64) -> &[u8] {
        let at = (addr - base) as usize;
        let len = u32_at(&t.bytes, at + 4) as usize;
        &t.bytes[at..at + len]
    }

    /// Every table the XSDT lists, by signature.
    fn tables(t: &Tables) -> Vec<(String, Vec<u8>)> {
        let base = TABLES_BASE;
        let r = &t.bytes[(t.rsdp - base) as usize..];
        let xsdt = table(t, base, u64_at(r, 24));
        (36..xsdt.len())
            .step_by(8)
            .map(|at| {
                let tb = table(t, base, u64_at(xsdt, at));
                (String::from_utf8_lossy(&tb[..4]).into_owned(), tb.to_vec())
            })
            .collect()
    }

    #[test]
    fn rsdp_is_revision_2_with_both_checksums() {
        // ACPI §5.2.5.3: "RSD PTR ", the checksum of the first 20 bytes, OEM ID, revision
        // 2, RSDT address, length 36, XSDT address, the extended checksum of all 36.
        let t = build(&cfg(), TABLES_BASE);
        assert_eq!(t.rsdp, 0xE_0000);
        assert_eq!(t.rsdp % 16, 0, "on a 16-byte boundary, where kernels scan");
        let r = &t.bytes[..36];
        assert_eq!(&r[..8], b"RSD PTR ");
        assert!(sums_to_zero(&r[..20]));
        assert!(sums_to_zero(r));
        assert_eq!(&r[9..15], b"VX86  ");
        assert_eq!(r[15], 2);
        assert_eq!(u32_at(r, 20), 36);
        let rsdt = table(&t, TABLES_BASE, u32_at(r, 16) as u64);
        let xsdt = table(&t, TABLES_BASE, u64_at(r, 24));
        assert_eq!(&rsdt[..4], b"RSDT");
        assert_eq!(&xsdt[..4], b"XSDT");
        assert_eq!(rsdt.len(), 36 + 3 * 4);
        assert_eq!(xsdt.len(), 36 + 3 * 8);
        for i in 0..3 {
            assert_eq!(u32_at(rsdt, 36 + 4 * i) as u64, u64_at(xsdt, 36 + 8 * i));
        }
        assert!(t.bytes.len() < 0x1_0000, "fits below 0xF0000");
    }

    #[test]
    fn every_table_has_its_length_checksum_and_ids() {
        // §5.2.6: the length covers header and body; all bytes sum to 0; OEM ID, OEM table
        // ID, OEM revision, creator ID and revision in place.
        let t = build(&cfg(), TABLES_BASE);
        let list = tables(&t);
        let sigs: Vec<&str> = list.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(sigs, ["FACP", "APIC", "HPET"]);
        let fadt = &list[0].1;
        let dsdt = table(&t, TABLES_BASE, u64_at(fadt, 140));
        for tb in list.iter().map(|(_, b)| b.as_slice()).chain([dsdt]) {
            assert!(sums_to_zero(tb), "{:?}", &tb[..4]);
            assert_eq!(u32_at(tb, 4) as usize, tb.len());
            assert_eq!(&tb[10..16], b"VX86  ");
            assert_eq!(&tb[16..24], b"VX86PC  ");
            assert_eq!(u32_at(tb, 24), 1);
            assert_eq!(&tb[28..32], b"VX86");
            assert_eq!(u32_at(tb, 32), 1);
        }
        let facs = table(&t, TABLES_BASE, u32_at(fadt, 36) as u64);
        assert_eq!(&facs[..4], b"FACS");
        assert_eq!(facs.len(), 64);
        assert_eq!(u32_at(fadt, 36) % 64, 0, "the FACS is 64-byte aligned");
        assert_eq!(facs[32], 2, "FACS version");
    }

    #[test]
    fn fadt_fields_sit_at_their_offsets() {
        // ACPI 6.4 Table 5.6, field by field.
        let t = build(&cfg(), TABLES_BASE);
        let f = &tables(&t)[0].1;
        assert_eq!(f.len(), 268);
        assert_eq!(f[8], 5, "revision 5");
        let facs = u32_at(f, 36) as u64;
        let dsdt = u32_at(f, 40) as u64;
        assert_eq!(u64_at(f, 132), facs, "X_FIRMWARE_CTRL");
        assert_eq!(u64_at(f, 140), dsdt, "X_DSDT");
        assert_eq!(f[44], 1);
        assert_eq!(f[45], 0, "PM profile unspecified");
        assert_eq!(u16_at(f, 46), 9, "SCI_INT");
        assert_eq!(u32_at(f, 48), 0, "SMI_CMD: no SMI, ACPI always on");
        assert_eq!(
            &f[52..56],
            [0, 0, 0, 0],
            "ACPI_ENABLE/DISABLE, S4BIOS, PSTATE"
        );
        assert_eq!(u32_at(f, 56), 0x600, "PM1a_EVT_BLK");
        assert_eq!(u32_at(f, 60), 0, "PM1b_EVT_BLK");
        assert_eq!(u32_at(f, 64), 0x604, "PM1a_CNT_BLK");
        assert_eq!(u32_at(f, 68), 0);
        assert_eq!(u32_at(f, 72), 0, "no PM2");
        assert_eq!(u32_at(f, 76), 0x608, "PM_TMR_BLK");
        assert_eq!(u32_at(f, 80), 0x60C, "GPE0_BLK");
        assert_eq!(u32_at(f, 84), 0, "no GPE1");
        assert_eq!(
            &f[88..96],
            [4, 2, 0, 4, 4, 0, 0, 0],
            "block lengths, GPE1, CST"
        );
        assert_eq!(u16_at(f, 96), 0x0FFF, "no C2");
        assert_eq!(u16_at(f, 98), 0x0FFF, "no C3");
        assert_eq!(&f[100..108], [0; 8], "flush, duty cycle, day/month alarm");
        assert_eq!(f[108], 0x32, "CENTURY");
        assert_eq!(
            u16_at(f, 109),
            0x0003,
            "legacy devices and 8042; VGA present"
        );
        assert_eq!(f[111], 0);
        let flags = u32_at(f, 112);
        assert_eq!(
            flags,
            1 | 1 << 2 | 1 << 5 | 1 << 6 | 1 << 10,
            "WBINVD, PROC_C1, SLP_BUTTON, FIX_RTC, RESET_REG_SUP; fixed power button; \
             24-bit timer"
        );
        assert_eq!(&f[116..128], &gas(1, 8, 0, 0xCF9), "RESET_REG: I/O 0xCF9");
        assert_eq!(&f[116..120], [1, 8, 0, 0]);
        assert_eq!(u64_at(f, 120), 0xCF9);
        assert_eq!(f[128], 6, "RESET_VALUE");
        assert_eq!(&f[129..132], [0, 0, 0]);
        let x = |at: usize, width: u8, addr: u64| {
            assert_eq!(&f[at..at + 4], [1, width, 0, 0], "GAS at {at}");
            assert_eq!(u64_at(f, at + 4), addr, "GAS at {at}");
        };
        x(148, 32, 0x600);
        x(172, 16, 0x604);
        x(208, 32, 0x608);
        x(220, 32, 0x60C);
        for unused in [160, 184, 196, 232, 244, 256] {
            assert_eq!(&f[unused..unused + 12], [0; 12], "GAS at {unused}");
        }
    }

    #[test]
    fn madt_fields_sit_at_their_offsets() {
        // §5.2.12: local APIC address, flags, then the interrupt controller structures.
        let t = build(&cfg(), TABLES_BASE);
        let m = &tables(&t)[1].1;
        assert_eq!(m[8], 3, "revision 3");
        assert_eq!(m.len(), 44 + 8 + 12 + 10 + 10 + 6);
        assert_eq!(u32_at(m, 36), 0xFEE0_0000);
        assert_eq!(u32_at(m, 40), 1, "PCAT_COMPAT");
        // Processor local APIC: type 0, length 8, UID 0, APIC ID 0, enabled.
        assert_eq!(&m[44..52], [0, 8, 0, 0, 1, 0, 0, 0]);
        // I/O APIC: type 1, length 12, ID 0, address, GSI base 0.
        assert_eq!(&m[52..56], [1, 12, 0, 0]);
        assert_eq!(u32_at(m, 56), 0xFEC0_0000);
        assert_eq!(u32_at(m, 60), 0);
        // Interrupt source override: ISA IRQ 0 -> GSI 2, conforming.
        assert_eq!(&m[64..68], [2, 10, 0, 0]);
        assert_eq!(u32_at(m, 68), 2);
        assert_eq!(u16_at(m, 72), 0);
        // The SCI: ISA IRQ 9 -> GSI 9, active high, level-triggered.
        assert_eq!(&m[74..78], [2, 10, 0, 9]);
        assert_eq!(u32_at(m, 78), 9);
        assert_eq!(u16_at(m, 82), 0x000D);
        // Local APIC NMI: all processors, conforming, LINT1.
        assert_eq!(&m[84..90], [4, 6, 0xFF, 0, 0, 1]);
    }

    #[test]
    fn hpet_table_names_the_block() {
        // HPET spec §3.2.4: event timer block ID at 36, base address GAS at 40 (memory
        // space), HPET number at 52, minimum tick at 53, page protection at 55.
        let t = build(&cfg(), TABLES_BASE);
        let h = &tables(&t)[2].1;
        assert_eq!(h.len(), 56);
        assert_eq!(u32_at(h, 36), 0x8086_A201);
        assert_eq!(h[40], 0, "system memory");
        assert_eq!(u64_at(h, 44), 0xFED0_0000);
        assert_eq!(h[52], 0);
        assert_eq!(u16_at(h, 53), 128);
        assert_eq!(h[55], 0);
        assert_eq!(
            crate::dev::hpet::CAPABILITIES as u32,
            0x8086_A201,
            "the ID is the HPET's capabilities, low half"
        );
    }

    #[test]
    fn dsdt_s5_decodes_to_the_soft_off_type() {
        // The DSDT starts with Name (\_S5, Package () { 0, 0, 0, 0 }): the SLP_TYP the
        // PM1 control register's soft-off needs.
        let t = build(&cfg(), TABLES_BASE);
        let f = &tables(&t)[0].1;
        let d = table(&t, TABLES_BASE, u32_at(f, 40) as u64);
        assert_eq!(&d[..4], b"DSDT");
        assert_eq!(d[8], 2, "revision 2: 64-bit integers");
        let aml = &d[36..];
        assert_eq!(
            &aml[..5],
            [0x08, b'_', b'S', b'5', b'_'],
            "NameOp _S5_ at the root"
        );
        let pkg = decode::integer_package(&aml[5..]);
        assert_eq!(pkg, [0, 0, 0, 0]);
        assert_eq!(pkg[0], acpi_pm::S5_SLP_TYP as u64);
        // Then Scope (\_SB) covering the rest of the table exactly.
        let rest = &aml[5 + s5_package().len()..];
        assert_eq!(rest[0], 0x10, "ScopeOp");
        let (len, _) = decode::pkg_length(&rest[1..]);
        assert_eq!(1 + len, rest.len());
    }

    #[test]
    fn dsdt_describes_the_pci_hole_from_the_top_of_low_ram() {
        // The root bridge's _CRS: the memory window from the end of RAM below 4 GiB to
        // 0xFEBFFFFF, as DWordMemory (min at +10, max at +14, length at +22).
        for (ram, start) in [(128u64 << 20, 0x0800_0000u32), (3 << 30, 0xC000_0000)] {
            let d = dsdt(&AcpiConfig {
                low_ram_end: ram,
                ..cfg()
            });
            let pat = [0x87, 0x17, 0x00, 0x00, 0x0C, 0x01];
            let at = d
                .windows(6)
                .position(|w| w == pat)
                .expect("the non-cacheable window");
            assert_eq!(u32_at(&d, at + 10), start);
            assert_eq!(u32_at(&d, at + 14), 0xFEBF_FFFF);
            assert_eq!(u32_at(&d, at + 22), 0xFEC0_0000 - start);
            assert!(d.windows(4).any(|w| w == b"PCI0"));
            assert!(d
                .windows(4)
                .any(|w| w == aml::eisa_id("PNP0A03").to_le_bytes()));
        }
    }

    #[test]
    fn install_writes_the_image_to_the_bios_area() {
        let mut mem = PhysMem::new(2 << 20).unwrap();
        let rsdp = install(&mut mem, &cfg()).unwrap();
        assert_eq!(rsdp, TABLES_BASE);
        let mut sig = [0u8; 8];
        mem.read_bytes(0xE_0000, &mut sig);
        assert_eq!(&sig, b"RSD PTR ");
    }
}
