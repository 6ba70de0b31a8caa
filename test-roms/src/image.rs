//! Image writers: ELF32/ELF64 executables with program headers, multiboot 1 and 2 headers,
//! the a.out kludge's raw layout, and a handmade Linux bzImage.
//!
//! A kernel is a flat memory image from [`BASE`]: the first 0x200 bytes hold the headers
//! (the ELF header and program headers at 0, the multiboot header at [`MB_HEADER`]), code
//! and data follow at their physical addresses. One `PT_LOAD` segment covers all of it and
//! the bss up to [`END`]; further segments may follow in the file.

use super::rt::{BASE, CODE, END};

/// Offset of the multiboot header in the image (within the first 8 KiB, 8-byte aligned).
pub const MB_HEADER: usize = 0x100;
/// The multiboot 1 header magic.
pub const MB1_MAGIC: u32 = 0x1BAD_B002;
/// The multiboot 2 header magic.
pub const MB2_MAGIC: u32 = 0xE852_50D6;

/// How a kernel asks to be booted.
pub enum Boot {
    /// No boot header: a plain ELF.
    Plain,
    /// A multiboot 1 header with these flags (no a.out kludge: the loader reads the ELF).
    Mb1 {
        /// Header flags (bits 0–15: requirements).
        flags: u32,
    },
    /// A multiboot 1 header with the a.out kludge (flags bit 16); no ELF header at all.
    Mb1Aout {
        /// load_end_addr (0: the whole file).
        load_end: u64,
    },
    /// A multiboot 2 header with these tags (type, flags, payload); the end tag is added.
    Mb2(Vec<(u16, u16, Vec<u8>)>),
}

/// A further `PT_LOAD` segment.
pub struct Segment {
    /// Virtual address (`p_vaddr`).
    pub vaddr: u64,
    /// Physical address (`p_paddr`): where the loader puts it.
    pub paddr: u64,
    /// File contents.
    pub data: Vec<u8>,
    /// Bytes in memory (the rest zeroed).
    pub memsz: u64,
}

/// A kernel image to write.
pub struct Kernel {
    /// ELF class: 64-bit (EM_X86_64) or 32-bit (EM_386).
    pub elf64: bool,
    /// The boot header.
    pub boot: Boot,
    /// The physical entry point.
    pub entry: u64,
    /// Code and data: (physical address ≥ [`CODE`], bytes), in address order.
    pub chunks: Vec<(u64, Vec<u8>)>,
    /// The main segment's `p_vaddr - p_paddr` (a higher-half kernel); `e_entry` is virtual.
    pub vaddr_offset: u64,
    /// Further segments.
    pub extra: Vec<Segment>,
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

fn put16(b: &mut [u8], off: usize, v: u16) {
    put(b, off, &v.to_le_bytes());
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    put(b, off, &v.to_le_bytes());
}

fn put64(b: &mut [u8], off: usize, v: u64) {
    put(b, off, &v.to_le_bytes());
}

impl Kernel {
    /// A kernel of one code chunk at [`CODE`], entered at its start.
    pub fn new(elf64: bool, boot: Boot, code: Vec<u8>) -> Kernel {
        Kernel {
            elf64,
            boot,
            entry: CODE,
            chunks: vec![(CODE, code)],
            vaddr_offset: 0,
            extra: Vec::new(),
        }
    }

