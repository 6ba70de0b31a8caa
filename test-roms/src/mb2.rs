//! `mb2-32.elf` and `mb2-64.elf`: multiboot 2 kernels (ELF32, and ELF64 entered in 32-bit
//! mode) that walk their boot information (Multiboot2 Specification §3.6) and check every
//! tag: the command line, the boot loader name, both modules, basic memory information and
//! the memory map must be there, once each, with the configured contents; no framebuffer
//! (no display: the header only asks for one optionally), the board's RSDP in the ACPI old
//! and new tags, and nothing else.
//!
//! The 64-bit kernel's ELF entry point is its 64-bit code; an entry address tag sends the
//! loader to its 32-bit stub instead, which checks the tags, switches to 64-bit mode and
//! checks what it can see from there.

use iced_x86::code_asm::*;

use super::image::{dwords, Boot, Kernel};
use super::mbcheck::{self, check_entry_state, check_module};
use super::rt::{self, var, Out, Rt, CODE, R};
use super::{APPEND, MODULES};

/// Information tag types (§3.6).
mod tag {
    pub const END: u32 = 0;
    pub const CMDLINE: u32 = 1;
    pub const LOADER_NAME: u32 = 2;
    pub const MODULE: u32 = 3;
    pub const BASIC_MEMINFO: u32 = 4;
    pub const MMAP: u32 = 6;
    pub const ACPI_OLD: u32 = 14;
    pub const ACPI_NEW: u32 = 15;
}

/// Every tag type the kernels expect, once each (modules once per module).
const EXPECTED: [u32; 7] = [
    tag::CMDLINE,
    tag::LOADER_NAME,
    tag::MODULE,
    tag::BASIC_MEMINFO,
    tag::MMAP,
    tag::ACPI_OLD,
    tag::ACPI_NEW,
];

/// The header tags both kernels carry: a required information request for what they check,
/// page-aligned modules, and an optional framebuffer request (vx86 has no display here).
fn header_tags() -> Vec<(u16, u16, Vec<u8>)> {
    vec![
        (
            1,
            0,
            dwords(&[
                tag::CMDLINE,
                tag::LOADER_NAME,
                tag::MODULE,
                tag::BASIC_MEMINFO,
                tag::MMAP,
            ]),
        ),
        (6, 0, Vec::new()),
        (5, 1, dwords(&[0, 0, 0])),
    ]
}

/// Builds `mb2-32.elf`.
pub fn build32() -> Result<Vec<u8>, IcedError> {
    let code = rt::assemble(32, Out::E9, CODE, |r| {
        entry(r, "mb2-32: multiboot 2 ELF32 kernel\n")?;
        r.pass("mb2-32")
    })?;
    Ok(Kernel::new(false, Boot::Mb2(header_tags()), code).build())
}

/// Builds `mb2-64.elf`.
pub fn build64() -> Result<Vec<u8>, IcedError> {
    // The 64-bit code follows the 32-bit stub.
    let (code32, code64_at) = rt::assemble_with_next(32, Out::E9, CODE, |r, code64| {
        entry(r, "mb2-64: multiboot 2 ELF64 kernel, 32-bit entry stub\n")?;
        r.enter_long_mode(code64, false)
    })?;
    let code64 = rt::assemble(64, Out::E9, code64_at, long_mode)?;
    let mut tags = header_tags();
    // The entry address tag (§3.1.6): start at the 32-bit stub, not at e_entry.
    tags.push((3, 0, dwords(&[CODE as u32])));
    let mut k = Kernel::new(true, Boot::Mb2(tags), code32);
    k.chunks.push((code64_at, code64));
    k.entry = code64_at;
    Ok(k.build())
}

/// The 32-bit entry: registers, machine state, tags.
fn entry(r: &mut Rt, banner: &str) -> R {
    r.mov(dword_ptr(var(0)), eax)?;
    r.mov(dword_ptr(var(1)), ebx)?;
    r.init_stack()?;
    r.setup_idt()?;
    r.print(banner)?;
    r.check_eq(dword_ptr(var(0)), 0x36D7_6289, "EAX: the boot loader magic")?;
    check_entry_state(r)?;
    check_tags(r)?;
    mbcheck::check_a20(r)
}

