//! System instructions driven by guest programs: the real -> protected -> IA-32e -> 64-bit
//! mode walk and back (SDM Vol. 3A 10.8.5), SYSCALL/SYSRET and SYSENTER/SYSEXIT round trips,
//! RDMSR/WRMSR and CPUID as a guest sees them.
//!
//! Far JMP and segment loads belong to another group; until they are in, the tests here play
//! the far jump themselves between guest runs (`far_jump`): the guest halts where it would
//! jump, and the test loads CS from the guest's own GDT. `mode_walk_with_real_far_jumps` is
//! the same walk done entirely by the guest, ignored until far JMP lands.

use iced_x86::code_asm::*;
use vx86::cpu::segment::{attr, Segment};
use vx86::cpu::setup::descriptor;
use vx86::cpu::{reg, sreg, Cpu, Cr0, Cr4, Efer, Mode, Model, OpenBus, RunExit};
use vx86::mem::PhysMem;

const GDT: u64 = 0x800;
const GDTR: u64 = 0x7F00;
const PML4: u64 = 0x10000;

const KERNEL_CS32: u16 = 0x08;
const KERNEL_DS: u16 = 0x10;
const KERNEL_CS64: u16 = 0x18;

const EFER: u32 = 0xC000_0080;
const STAR: u32 = 0xC000_0081;
const LSTAR: u32 = 0xC000_0082;
const FMASK: u32 = 0xC000_0084;

fn machine() -> Cpu {
    Cpu::new(Model::Modern, PhysMem::new(16 << 20).unwrap())
}

fn put(cpu: &mut Cpu, at: u64, bytes: &[u8]) {
    cpu.mem.write_bytes(at, bytes).unwrap();
}

fn put64(cpu: &mut Cpu, at: u64, v: u64) {
    put(cpu, at, &v.to_le_bytes());
}

/// Assembles `f`'s program for code size `bits` at `at` and stores it there.
fn program(
    cpu: &mut Cpu,
    bits: u32,
    at: u64,
    f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    let bytes = a.assemble(at).unwrap();
    put(cpu, at, &bytes);
}

/// A GDT at `GDT` (null, 32-bit code, data, 64-bit code) and its pseudo-descriptor at `GDTR`;
/// 4-level tables at `PML4` identity-mapping the first GiB with 2-MiB pages.
fn tables(cpu: &mut Cpu) {
    let flat = attr::G | attr::DB;
    let gdt = [
        0,
        descriptor(0, 0xFFFFF, attr::CODE_RX | flat),
        descriptor(0, 0xFFFFF, attr::DATA_RW | flat),
        descriptor(0, 0xFFFFF, attr::CODE_RX | attr::G | attr::L),
    ];
    for (i, d) in gdt.iter().enumerate() {
        put64(cpu, GDT + 8 * i as u64, *d);
    }
    put(cpu, GDTR, &[0x1F, 0x00]);
    put(cpu, GDTR + 2, &(GDT as u32).to_le_bytes());
    put64(cpu, PML4, (PML4 + 0x1000) | 7);
    put64(cpu, PML4 + 0x1000, (PML4 + 0x2000) | 7);
    for i in 0..512 {
        put64(cpu, PML4 + 0x2000 + 8 * i, (i << 21) | 0x87);
    }
}

/// Runs until the guest halts (the stand-in for a far jump, or the end).
fn run_to_hlt(cpu: &mut Cpu) {
    let exit = cpu.run(&mut OpenBus, 10_000);
    assert_eq!(
        exit,
        RunExit::Halted,
        "the guest should reach its HLT (RIP {:#x}, mode {:?})",
        cpu.rip(),
        cpu.mode
    );
    cpu.halted = false;
}

