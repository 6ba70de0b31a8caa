//! Paging seen by a guest: page faults delivered through a long-mode IDT with the exact error
//! code, CR2 and faulting RIP; accessed and dirty bits; CR0.WP; NX; reserved bits; user
//! pages at CPL 3; and the TLB following the page tables after INVLPG and CR3 loads.

use iced_x86::code_asm::*;
use vx86::cpu::setup::gdt;
use vx86::cpu::{reg, Cpu, Cr0, Efer, Model, OpenBus, TableReg};
use vx86::mem::PhysMem;

const GDT: u64 = 0x1000;
const IDT: u64 = 0x2000;
const TSS: u64 = 0x3000;
const PML4: u64 = 0x10000;
const PDPT: u64 = 0x11000;
const PD: u64 = 0x12000;
const PT: u64 = 0x13000;
const KCODE: u64 = 0x40000;
const UCODE: u64 = 0x41000;
const HANDLER: u64 = 0x50000;
const OUT: u64 = 0x60000;
const KSTACK: u64 = 0x80000;
const USTACK: u64 = 0x70000;
/// A 4-KiB page the tests play with.
const PAGE: u64 = 0x1F0000;
/// A second physical page to remap `PAGE` to.
const OTHER: u64 = 0x1F1000;

const P: u64 = 1;
const RW: u64 = 2;
const US: u64 = 4;
const A: u64 = 1 << 5;
const D: u64 = 1 << 6;
const XD: u64 = 1 << 63;

fn w64(cpu: &mut Cpu, addr: u64, v: u64) {
    cpu.mem.write_bytes(addr, &v.to_le_bytes()).unwrap();
}

fn r64(cpu: &Cpu, addr: u64) -> u64 {
    let mut b = [0u8; 8];
    cpu.mem.read_bytes(addr, &mut b);
    u64::from_le_bytes(b)
}

fn pte(page: u64) -> u64 {
    PT + ((page >> 12) & 0x1FF) * 8
}

fn code(cpu: &mut Cpu, at: u64, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    let bytes = a.assemble(at).unwrap();
    cpu.mem.write_bytes(at, &bytes).unwrap();
}

fn spin(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.jmp(l)
}

/// 64-bit mode with 4-KiB pages for the first 2 MiB (user-accessible, writable) and a #PF
/// handler that records CR2, the error code and the faulting RIP at OUT, then spins.
fn machine() -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(8 << 20).unwrap());
    cpu.enter_long_mode(GDT, 0x100000, 1);
    w64(&mut cpu, PML4, PDPT | P | RW | US);
    w64(&mut cpu, PDPT, PD | P | RW | US);
    w64(&mut cpu, PD, PT | P | RW | US);
    for i in 1..4 {
        w64(&mut cpu, PD + i * 8, (i << 21) | P | RW | US | (1 << 7));
    }
    for i in 0..512 {
        w64(&mut cpu, PT + i * 8, (i << 12) | P | RW | US);
    }
    cpu.cr3 = PML4;
    cpu.flush_tlb_all();
    // A 64-bit TSS for the stack switch from CPL 3, and the #PF interrupt gate.
    let tss = (TSS & 0xFFFF) << 16 | ((TSS >> 16) & 0xFF) << 32 | 0x89 << 40 | 0x67;
    w64(&mut cpu, GDT + 0x38, tss);
    w64(&mut cpu, GDT + 0x40, 0);
    cpu.gdtr.limit = 0x47;
    w64(&mut cpu, TSS + 4, KSTACK);
    cpu.tr = vx86::cpu::descriptor::Descriptor(tss).to_segment(0x38);
    let gate = (HANDLER & 0xFFFF)
        | (gdt::CODE64 as u64) << 16
        | 0x8E << 40
        | ((HANDLER >> 16) & 0xFFFF) << 48;
    w64(&mut cpu, IDT + 14 * 16, gate);
    cpu.idtr = TableReg {
        base: IDT,
        limit: 256 * 16 - 1,
    };
    code(&mut cpu, HANDLER, |a| {
        a.mov(rax, cr2)?;
        a.mov(qword_ptr(OUT), rax)?;
        a.pop(rax)?;
        a.mov(qword_ptr(OUT + 8), rax)?;
        a.mov(rax, qword_ptr(rsp))?;
        a.mov(qword_ptr(OUT + 16), rax)?;
        spin(a)
    });
    cpu.gpr[reg::RSP as usize] = KSTACK;
    cpu.set_rip(KCODE);
    cpu
}

