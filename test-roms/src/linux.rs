//! `linux.bzimage`: a handmade bzImage (boot sector and one setup sector with a protocol
//! 2.15 setup header, then a 32-bit protected-mode payload) entered through the 32-bit boot
//! protocol (Documentation/arch/x86/boot.rst). It checks the entry state (flat protected
//! mode, `__BOOT_CS`/`__BOOT_DS`, ESI the zero page, EBP = EDI = EBX = 0) and the zero page
//! (zero-page.rst): the setup header copied from the image with the loader's fields
//! (type_of_loader 0xFF, loadflags with CAN_USE_HEAP, heap_end_ptr, code32_start,
//! cmd_line_ptr and its string, the initrd placed page-aligned as high as initrd_addr_max
//! allows with its contents), the memory sizes, no screen (no display), the board's RSDP, and the
//! e820 table and count against the machine's map.

use iced_x86::code_asm::*;

use super::image::{bzimage, BzHeader};
use super::mbcheck;
use super::rt::{self, fnv1a, var, Out, Rt, BASE, R};
use super::{data, APPEND};

/// The highest address the initrd may use (its last byte): 64 MiB - 1, below the top of RAM
/// so that the limit decides where the initrd goes.
const INITRD_ADDR_MAX: u32 = 0x03FF_FFFF;
/// The setup header the image carries.
const HEADER: BzHeader = BzHeader {
    version: 0x020F,
    initrd_addr_max: INITRD_ADDR_MAX,
    cmdline_size: 255,
    init_size: 0x2_0000,
    version_string: "vx86 test bzImage",
};

/// Builds `linux.bzimage`.
pub fn build() -> Result<Vec<u8>, IcedError> {
    let pm = rt::assemble(32, Out::E9, BASE, |r| {
        for (i, reg) in [eax, ebx, ecx, edx, esi, edi, ebp].into_iter().enumerate() {
            r.mov(dword_ptr(var(i as u64)), reg)?;
        }
        r.init_stack()?;
        r.setup_idt()?;
        r.print("linux: a handmade bzImage, entered by the 32-bit boot protocol\n")?;
        entry_state(r)?;
        r.mov(esi, dword_ptr(var(4)))?;
        setup_header(r)?;
        initrd(r)?;
        memory(r)?;
        r.pass("linux")
    })?;
    Ok(bzimage(&HEADER, &pm))
}

fn entry_state(r: &mut Rt) -> R {
    for (i, name) in [(1, "EBX"), (5, "EDI"), (6, "EBP")] {
        r.check_eq(dword_ptr(var(i)), 0, &format!("{name} at entry"))?;
    }
    r.mov(eax, dword_ptr(var(4)))?;
    r.check_range(eax, 0x1000, 0x9_F000, "ESI: the zero page, in low memory")?;
    r.mov(eax, cr0)?;
    r.and(eax, 0x8000_0001u32)?;
    r.check_eq(eax, 1, "CR0.PG and CR0.PE (PE only)")?;
    r.pushfd()?;
    r.pop(eax)?;
    r.and(eax, 1 << 9)?;
    r.check_eq(eax, 0, "EFLAGS.IF")?;
    r.xor(eax, eax)?;
    for (seg, name, want) in [
        (cs, "CS", 0x10),
        (ds, "DS", 0x18),
        (es, "ES", 0x18),
        (ss, "SS", 0x18),
    ] {
        r.mov(ax, seg)?;
        r.check_eq(
            eax,
            want,
            &format!("{name} (__BOOT_CS 0x10, __BOOT_DS 0x18)"),
        )?;
    }
    r.print("entry: protected mode, __BOOT_CS/__BOOT_DS, ESI = zero page, EBX/EDI/EBP 0\n")
}

