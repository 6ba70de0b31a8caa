//! String instructions, port I/O and the flag/stack-frame instructions, run as guest programs:
//! REP strings in every address size and direction, strings paused by the instruction budget
//! or an interrupt and resumed, a string restarted after a page fault, IN/OUT against the TSS
//! I/O permission bitmap, and POPF at different CPL/IOPL.
//!
//! Faults in protected and long mode are observed as a shutdown: the tests load an empty IDT,
//! so any exception there ends in a triple fault with RIP at the faulting instruction.

use iced_x86::code_asm::*;
use vx86::cpu::flags::bit;
use vx86::cpu::segment::attr;
use vx86::cpu::setup::gdt;
use vx86::cpu::{reg, sreg, Bus, BusStatus, Cpu, Model, RunExit, Segment, TableReg};
use vx86::mem::PhysMem;

/// One port access as the bus saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    In(u16, u8),
    Out(u16, u8, u32),
}

/// A bus that records port accesses, answers reads from a counter, and can raise INTR with a
/// vector once a given number of accesses have happened.
#[derive(Default)]
struct TestBus {
    log: Vec<Port>,
    next_in: u32,
    intr_after: Option<(usize, u8)>,
    intr: bool,
}

impl Bus for TestBus {
    fn io_read(&mut self, _: &mut PhysMem, port: u16, size: u8) -> u32 {
        self.log.push(Port::In(port, size));
        self.poke();
        self.next_in += 1;
        0x4030_2010u32.wrapping_add(self.next_in - 1)
    }
    fn io_write(&mut self, _: &mut PhysMem, port: u16, size: u8, value: u32) {
        self.log.push(Port::Out(port, size, value));
        self.poke();
    }
    fn mmio_read(&mut self, _: &mut PhysMem, _: u64, _: u8) -> u64 {
        u64::MAX
    }
    fn mmio_write(&mut self, _: &mut PhysMem, _: u64, _: u8, _: u64) {}
    fn ack_interrupt(&mut self, _: &mut PhysMem) -> Option<u8> {
        let v = self.intr_after.take().map(|(_, v)| v).filter(|_| self.intr);
        self.intr = false;
        v
    }
    fn status(&mut self) -> BusStatus {
        if self.intr {
            BusStatus::INTR
        } else {
            BusStatus::empty()
        }
    }
}

impl TestBus {
    fn poke(&mut self) {
        if let Some((n, _)) = self.intr_after {
            if self.log.len() == n {
                self.intr = true;
            }
        }
    }
}

/// Where test programs are loaded.
const CODE16: u64 = 0x7C00;
const CODE: u64 = 0x100000;

/// A CPU in the given code size: real mode (segments at 0), flat 32-bit protected mode, or
/// 64-bit mode with the first GiB identity-mapped. Protected modes get an empty IDT.
fn machine(bits: u32) -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(16 << 20).unwrap());
    match bits {
        16 => {
            for s in cpu.segs.iter_mut().take(6) {
                *s = Segment::real(0);
            }
            cpu.update_mode();
            cpu.gpr[reg::RSP as usize] = 0x7000;
        }
        32 => {
            cpu.enter_protected_flat(0x1000);
            cpu.idtr = TableReg { base: 0, limit: 0 };
            cpu.gpr[reg::RSP as usize] = 0x80000;
        }
        _ => {
            cpu.enter_long_mode(0x1000, 0x10000, 1);
            cpu.idtr = TableReg { base: 0, limit: 0 };
            cpu.gpr[reg::RSP as usize] = 0x80000;
        }
    }
    cpu
}