/// Runs until the handler has written the faulting RIP (or `n` instructions).
fn run(cpu: &mut Cpu, n: u64) {
    cpu.run(&mut OpenBus, n);
}

/// The recorded (CR2, error code, RIP) of the last #PF.
fn fault(cpu: &Cpu) -> (u64, u64, u64) {
    (r64(cpu, OUT), r64(cpu, OUT + 8), r64(cpu, OUT + 16))
}

#[test]
fn not_present_read_reports_cr2_error_code_and_rip() {
    let mut cpu = machine();
    w64(&mut cpu, pte(PAGE), 0);
    code(&mut cpu, KCODE, |a| {
        a.nop()?;
        a.mov(rax, qword_ptr(PAGE + 0x10))?;
        spin(a)
    });
    run(&mut cpu, 30);
    assert_eq!(fault(&cpu), (PAGE + 0x10, 0, KCODE + 1));
}

#[test]
fn supervisor_write_to_read_only_page_honours_cr0_wp() {
    let mut cpu = machine();
    w64(&mut cpu, pte(PAGE), PAGE | P | US);
    code(&mut cpu, KCODE, |a| {
        a.mov(qword_ptr(PAGE + 8), 0x55)?;
        a.mov(rbx, qword_ptr(PAGE + 8))?;
        spin(a)
    });
    // CR0.WP = 0: a supervisor write goes through.
    run(&mut cpu, 10);
    assert_eq!(cpu.gpr[reg::RBX as usize], 0x55);
    // CR0.WP = 1: the same write faults with P | W.
    let mut cpu = machine();
    w64(&mut cpu, pte(PAGE), PAGE | P | US);
    cpu.cr0 |= Cr0::WP;
    code(&mut cpu, KCODE, |a| {
        a.mov(qword_ptr(PAGE + 8), 0x55)?;
        spin(a)
    });
    run(&mut cpu, 30);
    assert_eq!(fault(&cpu), (PAGE + 8, 0b11, KCODE));
}

#[test]
fn accessed_and_dirty_bits_follow_reads_and_writes() {
    let mut cpu = machine();
    w64(&mut cpu, pte(PAGE), PAGE | P | RW);
    w64(&mut cpu, pte(OTHER), OTHER | P | RW);
    code(&mut cpu, KCODE, |a| {
        a.mov(rax, qword_ptr(PAGE))?;
        a.mov(qword_ptr(OTHER), rax)?;
        spin(a)
    });
    run(&mut cpu, 10);
    assert_eq!(r64(&cpu, pte(PAGE)) & (A | D), A, "a read sets A only");
    assert_eq!(
        r64(&cpu, pte(OTHER)) & (A | D),
        A | D,
        "a write sets A and D"
    );
    assert_eq!(r64(&cpu, PD) & (A | D), A, "upper levels get A, never D");
}

#[test]
fn a_write_after_a_read_still_sets_the_dirty_bit() {
    // The read fills the TLB; the write must still walk to set D (the entry was clean).
    let mut cpu = machine();
    w64(&mut cpu, pte(PAGE), PAGE | P | RW);
    code(&mut cpu, KCODE, |a| {
        a.mov(rax, qword_ptr(PAGE))?;
        a.mov(qword_ptr(PAGE + 8), rax)?;
        spin(a)
    });
    run(&mut cpu, 10);
    assert_eq!(r64(&cpu, pte(PAGE)) & (A | D), A | D);
}

#[test]
fn execute_disable_faults_with_the_instruction_fetch_bit() {
    let mut cpu = machine();
    cpu.efer |= Efer::NXE;
    w64(&mut cpu, pte(PAGE), PAGE | P | RW | XD);
    code(&mut cpu, PAGE, |a| a.nop());
    code(&mut cpu, KCODE, |a| {
        a.mov(rax, PAGE)?;
        a.call(rax)?;
        spin(a)
    });
    run(&mut cpu, 30);
    assert_eq!(fault(&cpu), (PAGE, 0b1_0001, PAGE));
}

#[test]
fn reserved_bits_fault_with_rsvd() {
    let mut cpu = machine();
    w64(&mut cpu, pte(PAGE), PAGE | P | RW | (1 << 51));
    code(&mut cpu, KCODE, |a| {
        a.mov(qword_ptr(PAGE), rax)?;
        spin(a)
    });
    run(&mut cpu, 30);
    assert_eq!(fault(&cpu), (PAGE, 0b1011, KCODE), "P | W | RSVD");
}