/// What a far JMP to `selector:offset` does, read from the guest's GDT (the test's stand-in
/// until far JMP is implemented): CS is loaded from the descriptor, and the mode follows.
fn far_jump(cpu: &mut Cpu, selector: u16, offset: u64) {
    let mut b = [0u8; 8];
    cpu.mem
        .read_bytes(cpu.gdtr.base + (selector & !7) as u64, &mut b);
    let d = u64::from_le_bytes(b);
    let base = ((d >> 16) & 0xFF_FFFF) | ((d >> 56) << 24);
    let raw = ((d & 0xFFFF) | ((d >> 32) & 0xF_0000)) as u32;
    let access = ((d >> 40) & 0xFF) as u16 | (((d >> 52) & 0xF) as u16) << 8;
    let limit = if access & attr::G != 0 {
        raw << 12 | 0xFFF
    } else {
        raw
    };
    cpu.segs[sreg::CS as usize] = Segment::from_cache(selector, base, limit, access);
    cpu.set_cpl((selector & 3) as u8);
    cpu.update_mode();
    cpu.set_rip(offset);
}

#[test]
fn mode_walk_from_real_to_64_bit_and_back() {
    let mut cpu = machine();
    tables(&mut cpu);
    cpu.segs[sreg::CS as usize] = Segment::from_cache(0, 0, 0xFFFF, attr::CODE_RX);
    cpu.update_mode();
    cpu.set_rip(0x7C00);

    // Real mode: load the GDT and set CR0.PE; `jmp 0x08:0x8000` would follow.
    program(&mut cpu, 16, 0x7C00, |a| {
        a.cli()?;
        a.lgdt(ptr(GDTR))?;
        a.mov(eax, cr0)?;
        a.or(eax, 1)?;
        a.mov(cr0, eax)?;
        a.hlt()
    });
    run_to_hlt(&mut cpu);
    assert_eq!(cpu.mode, Mode::Protected);
    assert_eq!((cpu.gdtr.base, cpu.gdtr.limit), (GDT, 0x1F));
    assert_eq!(cpu.code_bits(), 16, "still the real-mode CS cache");

    // 32-bit protected mode: PAE, CR3, EFER.LME, then CR0.PG activates IA-32e mode.
    program(&mut cpu, 32, 0x8000, |a| {
        a.mov(eax, cr4)?;
        a.or(eax, Cr4::PAE.bits() as i32)?;
        a.mov(cr4, eax)?;
        a.mov(eax, PML4 as u32)?;
        a.mov(cr3, eax)?;
        a.mov(ecx, EFER)?;
        a.rdmsr()?;
        a.or(eax, Efer::LME.bits() as i32)?;
        a.wrmsr()?;
        a.mov(eax, cr0)?;
        a.or(eax, Cr0::PG.bits() as u32 as i32)?;
        a.mov(cr0, eax)?;
        a.hlt()
    });
    far_jump(&mut cpu, KERNEL_CS32, 0x8000);
    assert_eq!(cpu.code_bits(), 32);
    run_to_hlt(&mut cpu);
    assert!(
        cpu.efer.contains(Efer::LME | Efer::LMA),
        "CR0.PG with EFER.LME sets EFER.LMA"
    );
    assert_eq!(
        cpu.mode,
        Mode::Compat,
        "a 32-bit CS in IA-32e mode is compatibility mode"
    );
    assert!(cpu.cr0.contains(Cr0::PG | Cr0::PE));

    // 64-bit mode after `jmp 0x18:0x9000`: read the control registers at full width.
    program(&mut cpu, 64, 0x9000, |a| {
        a.mov(rax, cr0)?;
        a.mov(rbx, cr4)?;
        a.mov(rdx, cr3)?;
        a.hlt()
    });
    far_jump(&mut cpu, KERNEL_CS64, 0x9000);
    assert_eq!(cpu.mode, Mode::Long);
    run_to_hlt(&mut cpu);
    assert_eq!(cpu.gpr[reg::RAX as usize], cpu.cr0.bits());
    assert_eq!(cpu.gpr[reg::RBX as usize], Cr4::PAE.bits());
    assert_eq!(cpu.gpr[reg::RDX as usize], PML4);

    // Back to compatibility mode, then out: CR0.PG off clears LMA, then LME, then PE.
    program(&mut cpu, 32, 0xA000, |a| {
        a.mov(eax, cr0)?;
        a.and(eax, !(Cr0::PG.bits() as u32) as i32)?;
        a.mov(cr0, eax)?;
        a.mov(ecx, EFER)?;
        a.rdmsr()?;
        a.and(eax, !(Efer::LME.bits() as u32) as i32)?;
        a.wrmsr()?;
        a.mov(eax, cr4)?;
        a.and(eax, !(Cr4::PAE.bits() as u32) as i32)?;
        a.mov(cr4, eax)?;
        a.mov(eax, cr0)?;
        a.and(eax, !1)?;
        a.mov(cr0, eax)?;
        a.hlt()
    });
    far_jump(&mut cpu, KERNEL_CS32, 0xA000);
    assert_eq!(cpu.mode, Mode::Compat);
    run_to_hlt(&mut cpu);
    assert_eq!(cpu.mode, Mode::Real);
    assert_eq!(cpu.efer, Efer::empty());
    assert!(!cpu.cr0.intersects(Cr0::PG | Cr0::PE));
    assert!(!cpu.cr4.contains(Cr4::PAE));
}