    /// The file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut img = vec![0u8; (CODE - BASE) as usize];
        for (addr, bytes) in &self.chunks {
            let off = (addr - BASE) as usize;
            assert!(
                off >= img.len(),
                "chunk at {addr:#x} overlaps the previous one"
            );
            img.resize(off, 0);
            img.extend_from_slice(bytes);
        }
        assert!(
            BASE + img.len() as u64 <= super::rt::BSS,
            "the image runs into the bss"
        );
        let image_len = img.len();
        match &self.boot {
            Boot::Plain => {}
            Boot::Mb1 { flags } => put(&mut img, MB_HEADER, &mb1_header(*flags)),
            Boot::Mb1Aout { load_end } => {
                // Multiboot 1 §3.1.3: the address fields follow magic, flags and checksum.
                let mut h = mb1_header(1 << 16 | 1 << 1);
                h.extend_from_slice(&dwords(&[
                    (BASE + MB_HEADER as u64) as u32, // header_addr
                    BASE as u32,                      // load_addr
                    *load_end as u32,                 // load_end_addr (0: whole file)
                    END as u32,                       // bss_end_addr
                    self.entry as u32,                // entry_addr
                ]));
                put(&mut img, MB_HEADER, &h);
                return img;
            }
            Boot::Mb2(tags) => {
                let h = mb2_header(tags);
                assert!(
                    MB_HEADER + h.len() <= (CODE - BASE) as usize,
                    "header too long"
                );
                put(&mut img, MB_HEADER, &h);
            }
        }
        self.write_elf(&mut img, image_len);
        img
    }

    /// Writes the ELF header and program headers at the start of `img` and appends the
    /// extra segments.
    fn write_elf(&self, img: &mut Vec<u8>, image_len: usize) {
        let (ehsize, phentsize) = if self.elf64 { (64, 56) } else { (52, 32) };
        let phnum = 1 + self.extra.len();
        assert!(
            ehsize + phnum * phentsize <= MB_HEADER,
            "too many program headers"
        );
        let mut segs = vec![(
            0usize,
            BASE + self.vaddr_offset,
            BASE,
            image_len,
            END - BASE,
        )];
        for s in &self.extra {
            // Keep p_offset congruent to p_vaddr modulo the 16-byte alignment.
            while img.len() % 16 != (s.vaddr % 16) as usize {
                img.push(0);
            }
            segs.push((img.len(), s.vaddr, s.paddr, s.data.len(), s.memsz));
            img.extend_from_slice(&s.data);
        }
        img[..4].copy_from_slice(b"\x7FELF");
        img[4] = if self.elf64 { 2 } else { 1 }; // EI_CLASS
        img[5] = 1; // little-endian
        img[6] = 1; // EV_CURRENT
        put16(img, 16, 2); // ET_EXEC
        put16(img, 18, if self.elf64 { 62 } else { 3 });
        put32(img, 20, 1);
        let entry = self.entry + self.vaddr_offset;
        if self.elf64 {
            put64(img, 24, entry);
            put64(img, 32, ehsize as u64); // e_phoff
            put16(img, 52, ehsize as u16);
            put16(img, 54, phentsize as u16);
            put16(img, 56, phnum as u16);
        } else {
            put32(img, 24, entry as u32);
            put32(img, 28, ehsize as u32);
            put16(img, 40, ehsize as u16);
            put16(img, 42, phentsize as u16);
            put16(img, 44, phnum as u16);
        }
        for (i, &(offset, vaddr, paddr, filesz, memsz)) in segs.iter().enumerate() {
            let p = ehsize + i * phentsize;
            let align = if i == 0 { 0x1000 } else { 16 };
            put32(img, p, 1); // PT_LOAD
            if self.elf64 {
                put32(img, p + 4, 7); // RWX
                put64(img, p + 8, offset as u64);
                put64(img, p + 16, vaddr);
                put64(img, p + 24, paddr);
                put64(img, p + 32, filesz as u64);
                put64(img, p + 40, memsz);
                put64(img, p + 48, align);
            } else {
                put32(img, p + 4, offset as u32);
                put32(img, p + 8, vaddr as u32);
                put32(img, p + 12, paddr as u32);
                put32(img, p + 16, filesz as u32);
                put32(img, p + 20, memsz as u32);
                put32(img, p + 24, 7);
                put32(img, p + 28, align as u32);
            }
        }
    }
}

