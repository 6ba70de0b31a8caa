//! `elf32.elf` and `elf64.elf`: plain ELF kernels (no boot header). Both are linked as
//! higher-half kernels (virtual addresses 3 GiB / -2 GiB up, physical addresses 1 MiB up),
//! so the loader must put each segment at its `p_paddr` and translate `e_entry` through the
//! segment that holds it; a second segment at 3 MiB carries a marker.
//!
//! The 32-bit kernel checks flat protected mode with paging off and the documented
//! selectors; the 64-bit one checks 64-bit mode with the first 4 GiB identity-mapped, by
//! walking the page tables and reading RAM and the APICs and HPET through them. Both check
//! that every general register starts at zero.

use iced_x86::code_asm::*;

use super::image::{Boot, Kernel, Segment};
use super::mbcheck::check_entry_state;
use super::rt::{self, var, Out, Rt, CODE, R};
use super::MEMORY;

/// Physical address of the second segment.
const SEG2: u64 = 0x30_0000;
/// Its contents.
const MARKER: &[u8; 16] = b"second segment!\0";

/// Stores every general register at entry in var(0..8) (var(8..16): R8–R15 in 64-bit mode).
fn save_registers(r: &mut Rt) -> R {
    for (i, reg) in [eax, ecx, edx, ebx, esp, ebp, esi, edi]
        .into_iter()
        .enumerate()
    {
        r.mov(dword_ptr(var(i as u64)), reg)?;
    }
    if r.bits == 64 {
        // The upper halves too, and R8–R15: OR each into one dword per register.
        let low = [eax, ecx, edx, ebx, esp, ebp, esi, edi];
        for (i, reg) in [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi]
            .into_iter()
            .enumerate()
        {
            r.shr(reg, 32)?;
            r.or(dword_ptr(var(i as u64)), low[i])?;
        }
        for (i, reg) in [r8, r9, r10, r11, r12, r13, r14, r15]
            .into_iter()
            .enumerate()
        {
            r.mov(rax, reg)?;
            r.mov(dword_ptr(var(8 + i as u64)), eax)?;
            r.shr(rax, 32)?;
            r.or(dword_ptr(var(8 + i as u64)), eax)?;
        }
    }
    Ok(())
}

/// Checks the registers [`save_registers`] stored.
fn check_registers(r: &mut Rt) -> R {
    let names = [
        "EAX", "ECX", "EDX", "EBX", "ESP", "EBP", "ESI", "EDI", "R8", "R9", "R10", "R11", "R12",
        "R13", "R14", "R15",
    ];
    let n = if r.bits == 64 { 16 } else { 8 };
    for (i, name) in names.iter().enumerate().take(n) {
        r.check_eq(dword_ptr(var(i as u64)), 0, &format!("{name} at entry"))?;
    }
    r.print("registers: all zero at entry\n")
}

/// Checks that execution runs at the physical address it was assembled for, and the second
/// segment's marker.
fn check_placement(r: &mut Rt) -> R {
    let mut here = r.label();
    r.call(here)?;
    r.set(&mut here)?;
    r.pop_r(eax)?;
    let want = r.addr(here);
    r.check_eq(
        eax,
        want,
        "running at the physical address (e_entry translated)",
    )?;
    for (i, chunk) in MARKER.chunks(4).enumerate() {
        let v = u32::from_le_bytes(chunk.try_into().unwrap_or_default());
        r.check_eq(
            dword_ptr(SEG2 + 4 * i as u64),
            v,
            "the second segment at its p_paddr",
        )?;
    }
    r.print("segments: at their physical addresses, entered through p_paddr\n")
}

/// Builds `elf32.elf`.
pub fn build32() -> Result<Vec<u8>, IcedError> {
    let code = rt::assemble(32, Out::E9, CODE, |r| {
        save_registers(r)?;
        r.init_stack()?;
        r.setup_idt()?;
        r.print("elf32: plain ELF32 kernel\n")?;
        check_registers(r)?;
        check_entry_state(r)?;
        r.xor(eax, eax)?;
        r.mov(ax, cs)?;
        r.check_eq(eax, 0x08, "CS")?;
        r.mov(ax, ds)?;
        r.check_eq(eax, 0x10, "DS")?;
        check_placement(r)?;
        // Flat 4 GiB segments reach the top of RAM.
        r.mov(dword_ptr(MEMORY - 4), 0x1234_5678)?;
        r.check_eq(dword_ptr(MEMORY - 4), 0x1234_5678, "the last dword of RAM")?;
        r.pass("elf32")
    })?;
    Ok(kernel(false, 0xC000_0000, code))
}