/// Checks the setup header in the zero page at ESI.
fn setup_header(r: &mut Rt) -> R {
    r.check_eq(
        dword_ptr(esi + 0x202),
        u32::from_le_bytes(*b"HdrS"),
        "header signature",
    )?;
    r.check_u16(ptr(esi + 0x206), HEADER.version, "version")?;
    r.check_u8(ptr(esi + 0x1F1), 1, "setup_sects (copied from the image)")?;
    r.check_u16(ptr(esi + 0x1FE), 0xAA55, "boot_flag")?;
    r.check_u16(ptr(esi + 0x20E), 0x100, "kernel_version (copied)")?;
    r.check_eq(
        dword_ptr(esi + 0x238),
        HEADER.cmdline_size,
        "cmdline_size (copied)",
    )?;
    r.check_eq(
        dword_ptr(esi + 0x260),
        HEADER.init_size,
        "init_size (copied)",
    )?;
    r.check_u8(ptr(esi + 0x210), 0xFF, "type_of_loader (0xff: undefined)")?;
    r.check_u8(
        ptr(esi + 0x211),
        0x81,
        "loadflags: LOADED_HIGH and CAN_USE_HEAP",
    )?;
    r.check_u16(ptr(esi + 0x224), 0xFE00, "heap_end_ptr")?;
    r.check_eq(
        dword_ptr(esi + 0x214),
        BASE as u32,
        "code32_start: where the kernel runs",
    )?;
    r.check_eq(dword_ptr(esi + 0x23C), 0, "hardware_subarch (PC)")?;
    r.mov(edi, dword_ptr(esi + 0x228))?;
    r.check_str(edi, APPEND, "the string at cmd_line_ptr")?;
    r.check_eq(dword_ptr(esi + 0xC8), 0, "ext_cmd_line_ptr")?;
    r.print("setup header: copied, with type_of_loader, loadflags, heap_end_ptr, cmdline \"")?;
    r.print_at(edi)?;
    r.print("\"\n")
}

fn initrd(r: &mut Rt) -> R {
    let bytes = data::b_bytes();
    let len = bytes.len() as u32;
    r.check_eq(dword_ptr(esi + 0x21C), len, "ramdisk_size")?;
    r.check_eq(dword_ptr(esi + 0xC0), 0, "ext_ramdisk_image")?;
    r.check_eq(dword_ptr(esi + 0xC4), 0, "ext_ramdisk_size")?;
    r.mov(edi, dword_ptr(esi + 0x218))?;
    r.mov(eax, edi)?;
    r.and(eax, 0xFFF)?;
    r.check_eq(eax, 0, "ramdisk_image: page-aligned")?;
    // As high as possible: the last byte at or below initrd_addr_max, within a page of it.
    r.lea(eax, ptr(edi + len as i32 - 1))?;
    r.check_range(
        eax,
        INITRD_ADDR_MAX - 0x1000,
        INITRD_ADDR_MAX,
        "the initrd's last byte (at most initrd_addr_max, as high as fits)",
    )?;
    r.check_fnv(edi, len, fnv1a(&bytes), "initrd contents (FNV-1a)")?;
    r.print("initrd: ")?;
    r.print_dec(dword_ptr(esi + 0x21C), 0)?;
    r.print(" bytes at 0x")?;
    r.print_hex(edi)?;
    r.print(", page-aligned under initrd_addr_max, contents as given\n")
}

fn memory(r: &mut Rt) -> R {
    let (_, upper) = mbcheck::mem_lower_upper();
    r.check_eq(dword_ptr(esi + 0x1E0), upper, "alt_mem_k")?;
    r.check_u16(
        ptr(esi + 0x002),
        upper.min(0xFFFF) as u16,
        "screen_info.ext_mem_k",
    )?;
    r.check_u8(
        ptr(esi + 0x00F),
        0,
        "screen_info.orig_video_isVGA (no display)",
    )?;
    // The board writes its ACPI tables at 0xE0000, RSDP first.
    r.check_eq(dword_ptr(esi + 0x070), 0xE_0000, "acpi_rsdp_addr")?;
    let map = mbcheck::e820();
    r.check_u8(ptr(esi + 0x1E8), map.len() as u8, "e820_entries")?;
    // struct boot_e820_entry: u64 addr, u64 size, u32 type, packed (20 bytes).
    let table: Vec<u32> = map
        .iter()
        .flat_map(|e| {
            [
                e.addr as u32,
                (e.addr >> 32) as u32,
                e.size as u32,
                (e.size >> 32) as u32,
                e.kind,
            ]
        })
        .collect();
    r.lea(edi, ptr(esi + 0x2D0))?;
    r.check_table(edi, &table, "e820_table")?;
    r.print("memory: alt_mem_k, ext_mem_k and the e820 table as the machine's map\n")
}
