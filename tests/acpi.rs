//! ACPI and PCI on the board, end to end: a multiboot 2 kernel finds the RSDP in its boot
//! information, checks every table and powers off through the FADT's PM1a_CNT; the FADT's
//! reset register reboots; the PM timer's SCI wakes a halted guest through the 8259; PCI
//! configuration space and the PM I/O space answer on the board's ports.

use iced_x86::code_asm::*;
use std::path::Path;
use vx86::cpu::{Bus, BusStatus, TableReg};
use vx86::dev::acpi_pm;
use vx86::machine::boot::BootOptions;
use vx86::machine::{Exit, Host, Machine, MachineConfig};

/// A host that drops all output.
struct Quiet;

impl Host for Quiet {
    fn serial_out(&mut self, _: usize, _: &[u8]) {}
    fn debugcon_out(&mut self, _: &[u8]) {}
    fn post_code(&mut self, _: u8) {}
    fn serial_in(&mut self, _: usize) -> Vec<u8> {
        Vec::new()
    }
    fn stop_requested(&mut self) -> bool {
        false
    }
}

fn new_machine() -> Machine {
    Machine::new(MachineConfig {
        max_instructions: Some(10_000_000),
        ..MachineConfig::default()
    })
    .unwrap()
}

/// A little-endian dword from four ASCII bytes.
fn sig(s: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*s)
}

/// Where the multiboot 2 kernel loads, and its stack top (the end of its bss).
const LOAD: u32 = 0x10_0000;
const STACK: u32 = 0x10_8000;
/// Bytes of multiboot 2 header before the code.
const HEADER_LEN: u32 = 64;

/// A multiboot 2 kernel in the address tag's layout: the header, then `code` (assembled
/// for LOAD + HEADER_LEN), entered there.
fn mb2_kernel(code: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let entry = LOAD + HEADER_LEN;
    let words: [u32; 16] = [
        0xE852_50D6,
        0,
        HEADER_LEN,
        0u32.wrapping_sub(0xE852_50D6u32.wrapping_add(HEADER_LEN)),
        // Address tag: header_addr, load_addr, load_end_addr (0: the whole file),
        // bss_end_addr.
        2,
        24,
        LOAD,
        LOAD,
        0,
        STACK,
        // Entry address tag, padded to 8 bytes.
        3,
        12,
        entry,
        0,
        // End tag.
        0,
        8,
    ];
    let mut img: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut a = CodeAssembler::new(32).unwrap();
    code(&mut a).unwrap();
    img.extend(a.assemble(entry as u64).unwrap());
    img
}

/// Guest code: ECX = the 8-bit sum of ECX bytes at ESI (zero for a valid ACPI table), ZF
/// set if it is zero; clobbers EAX.
fn sum_routine(a: &mut CodeAssembler, sum: &mut CodeLabel) -> Result<(), IcedError> {
    a.set_label(sum)?;
    a.push(esi)?;
    a.xor(eax, eax)?;
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.add(al, byte_ptr(esi))?;
    a.inc(esi)?;
    a.dec(ecx)?;
    a.jnz(l)?;
    a.movzx(ecx, al)?;
    a.pop(esi)?;
    // ZF for the caller's jnz.
    a.test(ecx, ecx)?;
    a.ret()
}

/// Guest code that leaves through isa-debug-exit with `code` (status `code * 2 + 1`).
fn fail_with(a: &mut CodeAssembler, label: &mut CodeLabel, code: u8) -> Result<(), IcedError> {
    a.set_label(label)?;
    a.mov(al, code as u32)?;
    a.out(0xF4, al)?;
    a.hlt()
}

