//! QEMU's firmware configuration device, fw_cfg (QEMU docs/specs/fw_cfg.rst), on its x86
//! ports: firmware and test kernels written for QEMU read the CPU count, the RAM size, the
//! boot order, the kernel/initrd/cmdline items and the `etc/…` files through it.
//!
//! - Selector, port 0x510: a 16-bit write selects an item and rewinds its offset. Bit 14
//!   (the old write channel) is ignored; bit 15 selects the architecture's own items.
//! - Data, port 0x511: an 8-bit read returns the selected item's next byte (0 past its end)
//!   and advances. 8-bit writes are ignored (QEMU dropped data-port writes in v2.4). As in
//!   QEMU, the two ports decode together: any 8-bit read of either is a data read, any
//!   16-bit write to either selects; other widths are invalid accesses (reads give 0).
//! - DMA address, ports 0x514 (high 32 bits) and 0x518 (low 32 bits), big-endian: writing
//!   the low half starts a transfer described by the `FWCfgDmaAccess` structure (all fields
//!   big-endian: u32 control, u32 length, u64 address) at that guest address. Control bits:
//!   select (the item in the upper 16 bits), read, skip, write; on completion the device
//!   writes the control word back as 0, or with the error bit set. Reading the DMA ports
//!   gives the signature "QEMU CFG".
//!
//! Numeric items are little-endian (`fw_cfg_add_i16/i32/i64`); the file directory (item
//! 0x19) is big-endian: a u32 count, then per file {u32 size, u16 select, u16 reserved,
//! char name\[56\]}, sorted by name as QEMU sorts it, files at selectors 0x20 onwards.

use crate::cpu::bus::ones;
use std::collections::BTreeMap;

use super::bus::{DevCtx, PortIo};

/// The selector register.
pub const SELECTOR_PORT: u16 = 0x510;
/// The data register.
pub const DATA_PORT: u16 = 0x511;
/// The DMA address register, high half (the low half is at +4).
pub const DMA_PORT: u16 = 0x514;
/// Ports of the DMA address register: 0x514..0x51C.
pub const DMA_PORT_COUNT: u16 = 8;

/// Item selectors (QEMU include/standard-headers/linux/qemu_fw_cfg.h).
pub mod key {
    /// "QEMU".
    pub const SIGNATURE: u16 = 0x00;
    /// Feature bits: 1 traditional interface, 2 DMA.
    pub const ID: u16 = 0x01;
    /// The machine's UUID (16 bytes).
    pub const UUID: u16 = 0x02;
    /// RAM size in bytes (u64).
    pub const RAM_SIZE: u16 = 0x03;
    /// Nonzero without a graphical display (u16).
    pub const NOGRAPHIC: u16 = 0x04;
    /// Number of CPUs (u16).
    pub const NB_CPUS: u16 = 0x05;
    /// Machine ID (u32).
    pub const MACHINE_ID: u16 = 0x06;
    /// Where the firmware should put the kernel (u32).
    pub const KERNEL_ADDR: u16 = 0x07;
    /// Size of the kernel (u32).
    pub const KERNEL_SIZE: u16 = 0x08;
    /// Legacy command-line address (u32).
    pub const KERNEL_CMDLINE: u16 = 0x09;
    /// Where the firmware should put the initrd (u32).
    pub const INITRD_ADDR: u16 = 0x0A;
    /// Size of the initrd (u32).
    pub const INITRD_SIZE: u16 = 0x0B;
    /// Boot device (u16).
    pub const BOOT_DEVICE: u16 = 0x0C;
    /// NUMA information.
    pub const NUMA: u16 = 0x0D;
    /// Whether to show the boot menu (u16).
    pub const BOOT_MENU: u16 = 0x0E;
    /// Maximum number of CPUs (u16).
    pub const MAX_CPUS: u16 = 0x0F;
    /// Kernel entry point (u32).
    pub const KERNEL_ENTRY: u16 = 0x10;
    /// The kernel's bytes.
    pub const KERNEL_DATA: u16 = 0x11;
    /// The initrd's bytes.
    pub const INITRD_DATA: u16 = 0x12;
    /// Where the firmware should put the command line (u32).
    pub const CMDLINE_ADDR: u16 = 0x13;
    /// Size of the command line, NUL included (u32).
    pub const CMDLINE_SIZE: u16 = 0x14;
    /// The command line, NUL-terminated.
    pub const CMDLINE_DATA: u16 = 0x15;
    /// Where the firmware should put the Linux setup (u32).
    pub const SETUP_ADDR: u16 = 0x16;
    /// Size of the Linux setup (u32).
    pub const SETUP_SIZE: u16 = 0x17;
    /// The Linux setup's bytes.
    pub const SETUP_DATA: u16 = 0x18;
    /// The file directory.
    pub const FILE_DIR: u16 = 0x19;
    /// The first file's selector.
    pub const FILE_FIRST: u16 = 0x20;
    /// Selector bit of the old write channel (ignored).
    pub const WRITE_CHANNEL: u16 = 0x4000;
    /// Selector bit of the architecture's own items.
    pub const ARCH_LOCAL: u16 = 0x8000;
    /// x86: ACPI tables (legacy).
    pub const ACPI_TABLES: u16 = 0x8000;
    /// x86: SMBIOS entries (legacy).
    pub const SMBIOS_ENTRIES: u16 = 0x8001;
    /// x86: IRQ0 is routed to GSI 2 (u32).
    pub const IRQ0_OVERRIDE: u16 = 0x8002;
    /// x86: the legacy e820 table of reserved ranges (u32 count, 20-byte entries).
    pub const E820_TABLE: u16 = 0x8003;
    /// x86: HPET description.
    pub const HPET: u16 = 0x8004;
    /// No item.
    pub const INVALID: u16 = 0xFFFF;
}

