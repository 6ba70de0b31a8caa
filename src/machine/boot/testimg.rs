//! Small boot images built by the tests, byte by byte: ELF32/ELF64 executables, multiboot 1
//! kernels (ELF and a.out kludge), multiboot 2 kernels with header tags, and a handmade
//! bzImage (boot sector, setup sectors with a setup header, protected-mode payload); plus
//! the test machine's memory and e820 map.

use super::layout::{e820, put16, put32, put64, E820Entry};
use super::multiboot1::{self, flags as mb1_flags, header as mb1h};
use super::multiboot2;
use super::zeropage::{self, hdr};
use super::BootEnv;
use crate::mem::PhysMem;

/// RAM of the test machine.
pub(crate) const TEST_RAM: u64 = 64 << 20;

/// Guest memory of the test machine.
pub(crate) fn test_mem() -> PhysMem {
    PhysMem::new(TEST_RAM).expect("64 MiB of test RAM")
}

/// A PC memory map: conventional memory, the EBDA/VGA/BIOS hole, RAM above 1 MiB, and the
/// APIC/BIOS area below 4 GiB.
pub(crate) fn test_e820() -> Vec<E820Entry> {
    vec![
        E820Entry::new(0, 0x9_FC00, e820::RAM),
        E820Entry::new(0x9_FC00, 0x10_0000 - 0x9_FC00, e820::RESERVED),
        E820Entry::new(0x10_0000, TEST_RAM - 0x10_0000, e820::RAM),
        E820Entry::new(0xFEC0_0000, 0x1_0000_0000 - 0xFEC0_0000, e820::RESERVED),
    ]
}

/// Loads `img` through the top-level loader into `mem`, on the test machine's memory map.
pub(crate) fn load_on_test_machine(
    mem: &mut PhysMem,
    img: &[u8],
    opts: &super::BootOptions,
) -> Result<super::BootPlan, super::Error> {
    let map = test_e820();
    let mut env = test_env(mem, &map);
    super::load(&mut env, std::path::Path::new("kernel"), img, opts)
}

/// A boot environment with no ACPI and no display.
pub(crate) fn test_env<'a>(mem: &'a mut PhysMem, map: &'a [E820Entry]) -> BootEnv<'a> {
    BootEnv {
        mem,
        e820: map,
        acpi_rsdp: None,
        framebuffer: None,
    }
}

/// `len` bytes of guest memory at `addr`.
pub(crate) fn read(mem: &PhysMem, addr: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    mem.read_bytes(addr, &mut v);
    v
}

/// The C string at `addr`.
pub(crate) fn cstr(mem: &PhysMem, addr: u32) -> String {
    let mut s = Vec::new();
    let mut a = addr as u64;
    while let Some(b) = mem.read_u8(a).filter(|&b| b != 0) {
        s.push(b);
        a += 1;
    }
    String::from_utf8(s).expect("UTF-8 string")
}

/// `img` with `bytes` written at `off`.
pub(crate) fn patch(mut img: Vec<u8>, off: usize, bytes: &[u8]) -> Vec<u8> {
    img[off..off + bytes.len()].copy_from_slice(bytes);
    img
}

/// Writes an RSDP of `revision` (0: ACPI 1.0, 20 bytes; 2: 36 bytes) at `addr`.
pub(crate) fn write_rsdp(mem: &mut PhysMem, addr: u64, revision: u8) {
    let mut r = vec![0u8; 36];
    r[..8].copy_from_slice(b"RSD PTR ");
    r[9..15].copy_from_slice(b"VX86  ");
    r[15] = revision;
    put32(&mut r, 16, 0xE_1000);
    put32(&mut r, 20, 36);
    put64(&mut r, 24, 0xE_2000);
    let sum = |b: &[u8]| b.iter().fold(0u8, |a, &x| a.wrapping_add(x));
    r[8] = 0u8.wrapping_sub(sum(&r[..20]));
    r[32] = 0u8.wrapping_sub(sum(&r));
    mem.write_bytes(addr, &r).unwrap();
}