/// A multiboot 1 header (Multiboot Specification 0.6.96 §3.1.1): magic, flags, checksum.
pub fn mb1_header(flags: u32) -> Vec<u8> {
    let mut h = Vec::new();
    for v in [
        MB1_MAGIC,
        flags,
        0u32.wrapping_sub(MB1_MAGIC).wrapping_sub(flags),
    ] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h
}

/// A multiboot 2 header (Multiboot2 Specification §3.1) for i386 with `tags` and the end tag,
/// each tag 8-byte aligned.
pub fn mb2_header(tags: &[(u16, u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (ty, flags, payload) in tags.iter().chain([&(0, 0, Vec::new())]) {
        body.extend_from_slice(&ty.to_le_bytes());
        body.extend_from_slice(&flags.to_le_bytes());
        body.extend_from_slice(&(8 + payload.len() as u32).to_le_bytes());
        body.extend_from_slice(payload);
        while body.len() % 8 != 0 {
            body.push(0);
        }
    }
    let len = 16 + body.len() as u32;
    let mut h = Vec::new();
    let sum = 0u32.wrapping_sub(MB2_MAGIC).wrapping_sub(len);
    for v in [MB2_MAGIC, 0, len, sum] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&body);
    h
}

/// Little-endian dwords as bytes (tag payloads).
pub fn dwords(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|d| d.to_le_bytes()).collect()
}

/// Setup header fields of the handmade bzImage (Documentation/arch/x86/boot.rst).
pub struct BzHeader {
    /// Boot protocol version.
    pub version: u16,
    /// Highest address the initrd may end at (its last byte).
    pub initrd_addr_max: u32,
    /// Maximum command line length.
    pub cmdline_size: u32,
    /// Memory the kernel needs from its load address (reserves the bss).
    pub init_size: u32,
    /// The kernel version string, in the setup sectors.
    pub version_string: &'static str,
}

/// Setup sectors after the boot sector.
pub const BZ_SETUP_SECTS: usize = 1;

/// A bzImage: boot sector and `BZ_SETUP_SECTS` setup sectors holding the setup header, then
/// the protected-mode kernel `pm` (loaded at 1 MiB and entered at its start by the 32-bit
/// boot protocol).
pub fn bzimage(h: &BzHeader, pm: &[u8]) -> Vec<u8> {
    let setup = (BZ_SETUP_SECTS + 1) * 512;
    // syssize counts 16-byte paragraphs: pad the kernel to a whole number of them.
    let mut pm = pm.to_vec();
    pm.resize(pm.len().next_multiple_of(16), 0);
    let mut b = vec![0u8; setup];
    // The boot sector's legacy message area is unused: a direct-boot loader never runs it.
    b[0x1F1] = BZ_SETUP_SECTS as u8;
    put32(&mut b, 0x1F4, pm.len().div_ceil(16) as u32); // syssize
    put16(&mut b, 0x1FE, 0xAA55);
    b[0x200] = 0xEB; // jmp short over the header, whose end it gives
    b[0x201] = (0x26C - 0x202) as u8;
    put(&mut b, 0x202, b"HdrS");
    put16(&mut b, 0x206, h.version);
    // kernel_version: offset from 0x200 of a NUL-terminated string in the setup.
    let vs = 0x300;
    put(&mut b, vs, h.version_string.as_bytes());
    put16(&mut b, 0x20E, (vs - 0x200) as u16);
    b[0x211] = 0x01; // loadflags: LOADED_HIGH
    put32(&mut b, 0x214, BASE as u32); // code32_start
    put32(&mut b, 0x22C, h.initrd_addr_max);
    put32(&mut b, 0x230, 0x20_0000); // kernel_alignment
    b[0x234] = 0; // not relocatable: loaded at 1 MiB
    put32(&mut b, 0x238, h.cmdline_size);
    put64(&mut b, 0x258, BASE); // pref_address
    put32(&mut b, 0x260, h.init_size);
    b.extend_from_slice(&pm);
    b
}