/// `FWCfgDmaAccess.control` bits.
pub mod dma {
    /// Set by the device when the transfer failed.
    pub const ERROR: u32 = 1 << 0;
    /// Copy item bytes to guest memory.
    pub const READ: u32 = 1 << 1;
    /// Advance the item offset.
    pub const SKIP: u32 = 1 << 2;
    /// Select the item in bits 31:16 first.
    pub const SELECT: u32 = 1 << 3;
    /// Copy guest memory into the item (no item here is writable: an error).
    pub const WRITE: u32 = 1 << 4;
    /// What the DMA address register reads as: "QEMU CFG".
    pub const SIGNATURE: [u8; 8] = *b"QEMU CFG";
    /// Size of `FWCfgDmaAccess`.
    pub const ACCESS_SIZE: usize = 16;
}

/// Bytes of a file name in the directory, NUL included.
pub const FILE_NAME_LEN: usize = 56;
/// Bytes of one directory entry.
pub const FILE_ENTRY_LEN: usize = 64;
/// `ID` feature bit: the traditional port interface.
pub const ID_TRADITIONAL: u32 = 1 << 0;
/// `ID` feature bit: the DMA interface.
pub const ID_DMA: u32 = 1 << 1;

/// The fw_cfg device.
#[derive(Debug)]
pub struct FwCfg {
    /// Items by selector (the write-channel bit cleared), the file directory included.
    items: BTreeMap<u16, Vec<u8>>,
    /// Files, sorted by name; file `i` has selector `FILE_FIRST + i`.
    files: Vec<(String, Vec<u8>)>,
    /// The selected item.
    selected: u16,
    /// The next byte of the selected item to read.
    offset: usize,
    /// The DMA address being written (high half first).
    dma_addr: u64,
}

