//! Checks of QEMU's fw_cfg interface (docs/specs/fw_cfg.rst) that `mb1.elf` runs: the
//! signature and feature bits, CPU count, RAM size, the command line items, and the
//! `etc/e820` file, found through the file directory, against the machine's map.

use iced_x86::code_asm::*;

use super::mbcheck;
use super::rt::{Rt, PAGE_TABLES, R};
use super::{APPEND, MEMORY};

/// A buffer for items (32-bit kernels keep no page tables there).
const BUF: u64 = PAGE_TABLES;
/// Where `etc/e820` is read to.
const E820_BUF: u64 = BUF + 0x1000;

/// Selects the item whose key is in AX (a 16-bit write to the selector port).
fn select(r: &mut Rt) -> R {
    r.mov(dx, 0x510)?;
    r.out(dx, ax)
}

/// Reads ECX bytes of the selected item into memory at EDI (ECX, EDI, DX, AL change).
fn read(r: &mut Rt) -> R {
    let mut byte = r.label();
    let mut done = r.label();
    r.mov(dx, 0x511)?;
    r.set(&mut byte)?;
    r.test(ecx, ecx)?;
    r.jz(done)?;
    r.in_(al, dx)?;
    r.mov(byte_ptr(edi), al)?;
    r.inc(edi)?;
    r.dec(ecx)?;
    r.jmp(byte)?;
    r.set(&mut done)
}

/// Reads `len` bytes of item `key` into the buffer.
fn read_key(r: &mut Rt, key: u16, len: u32) -> R {
    r.mov(ax, key as u32)?;
    select(r)?;
    r.mov(edi, BUF as u32)?;
    r.mov(ecx, len)?;
    read(r)
}

/// Emits the checks.
pub fn check(r: &mut Rt) -> R {
    read_key(r, 0x00, 4)?;
    r.check_eq(
        dword_ptr(BUF),
        u32::from_le_bytes(*b"QEMU"),
        "fw_cfg signature",
    )?;
    read_key(r, 0x01, 4)?;
    r.mov(eax, dword_ptr(BUF))?;
    r.and(eax, 1)?;
    r.check_eq(eax, 1, "fw_cfg ID: the traditional interface")?;
    read_key(r, 0x05, 2)?;
    r.check_u16(ptr(BUF), 1, "fw_cfg NB_CPUS")?;
    read_key(r, 0x03, 8)?;
    r.check_eq(dword_ptr(BUF), MEMORY as u32, "fw_cfg RAM_SIZE, low half")?;
    r.check_eq(
        dword_ptr(BUF + 4),
        (MEMORY >> 32) as u32,
        "fw_cfg RAM_SIZE, high half",
    )?;
    read_key(r, 0x14, 4)?;
    r.check_eq(
        dword_ptr(BUF),
        APPEND.len() as u32 + 1,
        "fw_cfg CMDLINE_SIZE",
    )?;
    read_key(r, 0x15, APPEND.len() as u32 + 1)?;
    r.mov(esi, BUF as u32)?;
    r.check_str(esi, APPEND, "fw_cfg CMDLINE_DATA")?;

    // The file directory (item 0x19), big-endian: a count, then 64-byte entries {size,
    // select, reserved, name[56]}.
    read_key(r, 0x19, 4)?;
    r.mov(ebx, dword_ptr(BUF))?;
    r.bswap(ebx)?;
    r.check_range(ebx, 1, 60, "fw_cfg file count")?;
    r.mov(ecx, ebx)?;
    r.shl(ecx, 6)?;
    r.mov(edi, BUF as u32 + 4)?;
    read(r)?;
    let name = r.string(b"etc/e820");
    let mut next = r.label();
    let mut found = r.label();
    r.mov(esi, BUF as u32 + 4)?;
    r.set(&mut next)?;
    r.test(ebx, ebx)?;
    r.fail_unless_not_equal("fw_cfg: no etc/e820 in the file directory")?;
    r.push(esi)?;
    r.add(esi, 8)?;
    r.mov_addr(edi, name)?;
    r.call_strcmp()?;
    r.pop(esi)?;
    r.je(found)?;
    r.add(esi, 64)?;
    r.dec(ebx)?;
    r.jmp(next)?;
    r.set(&mut found)?;

    // etc/e820: packed little-endian {u64 address, u64 length, u32 type} entries.
    let map = mbcheck::e820();
    let table: Vec<u32> = map
        .iter()
        .flat_map(|e| {
            [
                e.addr as u32,
                (e.addr >> 32) as u32,
                e.size as u32,
                (e.size >> 32) as u32,
                e.kind,
            ]
        })
        .collect();
    r.mov(ecx, dword_ptr(esi))?;
    r.bswap(ecx)?;
    r.check_eq(ecx, 4 * table.len() as u32, "fw_cfg etc/e820 size")?;
    r.movzx(eax, word_ptr(esi + 4))?;
    r.xchg(al, ah)?;
    select(r)?;
    r.mov(edi, E820_BUF as u32)?;
    read(r)?;
    r.mov(esi, E820_BUF as u32)?;
    r.check_table(esi, &table, "fw_cfg etc/e820")?;
    r.print("fw_cfg: signature, CPU count, RAM size, command line and etc/e820 as expected\n")
}