#[test]
fn a_64_bit_guest_cannot_turn_paging_off() {
    let mut cpu = machine();
    cpu.enter_long_mode(0x1000, PML4, 1);
    // Clear CR0.PG from 64-bit code: #GP(0), which this branch cannot deliver yet in long
    // mode (IDT delivery belongs to the interrupt group): check that nothing changed.
    program(&mut cpu, 64, 0x10_0000, |a| {
        a.mov(rax, cr0)?;
        a.and(eax, 0x7FFF_FFFF)?;
        a.mov(cr0, rax)
    });
    cpu.set_rip(0x10_0000);
    cpu.run(&mut OpenBus, 3);
    assert!(cpu.cr0.contains(Cr0::PG));
    assert!(cpu.efer.contains(Efer::LMA));
    assert_eq!(cpu.mode, Mode::Long);
}

#[test]
fn lmsw_enters_protected_mode_and_smsw_reads_it_back() {
    let mut cpu = machine();
    cpu.segs[sreg::CS as usize] = Segment::from_cache(0, 0, 0xFFFF, attr::CODE_RX);
    cpu.update_mode();
    cpu.set_rip(0x7C00);
    program(&mut cpu, 16, 0x7C00, |a| {
        a.mov(ax, 1)?;
        a.lmsw(ax)?;
        a.smsw(bx)?;
        a.xor(ax, ax)?;
        a.lmsw(ax)?;
        a.smsw(cx)?;
        a.hlt()
    });
    run_to_hlt(&mut cpu);
    assert_eq!(cpu.mode, Mode::Protected);
    assert_eq!(cpu.gpr[reg::RBX as usize] & 0xFFFF, 0x11, "PE and ET");
    assert_eq!(
        cpu.gpr[reg::RCX as usize] & 0xFFFF,
        0x11,
        "LMSW cannot clear PE"
    );
}

/// Writes a Linux-style GDT for the fast-system-call tests: kernel CS 0x10 (64-bit), SS 0x18,
/// user CS32 0x23, user DS 0x2B, user CS64 0x33.
fn syscall_gdt(cpu: &mut Cpu) {
    let flat = attr::G | attr::DB;
    let user = 3 << attr::DPL_SHIFT;
    let gdt = [
        0,
        0,
        descriptor(0, 0xFFFFF, attr::CODE_RX | attr::G | attr::L),
        descriptor(0, 0xFFFFF, attr::DATA_RW | flat),
        descriptor(0, 0xFFFFF, attr::CODE_RX | flat | user),
        descriptor(0, 0xFFFFF, attr::DATA_RW | flat | user),
        descriptor(0, 0xFFFFF, attr::CODE_RX | attr::G | attr::L | user),
    ];
    for (i, d) in gdt.iter().enumerate() {
        put64(cpu, 0x1000 + 8 * i as u64, *d);
    }
}