/// Code that stores EAX at 0x500, EBX at 0x504, ESI at 0x508 and CS at 0x50C, then halts;
/// the same bytes run in 32-bit and 64-bit mode (absolute addresses through a SIB byte).
pub(crate) const PROBE: [u8; 31] = [
    0x89, 0x04, 0x25, 0x00, 0x05, 0x00, 0x00, // mov [0x500], eax
    0x89, 0x1C, 0x25, 0x04, 0x05, 0x00, 0x00, // mov [0x504], ebx
    0x89, 0x34, 0x25, 0x08, 0x05, 0x00, 0x00, // mov [0x508], esi
    0x8C, 0x0C, 0x25, 0x0C, 0x05, 0x00, 0x00, // mov [0x50c], cs
    0xF4, // hlt
    0xEB, 0xFD, // jmp back to hlt
];

/// The code of the test ELF images' first segment: four NOPs, then (at the entry point,
/// offset 4) [`PROBE`].
pub(crate) const ELF_CODE: [u8; 64] = {
    let mut c = [0u8; 64];
    let mut i = 0;
    while i < 4 {
        c[i] = 0x90;
        i += 1;
    }
    while i < 4 + PROBE.len() {
        c[i] = PROBE[i - 4];
        i += 1;
    }
    c
};

/// The data bytes of the test ELF32 image's second segment.
pub(crate) const ELF_DATA: [u8; 16] = *b"vx86 test data!\0";

/// An ELF32 kernel linked at 0xC0100000 and loaded at 1 MiB: segment 0 (64 bytes of code
/// from file offset 0x200 at 0x100000), segment 1 (16 bytes of data from 0x1000 at
/// 0x101000, 0x30 in memory: 0x20 of bss); entry 0xC0100004; 8 KiB long.
pub(crate) fn elf32_image() -> Vec<u8> {
    let mut b = vec![0u8; 8192];
    b[..7].copy_from_slice(&[0x7F, b'E', b'L', b'F', 1, 1, 1]);
    put16(&mut b, 16, 2);
    put16(&mut b, 18, 3);
    put32(&mut b, 20, 1);
    put32(&mut b, 24, 0xC010_0004);
    put32(&mut b, 28, 52);
    put16(&mut b, 40, 52);
    put16(&mut b, 42, 32);
    put16(&mut b, 44, 2);
    let segs = [
        (
            0x200u32,
            0xC010_0000u32,
            0x10_0000u32,
            0x40u32,
            0x40u32,
            5u32,
        ),
        (0x1000, 0xC010_1000, 0x10_1000, 0x10, 0x30, 6),
    ];
    for (i, (off, vaddr, paddr, filesz, memsz, flags)) in segs.into_iter().enumerate() {
        let ph = 52 + 32 * i;
        for (f, v) in [1, off, vaddr, paddr, filesz, memsz, flags, 0x1000]
            .into_iter()
            .enumerate()
        {
            put32(&mut b, ph + 4 * f, v);
        }
    }
    b[0x200..0x240].copy_from_slice(&ELF_CODE);
    b[0x1000..0x1010].copy_from_slice(&ELF_DATA);
    b
}

/// An ELF64 kernel: one segment of 64 bytes of code (0x100 in memory) at 2 MiB, entry there.
pub(crate) fn elf64_image() -> Vec<u8> {
    let mut b = vec![0u8; 8192];
    b[..7].copy_from_slice(&[0x7F, b'E', b'L', b'F', 2, 1, 1]);
    put16(&mut b, 16, 2);
    put16(&mut b, 18, 62);
    put32(&mut b, 20, 1);
    put64(&mut b, 24, 0x20_0000);
    put64(&mut b, 32, 64);
    put16(&mut b, 52, 64);
    put16(&mut b, 54, 56);
    put16(&mut b, 56, 1);
    let ph = 64;
    put32(&mut b, ph, 1);
    put32(&mut b, ph + 4, 5);
    put64(&mut b, ph + 8, 0x200);
    put64(&mut b, ph + 16, 0x20_0000);
    put64(&mut b, ph + 24, 0x20_0000);
    put64(&mut b, ph + 32, 0x40);
    put64(&mut b, ph + 40, 0x100);
    put64(&mut b, ph + 48, 0x1000);
    b[0x200..0x240].copy_from_slice(&ELF_CODE);
    b
}