impl FwCfg {
    /// A device reporting `cpus` CPUs (also the maximum) and `ram` bytes of RAM, with DMA,
    /// no boot menu and an empty file directory; the signature is selected.
    pub fn new(cpus: u16, ram: u64) -> FwCfg {
        let mut f = FwCfg {
            items: BTreeMap::new(),
            files: Vec::new(),
            selected: key::SIGNATURE,
            offset: 0,
            dma_addr: 0,
        };
        f.set_item(key::SIGNATURE, b"QEMU".to_vec());
        f.set_u32(key::ID, ID_TRADITIONAL | ID_DMA);
        f.set_item(key::UUID, vec![0; 16]);
        f.set_u64(key::RAM_SIZE, ram);
        f.set_u16(key::NOGRAPHIC, 0);
        f.set_u16(key::NB_CPUS, cpus);
        f.set_u16(key::MAX_CPUS, cpus);
        f.set_u32(key::MACHINE_ID, 0);
        f.set_u16(key::BOOT_MENU, 0);
        f.rebuild_dir();
        f
    }

    /// Sets item `key` to `bytes` (the write-channel bit of `key` is ignored).
    pub fn set_item(&mut self, key: u16, bytes: Vec<u8>) {
        self.items.insert(key & !key::WRITE_CHANNEL, bytes);
    }

    /// Sets item `key` to a little-endian u16, as QEMU's `fw_cfg_add_i16`.
    pub fn set_u16(&mut self, key: u16, v: u16) {
        self.set_item(key, v.to_le_bytes().to_vec());
    }

    /// Sets item `key` to a little-endian u32.
    pub fn set_u32(&mut self, key: u16, v: u32) {
        self.set_item(key, v.to_le_bytes().to_vec());
    }

    /// Sets item `key` to a little-endian u64.
    pub fn set_u64(&mut self, key: u16, v: u64) {
        self.set_item(key, v.to_le_bytes().to_vec());
    }

    /// Sets one of the address/size/data triples QEMU's `-kernel` fills for firmware that
    /// loads the kernel itself: e.g. `(KERNEL_ADDR, KERNEL_SIZE, KERNEL_DATA)`,
    /// `(INITRD_ADDR, …)`, `(SETUP_ADDR, …)`.
    pub fn set_blob(&mut self, keys: (u16, u16, u16), addr: u32, bytes: Vec<u8>) {
        self.set_u32(keys.0, addr);
        self.set_u32(keys.1, bytes.len() as u32);
        self.set_item(keys.2, bytes);
    }

    /// Sets the command-line items: address, size (NUL included) and the NUL-terminated
    /// string.
    pub fn set_cmdline(&mut self, addr: u32, cmdline: &str) {
        let mut s = cmdline.as_bytes().to_vec();
        s.push(0);
        self.set_blob(
            (key::CMDLINE_ADDR, key::CMDLINE_SIZE, key::CMDLINE_DATA),
            addr,
            s,
        );
    }

