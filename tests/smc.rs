//! Self-modifying code: a guest that patches its own code runs the new code, whether the patch
//! lands in the running block, in a block that ran before, or arrives from outside the CPU.

use vx86::cpu::{reg, Cpu, Model, OpenBus};
use vx86::mem::PhysMem;

const CODE: u64 = 0x100000;

fn cpu_with(code: &[u8]) -> Cpu {
    let mut cpu = Cpu::new(Model::Modern, PhysMem::new(8 << 20).unwrap());
    cpu.enter_long_mode(0x1000, 0x10000, 1);
    cpu.mem.write_bytes(CODE, code).unwrap();
    cpu.set_rip(CODE);
    cpu.gpr[reg::RSP as usize] = 0x80000;
    cpu
}

#[test]
fn patch_inside_the_running_block_takes_effect_at_once() {
    // mov byte [rip+1], 0x42   ; patches the imm8 of the next instruction... (C6 05 disp32 imm8)
    // mov al, 0x11             ; (B0 11) becomes mov al, 0x42
    // jmp $
    let mut code = vec![0xC6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x42];
    code.extend_from_slice(&[0xB0, 0x11, 0xEB, 0xFE]);
    let mut cpu = cpu_with(&code);
    cpu.run(&mut OpenBus, 2);
    assert_eq!(
        cpu.gpr[reg::RAX as usize] & 0xFF,
        0x42,
        "the patched immediate must be used"
    );
}

#[test]
fn patched_function_runs_new_code_on_the_next_call() {
    // f at CODE+0x100: mov eax, 1; ret
    // main: call f; mov ebx, eax; mov byte [f+1], 2; call f; add ebx, eax; jmp $
    let mut code = vec![0u8; 0x100];
    let main = [
        0xE8, 0xFB, 0x00, 0x00, 0x00, // call f (next = 5, f = 0x100)
        0x89, 0xC3, // mov ebx, eax
        0xC6, 0x05, 0xF3, 0x00, 0x00, 0x00,
        0x02, // mov byte [rip+0xF3], 2 -> 0x0E + 0xF3 = 0x101
        0xE8, 0xEB, 0x00, 0x00, 0x00, // call f (next = 0x13)
        0x01, 0xC3, // add ebx, eax
        0xEB, 0xFE,
    ];
    code[..main.len()].copy_from_slice(&main);
    code.extend_from_slice(&[0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3]);
    let mut cpu = cpu_with(&code);
    cpu.run(&mut OpenBus, 10);
    assert_eq!(
        cpu.gpr[reg::RBX as usize],
        3,
        "1 from the original f, 2 from the patched one"
    );
}

#[test]
fn writes_from_outside_the_cpu_invalidate_decoded_code() {
    // mov eax, 7; jmp $
    let mut cpu = cpu_with(&[0xB8, 0x07, 0x00, 0x00, 0x00, 0xEB, 0xFE]);
    cpu.run(&mut OpenBus, 3);
    assert_eq!(cpu.gpr[reg::RAX as usize], 7);
    // A device (or loader) rewrites the immediate behind the CPU's back.
    cpu.mem.write_bytes(CODE + 1, &[9]).unwrap();
    cpu.set_rip(CODE);
    cpu.run(&mut OpenBus, 3);
    assert_eq!(cpu.gpr[reg::RAX as usize], 9);
}

#[test]
fn instruction_across_a_page_boundary_sees_patches_to_either_page() {
    // At CODE+0xFFE: mov eax, imm32 straddles into the next page; patch its last byte.
    let mut code = vec![0x90u8; 0x1010];
    // main at CODE: jmp to CODE+0xFFE
    code[..5].copy_from_slice(&[0xE9, 0xF9, 0x0F, 0x00, 0x00]);
    code[0xFFE..0x1003].copy_from_slice(&[0xB8, 0x01, 0x02, 0x03, 0x04]);
    code[0x1003..0x1005].copy_from_slice(&[0xEB, 0xFE]);
    let mut cpu = cpu_with(&code);
    cpu.run(&mut OpenBus, 3);
    assert_eq!(cpu.gpr[reg::RAX as usize], 0x0403_0201);
    cpu.mem.write_bytes(CODE + 0x1002, &[0x7F]).unwrap();
    cpu.set_rip(CODE);
    cpu.run(&mut OpenBus, 3);
    assert_eq!(cpu.gpr[reg::RAX as usize], 0x7F03_0201);
}

#[test]
fn a_page_written_as_data_then_run_as_code_is_watched() {
    // Q = CODE+0x2000. main: mov dword [Q], 0xC3_00_00_00 | B8 ... (write "mov eax, 5; ret" as
    // data), call Q, mov ebx, eax, mov byte [Q+1], 6, call Q, add ebx, eax, jmp $.
    let q: u32 = (CODE + 0x2000) as u32;
    let mut code = Vec::new();
    code.extend_from_slice(&[0xBF]); // mov edi, Q
    code.extend_from_slice(&q.to_le_bytes());
    code.extend_from_slice(&[0xC7, 0x07, 0xB8, 0x05, 0x00, 0x00]); // mov dword [rdi], 0x0000_05B8
    code.extend_from_slice(&[0xC7, 0x47, 0x04, 0x00, 0xC3, 0x00, 0x00]); // mov dword [rdi+4], 0xC300
    code.extend_from_slice(&[0xFF, 0xD7]); // call rdi
    code.extend_from_slice(&[0x89, 0xC3]); // mov ebx, eax
    code.extend_from_slice(&[0xC6, 0x47, 0x01, 0x06]); // mov byte [rdi+1], 6
    code.extend_from_slice(&[0xFF, 0xD7]); // call rdi
    code.extend_from_slice(&[0x01, 0xC3]); // add ebx, eax
    code.extend_from_slice(&[0xEB, 0xFE]);
    let mut cpu = cpu_with(&code);
    cpu.run(&mut OpenBus, 13);
    assert_eq!(
        cpu.gpr[reg::RBX as usize],
        11,
        "5 from the first call, 6 after the patch"
    );
}