/// The kernel's common part: finds the ACPI 2.0 RSDP tag in the multiboot 2 information,
/// checks the RSDP, the XSDT, every table it lists and the DSDT, and leaves EBX = the FADT.
/// Failures exit through isa-debug-exit with the step's number.
fn find_fadt(a: &mut CodeAssembler, fail: &mut [CodeLabel; 8]) -> Result<(), IcedError> {
    let mut sum = a.create_label();
    let mut find = a.create_label();
    let mut found = a.create_label();
    let mut walk = a.create_label();
    let mut next = a.create_label();
    let mut fadt = a.create_label();
    let mut past = a.create_label();
    a.mov(esp, STACK)?;
    a.cmp(eax, 0x36D7_6289)?;
    a.jne(fail[0])?;
    // The tags start 8 bytes into the information, 8-byte aligned.
    a.lea(esi, ptr(ebx + 8))?;
    a.set_label(&mut find)?;
    a.mov(ecx, dword_ptr(esi))?;
    a.test(ecx, ecx)?;
    a.jz(fail[1])?;
    a.cmp(ecx, 15)?;
    a.je(found)?;
    a.mov(ecx, dword_ptr(esi + 4))?;
    a.add(ecx, 7)?;
    a.and(ecx, !7)?;
    a.add(esi, ecx)?;
    a.jmp(find)?;
    // The tag holds a copy of the 36-byte RSDP.
    a.set_label(&mut found)?;
    a.add(esi, 8)?;
    a.cmp(dword_ptr(esi), sig(b"RSD "))?;
    a.jne(fail[2])?;
    a.cmp(dword_ptr(esi + 4), sig(b"PTR "))?;
    a.jne(fail[2])?;
    a.mov(ecx, 20)?;
    a.call(sum)?;
    a.jnz(fail[3])?;
    a.mov(ecx, 36)?;
    a.call(sum)?;
    a.jnz(fail[3])?;
    // The XSDT: signature, checksum, then each table it lists.
    a.mov(edi, dword_ptr(esi + 24))?;
    a.cmp(dword_ptr(edi), sig(b"XSDT"))?;
    a.jne(fail[4])?;
    a.mov(esi, edi)?;
    a.mov(ecx, dword_ptr(edi + 4))?;
    a.call(sum)?;
    a.jnz(fail[4])?;
    a.mov(ebp, dword_ptr(edi + 4))?;
    a.add(ebp, edi)?;
    a.lea(edx, ptr(edi + 36))?;
    a.xor(ebx, ebx)?;
    a.set_label(&mut walk)?;
    a.cmp(edx, ebp)?;
    a.jae(past)?;
    a.mov(esi, dword_ptr(edx))?;
    a.mov(ecx, dword_ptr(esi + 4))?;
    a.call(sum)?;
    a.jnz(fail[5])?;
    a.cmp(dword_ptr(esi), sig(b"FACP"))?;
    a.jne(next)?;
    a.set_label(&mut fadt)?;
    a.mov(ebx, esi)?;
    a.set_label(&mut next)?;
    a.add(edx, 8)?;
    a.jmp(walk)?;
    a.set_label(&mut past)?;
    a.test(ebx, ebx)?;
    a.jz(fail[6])?;
    // The DSDT the FADT names.
    a.mov(esi, dword_ptr(ebx + 40))?;
    a.cmp(dword_ptr(esi), sig(b"DSDT"))?;
    a.jne(fail[7])?;
    a.mov(ecx, dword_ptr(esi + 4))?;
    a.call(sum)?;
    a.jnz(fail[7])?;
    let mut over = a.create_label();
    a.jmp(over)?;
    sum_routine(a, &mut sum)?;
    a.set_label(&mut over)?;
    Ok(())
}

fn boot(m: &mut Machine, kernel: &[u8]) {
    m.boot(Path::new("acpi-test.elf"), kernel, &BootOptions::default())
        .unwrap();
}

#[test]
fn a_kernel_finds_the_tables_through_its_boot_information_and_powers_off() {
    // The guest takes the RSDP from the multiboot 2 ACPI tag, validates the RSDP, XSDT,
    // FADT, MADT, HPET and DSDT checksums, reads the PM timer twice (it must advance), then
    // reads SLP_TYP from the DSDT's \_S5 package and writes SLP_TYP | SLP_EN to the FADT's
    // PM1a_CNT_BLK, as Linux's poweroff does: the machine powers off with status 0.
    let kernel = mb2_kernel(|a| {
        let mut fail: [CodeLabel; 8] = std::array::from_fn(|_| a.create_label());
        let mut timer_stuck = a.create_label();
        let mut bad_s5 = a.create_label();
        find_fadt(a, &mut fail)?;
        // The PM timer at PM_TMR_BLK advances with virtual time.
        a.mov(edx, dword_ptr(ebx + 76))?;
        a.in_(eax, dx)?;
        a.mov(edi, eax)?;
        a.mov(ecx, 1000)?;
        let mut spin = a.create_label();
        a.set_label(&mut spin)?;
        a.dec(ecx)?;
        a.jnz(spin)?;
        a.in_(eax, dx)?;
        a.cmp(eax, edi)?;
        a.je(timer_stuck)?;
        // \_S5 is the DSDT's first object: NameOp "_S5_" PackageOp PkgLength NumElements,
        // then SLP_TYPa as ZeroOp, OneOp or BytePrefix n.
        a.mov(esi, dword_ptr(ebx + 40))?;
        a.cmp(dword_ptr(esi + 37), sig(b"_S5_"))?;
        a.jne(bad_s5)?;
        a.movzx(eax, byte_ptr(esi + 44))?;
        let mut have = a.create_label();
        a.cmp(eax, 1)?;
        a.jbe(have)?;
        a.movzx(eax, byte_ptr(esi + 45))?;
        a.set_label(&mut have)?;
        a.shl(eax, 10)?;
        a.or(eax, 1 << 13)?;
        a.mov(edx, dword_ptr(ebx + 64))?;
        a.out(dx, ax)?;
        a.hlt()?;
        for (i, l) in fail.iter_mut().enumerate() {
            fail_with(a, l, i as u8 + 1)?;
        }
        fail_with(a, &mut timer_stuck, 20)?;
        fail_with(a, &mut bad_s5, 21)
    });
    let mut m = new_machine();
    boot(&mut m, &kernel);
    let exit = m.run(&mut Quiet);
    assert_eq!(exit, Exit::PowerOff, "{}", exit.describe());
    assert_eq!(exit.status(), 0);
}