    /// Adds (or replaces) the file `name` (e.g. "etc/e820", "bootorder"). Names hold at
    /// most 55 bytes and no NUL. The directory stays sorted by name, so selectors are
    /// known once every file is added ([`FwCfg::file_selector`]).
    pub fn add_file(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), String> {
        if name.is_empty() || name.len() >= FILE_NAME_LEN || name.contains('\0') {
            return Err(format!(
                "fw_cfg file name {name:?} must have 1 to {} bytes and no NUL",
                FILE_NAME_LEN - 1
            ));
        }
        match self.files.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => self.files[i].1 = bytes,
            Err(i) => {
                if self.files.len() >= (key::WRITE_CHANNEL - key::FILE_FIRST) as usize {
                    return Err("fw_cfg has no selector left for another file".into());
                }
                self.files.insert(i, (name.to_string(), bytes));
            }
        }
        self.rebuild_dir();
        Ok(())
    }

    /// The selector of file `name`.
    pub fn file_selector(&self, name: &str) -> Option<u16> {
        self.files
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| key::FILE_FIRST + i as u16)
    }

    /// The device reset: the signature is selected (QEMU's `fw_cfg_reset`) and a pending
    /// DMA address is dropped.
    pub fn reset(&mut self) {
        self.select(key::SIGNATURE);
        self.dma_addr = 0;
    }

    fn rebuild_dir(&mut self) {
        let mut dir = (self.files.len() as u32).to_be_bytes().to_vec();
        for (i, (name, data)) in self.files.iter().enumerate() {
            let mut e = [0u8; FILE_ENTRY_LEN];
            e[0..4].copy_from_slice(&(data.len() as u32).to_be_bytes());
            e[4..6].copy_from_slice(&(key::FILE_FIRST + i as u16).to_be_bytes());
            e[8..8 + name.len()].copy_from_slice(name.as_bytes());
            dir.extend_from_slice(&e);
        }
        self.items.insert(key::FILE_DIR, dir);
    }

    /// The bytes of item `k` (empty if there is none).
    fn item(&self, k: u16) -> &[u8] {
        let files = key::FILE_FIRST..key::FILE_FIRST + self.files.len() as u16;
        if files.contains(&k) {
            &self.files[(k - key::FILE_FIRST) as usize].1
        } else {
            self.items.get(&k).map_or(&[], |v| v.as_slice())
        }
    }

    fn select(&mut self, k: u16) {
        self.selected = k & !key::WRITE_CHANNEL;
        self.offset = 0;
    }

    /// The next data byte: the selected item's byte at the offset, or 0 past its end.
    fn read_data(&mut self) -> u8 {
        match self.item(self.selected).get(self.offset) {
            Some(&b) => {
                self.offset += 1;
                b
            }
            None => 0,
        }
    }

    /// Runs the DMA transfer whose `FWCfgDmaAccess` lies at guest address `at`.
    fn dma_transfer(&mut self, ctx: &mut DevCtx, at: u64) {
        let mut desc = [0u8; dma::ACCESS_SIZE];
        if !read_guest(ctx, at, &mut desc) {
            let _ = ctx.mem.write_bytes(at, &dma::ERROR.to_be_bytes());
            return;
        }
        let mut control = u32::from_be_bytes(desc[0..4].try_into().expect("4 bytes"));
        let mut length = u32::from_be_bytes(desc[4..8].try_into().expect("4 bytes"));
        let mut address = u64::from_be_bytes(desc[8..16].try_into().expect("8 bytes"));
        if control & dma::SELECT != 0 {
            self.select((control >> 16) as u16);
        }
        // One operation per access, in this priority (QEMU's fw_cfg_dma_transfer).
        let (read, write) = if control & dma::READ != 0 {
            (true, false)
        } else if control & dma::WRITE != 0 {
            (false, true)
        } else if control & dma::SKIP != 0 {
            (false, false)
        } else {
            length = 0;
            (false, false)
        };
        control = 0;
        while length > 0 && control & dma::ERROR == 0 {
            let data = self.item(self.selected);
            let n = if self.offset >= data.len() {
                // Past the end: reads give zeros, writes fail.
                if read && !zero_guest(ctx, address, length) {
                    control |= dma::ERROR;
                }
                length
            } else {
                let n = length.min((data.len() - self.offset) as u32);
                let chunk = &data[self.offset..self.offset + n as usize];
                if read && ctx.mem.write_bytes(address, chunk).is_err() {
                    control |= dma::ERROR;
                }
                self.offset += n as usize;
                n
            };
            if write {
                // No item is writable: QEMU only allows it for items added writable.
                control |= dma::ERROR;
            }
            address = address.wrapping_add(n as u64);
            length -= n;
        }
        let _ = ctx.mem.write_bytes(at, &control.to_be_bytes());
    }
}

/// Zeroes `len` bytes of guest memory at `addr` (in pieces: the length is the guest's),
/// failing where it is not RAM.
fn zero_guest(ctx: &mut DevCtx, addr: u64, len: u32) -> bool {
    const ZEROS: [u8; 4096] = [0; 4096];
    let mut done = 0u64;
    while done < len as u64 {
        let n = (len as u64 - done).min(ZEROS.len() as u64);
        if ctx
            .mem
            .write_bytes(addr.wrapping_add(done), &ZEROS[..n as usize])
            .is_err()
        {
            return false;
        }
        done += n;
    }
    true
}