#[test]
fn syscall_sysret_round_trip() {
    let mut cpu = machine();
    cpu.enter_long_mode(0x1000, PML4, 1);
    syscall_gdt(&mut cpu);
    program(&mut cpu, 64, 0x10_0000, |a| {
        let mut entry = a.create_label();
        let mut user = a.create_label();
        let mut done = a.create_label();
        // EFER.SCE, STAR, LSTAR, FMASK (IF and DF).
        a.mov(ecx, EFER)?;
        a.rdmsr()?;
        a.or(eax, 1)?;
        a.wrmsr()?;
        a.mov(ecx, STAR)?;
        a.xor(eax, eax)?;
        a.mov(edx, 0x0023_0010)?;
        a.wrmsr()?;
        a.mov(ecx, LSTAR)?;
        a.lea(rax, ptr(entry))?;
        a.xor(edx, edx)?;
        a.wrmsr()?;
        a.mov(ecx, FMASK)?;
        a.mov(eax, 0x600)?;
        a.wrmsr()?;
        // Drop to user mode with IF and DF set.
        a.lea(rcx, ptr(user))?;
        a.mov(r11, 0x602u64)?;
        a.sysretq()?;

        a.set_label(&mut entry)?;
        a.mov(r12, rcx)?;
        a.mov(r13, r11)?;
        a.inc(r14)?;
        a.cmp(r14, 2)?;
        a.je(done)?;
        a.sysretq()?;
        a.set_label(&mut done)?;
        a.hlt()?;

        a.set_label(&mut user)?;
        a.mov(eax, 42)?;
        a.syscall()?;
        a.add(eax, 1)?;
        a.syscall()?;
        a.hlt()
    });
    cpu.set_rip(0x10_0000);
    run_to_hlt(&mut cpu);
    let r = |i: u8| cpu.gpr[i as usize];
    assert_eq!(r(reg::R14), 2, "two system calls");
    assert_eq!(r(reg::RAX), 43, "user code ran between them");
    let mut after = [0u8; 3];
    cpu.mem.read_bytes(r(reg::R12) - 2, &mut after);
    assert_eq!(
        after,
        [0x0F, 0x05, 0xF4],
        "RCX holds the user RIP after the second SYSCALL"
    );
    assert_eq!(r(reg::R13) & 0x600, 0x600, "R11 holds the user RFLAGS");
    assert_eq!(cpu.rflags() & 0x600, 0, "FMASK cleared IF and DF");
    assert_eq!(cpu.cpl, 0);
    assert_eq!(cpu.segs[sreg::CS as usize].selector, 0x10);
    assert_eq!(cpu.segs[sreg::SS as usize].selector, 0x18);
}

#[test]
fn sysenter_sysexit_round_trip_in_protected_mode() {
    let mut cpu = machine();
    cpu.enter_protected_flat(0x1000);
    const ENTRY: u32 = 0x10_1000;
    const USER: u32 = 0x10_2000;
    program(&mut cpu, 32, 0x10_0000, |a| {
        a.xor(edx, edx)?;
        a.mov(ecx, 0x174)?;
        a.mov(eax, 0x08)?;
        a.wrmsr()?;
        a.mov(ecx, 0x175)?;
        a.mov(eax, 0x9_0000)?;
        a.wrmsr()?;
        a.mov(ecx, 0x176)?;
        a.mov(eax, ENTRY)?;
        a.wrmsr()?;
        a.mov(ecx, 0x8_0000)?;
        a.mov(edx, USER)?;
        a.sysexit()
    });
    program(&mut cpu, 32, ENTRY as u64, |a| a.hlt());
    program(&mut cpu, 32, USER as u64, |a| {
        a.mov(edi, 5)?;
        a.mov(esi, esp)?;
        a.sysenter()
    });
    cpu.set_rip(0x10_0000);
    run_to_hlt(&mut cpu);
    let r = |i: u8| cpu.gpr[i as usize];
    assert_eq!(r(reg::RDI), 5, "user code ran");
    assert_eq!(r(reg::RSI), 0x8_0000, "SYSEXIT loaded ESP from ECX");
    assert_eq!(
        r(reg::RSP),
        0x9_0000,
        "SYSENTER loaded ESP from IA32_SYSENTER_ESP"
    );
    assert_eq!(cpu.cpl, 0);
    assert_eq!(cpu.mode, Mode::Protected);
    assert_eq!(cpu.segs[sreg::CS as usize].selector, 0x08);
    assert_eq!(cpu.segs[sreg::SS as usize].selector, 0x10);
}

