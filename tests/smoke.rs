//! A first end-to-end check: small programs run in 64-bit and 32-bit mode.

use vx86::cpu::{reg, Cpu, Model, OpenBus, RunExit};
use vx86::mem::PhysMem;

fn run64(code: &[u8], steps: u64) -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(8 << 20).unwrap());
    cpu.enter_long_mode(0x1000, 0x10000, 1);
    cpu.mem.write_bytes(0x100000, code).unwrap();
    cpu.set_rip(0x100000);
    cpu.gpr[reg::RSP as usize] = 0x80000;
    let exit = cpu.run(&mut OpenBus, steps);
    assert_eq!(exit, RunExit::Budget);
    cpu
}

#[test]
fn counting_loop_in_64_bit_mode() {
    // mov ecx, 1000; xor eax, eax; l: add rax, rcx; dec ecx; jnz l; jmp $
    let code = [
        0xB9, 0xE8, 0x03, 0, 0, 0x31, 0xC0, 0x48, 0x01, 0xC8, 0xFF, 0xC9, 0x75, 0xF9, 0xEB, 0xFE,
    ];
    let cpu = run64(&code, 3 + 3 * 1000 + 10);
    assert_eq!(cpu.gpr[reg::RAX as usize], 500500);
    assert_eq!(cpu.gpr[reg::RCX as usize], 0);
}

#[test]
fn memory_and_stack_in_64_bit_mode() {
    // mov rbx, 0x200000; mov qword [rbx+8], 0x1234; push qword [rbx+8]; pop rdx; jmp $
    let code = [
        0x48, 0xC7, 0xC3, 0x00, 0x00, 0x20, 0x00, 0x48, 0xC7, 0x43, 0x08, 0x34, 0x12, 0x00, 0x00,
        0xFF, 0x73, 0x08, 0x5A, 0xEB, 0xFE,
    ];
    let cpu = run64(&code, 10);
    assert_eq!(cpu.gpr[reg::RDX as usize], 0x1234);
    assert_eq!(cpu.gpr[reg::RSP as usize], 0x80000);
}

#[test]
fn instructions_longer_than_15_bytes_raise_gp_not_ud() {
    use vx86::cpu::Vector;
    // 14 operand-size prefixes + add ax, imm16: 17 bytes.
    let mut code = vec![0x66u8; 14];
    code.extend_from_slice(&[0x05, 0x01, 0x02]);
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(8 << 20).unwrap());
    cpu.enter_long_mode(0x1000, 0x10000, 1);
    cpu.mem.write_bytes(0x100000, &code).unwrap();
    cpu.set_rip(0x100000);
    cpu.run(&mut OpenBus, 1);
    assert_eq!(cpu.last_fault.map(|f| f.vector), Some(Vector::GP));
}

#[test]
fn blocks_that_follow_jumps_and_calls_count_and_return_exactly() {
    // l: inc eax; jmp l  -- a block follows the jump back to its own start.
    let code = [0xFF, 0xC0, 0xEB, 0xFC];
    let cpu = run64(&code, 1001);
    assert_eq!(
        cpu.gpr[reg::RAX as usize],
        501,
        "inc ran 501 times in 1001 instructions"
    );
    // call f; add ebx, eax; jmp $; f: mov eax, 7; ret
    let code = [
        0xE8, 0x04, 0x00, 0x00, 0x00, 0x01, 0xC3, 0xEB, 0xFE, 0xB8, 0x07, 0x00, 0x00, 0x00, 0xC3,
    ];
    let cpu = run64(&code, 6);
    assert_eq!(cpu.gpr[reg::RBX as usize], 7);
    assert_eq!(cpu.gpr[reg::RSP as usize], 0x80000);
}
