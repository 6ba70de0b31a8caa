//! Deterministic fuzzing of the loaders: every good test image is truncated at every length
//! around its headers, bit-flipped and given random header field values (a xorshift PRNG
//! with fixed seeds), and each mutant goes through [`load`]. None may panic; each must give
//! `Ok` or an error of one line naming the file.

use std::path::{Path, PathBuf};

use super::testimg::*;
use super::{detect_format, load, BootOptions, Framebuffer, KernelFormat};

/// Marsaglia's xorshift64: small, fast and the same on every host.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A field value a header might hold: small, boundary or random.
    fn value(&mut self) -> u64 {
        const EDGES: [u64; 12] = [
            0,
            1,
            8,
            0x1000,
            0x10_0000,
            0x7FFF_FFFF,
            0x8000_0000,
            0xFFFF_FFFF,
            0x1_0000_0000,
            u64::MAX,
            u64::MAX - 7,
            0x3FF_FFFF,
        ];
        match self.below(3) {
            0 => EDGES[self.below(EDGES.len())],
            1 => self.next() & 0xFFFF,
            _ => self.next(),
        }
    }
}

/// A good image: its name, bytes, and the byte ranges holding its headers.
type Sample = (&'static str, Vec<u8>, Vec<(usize, usize)>);

/// The good images.
fn corpus() -> Vec<Sample> {
    use super::multiboot2::tag;
    let mb2_tags = [
        mb2_tag(tag::INFORMATION_REQUEST, 0, &[1, 2, 3, 4, 6]),
        mb2_tag(tag::FRAMEBUFFER, tag::OPTIONAL, &[640, 480, 32]),
        mb2_tag(tag::MODULE_ALIGN, 0, &[]),
        mb2_tag(tag::CONSOLE_FLAGS, tag::OPTIONAL, &[3]),
    ]
    .concat();
    vec![
        ("elf32", elf32_image(), vec![(0, 0x80)]),
        ("elf64", elf64_image(), vec![(0, 0x80)]),
        ("mb1-elf", mb1_elf_image(), vec![(0, 0x80), (0x400, 0x40C)]),
        ("mb1-aout", mb1_aout_image(), vec![(0x100, 0x130)]),
        (
            "mb2-elf32",
            mb2_image(&mb2_tags),
            vec![(0, 0x80), (0x100, 0x160)],
        ),
        (
            "mb2-elf64",
            mb2_elf64_image(),
            vec![(0, 0x80), (0x100, 0x120)],
        ),
        (
            "mb2-aout",
            mb2_image_with(&mb2_aout_tags(), 0x3000),
            vec![(0x100, 0x160)],
        ),
        ("bzimage", bzimage(), vec![(0x1F1, 0x26C)]),
    ]
}

fn options(img: &[u8]) -> BootOptions {
    match detect_format(img) {
        Some(KernelFormat::Linux) => BootOptions {
            cmdline: "console=ttyS0".into(),
            initrd: Some((PathBuf::from("initrd"), vec![0xA5; 5000])),
            ..BootOptions::default()
        },
        Some(KernelFormat::Multiboot1 | KernelFormat::Multiboot2) => BootOptions {
            cmdline: "a b c".into(),
            modules: vec![(PathBuf::from("mod"), vec![0x3C; 300], "x=1".into())],
            ..BootOptions::default()
        },
        _ => BootOptions::default(),
    }
}

/// Loads one mutant; returns whether it loaded.
fn try_one(mem: &mut crate::mem::PhysMem, img: &[u8], what: &str) -> bool {
    let map = test_e820();
    let mut env = test_env(mem, &map);
    env.framebuffer = Some(Framebuffer::VGA_TEXT);
    match load(&mut env, Path::new("fuzz.img"), img, &options(img)) {
        Ok(_) => true,
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with("fuzz.img: ")
                    || msg.starts_with("initrd: ")
                    || msg.starts_with("mod: "),
                "{what}: {msg}"
            );
            assert!(!msg.contains('\n'), "{what}: one line: {msg}");
            false
        }
    }
}

#[test]
fn every_good_image_loads() {
    let mut mem = test_mem();
    for (name, img, _) in corpus() {
        assert!(try_one(&mut mem, &img, name), "{name} loads");
    }
}

#[test]
fn truncated_images_never_panic() {
    let mut mem = test_mem();
    for (name, img, regions) in corpus() {
        let mut lengths: Vec<usize> = (0..0x300.min(img.len())).collect();
        for &(_, end) in &regions {
            lengths.extend(end.saturating_sub(64)..(end + 64).min(img.len()));
        }
        lengths.extend((0..img.len()).step_by(61));
        for len in lengths {
            try_one(&mut mem, &img[..len], &format!("{name} cut at {len}"));
        }
    }
}

#[test]
fn bit_flipped_images_never_panic() {
    let mut mem = test_mem();
    for (seed, (name, img, regions)) in corpus().into_iter().enumerate() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (seed as u64 + 1));
        let mut loaded = 0;
        for i in 0..600 {
            let mut m = img.clone();
            for _ in 0..1 + rng.below(4) {
                let at = if rng.below(4) == 0 {
                    rng.below(m.len())
                } else {
                    let (s, e) = regions[rng.below(regions.len())];
                    s + rng.below(e - s)
                };
                m[at] ^= 1 << rng.below(8);
            }
            loaded += try_one(&mut mem, &m, &format!("{name} flip #{i}")) as u32;
        }
        // Flips outside the headers still load: the fuzzer reaches the loaders' far end.
        assert!(loaded > 0, "{name}: some mutants load");
    }
}

#[test]
fn random_header_fields_never_panic() {
    let mut mem = test_mem();
    for (seed, (name, img, regions)) in corpus().into_iter().enumerate() {
        let mut rng = XorShift(0xD1B5_4A32_D192_ED03 ^ (seed as u64 + 1) << 8);
        for i in 0..600 {
            let mut m = img.clone();
            for _ in 0..1 + rng.below(3) {
                let (s, e) = regions[rng.below(regions.len())];
                let width = [1, 2, 4, 8][rng.below(4)];
                let at = (s + rng.below(e - s)) & !(width - 1);
                let v = rng.value().to_le_bytes();
                let end = (at + width).min(m.len());
                m[at..end].copy_from_slice(&v[..end - at]);
            }
            try_one(&mut mem, &m, &format!("{name} field #{i}"));
        }
    }
}