#[test]
fn user_access_to_a_supervisor_page_reports_the_user_bit() {
    let mut cpu = machine();
    w64(&mut cpu, pte(PAGE), PAGE | P | RW);
    code(&mut cpu, UCODE, |a| {
        a.mov(rax, qword_ptr(PAGE))?;
        spin(a)
    });
    // IRETQ to CPL 3 at UCODE.
    code(&mut cpu, KCODE, |a| {
        a.push(gdt::USER_DATA as i32)?;
        a.push(USTACK as i32)?;
        a.push(0x2)?;
        a.push(gdt::USER_CODE64 as i32)?;
        a.push(UCODE as i32)?;
        a.iretq()
    });
    run(&mut cpu, 40);
    assert_eq!(fault(&cpu), (PAGE, 0b101, UCODE), "P | U");
    assert_eq!(cpu.cpl, 0, "the handler runs at CPL 0");
}

#[test]
fn invlpg_and_cr3_loads_make_new_mappings_visible() {
    let mut cpu = machine();
    w64(&mut cpu, PAGE, 0x1111);
    w64(&mut cpu, OTHER, 0x2222);
    code(&mut cpu, KCODE, |a| {
        a.mov(rax, qword_ptr(PAGE))?; // 0x1111, now in the TLB
        a.mov(qword_ptr(pte(PAGE)), (OTHER | P | RW) as i32)?;
        a.mov(rcx, PAGE)?;
        a.invlpg(qword_ptr(rcx))?;
        a.mov(rbx, qword_ptr(PAGE))?; // 0x2222 through the new mapping
        a.mov(qword_ptr(pte(PAGE)), (PAGE | P | RW) as i32)?;
        a.mov(rdx, cr3)?;
        a.mov(cr3, rdx)?;
        a.mov(rsi, qword_ptr(PAGE))?; // 0x1111 again after the CR3 load
        spin(a)
    });
    run(&mut cpu, 20);
    assert_eq!(cpu.gpr[reg::RAX as usize], 0x1111);
    assert_eq!(cpu.gpr[reg::RBX as usize], 0x2222);
    assert_eq!(cpu.gpr[reg::RSI as usize], 0x1111);
}

/// A loop that jumps to code at `PAGE` 100 times, remapping `PAGE` to `OTHER` (INVLPG) after
/// 50: the block links made through the old mapping must not outlive it. With `evict`, the
/// TLB entry for `PAGE` is pushed out (a read of a page with the same TLB index) before the
/// INVLPG, so the TLB no longer shows that code ran through `PAGE`.
fn remap_code_in_a_loop(evict: bool) -> u64 {
    let mut cpu = machine();
    // Both run at linear PAGE.
    for (phys, value) in [(PAGE, 1), (OTHER, 2)] {
        let mut a = CodeAssembler::new(64).unwrap();
        a.mov(eax, value).unwrap();
        a.jmp(KCODE + 0x100).unwrap();
        let bytes = a.assemble(PAGE).unwrap();
        cpu.mem.write_bytes(phys, &bytes).unwrap();
    }
    code(&mut cpu, KCODE, |a| {
        a.xor(ebx, ebx)?;
        a.xor(esi, esi)?;
        a.jmp(PAGE)
    });
    code(&mut cpu, KCODE + 0x100, |a| {
        let mut skip = a.create_label();
        a.add(rsi, rax)?;
        a.inc(ebx)?;
        a.cmp(ebx, 50)?;
        a.jne(skip)?;
        a.mov(qword_ptr(pte(PAGE)), (OTHER | P | RW) as i32)?;
        if evict {
            a.mov(rdx, qword_ptr(PAGE + (1024 << 12)))?;
        }
        a.mov(rcx, PAGE)?;
        a.invlpg(qword_ptr(rcx))?;
        a.set_label(&mut skip)?;
        a.cmp(ebx, 100)?;
        a.jne(PAGE)?;
        spin(a)
    });
    run(&mut cpu, 2000);
    assert_eq!(cpu.gpr[reg::RBX as usize], 100, "the loop ran to its end");
    cpu.gpr[reg::RSI as usize]
}

#[test]
fn invlpg_of_a_code_page_voids_block_links_through_it() {
    assert_eq!(remap_code_in_a_loop(false), 50 + 50 * 2);
}

#[test]
fn invlpg_voids_block_links_even_after_the_code_page_left_the_tlb() {
    assert_eq!(remap_code_in_a_loop(true), 50 + 50 * 2);
}
