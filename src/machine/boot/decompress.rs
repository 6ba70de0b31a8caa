//! Unpacking the compressed payload of a bzImage on the host, with pure-Rust decoders for
//! the formats Linux builds its x86 kernels with (arch/x86/boot/compressed/Makefile,
//! `CONFIG_KERNEL_*`): gzip, bzip2, LZMA, XZ (with the x86 BCJ filter the kernel's
//! `xz_wrap.sh` adds), LZ4 (the legacy frame `lz4 -l` writes) and Zstandard.
//!
//! Every format but gzip is followed by the uncompressed size as a 32-bit little-endian
//! word (`size_append` in scripts/Makefile.lib); gzip's own trailer ends with the same word
//! (ISIZE). The decoded length is checked against it. LZO, the one other format, is
//! recognised but not decoded: the caller lets the kernel's own decompressor run instead.

use std::io::Read;

/// A compression format of a Linux payload, recognised by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952): 1F 8B.
    Gzip,
    /// bzip2: "BZh".
    Bzip2,
    /// LZMA "alone" (`lzma -9`): properties byte 0x5D, then the dictionary size.
    Lzma,
    /// XZ: FD "7zXZ" 00.
    Xz,
    /// LZO (`lzop`): 89 "LZO" 00.
    Lzo,
    /// LZ4 legacy frame: magic 0x184C2102.
    Lz4,
    /// Zstandard: magic 0xFD2FB528.
    Zstd,
}

impl Compression {
    /// The format of `payload`, from its first bytes.
    pub fn detect(payload: &[u8]) -> Option<Compression> {
        const MAGICS: &[(&[u8], Compression)] = &[
            (b"\x1f\x8b", Compression::Gzip),
            (b"BZh", Compression::Bzip2),
            (b"\x5d\x00\x00", Compression::Lzma),
            (b"\xfd7zXZ\x00", Compression::Xz),
            (b"\x89LZO\x00", Compression::Lzo),
            (b"\x02\x21\x4c\x18", Compression::Lz4),
            (b"\x28\xb5\x2f\xfd", Compression::Zstd),
        ];
        MAGICS
            .iter()
            .find(|(m, _)| payload.starts_with(m))
            .map(|&(_, c)| c)
    }

    /// The format's name as Linux's `CONFIG_KERNEL_*` options call it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Lzma => "lzma",
            Compression::Xz => "xz",
            Compression::Lzo => "lzo",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Whether vx86 decodes this format on the host.
    pub fn supported(self) -> bool {
        self != Compression::Lzo
    }
}

/// The magic number that opens an LZ4 legacy frame (and may reappear between frames).
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
/// The largest block of an LZ4 legacy frame, uncompressed: 8 MiB.
const LZ4_LEGACY_BLOCK: usize = 8 << 20;
/// Never preallocate more than this for the output, whatever the trailer claims.
const MAX_PREALLOC: usize = 256 << 20;

/// Decodes `payload` (in `format`, with its 4-byte size trailer) into at most `limit` bytes
/// (the guest RAM it must fit in): a payload whose trailer claims more is refused before
/// decoding, and no decoder is allowed past the claimed size (plus one byte, to tell a
/// payload that decodes to more), so a malformed or hostile payload cannot make the host
/// allocate without bound. Errors say what failed.
pub fn decompress(format: Compression, payload: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let name = format.name();
    if payload.len() < 8 {
        return Err(format!(
            "{name} payload of {} bytes is too short",
            payload.len()
        ));
    }
    let (stream, trailer) = payload.split_at(payload.len() - 4);
    let size = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    if size as u64 > limit {
        return Err(format!(
            "{name} payload unpacks to {size} bytes (its trailer says), more than the \
             {limit} bytes of guest RAM"
        ));
    }
    let mut out = Vec::with_capacity((size as usize).min(MAX_PREALLOC));
    let io = |e: std::io::Error| format!("{name} payload: {e}");
    // One byte past the claimed size is enough to tell that the payload decodes to more.
    let cap = size as u64 + 1;
    let read =
        |r: &mut dyn Read, out: &mut Vec<u8>| r.take(cap).read_to_end(out).map(drop).map_err(io);
    match format {
        // gzip's trailer is its own ISIZE: the decoder reads it.
        Compression::Gzip => read(&mut flate2::read::GzDecoder::new(payload), &mut out)?,
        Compression::Bzip2 => read(&mut bzip2_rs::DecoderReader::new(stream), &mut out)?,
        Compression::Lzma => read(
            &mut lzma_rust2::LzmaReader::new_mem_limit(stream, u32::MAX, None).map_err(io)?,
            &mut out,
        )?,
        Compression::Xz => match super::xz::decode_single_block(stream, cap, &mut out) {
            Some(result) => result?,
            None => read(&mut lzma_rust2::XzReader::new(stream, false), &mut out)?,
        },
        Compression::Zstd => read(
            &mut ruzstd::decoding::StreamingDecoder::new_with_max_window_size(stream, 1 << 31)
                .map_err(|e| format!("{name} payload: {e}"))?,
            &mut out,
        )?,
        Compression::Lz4 => lz4_legacy(stream, &mut out, cap)?,
        Compression::Lzo => {
            return Err("lzo payloads are not decoded on the host".to_string());
        }
    }
    if out.len() as u32 != size {
        return Err(format!(
            "{name} payload decoded to {} bytes, its trailer says {size}",
            out.len()
        ));
    }
    Ok(out)
}

