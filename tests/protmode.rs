//! Protected-mode, virtual-8086 and long-mode control transfers end to end: small guest
//! programs (assembled with iced's `code_asm`) that build their own GDT, IDT and TSS entries,
//! run on a vx86 CPU, and leave results in registers and memory.

use iced_x86::code_asm::*;
use vx86::cpu::descriptor::Descriptor;
use vx86::cpu::flags::bit;
use vx86::cpu::segment::attr;
use vx86::cpu::setup::{descriptor, gdt};
use vx86::cpu::{
    reg, sreg, Bus, BusStatus, Cpu, Cr0, Mode, Model, OpenBus, RunExit, Segment, TableReg,
};
use vx86::mem::PhysMem;

const GDT: u64 = 0x1000;
const IDT: u64 = 0x2000;
const TSS_A: u64 = 0x3000;
const TSS_B: u64 = 0x3200;
const KCODE: u64 = 0x10000;
const UCODE: u64 = 0x20000;
const HANDLERS: u64 = 0x30000;
const KSTACK: u64 = 0x80000;
const USTACK: u64 = 0x70000;
const OUT: u64 = 0x90000;

/// GDT selectors the tests add after the seven `setup` writes.
const SEL_TSS_A: u16 = 0x38;
const SEL_TSS_B: u16 = 0x40;
const SEL_SPARE: u16 = 0x48;
const SEL_SPARE2: u16 = 0x50;
const SEL_SPARE3: u16 = 0x58;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn new_cpu() -> Cpu {
    Cpu::new(Model::Modern, PhysMem::new(4 << 20).unwrap())
}

/// Flat 32-bit protected mode at CPL 0 with a 16-entry GDT, a 256-vector IDT and a 32-bit
/// TSS A (ESP0 = KSTACK, SS0 = DATA) loaded in TR.
fn protected() -> Cpu {
    let mut cpu = new_cpu();
    cpu.enter_protected_flat(GDT);
    cpu.gdtr.limit = 16 * 8 - 1;
    cpu.idtr = TableReg {
        base: IDT,
        limit: 256 * 8 - 1,
    };
    set_gdt(&mut cpu, SEL_TSS_A, tss_desc(TSS_A, 0x67, 0xB, 0));
    set_gdt(&mut cpu, SEL_TSS_B, tss_desc(TSS_B, 0x67, 0x9, 0));
    w32(&mut cpu, TSS_A + 4, KSTACK);
    w32(&mut cpu, TSS_A + 8, gdt::DATA as u64);
    cpu.tr = Descriptor(tss_desc(TSS_A, 0x67, 0xB, 0)).to_segment(SEL_TSS_A);
    cpu.gpr[reg::RSP as usize] = KSTACK;
    cpu.set_rip(KCODE);
    cpu
}

/// 64-bit mode at CPL 0 with a 64-bit TSS (RSP0 = KSTACK, IST1 = 0x88008) and a 16-byte IDT.
fn long_mode() -> Cpu {
    let mut cpu = new_cpu();
    cpu.enter_long_mode(GDT, 0x100000, 1);
    cpu.gdtr.limit = 16 * 8 - 1;
    cpu.idtr = TableReg {
        base: IDT,
        limit: 256 * 16 - 1,
    };
    set_gdt(&mut cpu, SEL_TSS_A, tss_desc(TSS_A, 0x67, 0xB, 0));
    set_gdt(&mut cpu, SEL_TSS_A + 8, 0);
    w64(&mut cpu, TSS_A + 4, KSTACK);
    w64(&mut cpu, TSS_A + 0x24, 0x88008);
    cpu.tr = Descriptor(tss_desc(TSS_A, 0x67, 0xB, 0)).to_segment(SEL_TSS_A);
    cpu.gpr[reg::RSP as usize] = KSTACK;
    cpu.set_rip(KCODE);
    cpu
}

fn set_gdt(cpu: &mut Cpu, sel: u16, raw: u64) {
    w64(cpu, GDT + (sel & 0xFFF8) as u64, raw);
}

fn w16(cpu: &mut Cpu, a: u64, v: u64) {
    cpu.mem.write_bytes(a, &(v as u16).to_le_bytes()).unwrap();
}
fn w32(cpu: &mut Cpu, a: u64, v: u64) {
    cpu.mem.write_bytes(a, &(v as u32).to_le_bytes()).unwrap();
}
fn w64(cpu: &mut Cpu, a: u64, v: u64) {
    cpu.mem.write_bytes(a, &v.to_le_bytes()).unwrap();
}
fn r16(cpu: &Cpu, a: u64) -> u64 {
    let mut b = [0; 2];
    cpu.mem.read_bytes(a, &mut b);
    u16::from_le_bytes(b) as u64
}
fn r32(cpu: &Cpu, a: u64) -> u64 {
    let mut b = [0; 4];
    cpu.mem.read_bytes(a, &mut b);
    u32::from_le_bytes(b) as u64
}
fn r64(cpu: &Cpu, a: u64) -> u64 {
    let mut b = [0; 8];
    cpu.mem.read_bytes(a, &mut b);
    u64::from_le_bytes(b)
}

/// A system descriptor (TSS, LDT) of type `ty`.
fn tss_desc(base: u64, limit: u32, ty: u16, dpl: u16) -> u64 {
    descriptor(base as u32, limit, attr::P | ty | dpl << attr::DPL_SHIFT)
}

/// A legacy gate (call, interrupt, trap, task) of type `ty`.
fn gate(sel: u16, off: u32, ty: u64, dpl: u64, params: u64) -> u64 {
    (off as u64 & 0xFFFF)
        | (sel as u64) << 16
        | params << 32
        | (0x80 | dpl << 5 | ty) << 40
        | ((off as u64) >> 16) << 48
}

/// Writes a 32-bit interrupt (0xE) or trap (0xF) gate for `vector`.
fn set_idt32(cpu: &mut Cpu, vector: u64, off: u64, ty: u64, dpl: u64) {
    w64(
        cpu,
        IDT + vector * 8,
        gate(gdt::CODE32, off as u32, ty, dpl, 0),
    );
}

/// Writes a 64-bit interrupt/trap gate for `vector`.
fn set_idt64(cpu: &mut Cpu, vector: u64, off: u64, ty: u64, dpl: u64, ist: u64) {
    w64(
        cpu,
        IDT + vector * 16,
        gate(gdt::CODE64, off as u32, ty, dpl, ist),
    );
    w64(cpu, IDT + vector * 16 + 8, off >> 32);
}

/// Assembles `f` for `bits`-bit code at `at` into guest memory.
fn code(
    cpu: &mut Cpu,
    bits: u32,
    at: u64,
    f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    let bytes = a.assemble(at).unwrap();
    cpu.mem.write_bytes(at, &bytes).unwrap();
}

/// `jmp $`: the end of a guest program.
fn spin(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.jmp(l)
}

/// An exception handler for `vector` at HANDLERS + vector * 0x40 (32-bit code): records the
/// vector, the error code (if `code`) and the saved EIP at OUT + 0x100 (through SS, which
/// is flat in every test), then spins.
fn trap_handler32(cpu: &mut Cpu, vector: u64, code_pushed: bool) -> u64 {
    let at = HANDLERS + vector * 0x40;
    code(cpu, 32, at, |a| {
        if code_pushed {
            a.pop(eax)?;
            a.mov(dword_ptr(OUT + 0x104).ss(), eax)?;
        }
        a.mov(dword_ptr(OUT + 0x100).ss(), vector as u32)?;
        a.mov(eax, dword_ptr(esp))?;
        a.mov(dword_ptr(OUT + 0x108).ss(), eax)?;
        spin(a)
    });
    set_idt32(cpu, vector, at, 0xE, 0);
    at
}

fn run(cpu: &mut Cpu, n: u64) -> RunExit {
    cpu.run(&mut OpenBus, n)
}

/// Steps until RIP reaches `rip` (at most `max` instructions).
fn run_to(cpu: &mut Cpu, rip: u64, max: u64) {
    for _ in 0..max {
        if cpu.rip() == rip {
            return;
        }
        cpu.step(&mut OpenBus);
    }
    panic!("RIP never reached {rip:#x}; it is {:#x}", cpu.rip());
}

/// Puts the CPU at CPL 3 in 32-bit flat user segments (CS 0x23, SS/DS/ES 0x2B).
fn enter_ring3_32(cpu: &mut Cpu, entry: u64, stack: u64) {
    let ucode = Descriptor(r64(cpu, GDT + 0x20)).to_segment(gdt::USER_CODE32);
    let udata = Descriptor(r64(cpu, GDT + 0x28)).to_segment(gdt::USER_DATA);
    for s in [sreg::ES, sreg::SS, sreg::DS, sreg::FS, sreg::GS] {
        cpu.segs[s as usize] = udata;
    }
    cpu.segs[sreg::CS as usize] = ucode;
    cpu.set_cpl(3);
    cpu.update_mode();
    cpu.set_rip(entry);
    cpu.gpr[reg::RSP as usize] = stack;
}