/// Walks the tags from the information structure whose address is in var(1).
fn check_tags(r: &mut Rt) -> R {
    r.mov(ebx, dword_ptr(var(1)))?;
    r.mov(eax, ebx)?;
    r.and(eax, 7)?;
    r.check_eq(eax, 0, "boot information address modulo 8")?;
    r.check_eq(dword_ptr(ebx + 4), 0, "boot information reserved field")?;
    r.mov(dword_ptr(var(2)), 0)?; // tags seen (bit per type)
    r.mov(dword_ptr(var(3)), 0)?; // modules seen
    r.lea(esi, ptr(ebx + 8))?;

    let mut next_tag = r.label();
    let mut advance = r.label();
    let mut end = r.label();
    r.set(&mut next_tag)?;
    r.mov(eax, esi)?;
    r.sub(eax, ebx)?;
    r.cmp(eax, dword_ptr(ebx))?;
    r.fail_unless_below("a tag starts beyond total_size")?;
    r.mov(eax, dword_ptr(esi))?;
    r.mov(ecx, dword_ptr(esi + 4))?;
    r.cmp(eax, tag::END)?;
    r.je(end)?;
    for t in EXPECTED {
        let mut other = r.label();
        r.cmp(eax, t)?;
        r.jne(other)?;
        if t != tag::MODULE {
            r.test(dword_ptr(var(2)), 1 << t)?;
            r.fail_unless_zero(&format!("tag {t} appears twice"))?;
        }
        r.or(dword_ptr(var(2)), 1 << t)?;
        check_tag(r, t)?;
        r.jmp(advance)?;
        r.set(&mut other)?;
    }
    r.print("FAIL: unexpected boot information tag of type ")?;
    r.print_dec(eax, 0)?;
    r.print("\n")?;
    r.exit(rt::FAIL)?;

    r.set(&mut advance)?;
    r.add(esi, dword_ptr(esi + 4))?;
    r.add(esi, 7)?;
    r.and(esi, !7u32)?;
    r.jmp(next_tag)?;

    r.set(&mut end)?;
    r.check_eq(ecx, 8, "end tag size")?;
    r.lea(eax, ptr(esi + 8))?;
    r.sub(eax, ebx)?;
    r.cmp(eax, dword_ptr(ebx))?;
    r.fail_unless_equal("total_size: the end tag is not the last 8 bytes")?;
    let want = EXPECTED.iter().fold(0u32, |m, t| m | 1 << t);
    r.check_eq(dword_ptr(var(2)), want, "tag types seen (bit per type)")?;
    r.check_eq(dword_ptr(var(3)), MODULES.len() as u32, "module tags")?;
    r.print("tags: exactly cmdline, boot loader name, 2 modules, basic meminfo, mmap, ACPI old and new RSDP, end\n")
}