#[test]
fn msr_round_trips_from_a_guest() {
    let mut cpu = machine();
    cpu.enter_long_mode(0x1000, PML4, 1);
    program(&mut cpu, 64, 0x10_0000, |a| {
        // PAT: write a new layout and read it back.
        a.mov(ecx, 0x277)?;
        a.mov(eax, 0x0001_0506)?;
        a.mov(edx, 0x0007_0406)?;
        a.wrmsr()?;
        a.xor(eax, eax)?;
        a.xor(edx, edx)?;
        a.rdmsr()?;
        a.mov(r8d, eax)?;
        a.mov(r9d, edx)?;
        // TSC_AUX through RDTSCP.
        a.mov(ecx, 0xC000_0103u32)?;
        a.mov(eax, 0x77)?;
        a.xor(edx, edx)?;
        a.wrmsr()?;
        a.rdtscp()?;
        a.mov(r10d, ecx)?;
        // KERNEL_GS_BASE through SWAPGS and RDGSBASE (CR4.FSGSBASE on).
        a.mov(rax, cr4)?;
        a.or(eax, Cr4::FSGSBASE.bits() as i32)?;
        a.mov(cr4, rax)?;
        a.mov(ecx, 0xC000_0102u32)?;
        a.mov(eax, 0x1234_5000)?;
        a.mov(edx, 0xFFFF_8000u32)?;
        a.wrmsr()?;
        a.swapgs()?;
        a.rdgsbase(r11)?;
        // TSC: write, then read back a value a few instructions later.
        a.mov(ecx, 0x10)?;
        a.mov(eax, 1000)?;
        a.xor(edx, edx)?;
        a.wrmsr()?;
        a.rdtsc()?;
        a.mov(r12d, eax)?;
        a.hlt()
    });
    cpu.set_rip(0x10_0000);
    run_to_hlt(&mut cpu);
    let r = |i: u8| cpu.gpr[i as usize];
    assert_eq!((r(reg::R9), r(reg::R8)), (0x0007_0406, 0x0001_0506));
    assert_eq!(r(reg::R10), 0x77);
    assert_eq!(r(reg::R11), 0xFFFF_8000_1234_5000);
    assert!(
        (1000..1010).contains(&r(reg::R12)),
        "TSC continues from the written value: {}",
        r(reg::R12)
    );
}