// ---------------------------------------------------------------------------------------
// Far JMP / CALL / RET and call gates
// ---------------------------------------------------------------------------------------

#[test]
fn far_call_ret_and_jmp_at_the_same_privilege() {
    let mut cpu = protected();
    code(&mut cpu, 32, KCODE, |a| {
        a.call_far(gdt::CODE32, 0x10100)?;
        a.mov(dword_ptr(OUT), eax)?;
        a.jmp_far(gdt::CODE32, 0x10200)
    });
    code(&mut cpu, 32, 0x10100, |a| {
        a.mov(eax, 0x1234)?;
        a.mov(ecx, dword_ptr(esp + 4))?; // the pushed CS
        a.retf()
    });
    code(&mut cpu, 32, 0x10200, |a| {
        a.mov(ebx, 0x5678)?;
        spin(a)
    });
    run(&mut cpu, 100);
    assert_eq!(r32(&cpu, OUT), 0x1234);
    assert_eq!(
        cpu.gpr[reg::RCX as usize],
        gdt::CODE32 as u64,
        "CALL far pushes CS zero-extended"
    );
    assert_eq!(cpu.gpr[reg::RBX as usize], 0x5678);
    assert_eq!(cpu.gpr[reg::RSP as usize], KSTACK);
    assert_eq!(cpu.rip(), 0x10205);
}

#[test]
fn far_jmp_through_memory_and_to_a_bad_selector() {
    let mut cpu = protected();
    trap_handler32(&mut cpu, 13, true);
    w32(&mut cpu, OUT + 0x40, 0x10100);
    w16(&mut cpu, OUT + 0x44, gdt::CODE32 as u64);
    w32(&mut cpu, OUT + 0x48, 0x10100);
    w16(&mut cpu, OUT + 0x4C, gdt::DATA as u64);
    code(&mut cpu, 32, KCODE, |a| a.jmp(fword_ptr(OUT + 0x40)));
    code(&mut cpu, 32, 0x10100, |a| a.jmp(fword_ptr(OUT + 0x48)));
    run(&mut cpu, 100);
    assert_eq!(r32(&cpu, OUT + 0x100), 13);
    assert_eq!(
        r32(&cpu, OUT + 0x104),
        gdt::DATA as u64,
        "JMP to a data segment is #GP(selector)"
    );
    assert_eq!(
        r32(&cpu, OUT + 0x108),
        0x10100,
        "the fault points at the JMP"
    );
}

/// The ring-3 side of the call-gate test: two parameters, a far call through the gate, then
/// the results.
fn call_gate_program(cpu: &mut Cpu, gate_sel: u16) {
    code(cpu, 32, UCODE, |a| {
        a.push(0x1111)?;
        a.push(0x2222)?;
        a.call_far(gate_sel | 3, 0)?;
        a.mov(dword_ptr(OUT + 0x60).ss(), esp)?;
        a.mov(eax, ds)?;
        a.mov(dword_ptr(OUT + 0x64).ss(), eax)?;
        spin(a)
    });
    code(cpu, 32, HANDLERS, |a| {
        a.mov(dword_ptr(OUT), esp)?;
        for i in 0..6u32 {
            a.mov(eax, dword_ptr(esp + 4 * i))?;
            a.mov(dword_ptr(OUT + 4 + 4 * i as u64), eax)?;
        }
        a.mov(eax, cs)?;
        a.mov(dword_ptr(OUT + 0x20), eax)?;
        a.mov(ax, gdt::DATA as u32)?;
        a.mov(ds, ax)?;
        a.retf_1(8)
    });
}

#[test]
fn call_gate_to_ring_0_copies_parameters_and_retf_imm_returns_to_ring_3() {
    let mut cpu = protected();
    set_gdt(
        &mut cpu,
        SEL_SPARE,
        gate(gdt::CODE32, HANDLERS as u32, 0xC, 3, 2),
    );
    call_gate_program(&mut cpu, SEL_SPARE);
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 200);
    assert_eq!(
        r32(&cpu, OUT),
        KSTACK - 24,
        "SS, ESP, two parameters, CS, EIP on the ring-0 stack"
    );
    let frame: Vec<u64> = (0..6).map(|i| r32(&cpu, OUT + 4 + 4 * i)).collect();
    assert_eq!(
        frame,
        [
            UCODE + 10 + 7,
            gdt::USER_CODE32 as u64,
            0x2222,
            0x1111,
            USTACK - 8,
            gdt::USER_DATA as u64
        ]
    );
    assert_eq!(
        r32(&cpu, OUT + 0x20),
        gdt::CODE32 as u64,
        "CS.RPL = the new CPL"
    );
    assert_eq!(
        r32(&cpu, OUT + 0x60),
        USTACK,
        "RETF 8 released the parameters"
    );
    assert_eq!(
        r32(&cpu, OUT + 0x64),
        0,
        "DS with DPL 0 became null on the return to ring 3"
    );
    assert_eq!(cpu.cpl, 3);
    assert_eq!(cpu.seg(sreg::SS).selector, gdt::USER_DATA);
}

#[test]
fn call_gate_checks_dpl_and_presence() {
    // A DPL-0 gate is out of reach from ring 3: #GP(gate selector).
    let mut cpu = protected();
    trap_handler32(&mut cpu, 13, true);
    set_gdt(
        &mut cpu,
        SEL_SPARE,
        gate(gdt::CODE32, HANDLERS as u32, 0xC, 0, 0),
    );
    call_gate_program(&mut cpu, SEL_SPARE);
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 200);
    assert_eq!(
        (r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)),
        (13, SEL_SPARE as u64)
    );
    assert_eq!(
        r32(&cpu, OUT + 0x108),
        UCODE + 10,
        "the fault points at the CALL"
    );

    // A not-present gate: #NP(gate selector).
    let mut cpu = protected();
    trap_handler32(&mut cpu, 11, true);
    set_gdt(
        &mut cpu,
        SEL_SPARE,
        gate(gdt::CODE32, HANDLERS as u32, 0xC, 3, 0) & !(1 << 47),
    );
    call_gate_program(&mut cpu, SEL_SPARE);
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 200);
    assert_eq!(
        (r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)),
        (11, SEL_SPARE as u64)
    );
}

#[test]
fn retf_to_an_outer_level_checks_the_stack_segment() {
    // Ring 0 returns to ring 3 with an SS whose RPL differs from the CS RPL: #GP(SS).
    let mut cpu = protected();
    trap_handler32(&mut cpu, 13, true);
    code(&mut cpu, 32, KCODE, |a| {
        a.push(gdt::DATA as u32)?; // SS with RPL 0
        a.push(USTACK as u32)?;
        a.push(gdt::USER_CODE32 as u32)?;
        a.push(UCODE as u32)?;
        a.retf()
    });
    run(&mut cpu, 100);
    assert_eq!(
        (r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)),
        (13, gdt::DATA as u64)
    );
    assert_eq!(cpu.cpl, 0, "nothing changed");
}

// ---------------------------------------------------------------------------------------
// Interrupts and exceptions in protected mode
// ---------------------------------------------------------------------------------------

#[test]
fn int_from_ring_3_switches_stacks_and_iret_returns() {
    let mut cpu = protected();
    set_idt32(&mut cpu, 0x80, HANDLERS, 0xE, 3);
    code(&mut cpu, 32, UCODE, |a| {
        a.int(0x80)?;
        a.mov(dword_ptr(OUT + 0x40).ss(), esp)?;
        a.mov(eax, ds)?;
        a.mov(dword_ptr(OUT + 0x44).ss(), eax)?;
        spin(a)
    });
    code(&mut cpu, 32, HANDLERS, |a| {
        a.mov(dword_ptr(OUT), esp)?;
        for i in 0..5u32 {
            a.mov(eax, dword_ptr(esp + 4 * i))?;
            a.mov(dword_ptr(OUT + 4 + 4 * i as u64), eax)?;
        }
        a.mov(ax, gdt::DATA as u32)?;
        a.mov(ds, ax)?;
        a.iretd()
    });
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    cpu.write_flags(bit::IF, bit::IF);
    run_to(&mut cpu, HANDLERS, 10);
    assert!(!cpu.flags.has(bit::IF), "an interrupt gate clears IF");
    assert_eq!(cpu.cpl, 0);
    run(&mut cpu, 100);
    assert_eq!(r32(&cpu, OUT), KSTACK - 20);
    assert_eq!(r32(&cpu, OUT + 4), UCODE + 2, "EIP of the next instruction");
    assert_eq!(r32(&cpu, OUT + 8), gdt::USER_CODE32 as u64);
    assert_eq!(
        r32(&cpu, OUT + 12) & (bit::IF | 2),
        bit::IF | 2,
        "the pushed EFLAGS has IF"
    );
    assert_eq!(r32(&cpu, OUT + 16), USTACK);
    assert_eq!(r32(&cpu, OUT + 20), gdt::USER_DATA as u64);
    assert_eq!(r32(&cpu, OUT + 0x40), USTACK);
    assert_eq!(r32(&cpu, OUT + 0x44), 0, "IRET to ring 3 nulls a DPL-0 DS");
    assert!(cpu.flags.has(bit::IF) && cpu.cpl == 3);
}

