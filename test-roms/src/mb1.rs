//! `mb1.elf`: a multiboot 1 ELF32 kernel that checks its boot information (Multiboot
//! Specification 0.6.96 §3.3) against what the test configured: the flags, mem_lower and
//! mem_upper (and the CMOS's idea of the RAM size), the command line, both modules (start,
//! end, string, contents), the memory map, and the boot loader name; then the board's
//! fw_cfg (see [`super::fwcfg`]).

use iced_x86::code_asm::*;

use super::fwcfg;
use super::image::{Boot, Kernel};
use super::mbcheck::{self, check_entry_state, check_module};
use super::rt::{self, var, Out, Rt, CODE, R};
use super::{APPEND, MODULES};

/// Boot information flags vx86 sets without a display: mem_*, cmdline, mods, mmap, boot
/// loader name.
const FLAGS: u32 = 1 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9;

/// Builds `mb1.elf`.
pub fn build() -> Result<Vec<u8>, IcedError> {
    let code = rt::assemble(32, Out::E9, CODE, |r| {
        r.mov(dword_ptr(var(0)), eax)?;
        r.mov(dword_ptr(var(1)), ebx)?;
        r.init_stack()?;
        r.setup_idt()?;
        r.print("mb1: multiboot 1 ELF32 kernel\n")?;
        r.check_eq(dword_ptr(var(0)), 0x2BAD_B002, "EAX: the boot loader magic")?;
        check_entry_state(r)?;
        check_info(r)?;
        fwcfg::check(r)?;
        mbcheck::check_a20(r)?;
        r.pass("mb1")
    })?;
    Ok(Kernel::new(
        false,
        Boot::Mb1 {
            flags: 1 << 1 | 1 << 0,
        },
        code,
    )
    .build())
}

fn check_info(r: &mut Rt) -> R {
    let (lower, upper) = mbcheck::mem_lower_upper();
    r.mov(ebx, dword_ptr(var(1)))?;
    r.check_eq(dword_ptr(ebx), FLAGS, "flags")?;
    r.check_eq(dword_ptr(ebx + 4), lower, "mem_lower (KiB)")?;
    r.check_eq(dword_ptr(ebx + 8), upper, "mem_upper (KiB)")?;
    r.mov(ecx, dword_ptr(ebx + 8))?;
    mbcheck::check_upper_against_cmos(r, ecx)?;
    r.print("memory: mem_lower and mem_upper agree with the machine and the CMOS\n")?;

    // QEMU's multiboot passes the kernel's file name, a space and the -append text.
    r.mov(esi, dword_ptr(ebx + 16))?;
    r.check_suffix(esi, &format!("mb1.elf {APPEND}"), "command line")?;
    r.print("cmdline: \"")?;
    r.print_at(esi)?;
    r.print("\"\n")?;

    r.check_eq(dword_ptr(ebx + 20), MODULES.len() as u32, "mods_count")?;
    r.mov(edx, dword_ptr(ebx + 24))?;
    for (i, (file, args)) in MODULES.iter().enumerate() {
        let e = 16 * i as i32;
        r.mov(esi, dword_ptr(edx + e))?;
        r.mov(edi, dword_ptr(edx + e + 4))?;
        check_module(r, i)?;
        r.mov(esi, dword_ptr(edx + e + 8))?;
        r.check_suffix(
            esi,
            &format!("{file} {args}"),
            &format!("module {i} string"),
        )?;
        r.check_eq(
            dword_ptr(edx + e + 12),
            0,
            &format!("module {i} reserved field"),
        )?;
        r.print(&format!("module {i}: page-aligned, contents and string \""))?;
        r.print_at(esi)?;
        r.print("\" as given\n")?;
    }

    let map = mbcheck::mb1_map();
    r.check_eq(dword_ptr(ebx + 44), (map.len() * 4) as u32, "mmap_length")?;
    r.mov(esi, dword_ptr(ebx + 48))?;
    r.check_table(esi, &map, "memory map")?;
    r.print("memory map: the machine's e820 table\n")?;

    r.mov(esi, dword_ptr(ebx + 64))?;
    r.check_str(esi, "vx86", "boot_loader_name")?;
    r.print("boot loader: vx86\n")
}
