//! `mb1-aout.bin`: a multiboot 1 kernel without ELF headers, loaded by the a.out kludge's
//! address fields (Multiboot 0.6.96 §3.1.3). The file holds a marker just before
//! load_end_addr and another after it; the loader must copy the file from load_addr up to
//! load_end_addr only, and zero from there to bss_end_addr.

use iced_x86::code_asm::*;

use super::image::{Boot, Kernel, MB_HEADER};
use super::mbcheck::{self, check_entry_state};
use super::rt::{self, var, Out, BASE, CODE};
use super::APPEND;

/// The "loaded" marker, right after the code; load_end_addr is just after it, and the file
/// goes on with bytes the loader must not copy, 16 bytes further.
const MARK: &[u8; 8] = b"LEND!END";
const TRAILER: &[u8; 16] = b"NOT LOADED: BSS!";

/// Builds `mb1-aout.bin`.
pub fn build() -> Result<Vec<u8>, IcedError> {
    let (code, mark) = rt::assemble_with_next(32, Out::E9, CODE, |r, mark| {
        r.mov(dword_ptr(var(0)), eax)?;
        r.mov(dword_ptr(var(1)), ebx)?;
        r.init_stack()?;
        r.setup_idt()?;
        r.print("mb1-aout: multiboot 1 kernel loaded by the a.out kludge\n")?;
        r.check_eq(dword_ptr(var(0)), 0x2BAD_B002, "EAX: the boot loader magic")?;
        check_entry_state(r)?;

        r.check_eq(
            dword_ptr(BASE + MB_HEADER as u64),
            0x1BAD_B002,
            "the multiboot header at header_addr (file offset 0 loaded at load_addr)",
        )?;
        for (i, half) in MARK.chunks(4).enumerate() {
            let v = u32::from_le_bytes([half[0], half[1], half[2], half[3]]);
            r.check_eq(
                dword_ptr(mark + 4 * i as u64),
                v,
                "the marker before load_end_addr",
            )?;
        }
        for off in (0..16).step_by(4) {
            r.check_eq(
                dword_ptr(mark + 16 + off),
                0,
                "file bytes after load_end_addr (must not be loaded: bss)",
            )?;
        }
        r.check_eq(
            dword_ptr(var(200)),
            0,
            "a dword of bss the kernel never wrote",
        )?;
        r.print("layout: loaded from load_addr to load_end_addr, bss zeroed to bss_end_addr\n")?;

        r.mov(ebx, dword_ptr(var(1)))?;
        // Memory information was required (header flags bit 1): mem_* and the map are there.
        r.mov(eax, dword_ptr(ebx))?;
        r.and(eax, 1 | 1 << 6)?;
        r.check_eq(eax, 1 | 1 << 6, "flags: mem_* and mmap_* valid")?;
        let (_, upper) = mbcheck::mem_lower_upper();
        r.check_eq(dword_ptr(ebx + 8), upper, "mem_upper (KiB)")?;
        r.check_eq(dword_ptr(ebx + 20), 0, "mods_count")?;
        r.mov(esi, dword_ptr(ebx + 16))?;
        r.check_suffix(esi, &format!("mb1-aout.bin {APPEND}"), "command line")?;
        r.print("boot information: memory, no modules, command line \"")?;
        r.print_at(esi)?;
        r.print("\"\n")?;
        r.pass("mb1-aout")
    })?;
    let load_end = mark + MARK.len() as u64;
    let mut k = Kernel::new(false, Boot::Mb1Aout { load_end }, code);
    k.chunks.push((mark, MARK.to_vec()));
    k.chunks.push((mark + 16, TRAILER.to_vec()));
    Ok(k.build())
}