#[test]
fn trap_gate_keeps_if_and_same_privilege_frame_has_no_stack_switch() {
    let mut cpu = protected();
    set_idt32(&mut cpu, 0x40, HANDLERS, 0xF, 0);
    code(&mut cpu, 32, KCODE, |a| {
        a.int(0x40)?;
        spin(a)
    });
    code(&mut cpu, 32, HANDLERS, |a| a.iretd());
    cpu.write_flags(bit::IF, bit::IF);
    run_to(&mut cpu, HANDLERS, 10);
    assert!(cpu.flags.has(bit::IF), "a trap gate leaves IF alone");
    assert_eq!(
        cpu.gpr[reg::RSP as usize],
        KSTACK - 12,
        "EFLAGS, CS, EIP only"
    );
    run(&mut cpu, 10);
    assert_eq!(cpu.gpr[reg::RSP as usize], KSTACK);
    assert_eq!(cpu.rip(), KCODE + 2);
}

#[test]
fn software_interrupt_through_a_dpl0_gate_from_ring_3_is_gp() {
    let mut cpu = protected();
    trap_handler32(&mut cpu, 13, true);
    set_idt32(&mut cpu, 0x81, HANDLERS + 0x800, 0xE, 0);
    code(&mut cpu, 32, UCODE, |a| a.int(0x81));
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 100);
    assert_eq!(
        r32(&cpu, OUT + 0x104),
        0x81 * 8 + 2,
        "#GP(vector * 8 + 2), EXT clear for INT n"
    );
    assert_eq!(r32(&cpu, OUT + 0x108), UCODE);
}

#[test]
fn selector_error_codes() {
    struct Case {
        what: &'static str,
        desc: u64,
        load_ss: bool,
        vector: u64,
    }
    let data = |a: u16| descriptor(0, 0xFFFFF, a | attr::G | attr::DB);
    let cases = [
        Case {
            what: "not present data",
            desc: data(attr::S | attr::RW),
            load_ss: false,
            vector: 11,
        },
        Case {
            what: "not present stack",
            desc: data(attr::S | attr::RW),
            load_ss: true,
            vector: 12,
        },
        Case {
            what: "code into SS",
            desc: data(attr::P | attr::S | attr::CODE | attr::RW),
            load_ss: true,
            vector: 13,
        },
        Case {
            what: "system descriptor into DS",
            desc: tss_desc(0, 0x67, 9, 0),
            load_ss: false,
            vector: 13,
        },
    ];
    for c in cases {
        let mut cpu = protected();
        trap_handler32(&mut cpu, c.vector, true);
        set_gdt(&mut cpu, SEL_SPARE, c.desc);
        code(&mut cpu, 32, KCODE, |a| {
            a.mov(ax, SEL_SPARE as u32)?;
            if c.load_ss {
                a.mov(ss, ax)
            } else {
                a.mov(ds, ax)
            }
        });
        run(&mut cpu, 100);
        assert_eq!(r32(&cpu, OUT + 0x100), c.vector, "{}", c.what);
        assert_eq!(r32(&cpu, OUT + 0x104), SEL_SPARE as u64, "{}", c.what);
        assert_eq!(r32(&cpu, OUT + 0x108), KCODE + 4, "{}", c.what);
    }
    // Beyond the GDT limit.
    let mut cpu = protected();
    trap_handler32(&mut cpu, 13, true);
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(ax, 0x80)?;
        a.mov(es, ax)
    });
    run(&mut cpu, 100);
    assert_eq!(r32(&cpu, OUT + 0x104), 0x80);
}

/// SS0 in the TSS is the user data selector; #TS goes to a conforming ring-0 handler, which
/// runs at CPL 3 on the user stack (a ring-0 handler would need the broken stack again).
fn bad_tss_stack() -> Cpu {
    let mut cpu = protected();
    set_gdt(
        &mut cpu,
        SEL_SPARE3,
        descriptor(0, 0xFFFFF, attr::CODE_RX | attr::DC | attr::G | attr::DB),
    );
    let at = trap_handler32(&mut cpu, 10, true);
    w64(
        &mut cpu,
        IDT + 10 * 8,
        gate(SEL_SPARE3, at as u32, 0xE, 0, 0),
    );
    set_idt32(&mut cpu, 0x80, HANDLERS, 0xE, 3);
    w32(&mut cpu, TSS_A + 8, gdt::USER_DATA as u64);
    cpu
}

#[test]
fn bad_ring0_stack_in_the_tss_is_ts_with_ext_for_hardware_events() {
    // SS0 = the user data selector (RPL 3): #TS(SS0). INT n: EXT clear.
    let mut cpu = bad_tss_stack();
    code(&mut cpu, 32, UCODE, |a| a.int(0x80));
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 100);
    assert_eq!((r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)), (10, 0x28));
    // An external interrupt through the same path: #TS(0x28 | EXT).
    let mut cpu = bad_tss_stack();
    code(&mut cpu, 32, UCODE, spin);
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    cpu.deliver_external(0x80);
    run(&mut cpu, 100);
    assert_eq!((r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)), (10, 0x29));
}

/// A bus that raises one external interrupt.
struct OneIrq {
    vector: Option<u8>,
}

impl Bus for OneIrq {
    fn io_read(&mut self, _: &mut PhysMem, _: u16, _: u8) -> u32 {
        !0
    }
    fn io_write(&mut self, _: &mut PhysMem, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: &mut PhysMem, _: u64, _: u8) -> u64 {
        !0
    }
    fn mmio_write(&mut self, _: &mut PhysMem, _: u64, _: u8, _: u64) {}
    fn ack_interrupt(&mut self, _: &mut PhysMem) -> Option<u8> {
        self.vector.take()
    }
    fn status(&mut self) -> BusStatus {
        if self.vector.is_some() {
            BusStatus::INTR
        } else {
            BusStatus::empty()
        }
    }
}

#[test]
fn external_interrupt_through_a_not_present_gate_sets_ext() {
    let mut cpu = protected();
    trap_handler32(&mut cpu, 11, true);
    w64(
        &mut cpu,
        IDT + 0x40 * 8,
        gate(gdt::CODE32, HANDLERS as u32, 0xE, 0, 0) & !(1 << 47),
    );
    code(&mut cpu, 32, KCODE, spin);
    cpu.write_flags(bit::IF, bit::IF);
    cpu.set_intr(true);
    cpu.run(&mut OneIrq { vector: Some(0x40) }, 50);
    assert_eq!(r32(&cpu, OUT + 0x100), 11);
    assert_eq!(
        r32(&cpu, OUT + 0x104),
        0x40 * 8 + 2 + 1,
        "#NP(vector * 8 + 2 + EXT)"
    );
}

#[test]
fn fault_during_fault_delivery_is_a_double_fault() {
    let mut cpu = protected();
    trap_handler32(&mut cpu, 8, true);
    // #GP's gate is not present: delivering #GP raises #NP, contributory on contributory.
    w64(&mut cpu, IDT + 13 * 8, 0);
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(ax, 0x80)?;
        a.mov(ds, ax)
    });
    run(&mut cpu, 100);
    assert_eq!(r32(&cpu, OUT + 0x100), 8);
    assert_eq!(r32(&cpu, OUT + 0x104), 0, "#DF pushes error code 0");
    assert_eq!(r32(&cpu, OUT + 0x108), KCODE + 4);
}

#[test]
fn fault_during_double_fault_delivery_shuts_down() {
    let mut cpu = protected();
    cpu.idtr.limit = 0;
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(ax, 0x80)?;
        a.mov(ds, ax)
    });
    assert_eq!(run(&mut cpu, 100), RunExit::Shutdown);
    assert!(cpu.shutdown);
}

#[test]
fn faults_push_rf_and_bound_raises_br() {
    let mut cpu = protected();
    let at = HANDLERS + 5 * 0x40;
    code(&mut cpu, 32, at, |a| {
        a.mov(eax, dword_ptr(esp + 8))?;
        a.mov(dword_ptr(OUT), eax)?;
        a.mov(eax, dword_ptr(esp))?;
        a.mov(dword_ptr(OUT + 4), eax)?;
        spin(a)
    });
    set_idt32(&mut cpu, 5, at, 0xE, 0);
    w32(&mut cpu, OUT + 0x40, 10);
    w32(&mut cpu, OUT + 0x44, 20);
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(ecx, 15)?;
        a.bound(ecx, qword_ptr(OUT + 0x40))?;
        a.mov(ecx, 21)?;
        a.bound(ecx, qword_ptr(OUT + 0x40))
    });
    run(&mut cpu, 100);
    assert_eq!(
        r32(&cpu, OUT + 4),
        KCODE + 16,
        "#BR is a fault at the second BOUND"
    );
    assert_ne!(r32(&cpu, OUT) & bit::RF, 0, "a fault pushes RF = 1");
}