/// A multiboot 1 header: magic, `flags`, checksum.
pub(crate) fn mb1_header(flags: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    put32(&mut h, 0, multiboot1::HEADER_MAGIC);
    put32(&mut h, 4, flags);
    put32(
        &mut h,
        8,
        0u32.wrapping_sub(multiboot1::HEADER_MAGIC.wrapping_add(flags)),
    );
    h
}

/// `img` with the multiboot 1 header at `at` given `flags` (and a matching checksum).
pub(crate) fn with_mb1_flags(img: &[u8], at: usize, flags: u32) -> Vec<u8> {
    patch(img.to_vec(), at, &mb1_header(flags))
}

/// Where [`mb1_elf_image`] has its header.
pub(crate) const MB1_ELF_HEADER: usize = 0x400;

/// [`elf32_image`] with a multiboot 1 header (page-aligned modules, memory information).
pub(crate) fn mb1_elf_image() -> Vec<u8> {
    with_mb1_flags(
        &elf32_image(),
        MB1_ELF_HEADER,
        mb1_flags::PAGE_ALIGN | mb1_flags::MEMORY_INFO,
    )
}

/// Where [`mb1_aout_image`] has its header.
pub(crate) const MB1_AOUT_HEADER: usize = 0x100;

/// An a.out-kludge multiboot 1 kernel of 12 KiB: the whole file loads at 1 MiB (header at
/// 0x100100), 4 KiB of bss follow (bss_end 0x104000), entry 0x100040.
pub(crate) fn mb1_aout_image() -> Vec<u8> {
    let mut b: Vec<u8> = (0..0x3000u32).map(|i| (i * 7 % 251) as u8).collect();
    let h = MB1_AOUT_HEADER;
    b[h..h + mb1h::SIZE].fill(0);
    b[h..h + 12].copy_from_slice(&mb1_header(
        mb1_flags::PAGE_ALIGN | mb1_flags::MEMORY_INFO | mb1_flags::AOUT_KLUDGE,
    ));
    put32(&mut b, h + mb1h::HEADER_ADDR, 0x10_0100);
    put32(&mut b, h + mb1h::LOAD_ADDR, 0x10_0000);
    put32(&mut b, h + mb1h::LOAD_END_ADDR, 0x10_3000);
    put32(&mut b, h + mb1h::BSS_END_ADDR, 0x10_4000);
    put32(&mut b, h + mb1h::ENTRY_ADDR, 0x10_0040);
    b
}

/// A multiboot 2 header tag: type, flags, size, then `words`, padded to 8 bytes.
pub(crate) fn mb2_tag(ty: u16, flags: u16, words: &[u32]) -> Vec<u8> {
    let size = 8 + 4 * words.len();
    let mut t = vec![0u8; size.next_multiple_of(8)];
    put16(&mut t, 0, ty);
    put16(&mut t, 2, flags);
    put32(&mut t, 4, size as u32);
    for (i, w) in words.iter().enumerate() {
        put32(&mut t, 8 + 4 * i, *w);
    }
    t
}

/// Where the multiboot 2 test images have their header.
pub(crate) const MB2_HEADER: usize = 0x100;

/// A multiboot 2 header with `tags` and the end tag, checksum fixed.
fn mb2_header(tags: &[u8]) -> Vec<u8> {
    let len = 16 + tags.len() + 8;
    let mut h = vec![0u8; 16];
    put32(&mut h, 0, multiboot2::HEADER_MAGIC);
    put32(&mut h, 4, 0);
    put32(&mut h, 8, len as u32);
    h.extend_from_slice(tags);
    h.extend_from_slice(&mb2_tag(0, 0, &[]));
    fix_mb2_checksum(&mut h);
    h
}

fn fix_mb2_checksum(h: &mut [u8]) {
    let w = |o| u32::from_le_bytes(h[o..o + 4].try_into().unwrap());
    let sum = w(0).wrapping_add(w(4)).wrapping_add(w(8));
    put32(h, 12, 0u32.wrapping_sub(sum));
}

/// [`elf32_image`] with a multiboot 2 header holding `tags` at 0x100.
pub(crate) fn mb2_image(tags: &[u8]) -> Vec<u8> {
    let h = mb2_header(tags);
    patch(elf32_image(), MB2_HEADER, &h)
}