#[test]
fn the_fadt_reset_register_resets_the_machine() {
    // RESET_REG names I/O port 0xCF9 and RESET_VALUE 6 (the PIIX3's SRST | RCPU): writing
    // it, as Linux's ACPI reboot does, ends the run with a reset.
    let kernel = mb2_kernel(|a| {
        let mut fail: [CodeLabel; 8] = std::array::from_fn(|_| a.create_label());
        let mut no_reset = a.create_label();
        find_fadt(a, &mut fail)?;
        // Flags bit 10 (RESET_REG_SUP), an I/O-space GAS, then out RESET_VALUE.
        a.test(dword_ptr(ebx + 112), 1 << 10)?;
        a.jz(no_reset)?;
        a.cmp(byte_ptr(ebx + 116), 1)?;
        a.jne(no_reset)?;
        a.mov(edx, dword_ptr(ebx + 120))?;
        a.mov(al, byte_ptr(ebx + 128))?;
        a.out(dx, al)?;
        a.hlt()?;
        for (i, l) in fail.iter_mut().enumerate() {
            fail_with(a, l, i as u8 + 1)?;
        }
        fail_with(a, &mut no_reset, 22)
    });
    let mut m = new_machine();
    boot(&mut m, &kernel);
    assert_eq!(m.run(&mut Quiet), Exit::Reset);
}

#[test]
fn the_pm_timer_sci_wakes_a_halted_guest_through_the_8259() {
    // The guest unmasks IRQ 9 (slave IR1, vector 0x71 as the board's BIOS-style setup
    // leaves it), makes it level-triggered in the ELCR as Linux's ACPI does, sets TMR_EN
    // and halts. The PM timer's bit 23 toggles after 2^23 ticks (2.343484438 s of virtual
    // time): TMR_STS raises the SCI, the handler records the timer and powers off.
    const IDT: u64 = 0x3000;
    const CODE: u64 = 0x10_0000;
    const HANDLER: u64 = 0x11_0000;
    const SEEN: u64 = 0x12_0000;
    let mut m = new_machine();
    m.cpu.enter_protected_flat(0x1000);
    let mut a = CodeAssembler::new(32).unwrap();
    a.in_(al, 0xA1).unwrap();
    a.and(al, !0x02).unwrap();
    a.out(0xA1, al).unwrap();
    a.mov(dx, 0x4D1u32).unwrap();
    a.mov(al, 0x02u32).unwrap();
    a.out(dx, al).unwrap();
    a.mov(dx, 0x602u32).unwrap();
    a.mov(ax, acpi_pm::TMR_EN as u32).unwrap();
    a.out(dx, ax).unwrap();
    a.sti().unwrap();
    let mut l = a.create_label();
    a.set_label(&mut l).unwrap();
    a.hlt().unwrap();
    a.jmp(l).unwrap();
    let code = a.assemble(CODE).unwrap();
    m.cpu.mem.write_bytes(CODE, &code).unwrap();
    let mut h = CodeAssembler::new(32).unwrap();
    h.mov(dx, 0x608u32).unwrap();
    h.in_(eax, dx).unwrap();
    h.mov(dword_ptr(SEEN), eax).unwrap();
    h.mov(dx, 0x600u32).unwrap();
    h.in_(ax, dx).unwrap();
    h.mov(dword_ptr(SEEN + 4), eax).unwrap();
    h.mov(dx, 0x604u32).unwrap();
    h.mov(ax, (acpi_pm::SCI_EN | acpi_pm::SLP_EN) as u32)
        .unwrap();
    h.out(dx, ax).unwrap();
    h.hlt().unwrap();
    let handler = h.assemble(HANDLER).unwrap();
    m.cpu.mem.write_bytes(HANDLER, &handler).unwrap();
    let gate = (HANDLER & 0xFFFF) | 0x08 << 16 | 0x8E00 << 32 | (HANDLER >> 16) << 48;
    m.cpu
        .mem
        .write_bytes(IDT + 0x71 * 8, &gate.to_le_bytes())
        .unwrap();
    m.cpu.idtr = TableReg {
        base: IDT,
        limit: 0x7FF,
    };
    m.cpu.set_rip(CODE);
    m.cpu.gpr[4] = 0x8_0000;
    assert_eq!(m.run(&mut Quiet), Exit::PowerOff);
    let toggle = acpi_pm::time_of_tick(1 << 23);
    assert!(
        m.now() >= toggle && m.now() < toggle + 10_000,
        "woken at {} ns, the toggle is at {toggle} ns",
        m.now()
    );
    let mut seen = [0u8; 8];
    m.cpu.mem.read_bytes(SEEN, &mut seen);
    let timer = u32::from_le_bytes(seen[..4].try_into().unwrap());
    let sts = u16::from_le_bytes(seen[4..6].try_into().unwrap());
    assert!(
        (1 << 23..(1 << 23) + 100).contains(&timer),
        "timer {timer:#x}"
    );
    assert_eq!(sts & acpi_pm::TMR_STS, acpi_pm::TMR_STS);
    assert!(
        m.cpu.icount < 1_000,
        "idle time was skipped: {}",
        m.cpu.icount
    );
}