// ---------------------------------------------------------------------------------------
// Virtual-8086 mode
// ---------------------------------------------------------------------------------------

/// Ring 0 IRETs into virtual-8086 code at 4000:0000 with stack 7000:FFFE and ES 2000.
fn enter_v86_program(
    cpu: &mut Cpu,
    eflags: u32,
    v86: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) {
    code(cpu, 32, KCODE, |a| {
        for v in [0u32, 0, 0, 0x2000, 0x7000, 0xFFFE, eflags, 0x4000, 0] {
            a.push(v)?;
        }
        a.iretd()
    });
    code(cpu, 16, 0x40000, v86);
}

#[test]
fn iret_to_v86_and_back_through_an_interrupt() {
    let mut cpu = protected();
    set_idt32(&mut cpu, 0x30, HANDLERS, 0xE, 3);
    enter_v86_program(&mut cpu, 0x0002_3002, |a| {
        a.mov(ax, 0x1234)?;
        a.int(0x30)?;
        a.mov(bx, 0x5678)?;
        spin(a)
    });
    code(&mut cpu, 32, HANDLERS, |a| {
        a.mov(dword_ptr(OUT).ss(), esp)?;
        for i in 0..9u32 {
            a.mov(eax, dword_ptr(esp + 4 * i))?;
            a.mov(dword_ptr(OUT + 4 + 4 * i as u64).ss(), eax)?;
        }
        a.mov(eax, ds)?;
        a.mov(dword_ptr(OUT + 0x40).ss(), eax)?;
        a.iretd()
    });
    run_to(&mut cpu, 0, 20);
    assert_eq!(cpu.mode, Mode::V8086);
    assert_eq!(cpu.cpl, 3);
    assert_eq!(cpu.seg(sreg::CS).base, 0x40000);
    run(&mut cpu, 200);
    assert_eq!(cpu.mode, Mode::V8086);
    assert_eq!(cpu.gpr[reg::RBX as usize] & 0xFFFF, 0x5678);
    assert_eq!(
        r32(&cpu, OUT),
        KSTACK - 36,
        "GS FS DS ES SS ESP EFLAGS CS EIP"
    );
    let frame: Vec<u64> = (0..9).map(|i| r32(&cpu, OUT + 4 + 4 * i)).collect();
    assert_eq!(frame[0], 5, "IP after INT 30h");
    assert_eq!(frame[1], 0x4000);
    assert_ne!(frame[2] & bit::VM, 0, "the pushed EFLAGS has VM");
    assert_eq!(&frame[3..], &[0xFFFE, 0x7000, 0x2000, 0, 0, 0]);
    assert_eq!(r32(&cpu, OUT + 0x40), 0, "DS is null in the ring-0 handler");
    assert_eq!(
        cpu.seg(sreg::ES).base,
        0x20000,
        "IRET reloaded ES real-style"
    );
}

#[test]
fn int_n_in_v86_with_iopl_below_3_is_gp0() {
    let mut cpu = protected();
    trap_handler32(&mut cpu, 13, true);
    set_idt32(&mut cpu, 0x30, HANDLERS, 0xE, 3);
    enter_v86_program(&mut cpu, 0x0002_0002, |a| a.int(0x30));
    run(&mut cpu, 200);
    assert_eq!((r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)), (13, 0));
    assert_eq!(r32(&cpu, OUT + 0x108), 0, "the saved EIP points at the INT");
    assert_eq!(cpu.mode, Mode::Protected);
}

#[test]
fn vme_redirects_int_n_to_the_v86_vector_table() {
    let mut cpu = protected();
    cpu.cr4 |= vx86::cpu::Cr4::VME;
    // I/O map base 0x88: the redirection bitmap is the 32 bytes below it, all clear.
    set_gdt(&mut cpu, SEL_TSS_A, tss_desc(TSS_A, 0x88, 0xB, 0));
    cpu.tr = Descriptor(tss_desc(TSS_A, 0x88, 0xB, 0)).to_segment(SEL_TSS_A);
    w16(&mut cpu, TSS_A + 0x66, 0x88);
    // The 8086 vector table at linear 0: INT 21h -> 5000:0010.
    w32(&mut cpu, 0x21 * 4, 0x5000_0010);
    code(&mut cpu, 16, 0x50010, |a| {
        a.mov(cx, 0x4321)?;
        a.iret()
    });
    enter_v86_program(&mut cpu, 0x0002_0202, |a| {
        a.int(0x21)?;
        spin(a)
    });
    run_to(&mut cpu, 0x10, 20);
    assert_eq!(cpu.seg(sreg::CS).selector, 0x5000);
    let stack = cpu.gpr[reg::RSP as usize] & 0xFFFF;
    let pushed_flags = r16(&cpu, 0x70000 + stack + 4);
    assert_eq!(
        pushed_flags & bit::IOPL,
        bit::IOPL,
        "IOPL < 3: the image carries IOPL = 3"
    );
    assert!(cpu.flags.has(bit::IF), "IF stays; VIF is cleared instead");
    assert_eq!(cpu.rflags() & bit::IOPL, 0);
}

// ---------------------------------------------------------------------------------------
// Task switches
// ---------------------------------------------------------------------------------------

/// TSS B: a 32-bit task at `eip` with flat ring-0 segments and ESP 0x60000.
fn setup_task_b(cpu: &mut Cpu, eip: u64) {
    w32(cpu, TSS_B + 0x20, eip);
    w32(cpu, TSS_B + 0x24, 0x2);
    w32(cpu, TSS_B + 0x28, 0xAAAA);
    w32(cpu, TSS_B + 0x38, 0x60000);
    for (i, s) in [
        gdt::DATA,
        gdt::CODE32,
        gdt::DATA,
        gdt::DATA,
        gdt::DATA,
        gdt::DATA,
    ]
    .iter()
    .enumerate()
    {
        w16(cpu, TSS_B + 0x48 + 4 * i as u64, *s as u64);
    }
}

fn busy(cpu: &Cpu, sel: u16) -> bool {
    cpu.mem.read_u8(GDT + sel as u64 + 5).unwrap() & 2 != 0
}

#[test]
fn call_to_a_tss_nests_and_iret_returns() {
    let mut cpu = protected();
    setup_task_b(&mut cpu, 0x50000);
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(ebx, 0x1111)?;
        a.call_far(SEL_TSS_B, 0)?;
        a.mov(dword_ptr(OUT), ebx)?;
        spin(a)
    });
    code(&mut cpu, 32, 0x50000, |a| {
        a.mov(dword_ptr(OUT + 4), eax)?;
        a.mov(ebx, 0x2222)?;
        a.iretd()?;
        spin(a)
    });
    run_to(&mut cpu, 0x50000, 10);
    assert_eq!(cpu.tr.selector, SEL_TSS_B);
    assert!(cpu.flags.has(bit::NT), "CALL sets NT in the new task");
    assert_eq!(r16(&cpu, TSS_B), SEL_TSS_A as u64, "back link");
    assert!(busy(&cpu, SEL_TSS_A) && busy(&cpu, SEL_TSS_B));
    assert!(cpu.cr0.contains(Cr0::TS));
    assert_eq!(
        r32(&cpu, TSS_A + 0x34),
        0x1111,
        "the old task's EBX was saved"
    );
    assert_eq!(
        r32(&cpu, TSS_A + 0x20),
        KCODE + 5 + 7,
        "its EIP is the return address"
    );
    run(&mut cpu, 100);
    assert_eq!(cpu.tr.selector, SEL_TSS_A);
    assert_eq!(r32(&cpu, OUT), 0x1111);
    assert_eq!(
        r32(&cpu, OUT + 4),
        0xAAAA,
        "task B started with EAX from its TSS"
    );
    assert!(
        busy(&cpu, SEL_TSS_A) && !busy(&cpu, SEL_TSS_B),
        "IRET frees the task it leaves"
    );
    assert_eq!(r32(&cpu, TSS_B + 0x34), 0x2222);
    assert_eq!(r32(&cpu, TSS_B + 0x24) & bit::NT, 0, "IRET saves NT clear");
    assert!(!cpu.flags.has(bit::NT));
}

#[test]
fn jmp_to_a_tss_swaps_busy_bits_and_a_busy_tss_is_gp() {
    let mut cpu = protected();
    trap_handler32(&mut cpu, 13, true);
    setup_task_b(&mut cpu, 0x50000);
    code(&mut cpu, 32, KCODE, |a| a.jmp_far(SEL_TSS_B, 0));
    code(&mut cpu, 32, 0x50000, |a| a.jmp_far(SEL_TSS_B, 0));
    run_to(&mut cpu, 0x50000, 10);
    assert!(!busy(&cpu, SEL_TSS_A) && busy(&cpu, SEL_TSS_B));
    assert!(!cpu.flags.has(bit::NT), "JMP does not nest");
    assert_eq!(r16(&cpu, TSS_B), 0, "no back link");
    run(&mut cpu, 100);
    assert_eq!(
        (r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)),
        (13, SEL_TSS_B as u64),
        "JMP to a busy TSS"
    );
}