/// Checks the tag at ESI of type `t` (ECX = its size).
fn check_tag(r: &mut Rt, t: u32) -> R {
    r.lea(edi, ptr(esi + 8))?;
    match t {
        tag::CMDLINE => {
            r.check_str(edi, APPEND, "cmdline tag")?;
            r.check_eq(ecx, 8 + APPEND.len() as u32 + 1, "cmdline tag size")?;
            r.print("cmdline: \"")?;
            r.print_at(edi)?;
            r.print("\"\n")
        }
        tag::ACPI_OLD | tag::ACPI_NEW => {
            // A copy of the board's RSDP: the signature, then (new) revision 2 and its
            // 36-byte length; the old tag carries the 20-byte ACPI 1.0 part.
            r.check_eq(
                dword_ptr(edi),
                u32::from_le_bytes(*b"RSD "),
                "RSDP signature",
            )?;
            r.check_eq(
                dword_ptr(edi + 4),
                u32::from_le_bytes(*b"PTR "),
                "RSDP signature",
            )?;
            if t == tag::ACPI_NEW {
                r.check_u8(byte_ptr(edi + 15), 2, "RSDP revision")?;
                r.check_eq(dword_ptr(edi + 20), 36, "RSDP length")?;
                r.check_eq(ecx, 8 + 36, "ACPI new tag size")?;
            } else {
                r.check_eq(ecx, 8 + 20, "ACPI old tag size")?;
            }
            r.print(if t == tag::ACPI_NEW {
                "acpi: RSDP 2.0 copied\n"
            } else {
                "acpi: RSDP 1.0 copied\n"
            })
        }
        tag::LOADER_NAME => {
            r.check_str(edi, "vx86", "boot loader name tag")?;
            r.print("boot loader: vx86\n")
        }
        tag::MODULE => {
            let mut done = r.label();
            for (i, (_, args)) in MODULES.iter().enumerate() {
                let mut other = r.label();
                r.cmp(dword_ptr(var(3)), i as u32)?;
                r.jne(other)?;
                r.push(esi)?;
                r.mov(edi, dword_ptr(esi + 12))?;
                r.mov(esi, dword_ptr(esi + 8))?;
                check_module(r, i)?;
                r.pop(esi)?;
                r.lea(edi, ptr(esi + 16))?;
                r.check_str(edi, args, &format!("module {i} string"))?;
                r.check_eq(
                    ecx,
                    16 + args.len() as u32 + 1,
                    &format!("module {i} tag size"),
                )?;
                r.print(&format!(
                    "module {i}: page-aligned, contents and string \"{args}\" as given\n"
                ))?;
                r.jmp(done)?;
                r.set(&mut other)?;
            }
            r.fail("more module tags than modules")?;
            r.set(&mut done)?;
            r.inc(dword_ptr(var(3)))
        }
        tag::BASIC_MEMINFO => {
            let (lower, upper) = mbcheck::mem_lower_upper();
            r.check_eq(ecx, 16, "basic meminfo tag size")?;
            r.check_eq(dword_ptr(esi + 8), lower, "mem_lower (KiB)")?;
            r.check_eq(dword_ptr(esi + 12), upper, "mem_upper (KiB)")?;
            r.mov(edx, dword_ptr(esi + 12))?;
            mbcheck::check_upper_against_cmos(r, edx)?;
            r.print("basic meminfo: agrees with the machine and the CMOS\n")
        }
        _ => {
            let map = mbcheck::mb2_map();
            r.check_eq(ecx, 16 + 4 * map.len() as u32, "mmap tag size")?;
            r.check_eq(dword_ptr(esi + 8), 24, "mmap entry_size")?;
            r.check_eq(dword_ptr(esi + 12), 0, "mmap entry_version")?;
            r.lea(edi, ptr(esi + 16))?;
            r.check_table(edi, &map, "memory map")?;
            r.print("memory map: the machine's e820 table\n")
        }
    }
}

/// The 64-bit part of `mb2-64.elf`.
fn long_mode(r: &mut Rt) -> R {
    r.long_mode_prologue()?;
    r.setup_idt()?;
    r.print("[64-bit] running 64-bit code\n")?;
    r.mov(ecx, 0xC000_0080u32)?;
    r.rdmsr()?;
    r.and(eax, 1 << 10)?;
    r.check_eq(eax, 1 << 10, "EFER.LMA")?;
    // The boot information again, through the identity map with 64-bit pointers.
    r.mov(ebx, dword_ptr(var(1)))?;
    r.lea(rsi, ptr(rbx + 8))?;
    let mut find = r.label();
    let mut found = r.label();
    r.set(&mut find)?;
    r.cmp(dword_ptr(rsi), tag::CMDLINE)?;
    r.je(found)?;
    r.cmp(dword_ptr(rsi), tag::END)?;
    r.fail_unless_not_equal("[64-bit] no cmdline tag")?;
    r.mov(eax, dword_ptr(rsi + 4))?;
    r.add(eax, 7)?;
    r.and(eax, !7u32)?;
    r.add(rsi, rax)?;
    r.jmp(find)?;
    r.set(&mut found)?;
    r.lea(rdi, ptr(rsi + 8))?;
    r.check_str(edi, APPEND, "[64-bit] cmdline tag")?;
    // The I/O APIC at 0xFEC00000, near the top of the identity map: its version register.
    r.mov(ebx, 0xFEC0_0000u32)?;
    r.mov(dword_ptr(rbx), 1)?;
    r.mov(eax, dword_ptr(rbx + 0x10))?;
    r.and(eax, 0xFF)?;
    r.check_eq(
        eax,
        0x20,
        "[64-bit] I/O APIC version, read through the identity map",
    )?;
    r.print("[64-bit] EFER.LMA set, boot information and MMIO reachable\n")?;
    r.pass("mb2-64")
}