#[test]
fn pci_configuration_and_pm_ports_are_on_the_board() {
    // Through the board's ports: the host bridge's IDs at 0xCFC, the PM timer where PMBA
    // says (0x600, as in the FADT), and the guest moving PMBA moves the timer.
    let mut m = new_machine();
    let w = |m: &mut Machine, port: u16, size: u8, v: u32| {
        let Machine { cpu, board, .. } = m;
        board.io_write(&mut cpu.mem, port, size, v);
    };
    let r = |m: &mut Machine, port: u16, size: u8| {
        let Machine { cpu, board, .. } = m;
        board.io_read(&mut cpu.mem, port, size)
    };
    w(&mut m, 0xCF8, 4, 0x8000_0000);
    assert_eq!(r(&mut m, 0xCFC, 4), 0x1237_8086);
    w(&mut m, 0xCF8, 4, 0x8000_0B00);
    assert_eq!(
        r(&mut m, 0xCFC, 4),
        0x7113_8086,
        "01.3 is the PIIX4 PM function"
    );
    m.board.sync_time(1_000_000_000);
    assert_eq!(
        r(&mut m, 0x608, 4),
        3_579_545,
        "one virtual second of PM timer"
    );
    assert_eq!(
        r(&mut m, 0x604, 2) as u16 & acpi_pm::SCI_EN,
        acpi_pm::SCI_EN
    );
    // Move the PM I/O space to 0xB000 through PMBA (01.3, register 0x40).
    w(&mut m, 0xCF8, 4, 0x8000_0B40);
    w(&mut m, 0xCFC, 4, 0xB000);
    assert_eq!(r(&mut m, 0xB008, 4), 3_579_545);
    assert_eq!(
        r(&mut m, 0x608, 4),
        0xFFFF_FFFF,
        "nothing left at the old base"
    );
    // PMIOSE off: the space disappears.
    w(&mut m, 0xCF8, 4, 0x8000_0B80);
    w(&mut m, 0xCFC, 1, 0);
    assert_eq!(r(&mut m, 0xB008, 4), 0xFFFF_FFFF);
    assert_eq!(m.board.exit_request(), None);
}

#[test]
fn sci_reaches_irq_9_and_power_off_and_reset_stop_the_cpu() {
    // The SCI drives 8259 IRQ 9 (slave IR1: IRR bit 1 in OCW3 reads); SLP_EN with the S5
    // type and a 0xCF9 reset each ask the CPU to stop and end the run.
    let mut m = new_machine();
    let io = |m: &mut Machine, port: u16, size: u8, v: Option<u32>| {
        let Machine { cpu, board, .. } = m;
        match v {
            Some(v) => {
                board.io_write(&mut cpu.mem, port, size, v);
                0
            }
            None => board.io_read(&mut cpu.mem, port, size),
        }
    };
    m.board.acpi_pm.press_power_button();
    io(&mut m, 0x602, 2, Some(acpi_pm::PWRBTN_EN as u32));
    io(&mut m, 0xA0, 1, Some(0x0A));
    assert_eq!(io(&mut m, 0xA0, 1, None) & 0x02, 0x02, "IRQ 9 requested");
    io(&mut m, 0x600, 2, Some(acpi_pm::PWRBTN_STS as u32));
    assert!(!m.board.acpi_pm.sci());
    io(
        &mut m,
        0x604,
        2,
        Some((acpi_pm::SCI_EN | acpi_pm::SLP_EN) as u32),
    );
    assert_eq!(m.board.exit_request(), Some(Exit::PowerOff));
    assert!(m.board.status().contains(BusStatus::STOP));
    let mut m = new_machine();
    io(&mut m, 0xCF9, 1, Some(0x06));
    assert_eq!(m.board.exit_request(), Some(Exit::Reset));
}