#[test]
fn interrupt_through_a_task_gate_pushes_the_error_code_on_the_new_task_stack() {
    let mut cpu = protected();
    setup_task_b(&mut cpu, 0x50000);
    w64(&mut cpu, IDT + 13 * 8, gate(SEL_TSS_B, 0, 0x5, 0, 0));
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(ax, 0x80)?;
        a.mov(fs, ax)
    });
    code(&mut cpu, 32, 0x50000, |a| {
        a.pop(eax)?;
        a.mov(dword_ptr(OUT), eax)?;
        spin(a)
    });
    run(&mut cpu, 100);
    assert_eq!(cpu.tr.selector, SEL_TSS_B);
    assert_eq!(r32(&cpu, OUT), 0x80, "#GP(0x80) error code");
    assert_eq!(
        r32(&cpu, TSS_A + 0x20),
        KCODE + 4,
        "the old task resumes at the faulting MOV"
    );
    assert!(cpu.flags.has(bit::NT));
}

#[test]
fn tss_t_bit_raises_a_debug_trap_in_the_new_task() {
    let mut cpu = protected();
    setup_task_b(&mut cpu, 0x50000);
    w16(&mut cpu, TSS_B + 0x64, 1);
    trap_handler32(&mut cpu, 1, false);
    code(&mut cpu, 32, KCODE, |a| a.jmp_far(SEL_TSS_B, 0));
    code(&mut cpu, 32, 0x50000, spin);
    run(&mut cpu, 100);
    assert_eq!(r32(&cpu, OUT + 0x100), 1);
    assert_eq!(
        r32(&cpu, OUT + 0x108),
        0x50000,
        "before the new task's first instruction"
    );
    assert_ne!(cpu.dr[6] & (1 << 15), 0, "DR6.BT");
}

#[test]
fn task_switch_into_a_bad_cs_faults_in_the_new_task() {
    let mut cpu = protected();
    setup_task_b(&mut cpu, 0x50000);
    w16(&mut cpu, TSS_B + 0x4C, gdt::DATA as u64); // CS = a data segment
    trap_handler32(&mut cpu, 10, true);
    code(&mut cpu, 32, KCODE, |a| a.jmp_far(SEL_TSS_B, 0));
    run(&mut cpu, 100);
    assert_eq!(cpu.tr.selector, SEL_TSS_B, "the switch committed");
    assert_eq!(
        (r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)),
        (10, gdt::DATA as u64)
    );
    assert_eq!(
        r32(&cpu, OUT + 0x108),
        0x50000,
        "reported at the new task's EIP"
    );
}

// ---------------------------------------------------------------------------------------
// Descriptor instructions
// ---------------------------------------------------------------------------------------

#[test]
fn lar_lsl_verr_verw_arpl() {
    let mut cpu = protected();
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(ecx, gdt::DATA as u32)?;
        a.lar(eax, ecx)?;
        a.setz(byte_ptr(OUT))?;
        a.lsl(ebx, ecx)?;
        a.mov(ecx, 0x80)?;
        a.lar(edx, ecx)?; // beyond the GDT: ZF = 0, EDX unchanged
        a.setz(byte_ptr(OUT + 1))?;
        a.mov(ecx, gdt::CODE32 as u32)?;
        a.verr(cx)?;
        a.setz(byte_ptr(OUT + 2))?;
        a.verw(cx)?;
        a.setz(byte_ptr(OUT + 3))?;
        a.mov(ecx, SEL_TSS_A as u32)?;
        a.lar(esi, ecx)?;
        a.mov(di, 0x10)?;
        a.mov(cx, 0x13)?;
        a.arpl(di, cx)?;
        a.setz(byte_ptr(OUT + 4))?;
        spin(a)
    });
    cpu.gpr[reg::RDX as usize] = 0xDEAD;
    run(&mut cpu, 100);
    assert_eq!(
        cpu.gpr[reg::RAX as usize],
        0x00C0_9300,
        "LAR: type/DPL/P and G/D"
    );
    assert_eq!(cpu.gpr[reg::RBX as usize], 0xFFFF_FFFF, "LSL scales by G");
    assert_eq!(cpu.gpr[reg::RDX as usize], 0xDEAD);
    assert_eq!(cpu.gpr[reg::RSI as usize], 0x0000_8B00, "LAR on a busy TSS");
    assert_eq!(cpu.gpr[reg::RDI as usize] & 0xFFFF, 0x13);
    let flags: Vec<u8> = (0..5).map(|i| cpu.mem.read_u8(OUT + i).unwrap()).collect();
    assert_eq!(flags, [1, 0, 1, 0, 1]);
}

#[test]
fn ltr_str_lldt_sldt_and_ldt_segments() {
    let mut cpu = protected();
    // An LDT at 0x4000 with one data segment at base 0x12000.
    set_gdt(&mut cpu, SEL_SPARE, tss_desc(0x4000, 0xF, 0x2, 0));
    w64(
        &mut cpu,
        0x4008,
        descriptor(0x12000, 0xFFFF, attr::P | attr::S | attr::RW),
    );
    set_gdt(&mut cpu, SEL_TSS_B, tss_desc(TSS_B, 0x67, 0x9, 0));
    w32(&mut cpu, 0x12010, 0xCAFE);
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(ax, SEL_TSS_B as u32)?;
        a.ltr(ax)?;
        a.str(ecx)?;
        a.mov(ax, SEL_SPARE as u32)?;
        a.lldt(ax)?;
        a.sldt(edx)?;
        a.mov(ax, 0x0C)?; // index 1, TI = 1
        a.mov(es, ax)?;
        a.mov(ebx, dword_ptr(0x10).es())?;
        spin(a)
    });
    run(&mut cpu, 100);
    assert_eq!(cpu.gpr[reg::RCX as usize], SEL_TSS_B as u64);
    assert_eq!(cpu.gpr[reg::RDX as usize], SEL_SPARE as u64);
    assert_eq!(cpu.gpr[reg::RBX as usize], 0xCAFE);
    assert!(busy(&cpu, SEL_TSS_B), "LTR marks the TSS busy");
    assert_eq!(cpu.tr.attr & 0xF, 0xB);
}

#[test]
fn mov_ss_inhibits_interrupts_for_one_instruction() {
    let mut cpu = protected();
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(eax, gdt::DATA as u32)?;
        a.mov(ss, eax)?;
        a.nop()?;
        a.nop()
    });
    cpu.step(&mut OpenBus);
    cpu.step(&mut OpenBus);
    assert!(cpu.shadow);
    cpu.step(&mut OpenBus);
    assert!(!cpu.shadow);
    assert_eq!(cpu.rip(), KCODE + 5 + 2 + 1, "MOV EAX, MOV SS, and one NOP");
}

// ---------------------------------------------------------------------------------------
// Real mode
// ---------------------------------------------------------------------------------------

#[test]
fn real_mode_int_iret_and_far_call_ret() {
    let mut cpu = new_cpu();
    cpu.segs[sreg::CS as usize] = Segment::real(0x1000);
    cpu.update_mode();
    cpu.set_rip(0);
    cpu.load_seg(sreg::SS, 0x7000).unwrap();
    cpu.gpr[reg::RSP as usize] = 0xFFFE;
    w32(&mut cpu, 0x21 * 4, 0x2000_0100);
    code(&mut cpu, 16, 0x10000, |a| {
        a.int(0x21)?;
        a.call_far(0x3000, 0x0010)?;
        spin(a)
    });
    code(&mut cpu, 16, 0x20100, |a| {
        a.mov(bx, 0x99)?;
        a.iret()
    });
    code(&mut cpu, 16, 0x30010, |a| {
        a.mov(cx, 0x77)?;
        a.retf()
    });
    cpu.write_flags(bit::IF, bit::IF);
    run_to(&mut cpu, 0x100, 5);
    assert_eq!(cpu.seg(sreg::CS).base, 0x20000);
    assert!(!cpu.flags.has(bit::IF));
    assert_eq!(r16(&cpu, 0x7FFF8), 0x0002, "pushed IP");
    assert_eq!(r16(&cpu, 0x7FFFA), 0x1000, "pushed CS");
    run(&mut cpu, 50);
    assert_eq!(cpu.gpr[reg::RBX as usize], 0x99);
    assert_eq!(cpu.gpr[reg::RCX as usize], 0x77);
    assert_eq!(cpu.gpr[reg::RSP as usize], 0xFFFE);
    assert!(cpu.flags.has(bit::IF), "IRET restored IF");
    assert_eq!(cpu.seg(sreg::CS).selector, 0x1000);
    assert_eq!(cpu.rip(), 7);
}

