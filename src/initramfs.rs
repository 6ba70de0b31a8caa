//! Building a Linux initramfs on the host: a cpio archive in the "newc" format (the kernel's
//! Documentation/driver-api/early-userspace/buffer-format.rst), gzip-compressed, written
//! without the host's `cpio` so that it works on any host and needs no root for device
//! nodes.
//!
//! [`busybox`] lays out the small system the Linux tests boot: `/bin/busybox`, an `/init`
//! script, the mount points, and `/dev/console` (the kernel opens it for init's standard
//! streams before anything mounts devtmpfs).

use std::io::Write;

/// File type bits of `st_mode` (POSIX `S_IFDIR`, `S_IFREG`, `S_IFCHR`).
pub mod mode {
    /// A directory.
    pub const DIR: u32 = 0o040000;
    /// A regular file.
    pub const FILE: u32 = 0o100000;
    /// A character device.
    pub const CHAR: u32 = 0o020000;
}

/// A cpio "newc" archive being written.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Cpio {
        Cpio::default()
    }

    /// Appends an entry: `name` without a leading slash, `mode` with its file type bits,
    /// `data` for a regular file, `rdev` (major, minor) for a device node. Owner root, time 0,
    /// so that the archive depends on its contents only.
    pub fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        let nlink = if mode & mode::DIR == mode::DIR { 2 } else { 1 };
        let fields = [
            self.ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    /// A directory with mode 0755.
    pub fn dir(&mut self, name: &str) {
        self.entry(name, mode::DIR | 0o755, &[], (0, 0));
    }

    /// A regular file with permissions `perm`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, mode::FILE | perm, data, (0, 0));
    }

    /// Ends the archive with the `TRAILER!!!` entry and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.ino = 0;
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        self.out
    }

    /// Pads to a multiple of 4 bytes, as newc aligns names and file data.
    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }
}

/// The busybox initramfs, uncompressed: `/init` (mode 0755), `/bin/busybox`, the folders
/// busybox's `--install -s` fills, mount points, and `/dev/console` (char 5:1).
pub fn busybox_cpio(busybox: &[u8], init: &[u8]) -> Vec<u8> {
    let mut c = Cpio::new();
    for d in [
        "bin", "dev", "etc", "proc", "root", "sbin", "sys", "tmp", "usr", "usr/bin", "usr/sbin",
    ] {
        c.dir(d);
    }
    c.entry("dev/console", mode::CHAR | 0o600, &[], (5, 1));
    c.file("bin/busybox", 0o755, busybox);
    c.file("init", 0o755, init);
    c.finish()
}

/// [`busybox_cpio`] compressed with gzip, the format every kernel config unpacks.
pub fn busybox(busybox: &[u8], init: &[u8]) -> Vec<u8> {
    let cpio = busybox_cpio(busybox, init);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(&cpio);
    gz.finish().unwrap_or_default()
}

/// `vx86 initramfs`: reads busybox and the init script, writes the gzip-compressed archive.
pub fn main(
    busybox_path: &std::path::Path,
    init_path: &std::path::Path,
    out: &std::path::Path,
) -> Result<u8, crate::Error> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| crate::Error::file(p, format!("cannot read: {e}")))
    };
    let image = busybox(&read(busybox_path)?, &read(init_path)?);
    std::fs::write(out, image)
        .map_err(|e| crate::Error::file(out, format!("cannot write: {e}")))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// One archive entry read back: name, mode, data, rdev.
    type Entry = (String, u32, Vec<u8>, (u32, u32));

    /// Reads a newc archive back, up to the trailer.
    fn parse(mut b: &[u8]) -> Vec<Entry> {
        let mut out = Vec::new();
        let start = b.as_ptr() as usize;
        loop {
            assert_eq!(&b[..6], b"070701");
            let f = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (mode, size, rmaj, rmin, namesize) = (f(1), f(6), f(9), f(10), f(11));
            let name = std::str::from_utf8(&b[110..110 + namesize as usize - 1])
                .unwrap()
                .to_string();
            assert_eq!(b[110 + namesize as usize - 1], 0, "name is NUL-terminated");
            let mut at = (110 + namesize as usize).next_multiple_of(4);
            let data = b[at..at + size as usize].to_vec();
            at = (at + size as usize).next_multiple_of(4);
            b = &b[at..];
            assert_eq!(
                (b.as_ptr() as usize - start) % 4,
                0,
                "entries are 4-aligned"
            );
            if name == "TRAILER!!!" {
                assert!(b.is_empty());
                return out;
            }
            out.push((name, mode, data, (rmaj, rmin)));
        }
    }

    #[test]
    fn the_busybox_archive_holds_init_busybox_and_the_console() {
        let gz = busybox(b"\x7fELF-busybox", b"#!/bin/busybox sh\necho hi\n");
        let mut cpio = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut cpio)
            .unwrap();
        assert_eq!(
            cpio,
            busybox_cpio(b"\x7fELF-busybox", b"#!/bin/busybox sh\necho hi\n")
        );
        let entries = parse(&cpio);
        let find = |n: &str| entries.iter().find(|e| e.0 == n).unwrap().clone();
        assert_eq!(find("init").1, mode::FILE | 0o755);
        assert_eq!(find("init").2, b"#!/bin/busybox sh\necho hi\n");
        assert_eq!(find("bin/busybox").2, b"\x7fELF-busybox");
        assert_eq!(find("dev/console").1, mode::CHAR | 0o600);
        assert_eq!(find("dev/console").3, (5, 1));
        assert_eq!(find("proc").1, mode::DIR | 0o755);
        // Folders come before what is in them, as the kernel's unpacker needs.
        let pos = |n: &str| entries.iter().position(|e| e.0 == n).unwrap();
        assert!(pos("bin") < pos("bin/busybox"));
        assert!(pos("dev") < pos("dev/console"));
    }

    #[test]
    fn archives_depend_on_their_contents_only() {
        assert_eq!(busybox(b"a", b"b"), busybox(b"a", b"b"));
        let mut c = Cpio::new();
        c.file("x", 0o644, b"12345");
        let b = c.finish();
        // 110-byte header + "x\0" -> 112; data 5 -> padded to 8; trailer 110 + 11 -> 124.
        assert_eq!(b.len(), 112 + 8 + 124);
        assert_eq!(&b[..14], b"07070100000001");
    }
}