#[test]
fn cpuid_as_the_guest_sees_it() {
    let mut cpu = machine();
    cpu.enter_long_mode(0x1000, PML4, 1);
    program(&mut cpu, 64, 0x10_0000, |a| {
        a.xor(eax, eax)?;
        a.cpuid()?;
        a.mov(r8d, ebx)?;
        a.mov(r9d, edx)?;
        a.mov(r10d, ecx)?;
        a.mov(eax, 0x4000_0000)?;
        a.cpuid()?;
        a.mov(r11d, ebx)?;
        a.mov(r12d, ecx)?;
        a.mov(r13d, edx)?;
        a.mov(eax, 0x8000_0001u32)?;
        a.cpuid()?;
        a.mov(r14d, edx)?;
        a.mov(eax, 1)?;
        a.cpuid()?;
        a.hlt()
    });
    cpu.set_rip(0x10_0000);
    run_to_hlt(&mut cpu);
    let r = |i: u8| cpu.gpr[i as usize] as u32;
    let text = |regs: [u32; 3]| {
        regs.iter()
            .flat_map(|v| v.to_le_bytes())
            .map(|b| b as char)
            .collect::<String>()
    };
    assert_eq!(text([r(reg::R8), r(reg::R9), r(reg::R10)]), "GenuineIntel");
    assert_eq!(
        text([r(reg::R11), r(reg::R12), r(reg::R13)]),
        "vx86vx86vx86"
    );
    assert_ne!(r(reg::R14) & 1 << 29, 0, "long mode");
    assert_ne!(r(reg::R14) & 1 << 11, 0, "SYSCALL, reported in 64-bit mode");
    assert_eq!(r(reg::RAX), 0x0006_06A6);
    assert_ne!(r(reg::RCX) & 1 << 31, 0, "hypervisor bit");
    assert_eq!(r(reg::RDX) & 1, 1, "x87 FPU on chip");
}

/// The same walk as `mode_walk_from_real_to_64_bit_and_back`, with the guest's own far jumps
/// and data-segment loads.
#[test]
fn mode_walk_with_real_far_jumps() {
    let mut cpu = machine();
    tables(&mut cpu);
    cpu.segs[sreg::CS as usize] = Segment::from_cache(0, 0, 0xFFFF, attr::CODE_RX);
    cpu.update_mode();
    cpu.set_rip(0x7C00);
    // Real mode -> 32-bit protected mode.
    program(&mut cpu, 16, 0x7C00, |a| {
        a.cli()?;
        a.lgdt(ptr(GDTR))?;
        a.mov(eax, cr0)?;
        a.or(eax, 1)?;
        a.mov(cr0, eax)?;
        a.jmp_far(KERNEL_CS32, 0x8000)
    });
    // 32-bit: data segments, PAE, LME, PG, then into 64-bit mode.
    program(&mut cpu, 32, 0x8000, |a| {
        a.mov(ax, KERNEL_DS as u32)?;
        a.mov(ds, ax)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0x7000)?;
        a.mov(eax, cr4)?;
        a.or(eax, Cr4::PAE.bits() as i32)?;
        a.mov(cr4, eax)?;
        a.mov(eax, PML4 as u32)?;
        a.mov(cr3, eax)?;
        a.mov(ecx, EFER)?;
        a.rdmsr()?;
        a.or(eax, Efer::LME.bits() as i32)?;
        a.wrmsr()?;
        a.mov(eax, cr0)?;
        a.or(eax, Cr0::PG.bits() as u32 as i32)?;
        a.mov(cr0, eax)?;
        a.jmp_far(KERNEL_CS64, 0x9000)
    });
    // 64-bit: mark, then back to compatibility mode through a far pointer in memory.
    program(&mut cpu, 64, 0x9000, |a| {
        a.mov(r15d, 64)?;
        a.jmp(fword_ptr(0x9800u64))
    });
    put(&mut cpu, 0x9800, &0xA000u32.to_le_bytes());
    put(&mut cpu, 0x9804, &KERNEL_CS32.to_le_bytes());
    // Compatibility mode: leave IA-32e mode and protected mode.
    program(&mut cpu, 32, 0xA000, |a| {
        a.mov(eax, cr0)?;
        a.and(eax, !(Cr0::PG.bits() as u32) as i32)?;
        a.mov(cr0, eax)?;
        a.mov(ecx, EFER)?;
        a.rdmsr()?;
        a.and(eax, !(Efer::LME.bits() as u32) as i32)?;
        a.wrmsr()?;
        a.mov(eax, cr0)?;
        a.and(eax, !1)?;
        a.mov(cr0, eax)?;
        a.hlt()
    });
    run_to_hlt(&mut cpu);
    assert_eq!(cpu.gpr[reg::R15 as usize], 64, "64-bit code ran");
    assert_eq!(cpu.mode, Mode::Real);
    assert_eq!(cpu.efer, Efer::empty());
}