/// [`mb2_image`] with its fixed header edited by `f` (checksum fixed afterwards).
pub(crate) fn mb2_with_header(tags: &[u8], f: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut img = mb2_image(tags);
    let h = &mut img[MB2_HEADER..MB2_HEADER + 16];
    f(h);
    fix_mb2_checksum(h);
    img
}

/// A non-ELF image of `len` bytes (a byte pattern) with a multiboot 2 header at 0x100.
pub(crate) fn mb2_image_with(tags: &[u8], len: usize) -> Vec<u8> {
    let b: Vec<u8> = (0..len as u32).map(|i| (i * 13 % 253) as u8).collect();
    patch(b, MB2_HEADER, &mb2_header(tags))
}

/// Address (whole file at 1 MiB, bss to 0x103000), entry (0x100040) and relocatable tags.
pub(crate) fn mb2_aout_tags() -> Vec<u8> {
    use multiboot2::tag;
    [
        mb2_tag(
            tag::ADDRESS,
            0,
            &[0x10_0100, 0x10_0000, 0x10_2000, 0x10_3000],
        ),
        mb2_tag(tag::ENTRY_ADDRESS, 0, &[0x10_0040]),
        mb2_tag(tag::RELOCATABLE, 0, &[0x10_0000, 0x100_0000, 0x1000, 0]),
    ]
    .concat()
}

/// [`elf64_image`] with a multiboot 2 header.
pub(crate) fn mb2_elf64_image() -> Vec<u8> {
    patch(elf64_image(), MB2_HEADER, &mb2_header(&[]))
}

/// Setup sectors of [`bzimage`].
pub(crate) const BZ_SETUP_SECTS: usize = 4;
/// `init_size` of [`bzimage`].
pub(crate) const BZ_INIT_SIZE: u64 = 0x80_0000;

/// A bzImage-format kernel, boot protocol 2.15: a boot sector and 4 setup sectors holding
/// the setup header, then 18 KiB of "protected-mode kernel" (a byte pattern with a 4 KiB
/// "payload" at 0x200). Relocatable (2 MiB alignment, pref_address 16 MiB, init_size 8 MiB),
/// with the 64-bit entry (XLF_KERNEL_64).
pub(crate) fn bzimage() -> Vec<u8> {
    let setup = (BZ_SETUP_SECTS + 1) * 512;
    let pm_len = 0x4800usize;
    let mut b = vec![0u8; setup];
    b.extend((0..pm_len as u32).map(|i| (i * 31 % 255) as u8));
    b[hdr::SETUP_SECTS] = BZ_SETUP_SECTS as u8;
    put32(&mut b, hdr::SYSSIZE, (pm_len / 16) as u32);
    put16(&mut b, hdr::VID_MODE, 0xFFFF);
    put16(&mut b, hdr::BOOT_FLAG, 0xAA55);
    // jmp short to the end of the header: 0x202 + 0x6A = 0x26C.
    b[hdr::JUMP] = 0xEB;
    b[hdr::JUMP + 1] = 0x6A;
    b[hdr::HEADER..hdr::HEADER + 4].copy_from_slice(b"HdrS");
    put16(&mut b, hdr::VERSION, 0x020F);
    b[hdr::LOADFLAGS] = zeropage::LOADED_HIGH;
    put32(&mut b, hdr::CODE32_START, 0x10_0000);
    put32(&mut b, hdr::INITRD_ADDR_MAX, 0x37FF_FFFF);
    put32(&mut b, hdr::KERNEL_ALIGNMENT, 0x20_0000);
    b[hdr::RELOCATABLE_KERNEL] = 1;
    b[hdr::MIN_ALIGNMENT] = 21;
    put16(&mut b, hdr::XLOADFLAGS, zeropage::XLF_KERNEL_64 | 2);
    put32(&mut b, hdr::CMDLINE_SIZE, 2047);
    put32(&mut b, hdr::PAYLOAD_OFFSET, 0x200);
    put32(&mut b, hdr::PAYLOAD_LENGTH, 0x1000);
    put64(&mut b, hdr::PREF_ADDRESS, 0x100_0000);
    put32(&mut b, hdr::INIT_SIZE, BZ_INIT_SIZE as u32);
    b
}
