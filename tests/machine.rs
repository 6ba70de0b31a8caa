//! The PC around the CPU, end to end: guest programs that talk to the board's devices through
//! their ports and take their interrupts, run by `Machine::run` with a recording host.

use iced_x86::code_asm::*;
use vx86::cpu::TableReg;
use vx86::machine::{Exit, Host, Machine, MachineConfig};

const IDT: u64 = 0x3000;
const CODE: u64 = 0x10_0000;
const HANDLER: u64 = 0x11_0000;
const COUNT: u64 = 0x12_0000;

/// Collects what the guest prints.
#[derive(Default)]
struct Recorder {
    serial: Vec<u8>,
    debugcon: Vec<u8>,
}

impl Host for Recorder {
    fn serial_out(&mut self, port: usize, bytes: &[u8]) {
        if port == 0 {
            self.serial.extend_from_slice(bytes);
        }
    }
    fn debugcon_out(&mut self, bytes: &[u8]) {
        self.debugcon.extend_from_slice(bytes);
    }
    fn post_code(&mut self, _: u8) {}
    fn serial_in(&mut self, _: usize) -> Vec<u8> {
        Vec::new()
    }
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// Assembles guest code.
type Asm<'a> = &'a dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// A machine in flat 32-bit protected mode with `main` at CODE and `handler` (if any) behind
/// interrupt gate `vector`.
fn machine(
    main: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    irq: Option<(u8, Asm)>,
) -> Machine {
    let mut m = Machine::new(MachineConfig {
        max_instructions: Some(50_000_000),
        ..MachineConfig::default()
    })
    .unwrap();
    m.cpu.enter_protected_flat(0x1000);
    let mut a = CodeAssembler::new(32).unwrap();
    main(&mut a).unwrap();
    let bytes = a.assemble(CODE).unwrap();
    m.cpu.mem.write_bytes(CODE, &bytes).unwrap();
    if let Some((vector, handler)) = irq {
        let mut a = CodeAssembler::new(32).unwrap();
        handler(&mut a).unwrap();
        let bytes = a.assemble(HANDLER).unwrap();
        m.cpu.mem.write_bytes(HANDLER, &bytes).unwrap();
        let gate = (HANDLER & 0xFFFF) | 0x08 << 16 | 0x8E00 << 32 | (HANDLER >> 16) << 48;
        m.cpu
            .mem
            .write_bytes(IDT + vector as u64 * 8, &gate.to_le_bytes())
            .unwrap();
    }
    m.cpu.idtr = TableReg {
        base: IDT,
        limit: 0x7FF,
    };
    m.cpu.set_rip(CODE);
    m.cpu.gpr[4] = 0x8_0000;
    m
}

fn outb(a: &mut CodeAssembler, port: u16, v: u8) -> Result<(), IcedError> {
    a.mov(al, v as u32)?;
    if port < 0x100 {
        a.out(port as u32, al)
    } else {
        a.mov(dx, port as u32)?;
        a.out(dx, al)
    }
}

/// A host that types `input` into COM1 all at once, at the first chance.
struct Typist {
    input: Vec<u8>,
    rec: Recorder,
}

impl Host for Typist {
    fn serial_out(&mut self, port: usize, bytes: &[u8]) {
        self.rec.serial_out(port, bytes);
    }
    fn debugcon_out(&mut self, bytes: &[u8]) {
        self.rec.debugcon_out(bytes);
    }
    fn post_code(&mut self, _: u8) {}
    fn serial_in(&mut self, port: usize) -> Vec<u8> {
        if port == 0 {
            std::mem::take(&mut self.input)
        } else {
            Vec::new()
        }
    }
    fn stop_requested(&mut self) -> bool {
        false
    }
}

#[test]
fn serial_input_longer_than_the_fifo_arrives_whole() {
    // The guest polls LSR.DR and copies each received byte to the debug console until it
    // sees a newline. A pasted line is longer than the receiver holds (one byte with the
    // FIFOs off, as here; 16 with them on): before the machine held back what the receiver
    // could not take, the rest was lost.
    let line = b"echo the quick brown fox jumps over the lazy dog\n";
    let mut m = machine(
        |a| {
            let mut poll = a.create_label();
            let mut done = a.create_label();
            a.set_label(&mut poll)?;
            a.mov(dx, 0x3FD)?;
            a.in_(al, dx)?;
            a.test(al, 1)?;
            a.jz(poll)?;
            a.mov(dx, 0x3F8)?;
            a.in_(al, dx)?;
            a.out(0xE9, al)?;
            a.cmp(al, b'\n' as u32)?;
            a.je(done)?;
            a.jmp(poll)?;
            a.set_label(&mut done)?;
            outb(a, 0xF4, 0x10)
        },
        None,
    );
    let mut host = Typist {
        input: line.to_vec(),
        rec: Recorder::default(),
    };
    let exit = m.run(&mut host);
    assert_eq!(exit, Exit::DebugExit(0x21));
    assert_eq!(host.rec.debugcon, line);
}

#[test]
fn a_word_access_past_a_devices_last_port_reaches_no_other_register() {
    // OUT DX, AX at COM1's last port (0x3FF, the scratch register): the high byte goes to
    // port 0x400, where nothing answers. It used to wrap onto COM1's register 0 (THR) and
    // send a character.
    let mut m = machine(
        |a| {
            a.mov(dx, 0x3FF)?;
            a.mov(ax, 0x4142)?;
            a.out(dx, ax)?;
            a.in_(al, dx)?;
            a.out(0xE9, al)?;
            outb(a, 0xF4, 0x10)
        },
        None,
    );
    let mut host = Recorder::default();
    assert_eq!(m.run(&mut host), Exit::DebugExit(0x21));
    assert_eq!(
        host.debugcon, b"\x42",
        "the scratch register holds the low byte"
    );
    assert_eq!(host.serial, b"", "nothing was transmitted");
}

#[test]
fn serial_output_reaches_the_host_and_debug_exit_ends_the_run() {
    let mut m = machine(
        |a| {
            for &b in b"hello\n" {
                outb(a, 0x3F8, b)?;
            }
            outb(a, 0xE9, b'!')?;
            outb(a, 0xF4, 0x10)
        },
        None,
    );
    let mut host = Recorder::default();
    let exit = m.run(&mut host);
    assert_eq!(exit, Exit::DebugExit(0x21));
    assert_eq!(exit.status(), 0x21);
    assert_eq!(host.serial, b"hello\n");
    assert_eq!(host.debugcon, b"!");
}

#[test]
fn pit_interrupts_arrive_through_the_pic_and_hlt_skips_idle_time() {
    // PIT counter 0 in mode 2 at 1 kHz (count 1193), IRQ 0 unmasked; the guest halts between
    // ticks and leaves through isa-debug-exit after ten of them.
    let mut m = machine(
        |a| {
            outb(a, 0x43, 0x34)?;
            outb(a, 0x40, (1193 & 0xFF) as u8)?;
            outb(a, 0x40, (1193 >> 8) as u8)?;
            outb(a, 0x21, 0xFE)?;
            a.sti()?;
            let mut l = a.create_label();
            a.set_label(&mut l)?;
            a.hlt()?;
            a.cmp(dword_ptr(COUNT), 10)?;
            a.jb(l)?;
            outb(a, 0xF4, 0)
        },
        Some((0x08, &|a: &mut CodeAssembler| {
            a.push(eax)?;
            a.inc(dword_ptr(COUNT))?;
            outb(a, 0x20, 0x20)?;
            a.pop(eax)?;
            a.iretd()
        })),
    );
    let mut host = Recorder::default();
    let exit = m.run(&mut host);
    assert_eq!(exit, Exit::DebugExit(1));
    let ticks = m.cpu.mem.read_u8(COUNT).unwrap();
    assert_eq!(ticks, 10);
    // About ten 1-ms periods passed in virtual time (the first IRQ 0 may be the edge latched
    // at power-on, before the guest unmasked it), but only a few hundred instructions ran.
    assert!(
        m.now() >= 8_500_000 && m.now() < 11_000_000,
        "virtual time {}",
        m.now()
    );
    assert!(m.cpu.icount < 1_000, "instructions {}", m.cpu.icount);
}

#[test]
fn two_runs_are_identical() {
    let run = || {
        let mut m = machine(
            |a| {
                outb(a, 0x43, 0x34)?;
                outb(a, 0x40, 100)?;
                outb(a, 0x40, 0)?;
                outb(a, 0x21, 0xFE)?;
                a.sti()?;
                let mut l = a.create_label();
                a.set_label(&mut l)?;
                a.inc(ebx)?;
                a.cmp(dword_ptr(COUNT), 50)?;
                a.jb(l)?;
                a.mov(eax, ebx)?;
                outb(a, 0xF4, 0)
            },
            Some((0x08, &|a: &mut CodeAssembler| {
                a.inc(dword_ptr(COUNT))?;
                a.mov(dx, 0x3F8u32)?;
                a.mov(eax, ebx)?;
                a.out(dx, al)?;
                outb(a, 0x20, 0x20)?;
                a.iretd()
            })),
        );
        let mut host = Recorder::default();
        let exit = m.run(&mut host);
        (exit, host.serial, m.cpu.icount, m.cpu.gpr[0])
    };
    let a = run();
    let b = run();
    assert_eq!(a.0, Exit::DebugExit(1));
    assert_eq!(a, b, "same guest, same output, same instruction count");
}

#[test]
fn hlt_wakes_for_a_timer_programmed_in_the_same_slice() {
    // A far deadline exists (PIT counter 0 at its longest period, about 55 ms, its IRQ
    // masked); then the guest arms the local APIC timer for 2 ms, beyond the end of the
    // machine's run slice (so arming it does not cut the slice short), and halts at once.
    // HLT must skip only to the APIC's deadline, not to the deadlines known when the slice
    // began.
    let mut m = machine(
        |a| {
            outb(a, 0x43, 0x34)?;
            outb(a, 0x40, 0xFF)?;
            outb(a, 0x40, 0xFF)?;
            // Let the PIT's first clock edges pass: its next deadline is then ~55 ms away.
            a.mov(ecx, 1000)?;
            let mut spin = a.create_label();
            a.set_label(&mut spin)?;
            a.dec(ecx)?;
            a.jnz(spin)?;
            a.mov(dword_ptr(0xFEE0_00F0u64), 0x1FF)?; // SVR: APIC on
            a.mov(dword_ptr(0xFEE0_03E0u64), 0xB)?; // divide by 1
            a.mov(dword_ptr(0xFEE0_0320u64), 0x40)?; // one-shot, vector 0x40
            a.mov(dword_ptr(0xFEE0_0380u64), 2_000_000)?; // 2 ms
            a.sti()?;
            a.hlt()?;
            outb(a, 0xF4, 0)
        },
        Some((0x40, &|a: &mut CodeAssembler| {
            a.mov(dword_ptr(0xFEE0_00B0u64), 0)?;
            a.iretd()
        })),
    );
    let mut host = Recorder::default();
    assert_eq!(m.run(&mut host), Exit::DebugExit(1));
    assert!(
        (2_000_000..2_100_000).contains(&m.now()),
        "woke at {} ns, not at the APIC timer's 2 ms",
        m.now()
    );
}

#[test]
fn an_interrupt_raised_by_an_apic_msr_write_is_taken_at_once() {
    // x2APIC mode, TSC-deadline timer, a deadline already past written through WRMSR: the
    // interrupt is due at once (SDM 11.5.4.1), and must come before a busy loop that
    // follows ends, without waiting for some later I/O access or the end of the machine's
    // run slice. The handler records how much of the loop was left.
    let mut m = machine(
        |a| {
            a.mov(ecx, 0x1B)?;
            a.rdmsr()?;
            a.or(eax, 1 << 10)?; // EXTD: x2APIC mode
            a.wrmsr()?;
            a.mov(ecx, 0x80F)?; // SVR: APIC on
            a.mov(eax, 0x1FF)?;
            a.xor(edx, edx)?;
            a.wrmsr()?;
            a.mov(ecx, 0x832)?; // LVT timer: TSC-deadline, vector 0x40
            a.mov(eax, 2 << 17 | 0x40)?;
            a.wrmsr()?;
            a.mov(ecx, 0x6E0)?;
            a.mov(eax, 1)?; // TSC 1: long past
            a.mov(ebx, 100_000)?;
            a.sti()?;
            a.wrmsr()?;
            let mut spin = a.create_label();
            a.set_label(&mut spin)?;
            a.dec(ebx)?;
            a.jnz(spin)?;
            outb(a, 0xF4, 0)
        },
        Some((0x40, &|a: &mut CodeAssembler| {
            a.mov(dword_ptr(COUNT), ebx)?;
            a.mov(ecx, 0x80B)?; // EOI
            a.xor(eax, eax)?;
            a.xor(edx, edx)?;
            a.wrmsr()?;
            a.iretd()
        })),
    );
    let mut host = Recorder::default();
    assert_eq!(m.run(&mut host), Exit::DebugExit(1));
    let mut b = [0u8; 4];
    m.cpu.mem.read_bytes(COUNT, &mut b);
    let left = u32::from_le_bytes(b);
    assert!(
        left > 99_000,
        "the interrupt came with {left} loop iterations left"
    );
}

#[test]
fn linux_quick_pit_calibration_sees_counter_2_step_down() {
    // Linux's quick_pit_calibrate (arch/x86/kernel/tsc.c): counter 2 in mode 0 from 0xFFFF
    // with its gate high, one read of the count to let the counter load on the next clock
    // edge, then pit_expect_msb(): loop while the MSB holds 0xFF, then 0xFE, each loop more
    // than five times. On hardware a read of the 8254 is a bus cycle of about a microsecond,
    // longer than the 838-ns PIT clock, which the first read relies on.
    let mut m = machine(
        |a| {
            a.in_(al, 0x61)?;
            a.and(al, !2i32)?;
            a.or(al, 1)?;
            a.out(0x61, al)?;
            outb(a, 0x43, 0xB0)?;
            outb(a, 0x42, 0xFF)?;
            outb(a, 0x42, 0xFF)?;
            a.in_(al, 0x42)?;
            a.in_(al, 0x42)?;
            for (msb, slot) in [(0xFFu32, 0u64), (0xFE, 4)] {
                let mut again = a.create_label();
                let mut done = a.create_label();
                a.xor(ecx, ecx)?;
                a.set_label(&mut again)?;
                a.in_(al, 0x42)?;
                a.in_(al, 0x42)?;
                a.cmp(al, msb)?;
                a.jne(done)?;
                a.inc(ecx)?;
                a.cmp(ecx, 50_000)?;
                a.jb(again)?;
                a.set_label(&mut done)?;
                a.mov(dword_ptr(COUNT + slot), ecx)?;
            }
            outb(a, 0xF4, 0)
        },
        None,
    );
    let mut host = Recorder::default();
    assert_eq!(m.run(&mut host), Exit::DebugExit(1));
    let mut b = [0u8; 8];
    m.cpu.mem.read_bytes(COUNT, &mut b);
    let loops = [
        u32::from_le_bytes(b[..4].try_into().unwrap()),
        u32::from_le_bytes(b[4..].try_into().unwrap()),
    ];
    assert!(
        loops.iter().all(|&n| n > 5 && n < 50_000),
        "loops per MSB value: {loops:?}"
    );
}

#[test]
fn chipset_mmio_takes_a_bus_cycle_of_virtual_time_and_the_local_apic_none() {
    const HPET: u64 = 0xFED0_0000;
    const COUNTER: u64 = HPET + 0xF0;
    let mut m = machine(
        |a| {
            a.mov(dword_ptr(HPET as u32 + 0x10), 1)?; // ENABLE_CNF
            a.mov(esi, dword_ptr(COUNTER as u32))?;
            a.mov(edi, dword_ptr(COUNTER as u32))?;
            for _ in 0..10 {
                a.mov(eax, dword_ptr(0xFEE0_0020u32))?; // local APIC ID
            }
            a.mov(ebp, dword_ptr(COUNTER as u32))?;
            outb(a, 0xF4, 0)
        },
        None,
    );
    m.run(&mut Recorder::default());
    let [first, second, third] = [6, 7, 5].map(|r| m.cpu.gpr[r]);
    // 100 MHz counter: 500 ns are 50 ticks; one instruction is a tenth of one.
    assert_eq!(second - first, 50, "one HPET read apart");
    assert_eq!(
        third - second,
        51,
        "one HPET read and ten local APIC reads apart"
    );
}