// ---------------------------------------------------------------------------------------
// Long mode
// ---------------------------------------------------------------------------------------

fn enter_ring3_64(cpu: &mut Cpu, entry: u64, stack: u64) {
    let ucode = Descriptor(r64(cpu, GDT + 0x30)).to_segment(gdt::USER_CODE64);
    let udata = Descriptor(r64(cpu, GDT + 0x28)).to_segment(gdt::USER_DATA);
    for s in [sreg::ES, sreg::SS, sreg::DS] {
        cpu.segs[s as usize] = udata;
    }
    cpu.segs[sreg::CS as usize] = ucode;
    cpu.set_cpl(3);
    cpu.update_mode();
    cpu.set_rip(entry);
    cpu.gpr[reg::RSP as usize] = stack;
}

#[test]
fn long_mode_interrupt_from_ring_3_with_ist_and_iretq() {
    let mut cpu = long_mode();
    set_idt64(&mut cpu, 0x80, HANDLERS, 0xE, 3, 0);
    set_idt64(&mut cpu, 0x81, HANDLERS + 0x100, 0xF, 3, 1);
    code(&mut cpu, 64, UCODE, |a| {
        a.int(0x80)?;
        a.int(0x81)?;
        a.mov(qword_ptr(OUT + 0x80), rsp)?;
        spin(a)
    });
    code(&mut cpu, 64, HANDLERS, |a| {
        a.mov(qword_ptr(OUT), rsp)?;
        for i in 0..5u32 {
            a.mov(rax, qword_ptr(rsp + 8 * i))?;
            a.mov(qword_ptr(OUT + 8 + 8 * i as u64), rax)?;
        }
        a.mov(eax, ss)?;
        a.mov(dword_ptr(OUT + 0x40), eax)?;
        a.iretq()
    });
    code(&mut cpu, 64, HANDLERS + 0x100, |a| {
        a.mov(qword_ptr(OUT + 0x48), rsp)?;
        a.iretq()
    });
    enter_ring3_64(&mut cpu, UCODE, USTACK - 8);
    run(&mut cpu, 200);
    assert_eq!(r64(&cpu, OUT), KSTACK - 40);
    let frame: Vec<u64> = (0..5).map(|i| r64(&cpu, OUT + 8 + 8 * i)).collect();
    assert_eq!(frame[0], UCODE + 2);
    assert_eq!(frame[1], gdt::USER_CODE64 as u64);
    assert_eq!(frame[3], USTACK - 8);
    assert_eq!(frame[4], gdt::USER_DATA as u64);
    assert_eq!(r32(&cpu, OUT + 0x40), 0, "SS is a null selector with RPL 0");
    assert_eq!(
        r64(&cpu, OUT + 0x48),
        0x88000 - 40,
        "IST1, aligned down to 16"
    );
    assert_eq!(r64(&cpu, OUT + 0x80), USTACK - 8);
    assert_eq!(cpu.cpl, 3);
    assert_eq!(cpu.mode, Mode::Long);
}

#[test]
fn long_mode_exception_frame_is_aligned_and_carries_the_error_code() {
    let mut cpu = long_mode();
    set_idt64(&mut cpu, 13, HANDLERS, 0xE, 0, 0);
    code(&mut cpu, 64, KCODE, |a| {
        a.mov(rsp, 0x7FFF8u64)?;
        a.mov(ax, 0x80)?;
        a.mov(ds, ax)
    });
    code(&mut cpu, 64, HANDLERS, |a| {
        a.mov(qword_ptr(OUT), rsp)?;
        a.mov(rax, qword_ptr(rsp))?;
        a.mov(qword_ptr(OUT + 8), rax)?;
        spin(a)
    });
    run(&mut cpu, 50);
    assert_eq!(
        r64(&cpu, OUT),
        0x7FFF0 - 48,
        "RSP aligned to 16, six qwords"
    );
    assert_eq!(r64(&cpu, OUT + 8), 0x80);
}

#[test]
fn far_transfers_between_64_bit_and_compatibility_mode() {
    let mut cpu = long_mode();
    w32(&mut cpu, OUT + 0x40, 0x40000);
    w16(&mut cpu, OUT + 0x44, gdt::CODE32 as u64);
    code(&mut cpu, 64, KCODE, |a| {
        a.call(fword_ptr(OUT + 0x40))?; // CALL m16:32 to compatibility mode
        a.mov(qword_ptr(OUT), rax)?;
        spin(a)
    });
    code(&mut cpu, 32, 0x40000, |a| {
        a.mov(eax, 0x3232)?;
        a.retf()
    });
    run_to(&mut cpu, 0x40000, 10);
    assert_eq!(cpu.mode, Mode::Compat);
    run(&mut cpu, 50);
    assert_eq!(cpu.mode, Mode::Long);
    assert_eq!(r64(&cpu, OUT), 0x3232);
    assert_eq!(cpu.gpr[reg::RSP as usize], KSTACK);
}

#[test]
fn long_mode_call_gate_to_ring_0() {
    let mut cpu = long_mode();
    set_gdt(
        &mut cpu,
        SEL_SPARE2,
        gate(gdt::CODE64, HANDLERS as u32, 0xC, 3, 0),
    );
    set_gdt(&mut cpu, SEL_SPARE3, 0);
    w32(&mut cpu, OUT + 0x40, 0);
    w16(&mut cpu, OUT + 0x44, (SEL_SPARE2 | 3) as u64);
    code(&mut cpu, 64, UCODE, |a| {
        a.call(fword_ptr(OUT + 0x40))?;
        spin(a)
    });
    code(&mut cpu, 64, HANDLERS, |a| {
        a.mov(qword_ptr(OUT), rsp)?;
        a.mov(rax, qword_ptr(rsp + 16))?;
        a.mov(qword_ptr(OUT + 8), rax)?;
        spin(a)
    });
    enter_ring3_64(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 50);
    assert_eq!(cpu.cpl, 0);
    assert_eq!(r64(&cpu, OUT), KSTACK - 32, "SS, RSP, CS, RIP as qwords");
    assert_eq!(r64(&cpu, OUT + 8), USTACK, "the old RSP");
    assert_eq!(cpu.seg(sreg::SS).selector, 0);
}

// ---------------------------------------------------------------------------------------
// 16-bit gates and TSSs, stack and flag details
// ---------------------------------------------------------------------------------------

#[test]
fn sixteen_bit_interrupt_gate_with_a_16_bit_tss() {
    let mut cpu = protected();
    // A 16-bit TSS: SP0 at +2, SS0 at +4.
    set_gdt(&mut cpu, SEL_SPARE, tss_desc(0x3400, 0x2B, 0x3, 0));
    cpu.tr = Descriptor(tss_desc(0x3400, 0x2B, 0x3, 0)).to_segment(SEL_SPARE);
    w16(&mut cpu, 0x3402, 0xF000);
    w16(&mut cpu, 0x3404, gdt::DATA as u64);
    // A 16-bit gate reaches only the first 64 KiB of its code segment.
    w64(
        &mut cpu,
        IDT + 0x80 * 8,
        gate(gdt::CODE32, 0x8000, 0x6, 3, 0),
    );
    code(&mut cpu, 32, UCODE, |a| a.int(0x80));
    code(&mut cpu, 32, 0x8000, spin);
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    cpu.gpr[reg::RSP as usize] = 0x1234_0000 | USTACK;
    run(&mut cpu, 10);
    assert_eq!(cpu.rip(), 0x8000);
    assert_eq!(
        cpu.gpr[reg::RSP as usize] & 0xFFFF_FFFF,
        0xF000 - 10,
        "five words"
    );
    let words: Vec<u64> = (0..5).map(|i| r16(&cpu, 0xF000 - 10 + 2 * i)).collect();
    assert_eq!(words[0], (UCODE + 2) & 0xFFFF, "IP");
    assert_eq!(words[1], gdt::USER_CODE32 as u64);
    assert_eq!(words[3], USTACK & 0xFFFF, "SP");
    assert_eq!(words[4], gdt::USER_DATA as u64);
}

#[test]
fn call_to_a_16_bit_tss_loads_word_registers() {
    let mut cpu = protected();
    set_gdt(&mut cpu, SEL_SPARE, tss_desc(0x3400, 0x2B, 0x1, 0));
    w16(&mut cpu, 0x3400 + 0x0E, 0x0100); // IP
    w16(&mut cpu, 0x3400 + 0x10, 0x0002); // FLAGS
    w16(&mut cpu, 0x3400 + 0x12, 0x4444); // AX
    w16(&mut cpu, 0x3400 + 0x1A, 0x8000); // SP
    for (off, s) in [
        (0x22, gdt::DATA),
        (0x24, gdt::CODE32),
        (0x26, gdt::DATA),
        (0x28, gdt::DATA),
    ] {
        w16(&mut cpu, 0x3400 + off, s as u64);
    }
    code(&mut cpu, 32, KCODE, |a| a.call_far(SEL_SPARE, 0));
    code(&mut cpu, 32, 0x100, spin);
    run(&mut cpu, 10);
    assert_eq!(cpu.rip(), 0x100);
    assert_eq!(
        cpu.gpr[reg::RAX as usize],
        0xFFFF_4444,
        "upper halves read as ones"
    );
    assert_eq!(cpu.seg(sreg::FS).selector, 0, "a 16-bit TSS has no FS");
    assert_eq!(r16(&cpu, 0x3400), SEL_TSS_A as u64, "back link");
    assert_eq!(cpu.tr.attr & 0xF, 0x3, "busy 16-bit TSS");
}