/// Decodes LZ4 legacy frames (`lz4 -l`): the magic, then blocks of a 32-bit little-endian
/// compressed size and the block, each at most 8 MiB uncompressed; the magic may repeat
/// (concatenated frames), as the kernel's lib/decompress_unlz4.c accepts.
fn lz4_legacy(mut b: &[u8], out: &mut Vec<u8>, cap: u64) -> Result<(), String> {
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if b.len() < 4 || word(b) != LZ4_LEGACY_MAGIC {
        return Err("lz4 payload: no legacy frame magic".into());
    }
    b = &b[4..];
    let mut block = vec![0u8; LZ4_LEGACY_BLOCK];
    while b.len() >= 4 {
        let len = word(b) as usize;
        b = &b[4..];
        if len == LZ4_LEGACY_MAGIC as usize {
            continue;
        }
        if len > b.len() {
            return Err(format!(
                "lz4 payload: block of {len} bytes, {} left in the payload",
                b.len()
            ));
        }
        let n = lz4_flex::block::decompress_into(&b[..len], &mut block)
            .map_err(|e| format!("lz4 payload: {e}"))?;
        out.extend_from_slice(&block[..n]);
        if out.len() as u64 >= cap {
            // Past the claimed size already: the length check below reports it.
            out.truncate(cap as usize);
            return Ok(());
        }
        b = &b[len..];
    }
    if !b.is_empty() {
        return Err(format!("lz4 payload: {} stray bytes at the end", b.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// 1,000 bytes with x86 CALL and JMP opcodes, which the XZ x86 BCJ filter rewrites.
    fn sample() -> Vec<u8> {
        (0..40u8)
            .flat_map(|i| {
                let mut v = b"vx86 call \xe8".to_vec();
                v.extend_from_slice(&[i, 0, 0, 0]);
                v.extend_from_slice(b" jmp \xe9");
                v.extend_from_slice(&[0, i, 0, 0]);
                v
            })
            .collect()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// `sample()` as the kernel's build would compress it, plus the size trailer.
    fn with_size(mut c: Vec<u8>) -> Vec<u8> {
        c.extend_from_slice(&1000u32.to_le_bytes());
        c
    }

    // Made with `xz --check=crc32 --x86 --lzma2=dict=1MiB` (as scripts/xz_wrap.sh does),
    // `lzma -9` reading standard input, and `bzip2 -9`.
    const XZ_BCJ: &str = "fd377a585a0000016922de3602010400210110008b216f49e003e700df5d003b1e0301a0399825ebd3b2974e935de1ef4d20f7533fe44ee38c1a9adbd8236292caae01d37bbd5aa3b50568e3db96036b374796c87fbe5c5889b369ab8515ff06d97d772f6da4b9530ffab685005eb4ae728479b9a708aab43316aaeefa81f7bef9eeced42597f3079a861ad0a86d7c2a5e340783a312665f022d308eb2aaffab0460d57e6b6660b5ef17900f09a98539e659c669293041cfc265fe338fdd43d28b3d3efd421327cf7439b92431815b173adfaed9d9160f8a1cdcd8ea99709030c9413849e1ef5ff158f6e79e6ccab8040b90af96863bf7eeefa3367f5b00000096bdddae0001f701e80700009eab26e03e300d8b020000000001595a";
    const LZMA: &str = "5d00000004ffffffffffffffff003b1e0301a0399825ebd3b2972b23d11101a7277799c5d9c0e3069bdb267c9bbfd72221f8c4f5e36ff60790fa6fc68a29b08b8b13434859e715098218ca189693286775d7d878f9d5eb0c719ffce453c77eff9b3b7566af2423d7e2758499ea1e4397b65dd972b75afc35c7c686ee5cca575724acbe78251d022afc05d0eb7771b9532bfd7b6d8909c79393a4e094e22ac3bbe9e1e5ffffd3e80000";
    const BZIP2: &str = "425a683931415926535929e701c40001a579817fffffffff8001402816414000603000c4c2248000000001ffeaaa0000d4ff555460989a6264c1309a6008d34c0aa2a8c0134c00260000027dfd3a53e851a54ea55ad5ec59b56ee5dbd7f061c58f265cd9f469d5af66dddbf871e4e7d1288944d30000000001ce2222111128a5124a4e2000000000000000394929124a4eb24a4ed24a4a9e7333333333333d843e087910fd085310f221e843d885410f8214821fe2ee48a70a12053ce03880";

    fn payloads() -> Vec<(Compression, Vec<u8>)> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&sample()).unwrap();
        let gz = gz.finish().unwrap();
        let zst = ruzstd::encoding::compress_to_vec(
            &sample()[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        // Two legacy blocks, to cover the block loop.
        let mut lz4 = LZ4_LEGACY_MAGIC.to_le_bytes().to_vec();
        for half in sample().chunks(500) {
            let block = lz4_flex::block::compress(half);
            lz4.extend_from_slice(&(block.len() as u32).to_le_bytes());
            lz4.extend_from_slice(&block);
        }
        vec![
            (Compression::Gzip, gz),
            (Compression::Bzip2, with_size(hex(BZIP2))),
            (Compression::Lzma, with_size(hex(LZMA))),
            (Compression::Xz, with_size(hex(XZ_BCJ))),
            (Compression::Lz4, with_size(lz4)),
            (Compression::Zstd, with_size(zst)),
        ]
    }

    #[test]
    fn every_format_linux_builds_with_decodes_to_the_original() {
        for (format, payload) in payloads() {
            assert_eq!(Compression::detect(&payload), Some(format));
            assert!(format.supported());
            assert_eq!(
                decompress(format, &payload, 1000).unwrap_or_else(|e| panic!("{e}")),
                sample(),
                "{}",
                format.name()
            );
        }
        assert_eq!(
            Compression::detect(b"\x89LZO\x00\x0d\x0a"),
            Some(Compression::Lzo)
        );
        assert!(!Compression::Lzo.supported());
        assert_eq!(Compression::detect(b"\x7fELF"), None);
    }

    #[test]
    fn damaged_payloads_are_errors_not_panics() {
        for (format, payload) in payloads() {
            // A wrong size trailer.
            let mut p = payload.clone();
            let n = p.len();
            p[n - 4..].copy_from_slice(&999u32.to_le_bytes());
            assert!(
                decompress(format, &p, 1 << 20).is_err(),
                "{}",
                format.name()
            );
            // Truncated in the middle, and every byte flipped in turn at a few places.
            assert!(decompress(format, &payload[..payload.len() / 2], 1 << 20).is_err());
            for at in [payload.len() / 3, payload.len() / 2, payload.len() - 6] {
                let mut p = payload.clone();
                p[at] ^= 0x55;
                let _ = decompress(format, &p, 1 << 20);
            }
        }
        assert_eq!(
            decompress(Compression::Xz, b"\xfd7zXZ", 1 << 20).unwrap_err(),
            "xz payload of 5 bytes is too short"
        );
    }

    #[test]
    fn no_payload_unpacks_past_its_claimed_size_or_the_guest_ram() {
        for (format, payload) in payloads() {
            // More than the guest RAM: refused before any decoding.
            assert_eq!(
                decompress(format, &payload, 999).unwrap_err(),
                format!(
                    "{} payload unpacks to 1000 bytes (its trailer says), more than the 999 \
                     bytes of guest RAM",
                    format.name()
                )
            );
            // A trailer that understates the size: decoding stops one byte past the claim
            // (a bomb with a small trailer cannot grow the output without bound).
            if format != Compression::Gzip {
                let mut p = payload.clone();
                let n = p.len();
                p[n - 4..].copy_from_slice(&100u32.to_le_bytes());
                assert_eq!(
                    decompress(format, &p, 1 << 20).unwrap_err(),
                    format!(
                        "{} payload decoded to 101 bytes, its trailer says 100",
                        format.name()
                    )
                );
            }
        }
    }
}