/// Reads guest memory, failing where it is not memory.
fn read_guest(ctx: &DevCtx, addr: u64, buf: &mut [u8]) -> bool {
    for (i, b) in buf.iter_mut().enumerate() {
        match ctx.mem.read_u8(addr.wrapping_add(i as u64)) {
            Some(v) => *b = v,
            None => return false,
        }
    }
    true
}

impl PortIo for FwCfg {
    fn io_read(&mut self, _: &mut DevCtx, port: u16, size: u8) -> u32 {
        match port {
            // The selector and data ports decode together; only byte reads are valid.
            SELECTOR_PORT | DATA_PORT if size == 1 => self.read_data() as u32,
            SELECTOR_PORT | DATA_PORT => 0,
            _ if port.wrapping_sub(DMA_PORT) < DMA_PORT_COUNT => {
                // The register reads as the signature, byte i at port 0x514 + i.
                let off = (port - DMA_PORT) as usize;
                (0..size.min(4) as usize).fold(0, |v, i| {
                    let b = dma::SIGNATURE.get(off + i).copied().unwrap_or(0);
                    v | (b as u32) << (8 * i)
                })
            }
            _ => ones(size.min(4)) as u32,
        }
    }

    fn io_write(&mut self, ctx: &mut DevCtx, port: u16, size: u8, value: u32) {
        match (port, size) {
            (SELECTOR_PORT | DATA_PORT, 2) => self.select(value as u16),
            // Data writes are ignored since QEMU 2.4.
            (SELECTOR_PORT | DATA_PORT, _) => {}
            // The DMA register is big-endian: the guest writes the byte-swapped half.
            (DMA_PORT, 4) => self.dma_addr = (value.swap_bytes() as u64) << 32,
            (p, 4) if p == DMA_PORT + 4 => {
                let at = self.dma_addr | value.swap_bytes() as u64;
                self.dma_addr = 0;
                self.dma_transfer(ctx, at);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::{PhysMem, RegionKind};

    struct Rig {
        dev: FwCfg,
        mem: PhysMem,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                dev: FwCfg::new(4, 256 << 20),
                mem: PhysMem::new(1 << 20).unwrap(),
            }
        }
        fn outw(&mut self, port: u16, v: u16) {
            let mut ctx = DevCtx {
                now: 0,
                mem: &mut self.mem,
            };
            self.dev.io_write(&mut ctx, port, 2, v as u32);
        }
        fn outb(&mut self, port: u16, v: u8) {
            let mut ctx = DevCtx {
                now: 0,
                mem: &mut self.mem,
            };
            self.dev.io_write(&mut ctx, port, 1, v as u32);
        }
        fn outl(&mut self, port: u16, v: u32) {
            let mut ctx = DevCtx {
                now: 0,
                mem: &mut self.mem,
            };
            self.dev.io_write(&mut ctx, port, 4, v);
        }
        fn inp(&mut self, port: u16, size: u8) -> u32 {
            let mut ctx = DevCtx {
                now: 0,
                mem: &mut self.mem,
            };
            self.dev.io_read(&mut ctx, port, size)
        }
        /// Selects `k` and reads `n` bytes through the data port, as SeaBIOS's
        /// `qemu_cfg_read_entry` does with `insb`.
        fn read_item(&mut self, k: u16, n: usize) -> Vec<u8> {
            self.outw(SELECTOR_PORT, k);
            (0..n).map(|_| self.inp(DATA_PORT, 1) as u8).collect()
        }
        /// Writes an FWCfgDmaAccess at `at` and starts it through the DMA ports, as a guest
        /// does: high half then low half, each byte-swapped (big-endian register).
        fn dma(&mut self, at: u64, control: u32, length: u32, address: u64) -> u32 {
            let mut d = Vec::new();
            d.extend_from_slice(&control.to_be_bytes());
            d.extend_from_slice(&length.to_be_bytes());
            d.extend_from_slice(&address.to_be_bytes());
            self.mem.write_bytes(at, &d).unwrap();
            self.outl(DMA_PORT, ((at >> 32) as u32).swap_bytes());
            self.outl(DMA_PORT + 4, (at as u32).swap_bytes());
            let mut c = [0; 4];
            self.mem.read_bytes(at, &mut c);
            u32::from_be_bytes(c)
        }
        fn mem(&self, at: u64, n: usize) -> Vec<u8> {
            let mut v = vec![0; n];
            self.mem.read_bytes(at, &mut v);
            v
        }
    }

    #[test]
    fn signature_and_id_read_through_the_data_port() {
        // Firmware probes for fw_cfg by reading "QEMU" from item 0, then the feature bits.
        let mut r = Rig::new();
        assert_eq!(
            r.read_item(key::SIGNATURE, 6),
            b"QEMU\0\0",
            "zeros past the end"
        );
        assert_eq!(
            r.read_item(key::ID, 4),
            vec![3, 0, 0, 0],
            "traditional and DMA"
        );
    }

    #[test]
    fn the_signature_is_selected_after_reset() {
        let mut r = Rig::new();
        assert_eq!(r.inp(DATA_PORT, 1), b'Q' as u32);
        r.read_item(key::RAM_SIZE, 2);
        r.dev.reset();
        assert_eq!(r.inp(DATA_PORT, 1), b'Q' as u32);
    }

    #[test]
    fn numeric_items_are_little_endian() {
        let mut r = Rig::new();
        assert_eq!(r.read_item(key::NB_CPUS, 2), vec![4, 0]);
        assert_eq!(r.read_item(key::MAX_CPUS, 2), vec![4, 0]);
        assert_eq!(
            r.read_item(key::RAM_SIZE, 8),
            (256u64 << 20).to_le_bytes().to_vec()
        );
        assert_eq!(r.read_item(key::BOOT_MENU, 2), vec![0, 0]);
        r.dev.set_u32(key::IRQ0_OVERRIDE, 1);
        assert_eq!(r.read_item(key::IRQ0_OVERRIDE, 4), vec![1, 0, 0, 0]);
    }

    #[test]
    fn selecting_rewinds_and_unknown_items_read_zero() {
        let mut r = Rig::new();
        r.read_item(key::SIGNATURE, 2);
        assert_eq!(
            r.read_item(key::SIGNATURE, 1),
            b"Q",
            "a new selection starts at 0"
        );
        assert_eq!(r.read_item(0x1234, 3), vec![0; 3]);
        assert_eq!(r.read_item(0xFFFF, 1), vec![0]);
        // The write-channel bit is ignored.
        assert_eq!(r.read_item(key::WRITE_CHANNEL | key::SIGNATURE, 4), b"QEMU");
    }

    #[test]
    fn byte_writes_neither_select_nor_store() {
        let mut r = Rig::new();
        r.read_item(key::NB_CPUS, 0);
        r.outb(SELECTOR_PORT, key::SIGNATURE as u8);
        r.outb(DATA_PORT, 0x77);
        assert_eq!(r.inp(DATA_PORT, 1), 4, "still item 5, offset 0");
        // As QEMU decodes them together, a 16-bit write to the data port selects too, and a
        // byte read of the selector port reads data.
        r.outw(DATA_PORT, key::SIGNATURE);
        assert_eq!(r.inp(SELECTOR_PORT, 1), b'Q' as u32);
        assert_eq!(r.inp(DATA_PORT, 2), 0, "wider reads are invalid");
        assert_eq!(r.inp(DATA_PORT, 1), b'E' as u32, "and consume nothing");
    }

    #[test]
    fn files_are_listed_sorted_by_name_with_big_endian_fields() {
        let mut r = Rig::new();
        r.dev.add_file("etc/e820", vec![1; 40]).unwrap();
        r.dev
            .add_file("bootorder", b"/rom@genroms/linuxboot.bin\n".to_vec())
            .unwrap();
        let dir = r.read_item(key::FILE_DIR, 4 + 2 * FILE_ENTRY_LEN);
        assert_eq!(&dir[0..4], &[0, 0, 0, 2]);
        let e0 = &dir[4..4 + 64];
        assert_eq!(&e0[0..4], &27u32.to_be_bytes());
        assert_eq!(&e0[4..6], &[0x00, 0x20]);
        assert_eq!(&e0[6..8], &[0, 0]);
        assert_eq!(&e0[8..18], b"bootorder\0");
        let e1 = &dir[68..132];
        assert_eq!(&e1[0..4], &40u32.to_be_bytes());
        assert_eq!(&e1[4..6], &[0x00, 0x21]);
        assert_eq!(&e1[8..17], b"etc/e820\0");
        assert_eq!(r.dev.file_selector("etc/e820"), Some(0x21));
        assert_eq!(r.read_item(0x21, 41), [vec![1; 40], vec![0]].concat());
        assert_eq!(r.read_item(0x20, 9), b"/rom@genr");
        // Replacing a file keeps one entry.
        r.dev.add_file("etc/e820", vec![2; 20]).unwrap();
        assert_eq!(r.read_item(key::FILE_DIR, 4), vec![0, 0, 0, 2]);
        assert_eq!(r.read_item(0x21, 1), vec![2]);
        assert!(r.dev.add_file(&"x".repeat(56), vec![]).is_err());
        assert!(r.dev.add_file("", vec![]).is_err());
    }

    #[test]
    fn kernel_and_cmdline_items() {
        let mut r = Rig::new();
        r.dev.set_blob(
            (key::KERNEL_ADDR, key::KERNEL_SIZE, key::KERNEL_DATA),
            0x10_0000,
            vec![0xAB; 3],
        );
        r.dev.set_cmdline(0x2_0000, "quiet");
        assert_eq!(r.read_item(key::KERNEL_ADDR, 4), 0x10_0000u32.to_le_bytes());
        assert_eq!(r.read_item(key::KERNEL_SIZE, 4), 3u32.to_le_bytes());
        assert_eq!(r.read_item(key::KERNEL_DATA, 3), vec![0xAB; 3]);
        assert_eq!(r.read_item(key::CMDLINE_ADDR, 4), 0x2_0000u32.to_le_bytes());
        assert_eq!(r.read_item(key::CMDLINE_SIZE, 4), 6u32.to_le_bytes());
        assert_eq!(r.read_item(key::CMDLINE_DATA, 6), b"quiet\0");
    }

    #[test]
    fn dma_register_reads_as_the_signature() {
        // Guests detect DMA by reading "QEMU CFG" from the address register.
        let mut r = Rig::new();
        assert_eq!(r.inp(DMA_PORT, 4), u32::from_le_bytes(*b"QEMU"));
        assert_eq!(r.inp(DMA_PORT + 4, 4), u32::from_le_bytes(*b" CFG"));
        assert_eq!(r.inp(DMA_PORT + 5, 1), b'C' as u32);
        assert_eq!(r.inp(DMA_PORT + 6, 2), u16::from_le_bytes(*b"FG") as u32);
    }

    #[test]
    fn dma_select_and_read_copies_into_guest_memory() {
        let mut r = Rig::new();
        r.dev.add_file("etc/e820", (0..40).collect()).unwrap();
        let sel = r.dev.file_selector("etc/e820").unwrap() as u32;
        let control = r.dma(0x1000, sel << 16 | dma::SELECT | dma::READ, 16, 0x2000);
        assert_eq!(control, 0, "completed without error");
        assert_eq!(r.mem(0x2000, 16), (0..16).collect::<Vec<u8>>());
        // The offset moved on: the next read continues, and zero-fills past the end.
        assert_eq!(r.dma(0x1000, dma::READ, 30, 0x3000), 0);
        assert_eq!(r.mem(0x3000, 24), (16..40).collect::<Vec<u8>>());
        assert_eq!(r.mem(0x3018, 6), vec![0; 6]);
        // Traditional reads share the offset: past the end now.
        assert_eq!(r.inp(DATA_PORT, 1), 0);
    }

    #[test]
    fn dma_skip_advances_and_select_alone_transfers_nothing() {
        let mut r = Rig::new();
        r.mem.write_bytes(0x2000, &[0xEE; 4]).unwrap();
        let c = r.dma(
            0x1000,
            (key::SIGNATURE as u32) << 16 | dma::SELECT | dma::SKIP,
            2,
            0x2000,
        );
        assert_eq!(c, 0);
        assert_eq!(r.mem(0x2000, 4), vec![0xEE; 4], "skip writes no memory");
        assert_eq!(r.inp(DATA_PORT, 1), b'M' as u32);
        let c = r.dma(
            0x1000,
            (key::NB_CPUS as u32) << 16 | dma::SELECT,
            100,
            0x2000,
        );
        assert_eq!(c, 0);
        assert_eq!(r.inp(DATA_PORT, 1), 4);
    }

    #[test]
    fn dma_errors_are_reported_in_the_control_word() {
        let mut r = Rig::new();
        // Writes: no item is writable.
        let c = r.dma(
            0x1000,
            (key::NB_CPUS as u32) << 16 | dma::SELECT | dma::WRITE,
            2,
            0x2000,
        );
        assert_eq!(c, dma::ERROR);
        // A destination that is not RAM.
        r.mem.map(0x8_0000..0x9_0000, RegionKind::Mmio).unwrap();
        let c = r.dma(
            0x1000,
            (key::SIGNATURE as u32) << 16 | dma::SELECT | dma::READ,
            4,
            0x8_0000,
        );
        assert_eq!(c, dma::ERROR);
        // A descriptor beyond RAM cannot be read: nothing happens and nothing panics.
        r.outl(DMA_PORT, 0);
        r.outl(DMA_PORT + 4, 0xFFFF_F000u32.swap_bytes());
        // A huge length past every item zero-fills until memory ends, then fails.
        let c = r.dma(0x1000, dma::READ, u32::MAX, 0xF_0000);
        assert_eq!(c, dma::ERROR);
    }

    #[test]
    fn each_transfer_clears_the_address_register() {
        let mut r = Rig::new();
        r.mem.write_bytes(0x1000, &[0; 16]).unwrap();
        // A descriptor at 0x1_0000_1000 (above 4 GiB, no memory): it is not read, and the
        // address register is cleared, so the next low write alone targets 0x1000.
        r.outl(DMA_PORT, 1u32.swap_bytes());
        r.outl(DMA_PORT + 4, 0x1000u32.swap_bytes());
        let mut d = Vec::new();
        d.extend_from_slice(
            &((key::SIGNATURE as u32) << 16 | dma::SELECT | dma::READ).to_be_bytes(),
        );
        d.extend_from_slice(&4u32.to_be_bytes());
        d.extend_from_slice(&0x3000u64.to_be_bytes());
        r.mem.write_bytes(0x1000, &d).unwrap();
        r.outl(DMA_PORT + 4, 0x1000u32.swap_bytes());
        assert_eq!(r.mem(0x3000, 4), b"QEMU");
        assert_eq!(r.mem(0x1000, 4), vec![0; 4]);
    }

    #[test]
    fn random_port_traffic_never_panics() {
        // Guests may write anything to any of the ports, DMA descriptors included.
        let mut r = Rig::new();
        r.dev.add_file("etc/e820", vec![5; 100]).unwrap();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let v = next();
            let port = 0x50E + (v % 16) as u16;
            let size = [1u8, 2, 4, 8][(v >> 8) as usize % 4];
            let value = (v >> 16) as u32;
            if v >> 60 < 8 {
                r.inp(port, size);
            } else {
                let mut ctx = DevCtx {
                    now: 0,
                    mem: &mut r.mem,
                };
                r.dev.io_write(&mut ctx, port, size, value);
            }
            if v >> 56 == 0 {
                // Now and then a descriptor with random fields somewhere in RAM.
                let at = next() % ((1 << 20) - 16);
                let _ = r.dma(
                    at,
                    next() as u32,
                    (next() % 0x2_0000) as u32,
                    next() % (2 << 20),
                );
            }
        }
    }
}