#[test]
fn push_sreg_writes_16_bits_and_pop_ss_uses_the_old_stack_width() {
    let mut cpu = protected();
    w32(&mut cpu, KSTACK - 4, 0xFFFF_FFFF);
    code(&mut cpu, 32, KCODE, |a| {
        a.push(fs)?;
        a.pop(eax)?;
        a.push(ds)?;
        a.pop(ss)?;
        a.mov(ebx, esp)?;
        spin(a)
    });
    run(&mut cpu, 20);
    assert_eq!(
        cpu.gpr[reg::RAX as usize],
        0xFFFF_0000 | gdt::DATA as u64,
        "only the selector's word is written"
    );
    assert_eq!(cpu.gpr[reg::RBX as usize], KSTACK);
}

#[test]
fn int3_checks_the_gate_dpl_and_int1_does_not() {
    let mut cpu = protected();
    trap_handler32(&mut cpu, 13, true);
    set_idt32(&mut cpu, 3, HANDLERS + 0x800, 0xE, 0);
    code(&mut cpu, 32, UCODE, |a| a.int3());
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 50);
    assert_eq!(
        (r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)),
        (13, 3 * 8 + 2)
    );

    let mut cpu = protected();
    set_idt32(&mut cpu, 1, HANDLERS + 0x800, 0xE, 0);
    code(&mut cpu, 32, HANDLERS + 0x800, spin);
    code(&mut cpu, 32, UCODE, |a| a.int1());
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 50);
    assert_eq!(cpu.rip(), HANDLERS + 0x800, "INT1 ignores the gate DPL");
    assert_eq!(
        r32(&cpu, KSTACK - 20),
        UCODE + 1,
        "a trap: the saved EIP follows INT1"
    );
}

#[test]
fn iret_at_cpl_3_cannot_change_if_or_iopl() {
    let mut cpu = protected();
    code(&mut cpu, 32, UCODE, |a| {
        a.push(gdt::USER_DATA as u32)?;
        a.push(USTACK as u32)?;
        a.push(0x3002u32)?; // IOPL 3, IF clear
        a.push(gdt::USER_CODE32 as u32)?;
        a.push((UCODE + 0x40) as u32)?;
        a.iretd()
    });
    code(&mut cpu, 32, UCODE + 0x40, spin);
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    cpu.write_flags(bit::IF, bit::IF);
    run(&mut cpu, 20);
    assert_eq!(cpu.rip(), UCODE + 0x40);
    assert!(cpu.flags.has(bit::IF), "CPL 3 > IOPL 0: IF kept");
    assert_eq!(cpu.rflags() & bit::IOPL, 0, "IOPL changes only at CPL 0");
    assert_eq!(
        cpu.gpr[reg::RSP as usize],
        USTACK - 8,
        "a same-level IRET pops EIP, CS, EFLAGS only"
    );
}

#[test]
fn a_far_call_that_overflows_the_stack_changes_nothing() {
    let mut cpu = protected();
    setup_task_b(&mut cpu, 0x50000);
    code(&mut cpu, 32, 0x50000, spin);
    // #SS goes to a task gate, so the faulting task's state lands in its TSS.
    w64(&mut cpu, IDT + 12 * 8, gate(SEL_TSS_B, 0, 0x5, 0, 0));
    // A stack segment with limit 0xFFFF and ESP 6: the 8-byte frame does not fit.
    set_gdt(&mut cpu, SEL_SPARE, descriptor(0, 0xFFFF, attr::DATA_RW));
    code(&mut cpu, 32, KCODE, |a| {
        a.mov(eax, SEL_SPARE as u32)?;
        a.mov(ss, eax)?;
        a.mov(esp, 6)?;
        a.call_far(gdt::CODE32, 0x10100)
    });
    run(&mut cpu, 20);
    assert_eq!(cpu.tr.selector, SEL_TSS_B);
    assert_eq!(r32(&cpu, TSS_A + 0x38), 6, "ESP as before the CALL");
    assert_eq!(r32(&cpu, TSS_A + 0x20), KCODE + 12, "EIP at the CALL");
    assert_eq!(r32(&cpu, 0x60000 - 4), 0, "#SS(0)");
}

#[test]
fn interrupt_with_no_room_on_the_ring_0_stack_is_ss_of_the_new_ss() {
    let mut cpu = protected();
    setup_task_b(&mut cpu, 0x50000);
    code(&mut cpu, 32, 0x50000, spin);
    w64(&mut cpu, IDT + 12 * 8, gate(SEL_TSS_B, 0, 0x5, 0, 0));
    set_idt32(&mut cpu, 0x80, HANDLERS, 0xE, 3);
    set_gdt(
        &mut cpu,
        SEL_SPARE,
        descriptor(0, 0xFFFF, attr::DATA_RW | attr::DB),
    );
    w32(&mut cpu, TSS_A + 4, 16);
    w32(&mut cpu, TSS_A + 8, SEL_SPARE as u64);
    code(&mut cpu, 32, UCODE, |a| a.int(0x80));
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    run(&mut cpu, 20);
    assert_eq!(cpu.tr.selector, SEL_TSS_B);
    assert_eq!(
        r32(&cpu, 0x60000 - 4),
        SEL_SPARE as u64,
        "#SS(new SS), EXT clear for INT n"
    );
    assert_eq!(
        r32(&cpu, TSS_A + 0x38),
        USTACK,
        "the ring-3 state is intact"
    );
    assert_eq!(r16(&cpu, TSS_A + 0x4C), gdt::USER_CODE32 as u64);
}

#[test]
fn iretq_at_the_same_level_pops_ss_and_rsp() {
    let mut cpu = long_mode();
    code(&mut cpu, 64, KCODE, |a| {
        a.mov(rax, 0x7_0000u64)?;
        a.push(gdt::DATA as i32)?;
        a.push(rax)?;
        a.push(0x2)?;
        a.push(gdt::CODE64 as i32)?;
        a.push((KCODE + 0x40) as i32)?;
        a.iretq()
    });
    code(&mut cpu, 64, KCODE + 0x40, spin);
    run(&mut cpu, 20);
    assert_eq!(cpu.rip(), KCODE + 0x40);
    assert_eq!(cpu.gpr[reg::RSP as usize], 0x7_0000);
    assert_eq!(cpu.seg(sreg::SS).selector, gdt::DATA);
}

#[test]
fn real_to_protected_to_long_and_back_through_the_guests_own_transfers() {
    use vx86::cpu::{Cr4, Efer};
    let mut cpu = new_cpu();
    // Let setup write the GDT and page tables, then start over in real mode and walk up
    // with the guest's own LGDT, MOV CR0 and far transfers.
    cpu.enter_long_mode(GDT, 0x100000, 1);
    let pml4 = cpu.cr3;
    cpu.reset();
    w16(&mut cpu, 0x500, 7 * 8 - 1);
    w32(&mut cpu, 0x502, GDT);
    cpu.segs[sreg::CS as usize] = Segment::real(0);
    cpu.update_mode();
    cpu.set_rip(0x7C00);
    code(&mut cpu, 16, 0x7C00, |a| {
        a.lgdt(ptr(0x500))?;
        a.mov(eax, cr0)?;
        a.or(eax, 1)?;
        a.mov(cr0, eax)?;
        a.jmp_far(gdt::CODE32, 0x8000)
    });
    code(&mut cpu, 32, 0x8000, |a| {
        a.mov(eax, gdt::DATA as u32)?;
        a.mov(ds, eax)?;
        a.mov(ss, eax)?;
        a.mov(esp, 0x7000)?;
        a.mov(eax, cr4)?;
        a.or(eax, Cr4::PAE.bits() as i32)?;
        a.mov(cr4, eax)?;
        a.mov(eax, pml4 as u32)?;
        a.mov(cr3, eax)?;
        a.mov(ecx, 0xC000_0080u32)?;
        a.rdmsr()?;
        a.or(eax, Efer::LME.bits() as i32)?;
        a.wrmsr()?;
        a.mov(eax, cr0)?;
        a.or(eax, Cr0::PG.bits() as u32 as i32)?;
        a.mov(cr0, eax)?;
        a.call_far(gdt::CODE64, 0x9000)?;
        a.mov(dword_ptr(OUT), eax)?;
        spin(a)
    });
    code(&mut cpu, 64, 0x9000, |a| {
        a.mov(rax, 0x6464u64)?;
        a.db(&[0xCB]) // RETF at the default 32-bit operand size (code_asm emits RETFQ)
    });
    run(&mut cpu, 200);
    assert_eq!(cpu.mode, Mode::Compat);
    assert_eq!(
        r32(&cpu, OUT),
        0x6464,
        "64-bit code ran and returned to compatibility mode"
    );
    assert_eq!(cpu.gpr[reg::RSP as usize], 0x7000);
}