/// Builds `elf64.elf`.
pub fn build64() -> Result<Vec<u8>, IcedError> {
    let code = rt::assemble(64, Out::E9, CODE, |r| {
        save_registers(r)?;
        r.init_stack()?;
        r.setup_idt()?;
        r.print("elf64: plain ELF64 kernel\n")?;
        check_registers(r)?;
        r.mov(ecx, 0xC000_0080u32)?;
        r.rdmsr()?;
        r.and(eax, 1 << 10 | 1 << 8)?;
        r.check_eq(eax, 1 << 10 | 1 << 8, "EFER.LMA and EFER.LME")?;
        r.mov(rax, cr0)?;
        r.and(eax, 0x8000_0001u32)?;
        r.check_eq(eax, 0x8000_0001u32, "CR0.PG and CR0.PE")?;
        r.mov(rax, cr4)?;
        r.and(eax, 1 << 5)?;
        r.check_eq(eax, 1 << 5, "CR4.PAE")?;
        r.pushfq()?;
        r.pop(rax)?;
        r.and(eax, 1 << 9)?;
        r.check_eq(eax, 0, "RFLAGS.IF")?;
        r.xor(eax, eax)?;
        r.mov(ax, cs)?;
        r.check_eq(eax, 0x18, "CS (64-bit code)")?;
        r.mov(ax, ss)?;
        r.check_eq(eax, 0x10, "SS")?;
        r.print("entry state: 64-bit mode, paging and PAE on, interrupts off\n")?;
        check_placement(r)?;
        check_identity_map(r)?;
        r.pass("elf64")
    })?;
    Ok(kernel(true, 0xFFFF_FFFF_8000_0000, code))
}

/// Walks the page tables from CR3 for addresses across the first 4 GiB: each must map to
/// itself with a present, writable 2-MiB page; then reads RAM and MMIO through the map.
fn check_identity_map(r: &mut Rt) -> R {
    for a in [
        0u64,
        0x10_0000,
        MEMORY - 0x20_0000,
        0xBFE0_0000,
        0xFEC0_0000,
        0xFEE0_0000,
    ] {
        r.mov(rbx, cr3)?;
        r.and(rbx, -0x1000)?;
        r.mov(rbx, qword_ptr(rbx))?; // PML4[0]
        r.mov(eax, ebx)?;
        r.and(eax, 3)?;
        r.check_eq(eax, 3, "PML4 entry 0: present, writable")?;
        r.and(rbx, -0x1000)?;
        r.mov(rbx, qword_ptr(rbx + 8 * (a >> 30) as i32))?;
        r.mov(eax, ebx)?;
        r.and(eax, 0x83)?;
        r.check_eq(
            eax,
            3,
            &format!("PDPT entry for {a:#x}: present, writable, a directory"),
        )?;
        r.and(rbx, -0x1000)?;
        r.mov(rbx, qword_ptr(rbx + 8 * ((a >> 21) & 511) as i32))?;
        r.mov(eax, ebx)?;
        r.and(eax, 0x83)?;
        r.check_eq(
            eax,
            0x83,
            &format!("PD entry for {a:#x}: present, writable, 2-MiB page"),
        )?;
        r.mov(rax, rbx)?;
        r.shr(rax, 32)?;
        r.check_eq(
            eax,
            0,
            &format!("PD entry for {a:#x}: frame bits 32 and up"),
        )?;
        r.and(ebx, 0xFFE0_0000u32)?;
        r.check_eq(
            ebx,
            (a & !0x1F_FFFF) as u32,
            &format!("PD entry for {a:#x}: the frame maps to itself"),
        )?;
    }
    r.mov(ebx, (MEMORY - 8) as u32)?;
    r.mov(qword_ptr(rbx), 0x7654_3210)?;
    r.check_eq(dword_ptr(rbx), 0x7654_3210, "the last qword of RAM")?;
    // The local APIC's version register, the I/O APIC's, the HPET's period.
    r.mov(ebx, 0xFEE0_0000u32)?;
    r.mov(eax, dword_ptr(rbx + 0x30))?;
    r.and(eax, 0xF0)?;
    r.check_eq(eax, 0x10, "local APIC version (an integrated APIC: 0x1X)")?;
    r.mov(ebx, 0xFEC0_0000u32)?;
    r.mov(dword_ptr(rbx), 1)?;
    r.mov(eax, dword_ptr(rbx + 0x10))?;
    r.and(eax, 0xFF)?;
    r.check_eq(eax, 0x20, "I/O APIC version")?;
    r.mov(ebx, 0xFED0_0000u32)?;
    r.check_eq(
        dword_ptr(rbx + 4),
        10_000_000,
        "HPET COUNTER_CLK_PERIOD (fs)",
    )?;
    r.print("identity map: the first 4 GiB, RAM and the APIC/HPET windows reachable\n")
}

/// A plain ELF of `code` at [`CODE`] linked `offset` above its physical addresses, with the
/// marker segment.
fn kernel(elf64: bool, offset: u64, code: Vec<u8>) -> Vec<u8> {
    let mut k = Kernel::new(elf64, Boot::Plain, code);
    k.vaddr_offset = offset;
    k.extra.push(Segment {
        vaddr: SEG2.wrapping_add(offset),
        paddr: SEG2,
        data: MARKER.to_vec(),
        memsz: 0x1000,
    });
    k.build()
}