/// Assembles `body` followed by `jmp $` for `bits`-bit code, loads it and points RIP at it.
/// Returns the address of the final `jmp $`.
fn load(
    cpu: &mut Cpu,
    bits: u32,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> u64 {
    let at = if bits == 16 { CODE16 } else { CODE };
    let mut a = CodeAssembler::new(bits).unwrap();
    body(&mut a).unwrap();
    let mut end = a.create_label();
    a.set_label(&mut end).unwrap();
    a.jmp(end).unwrap();
    let code = a.assemble(at).unwrap();
    cpu.mem.write_bytes(at, &code).unwrap();
    cpu.set_rip(at);
    at + code.len() as u64 - 2
}

fn g(cpu: &Cpu, r: u8) -> u64 {
    cpu.gpr[r as usize]
}

fn bytes(cpu: &Cpu, at: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0; n];
    cpu.mem.read_bytes(at, &mut b);
    b
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn rep_movs_and_stos_in_every_address_size_and_direction() {
    for bits in [16, 32, 64] {
        let mut cpu = machine(bits);
        let src = pattern(0x300, 7);
        cpu.mem.write_bytes(0x1000, &src).unwrap();
        let end = load(&mut cpu, bits, |a| {
            match bits {
                16 => {
                    a.mov(si, 0x1000)?;
                    a.mov(di, 0x2000)?;
                    a.mov(cx, 0x180)?;
                    a.rep().movsw()?;
                    // Backward: the last word first, ending below the buffers.
                    a.std()?;
                    a.mov(si, 0x12FE)?;
                    a.mov(di, 0x32FE)?;
                    a.mov(cx, 0x180)?;
                    a.rep().movsw()?;
                    a.mov(ax, 0xA55A)?;
                    a.mov(di, 0x43FE)?;
                    a.mov(cx, 0x200)?;
                    a.rep().stosw()?;
                    a.cld()?;
                }
                32 => {
                    a.mov(esi, 0x1000)?;
                    a.mov(edi, 0x2000)?;
                    a.mov(ecx, 0xC0)?;
                    a.rep().movsd()?;
                    a.std()?;
                    a.mov(esi, 0x12FC)?;
                    a.mov(edi, 0x32FC)?;
                    a.mov(ecx, 0xC0)?;
                    a.rep().movsd()?;
                    a.mov(eax, 0xA55A_A55Au32)?;
                    a.mov(edi, 0x43FC)?;
                    a.mov(ecx, 0x100)?;
                    a.rep().stosd()?;
                    a.cld()?;
                }
                _ => {
                    a.mov(rsi, 0x1000u64)?;
                    a.mov(rdi, 0x2000u64)?;
                    a.mov(rcx, 0x60u64)?;
                    a.rep().movsq()?;
                    a.std()?;
                    a.mov(rsi, 0x12F8u64)?;
                    a.mov(rdi, 0x32F8u64)?;
                    a.mov(rcx, 0x60u64)?;
                    a.rep().movsq()?;
                    a.mov(rax, 0xA55A_A55A_A55A_A55Au64)?;
                    a.mov(rdi, 0x43F8u64)?;
                    a.mov(rcx, 0x80u64)?;
                    a.rep().stosq()?;
                    a.cld()?;
                }
            }
            Ok(())
        });
        assert_eq!(
            cpu.run(&mut TestBus::default(), 10_000),
            RunExit::Budget,
            "{bits}"
        );
        assert_eq!(cpu.rip(), end, "{bits}-bit program reached its end");
        assert_eq!(bytes(&cpu, 0x2000, 0x300), src, "{bits}-bit forward");
        assert_eq!(bytes(&cpu, 0x3000, 0x300), src, "{bits}-bit backward");
        assert_eq!(
            bytes(&cpu, 0x4000, 0x400),
            [0x5A, 0xA5].repeat(0x200),
            "{bits}-bit fill"
        );
        let w = (bits / 8) as u64;
        assert_eq!(
            g(&cpu, reg::RDI) & 0xFFFF,
            0x4000 - w,
            "{bits}-bit: rDI ends one element below"
        );
        assert_eq!(g(&cpu, reg::RCX), 0);
    }
}

#[test]
fn repe_cmps_and_repne_scas_in_every_address_size() {
    for bits in [16, 32, 64] {
        let mut cpu = machine(bits);
        cpu.mem
            .write_bytes(0x1000, b"The quick brown fox\0")
            .unwrap();
        cpu.mem
            .write_bytes(0x2000, b"The quick brown cat\0")
            .unwrap();
        load(&mut cpu, bits, |a| {
            match bits {
                16 => {
                    a.mov(si, 0x1000)?;
                    a.mov(di, 0x2000)?;
                    a.mov(cx, 20)?;
                    a.repe().cmpsb()?;
                    a.mov(bx, cx)?;
                    a.mov(bp, si)?;
                    a.mov(di, 0x1000)?;
                    a.mov(cx, 0xFFFF)?;
                    a.xor(al, al)?;
                    a.repne().scasb()?;
                }
                32 => {
                    a.mov(esi, 0x1000)?;
                    a.mov(edi, 0x2000)?;
                    a.mov(ecx, 20)?;
                    a.repe().cmpsb()?;
                    a.mov(ebx, ecx)?;
                    a.mov(ebp, esi)?;
                    a.mov(edi, 0x1000)?;
                    a.mov(ecx, 0xFFFF)?;
                    a.xor(al, al)?;
                    a.repne().scasb()?;
                }
                _ => {
                    a.mov(rsi, 0x1000u64)?;
                    a.mov(rdi, 0x2000u64)?;
                    a.mov(rcx, 20u64)?;
                    a.repe().cmpsb()?;
                    a.mov(rbx, rcx)?;
                    a.mov(rbp, rsi)?;
                    a.mov(rdi, 0x1000u64)?;
                    a.mov(rcx, 0xFFFFu64)?;
                    a.xor(al, al)?;
                    a.repne().scasb()?;
                }
            }
            Ok(())
        });
        cpu.run(&mut TestBus::default(), 1000);
        // 'f' (index 16) differs from 'c': 17 iterations ran, 3 left, rSI past the 'f'.
        assert_eq!(g(&cpu, reg::RBX), 3, "{bits}");
        assert_eq!(g(&cpu, reg::RBP), 0x1011, "{bits}");
        // SCASB found the NUL at index 19 after 20 iterations.
        assert_eq!(g(&cpu, reg::RDI), 0x1014, "{bits}");
        assert_eq!(g(&cpu, reg::RCX), 0xFFFF - 20, "{bits}");
    }
}

#[test]
fn the_budget_pauses_a_rep_movs_that_resumes_exactly() {
    let mut cpu = machine(32);
    let src = pattern(4000, 1);
    cpu.mem.write_bytes(0x200000, &src).unwrap();
    let end = load(&mut cpu, 32, |a| {
        a.mov(esi, 0x200000)?;
        a.mov(edi, 0x300000)?;
        a.mov(ecx, 1000)?;
        a.rep().movsd()?;
        Ok(())
    });
    let rep = CODE + 15;
    let mut bus = TestBus::default();
    assert_eq!(cpu.run(&mut bus, 13), RunExit::Budget);
    assert_eq!((g(&cpu, reg::RCX), cpu.rip(), cpu.icount), (990, rep, 13));
    assert_eq!(g(&cpu, reg::RSI), 0x200000 + 40);
    assert_eq!(cpu.run(&mut bus, 500), RunExit::Budget);
    assert_eq!((g(&cpu, reg::RCX), cpu.rip(), cpu.icount), (490, rep, 513));
    assert_eq!(cpu.run(&mut bus, 490), RunExit::Budget);
    assert_eq!((g(&cpu, reg::RCX), cpu.rip(), cpu.icount), (0, end, 1003));
    assert_eq!(bytes(&cpu, 0x300000, 4000), src);
}

#[test]
fn an_interrupt_between_rep_outs_iterations_returns_to_the_string() {
    // Real mode: the bus raises INTR after the third OUTSB; vector 0x20's handler is `jmp $`.
    let mut cpu = machine(16);
    cpu.flags.bits |= bit::IF;
    cpu.mem
        .write_bytes(0x20 * 4, &[0x00, 0x90, 0x00, 0x00])
        .unwrap(); // 0000:9000
    cpu.mem.write_bytes(0x9000, &[0xEB, 0xFE]).unwrap();
    cpu.mem.write_bytes(0x500, b"abcdefgh").unwrap();
    let end = load(&mut cpu, 16, |a| {
        a.mov(dx, 0xE9)?;
        a.mov(si, 0x500)?;
        a.mov(cx, 8)?;
        a.rep().outsb()?;
        Ok(())
    });
    let rep = CODE16 + 9;
    let mut bus = TestBus {
        intr_after: Some((3, 0x20)),
        ..TestBus::default()
    };
    cpu.run(&mut bus, 100);
    assert_eq!(cpu.rip(), 0x9000, "in the handler");
    assert_eq!(
        bus.log.len(),
        3,
        "three bytes went out before the interrupt"
    );
    assert_eq!(g(&cpu, reg::RCX), 5);
    // The interrupt frame returns to the REP OUTSB itself.
    let stack = g(&cpu, reg::RSP);
    let frame = bytes(&cpu, stack, 6);
    assert_eq!(u16::from_le_bytes([frame[0], frame[1]]) as u64, rep);
    // IRET by hand, and the string finishes.
    cpu.set_rip(rep);
    cpu.flags.bits |= bit::IF;
    cpu.gpr[reg::RSP as usize] = stack + 6;
    cpu.run(&mut bus, 100);
    assert_eq!(cpu.rip(), end);
    let out: Vec<u8> = bus
        .log
        .iter()
        .map(|p| {
            if let Port::Out(0xE9, 1, v) = p {
                *v as u8
            } else {
                0
            }
        })
        .collect();
    assert_eq!(out, b"abcdefgh");
}

/// Splits the 2-MiB page at 4 MiB into 4-KiB pages (page table at 0x30000) so that single
/// pages can be unmapped; returns the address of the PTE for `lin`.
fn split_4mib(cpu: &mut Cpu) -> impl Fn(u64) -> u64 {
    let pt = 0x30000u64;
    for i in 0..512u64 {
        cpu.mem
            .write_bytes(pt + i * 8, &((0x400000 + i * 0x1000) | 0x7).to_le_bytes())
            .unwrap();
    }
    // enter_long_mode's page directory for the first GiB sits at tables + 0x2000.
    cpu.mem
        .write_bytes(0x12000 + 2 * 8, &(pt | 0x7).to_le_bytes())
        .unwrap();
    cpu.flush_tlb_all();
    move |lin| pt + ((lin - 0x400000) >> 12) * 8
}

#[test]
fn a_page_fault_mid_string_leaves_it_restartable() {
    let mut cpu = machine(64);
    let pte = split_4mib(&mut cpu);
    let page = 0x401000u64;
    cpu.mem.write_bytes(pte(page), &0u64.to_le_bytes()).unwrap();
    let src = pattern(0x2000, 3);
    cpu.mem.write_bytes(0x200000, &src).unwrap();
    let end = load(&mut cpu, 64, |a| {
        a.mov(rsi, 0x200000u64)?;
        a.mov(rdi, 0x400800u64)?;
        a.mov(ecx, 0x800)?;
        a.rep().movsd()?;
        Ok(())
    });
    let rep = end - 2;
    let mut bus = TestBus::default();
    assert_eq!(
        cpu.run(&mut bus, 100_000),
        RunExit::Shutdown,
        "#PF with no IDT"
    );
    // 0x200 doublewords reached the end of the mapped page; the 0x201st faulted.
    assert_eq!(cpu.rip(), rep);
    assert_eq!(cpu.cr2, page);
    assert_eq!(
        (g(&cpu, reg::RCX), g(&cpu, reg::RSI), g(&cpu, reg::RDI)),
        (0x600, 0x200800, page)
    );
    assert_eq!(cpu.icount, 3 + 0x200, "the completed iterations retired");
    // Map the page and restart the instruction.
    cpu.mem
        .write_bytes(pte(page), &(page | 0x7).to_le_bytes())
        .unwrap();
    cpu.flush_tlb_all();
    cpu.shutdown = false;
    cpu.run(&mut bus, 100_000);
    assert_eq!(cpu.rip(), end);
    assert_eq!(bytes(&cpu, 0x400800, 0x2000), src);
}

#[test]
fn a_string_that_overwrites_code_ahead_of_it_takes_effect() {
    // REP STOSB writes NOPs over the INC EAX that follows it in the same block.
    let mut cpu = machine(32);
    load(&mut cpu, 32, |a| {
        a.mov(edi, (CODE + 17) as u32)?;
        a.mov(ecx, 2)?;
        a.mov(eax, 0x90)?;
        a.rep().stosb()?;
        a.inc(eax)?; // at CODE + 17
        Ok(())
    });
    cpu.run(&mut TestBus::default(), 100);
    assert_eq!(
        g(&cpu, reg::RAX),
        0x90,
        "the INC was overwritten before it ran"
    );
}

/// A 32-bit TSS at 0x8000 whose I/O bitmap denies `denied` ports; TR points at it.
fn tss_with_bitmap(cpu: &mut Cpu, denied: &[u16]) {
    let tss = 0x8000u64;
    cpu.mem
        .write_bytes(tss + 0x66, &0x68u16.to_le_bytes())
        .unwrap();
    let mut map = vec![0u8; 0x2001];
    map[0x2000] = 0xFF;
    for &p in denied {
        map[p as usize / 8] |= 1 << (p & 7);
    }
    cpu.mem.write_bytes(tss + 0x68, &map).unwrap();
    cpu.tr = Segment::from_cache(0x38, tss, 0x68 + 0x2000, attr::P | 0xB);
}

/// Drops a flat 32-bit machine to CPL 3 with user segments and IOPL `iopl`.
fn to_user(cpu: &mut Cpu, iopl: u64) {
    let data = Segment::from_cache(
        gdt::USER_DATA,
        0,
        0xFFFF_FFFF,
        attr::DATA_RW | attr::G | attr::DB | 3 << attr::DPL_SHIFT,
    );
    for i in [sreg::ES, sreg::SS, sreg::DS, sreg::FS, sreg::GS] {
        cpu.segs[i as usize] = data;
    }
    cpu.segs[sreg::CS as usize] = Segment::from_cache(
        gdt::USER_CODE32,
        0,
        0xFFFF_FFFF,
        attr::CODE_RX | attr::G | attr::DB | 3 << attr::DPL_SHIFT,
    );
    cpu.flags.bits = (cpu.flags.bits & !bit::IOPL) | iopl << 12;
    cpu.set_cpl(3);
    cpu.update_mode();
}

#[test]
fn in_and_out_reach_the_bus_with_every_width() {
    let mut cpu = machine(32);
    load(&mut cpu, 32, |a| {
        a.mov(eax, 0x1234_5678)?;
        a.out(0x80, al)?;
        a.mov(dx, 0x3F8)?;
        a.out(dx, ax)?;
        a.out(dx, eax)?;
        a.in_(al, 0x60)?;
        a.mov(ebx, eax)?;
        a.in_(eax, dx)?;
        Ok(())
    });
    let mut bus = TestBus::default();
    cpu.run(&mut bus, 100);
    assert_eq!(
        bus.log,
        vec![
            Port::Out(0x80, 1, 0x78),
            Port::Out(0x3F8, 2, 0x5678),
            Port::Out(0x3F8, 4, 0x1234_5678),
            Port::In(0x60, 1),
            Port::In(0x3F8, 4)
        ]
    );
    assert_eq!(
        g(&cpu, reg::RBX),
        0x1234_5610,
        "IN AL keeps the rest of EAX"
    );
    assert_eq!(g(&cpu, reg::RAX), 0x4030_2011);
}

#[test]
fn the_io_bitmap_decides_at_cpl_3() {
    // Allowed ports go through; a denied one faults before touching the bus.
    let mut cpu = machine(32);
    tss_with_bitmap(&mut cpu, &[0x61, 0x3F9]);
    let end = load(&mut cpu, 32, |a| {
        a.out(0x60, al)?;
        a.mov(dx, 0x3F8)?;
        a.in_(al, dx)?;
        a.in_(ax, dx)?; // 0x3F8-0x3F9: denied
        Ok(())
    });
    to_user(&mut cpu, 0);
    let mut bus = TestBus::default();
    assert_eq!(cpu.run(&mut bus, 100), RunExit::Shutdown);
    assert_eq!(bus.log, vec![Port::Out(0x60, 1, 0), Port::In(0x3F8, 1)]);
    assert_eq!(cpu.rip(), end - 2, "RIP at the faulting IN");
    // With IOPL 3 the bitmap is not consulted.
    let mut cpu = machine(32);
    tss_with_bitmap(&mut cpu, &[0x61, 0x3F9]);
    let end = load(&mut cpu, 32, |a| {
        a.mov(dx, 0x3F8)?;
        a.in_(ax, dx)?;
        Ok(())
    });
    to_user(&mut cpu, 3);
    let mut bus = TestBus::default();
    assert_eq!(cpu.run(&mut bus, 100), RunExit::Budget);
    assert_eq!(
        (bus.log.clone(), cpu.rip()),
        (vec![Port::In(0x3F8, 2)], end)
    );
}

#[test]
fn rep_ins_fills_memory_from_a_port() {
    let mut cpu = machine(64);
    load(&mut cpu, 64, |a| {
        a.mov(dx, 0x1F0)?;
        a.mov(rdi, 0x5000u64)?;
        a.mov(ecx, 4)?;
        a.rep().insw()?;
        Ok(())
    });
    let mut bus = TestBus::default();
    cpu.run(&mut bus, 100);
    assert_eq!(bus.log, vec![Port::In(0x1F0, 2); 4]);
    assert_eq!(
        bytes(&cpu, 0x5000, 8),
        vec![0x10, 0x20, 0x11, 0x20, 0x12, 0x20, 0x13, 0x20]
    );
    assert_eq!(g(&cpu, reg::RDI), 0x5008);
}

/// Runs `push imm; popfd; pushfd; pop ebx` at the given CPL and IOPL; returns the flags
/// the program read back.
fn popf_at(cpl3: bool, iopl: u64, image: u32) -> u64 {
    let mut cpu = machine(32);
    load(&mut cpu, 32, |a| {
        a.push(image as i32)?;
        a.popfd()?;
        a.pushfd()?;
        a.pop(ebx)?;
        Ok(())
    });
    if cpl3 {
        to_user(&mut cpu, iopl);
    } else {
        cpu.flags.bits |= iopl << 12;
    }
    assert_eq!(cpu.run(&mut TestBus::default(), 4), RunExit::Budget);
    g(&cpu, reg::RBX)
}

#[test]
fn popf_honours_cpl_and_iopl() {
    let image = (bit::IF | bit::IOPL | bit::CF | bit::AC | bit::RF | bit::VM) as u32;
    // CPL 0: IF and IOPL load; VM never; RF is cleared.
    let f = popf_at(false, 0, image);
    assert_eq!(
        f & (bit::IF | bit::IOPL | bit::CF | bit::AC | bit::RF | bit::VM),
        bit::IF | bit::IOPL | bit::CF | bit::AC
    );
    // CPL 3, IOPL 0: IF and IOPL are silently kept.
    let f = popf_at(true, 0, image);
    assert_eq!(f & (bit::IF | bit::IOPL | bit::CF), bit::CF);
    // CPL 3, IOPL 3: IF loads, IOPL stays 3.
    let f = popf_at(true, 3, bit::IF as u32);
    assert_eq!(f & (bit::IF | bit::IOPL), bit::IF | bit::IOPL);
}