#[test]
fn compatibility_mode_uses_64_bit_descriptor_table_bases() {
    let mut cpu = long_mode();
    // Map 0xFFFF_8000_0000_0000 to physical 2 MiB with one 2-MiB page, and move the IDT and
    // TSS up there: the low 32 bits of those bases hold nothing.
    let high = 0xFFFF_8000_0000_0000u64;
    w64(&mut cpu, 0x100000 + 256 * 8, 0x104000 | 7);
    w64(&mut cpu, 0x104000, 0x105000 | 7);
    w64(&mut cpu, 0x105000, 0x200000 | 0x87);
    cpu.idtr.base = high + 0x2000;
    w64(
        &mut cpu,
        0x202000 + 0x80 * 16,
        gate(gdt::CODE64, HANDLERS as u32, 0xE, 3, 0),
    );
    w64(&mut cpu, 0x202000 + 0x80 * 16 + 8, 0);
    cpu.tr.base = high + 0x3000;
    cpu.tr.lin_base = high + 0x3000;
    w64(&mut cpu, 0x203000 + 4, KSTACK);
    code(&mut cpu, 32, UCODE, |a| a.int(0x80));
    code(&mut cpu, 64, HANDLERS, spin);
    enter_ring3_32(&mut cpu, UCODE, USTACK);
    assert_eq!(cpu.mode, Mode::Compat);
    run(&mut cpu, 10);
    assert_eq!(cpu.rip(), HANDLERS);
    assert_eq!(cpu.mode, Mode::Long);
    assert_eq!(cpu.gpr[reg::RSP as usize], KSTACK - 40);
}

#[test]
fn ltr_and_lldt_read_16_byte_descriptors_in_64_bit_mode() {
    let mut cpu = long_mode();
    let high = 0xFFFF_8000_0000_0000u64;
    // TSS at 0x4000 (upper base 0), LDT at high + 0x5000: the upper half holds the base.
    set_gdt(&mut cpu, SEL_SPARE, tss_desc(0x4000, 0x67, 0x9, 0));
    set_gdt(&mut cpu, SEL_SPARE + 8, 0);
    set_gdt(&mut cpu, SEL_SPARE3, tss_desc(0x5000, 0xFF, 0x2, 0));
    set_gdt(&mut cpu, SEL_SPARE3 + 8, high >> 32);
    code(&mut cpu, 64, KCODE, |a| {
        a.mov(ax, SEL_SPARE as u32)?;
        a.ltr(ax)?;
        a.mov(ax, SEL_SPARE3 as u32)?;
        a.lldt(ax)?;
        spin(a)
    });
    run(&mut cpu, 20);
    assert_eq!(cpu.tr.selector, SEL_SPARE);
    assert_eq!(cpu.tr.base, 0x4000);
    assert_eq!(
        cpu.ldtr.base,
        high + 0x5000,
        "bits 63:32 from the upper 8 bytes"
    );
    assert_eq!(cpu.ldtr.limit, 0xFF);

    // A non-zero type in the upper half is #GP(selector).
    let mut cpu = long_mode();
    set_idt64(&mut cpu, 13, HANDLERS, 0xE, 0, 0);
    code(&mut cpu, 64, HANDLERS, |a| {
        a.pop(rax)?;
        a.mov(qword_ptr(OUT), rax)?;
        spin(a)
    });
    set_gdt(&mut cpu, SEL_SPARE3, tss_desc(0x5000, 0xFF, 0x2, 0));
    set_gdt(&mut cpu, SEL_SPARE3 + 8, 0x2 << 40);
    code(&mut cpu, 64, KCODE, |a| {
        a.mov(ax, SEL_SPARE3 as u32)?;
        a.lldt(ax)
    });
    run(&mut cpu, 20);
    assert_eq!(r64(&cpu, OUT), SEL_SPARE3 as u64);
}

#[test]
fn task_switch_loads_cr3_and_the_ldt_of_the_new_task() {
    let mut cpu = protected();
    // 32-bit paging: a page directory at 0x8000 mapping the first 4 MiB with one 4-MiB page.
    w32(&mut cpu, 0x8000, 0x87);
    cpu.cr4 |= vx86::cpu::Cr4::PSE;
    cpu.cr3 = 0x8000;
    cpu.cr0 |= Cr0::PG;
    cpu.flush_tlb_all();
    // Task B's page directory maps linear 0-4 MiB the same way plus linear 4 MiB onto
    // physical 0, and its LDT holds a data segment at base 4 MiB.
    w32(&mut cpu, 0x9000, 0x87);
    w32(&mut cpu, 0x9004, 0x87);
    set_gdt(&mut cpu, SEL_SPARE, tss_desc(0x4000, 0xF, 0x2, 0));
    w64(
        &mut cpu,
        0x4008,
        descriptor(0x40_0000, 0xFFFFF, attr::DATA_RW | attr::G | attr::DB),
    );
    setup_task_b(&mut cpu, 0x50000);
    w32(&mut cpu, TSS_B + 0x1C, 0x9000);
    w16(&mut cpu, TSS_B + 0x60, SEL_SPARE as u64);
    w16(&mut cpu, TSS_B + 0x54, 0x0C); // DS = LDT entry 1
    w32(&mut cpu, 0x1234, 0xFEED);
    code(&mut cpu, 32, KCODE, |a| a.jmp_far(SEL_TSS_B, 0));
    code(&mut cpu, 32, 0x50000, |a| {
        a.mov(eax, dword_ptr(0x1234))?;
        spin(a)
    });
    run(&mut cpu, 20);
    assert_eq!(cpu.cr3, 0x9000);
    assert_eq!(cpu.ldtr.selector, SEL_SPARE);
    assert_eq!(cpu.seg(sreg::DS).base, 0x40_0000);
    assert_eq!(
        cpu.gpr[reg::RAX as usize],
        0xFEED,
        "DS:1234 through the new page tables"
    );
}

#[test]
fn vme_iret_moves_if_into_vif_and_faults_on_a_pending_virtual_interrupt() {
    let mut cpu = protected();
    cpu.cr4 |= vx86::cpu::Cr4::VME;
    trap_handler32(&mut cpu, 13, true);
    // IOPL 0, VIF clear: IRET with IF set in the image sets VIF, not IF.
    enter_v86_program(&mut cpu, 0x0002_0002, |a| {
        a.push(0x0200)?;
        a.push(0x4000)?;
        a.push(0x0010)?;
        a.iret()
    });
    code(&mut cpu, 16, 0x40010, |a| {
        a.push(0x0200)?;
        a.push(0x4000)?;
        a.push(0x0020)?;
        a.iret()
    });
    run_to(&mut cpu, 0x10, 30);
    assert!(cpu.flags.has(bit::VIF) && !cpu.flags.has(bit::IF));
    // Now VIP set: enabling virtual interrupts again is #GP(0) for the monitor.
    cpu.write_flags(bit::VIP, bit::VIP);
    run(&mut cpu, 30);
    assert_eq!((r32(&cpu, OUT + 0x100), r32(&cpu, OUT + 0x104)), (13, 0));
    assert_eq!(
        r32(&cpu, OUT + 0x108),
        0x10 + 8,
        "the fault points at the IRET (after PUSH imm16, imm16, imm8)"
    );
}

#[test]
fn iret_that_sets_tf_traps_after_the_next_instruction() {
    let mut cpu = protected();
    trap_handler32(&mut cpu, 1, false);
    code(&mut cpu, 32, KCODE, |a| {
        a.push(0x102u32)?; // EFLAGS with TF
        a.push(gdt::CODE32 as u32)?;
        a.push((KCODE + 0x40) as u32)?;
        a.iretd()
    });
    code(&mut cpu, 32, KCODE + 0x40, |a| {
        a.mov(eax, 1)?;
        a.mov(eax, 2)
    });
    run(&mut cpu, 50);
    assert_eq!(r32(&cpu, OUT + 0x100), 1);
    assert_eq!(
        r32(&cpu, OUT + 0x108),
        KCODE + 0x45,
        "the trap follows the first instruction"
    );
    assert_eq!(
        cpu.gpr[reg::RAX as usize] & 0xFFFF_FFFF,
        KCODE + 0x45,
        "the handler ran at once"
    );
    assert_ne!(cpu.dr[6] & (1 << 14), 0, "DR6.BS");
}
