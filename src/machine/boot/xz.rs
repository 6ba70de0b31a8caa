//! The .xz layout Linux's `scripts/xz_wrap.sh` writes (one stream holding one block, the x86
//! BCJ filter before LZMA2, a CRC32 check), decoded in one pass over the whole output: the
//! raw LZMA2 decoder writes straight into it, the BCJ filter runs over it once, and the CRC32
//! is computed with a table-free SIMD-capable implementation. The general reader filters and
//! checksums a byte at a time through small buffers, which made it a tenth of a Linux boot.
//!
//! The container format is the one in the .xz file format specification (version 1.1.0);
//! any other layout (several blocks, other filters or checks) is left to the general reader.

use std::io::Read;

/// Stream header magic.
const MAGIC: &[u8] = b"\xfd7zXZ\x00";
/// Stream footer magic.
const FOOTER_MAGIC: &[u8] = b"YZ";
/// Check type CRC32 in the stream flags.
const CHECK_CRC32: u8 = 0x01;
/// Filter IDs.
const FILTER_X86: u64 = 0x04;
const FILTER_LZMA2: u64 = 0x21;

/// Decodes `stream` into `out` if it has the single-block layout, at most `cap` bytes (more
/// is reported by the caller's length check). `None`: another layout, for the general
/// reader (`out` untouched).
pub fn decode_single_block(
    stream: &[u8],
    cap: u64,
    out: &mut Vec<u8>,
) -> Option<Result<(), String>> {
    let layout = parse_block_header(stream)?;
    Some(decode(stream, &layout, cap, out))
}

/// What the block header says.
struct Layout {
    /// Offset of the LZMA2 data.
    data: usize,
    /// LZMA2 dictionary size.
    dict_size: u32,
    /// Whether the x86 BCJ filter comes first.
    bcj: bool,
}

/// Parses the stream header and the first block header; `None` for anything but one
/// optional x86 BCJ filter (start offset 0) before LZMA2, with a CRC32 check.
fn parse_block_header(s: &[u8]) -> Option<Layout> {
    if s.len() < 12 + 8 || !s.starts_with(MAGIC) || s[6] != 0 || s[7] != CHECK_CRC32 {
        return None;
    }
    if crc32(&s[6..8]) != le32(&s[8..12]) {
        return None;
    }
    let header = &s[12..];
    let size = (header[0] as usize + 1) * 4;
    if header[0] == 0
        || header.len() < size
        || crc32(&header[..size - 4]) != le32(&header[size - 4..size])
    {
        return None;
    }
    let flags = header[1];
    if flags & 0x3C != 0 {
        return None;
    }
    let mut r = &header[2..size - 4];
    if flags & 0x40 != 0 {
        varint(&mut r)?; // compressed size
    }
    if flags & 0x80 != 0 {
        varint(&mut r)?; // uncompressed size
    }
    let filters = (flags & 3) as usize + 1;
    let mut bcj = false;
    let mut dict_size = None;
    for i in 0..filters {
        let id = varint(&mut r)?;
        let props_len = varint(&mut r)? as usize;
        if props_len > r.len() {
            return None;
        }
        let (props, rest) = r.split_at(props_len);
        r = rest;
        let last = i == filters - 1;
        match (id, last) {
            (FILTER_X86, false) if !bcj && props.iter().all(|&b| b == 0) => bcj = true,
            (FILTER_LZMA2, true) if props_len == 1 && props[0] <= 40 => {
                let d = props[0] as u32;
                dict_size = Some(if d == 40 {
                    u32::MAX
                } else {
                    (2 | (d & 1)) << (d / 2 + 11)
                });
            }
            _ => return None,
        }
    }
    if r.iter().any(|&b| b != 0) {
        return None;
    }
    Some(Layout {
        data: 12 + size,
        dict_size: dict_size?,
        bcj,
    })
}

fn decode(s: &[u8], layout: &Layout, cap: u64, out: &mut Vec<u8>) -> Result<(), String> {
    let mut input = &s[layout.data..];
    // No match reaches further back than the output is long: a dictionary the size of the
    // output is always enough, and a forged header cannot make the host allocate gigabytes.
    let dict_size = (layout.dict_size as u64).min(cap).max(4096) as u32;
    let mut reader = lzma_rust2::Lzma2Reader::new(&mut input, dict_size, None);
    reader
        .by_ref()
        .take(cap)
        .read_to_end(out)
        .map_err(|e| format!("xz payload: {e}"))?;
    drop(reader);
    if out.len() as u64 >= cap {
        // Past the claimed size: the caller's length check reports it.
        return Ok(());
    }
    if layout.bcj {
        bcj_x86_decode(out);
    }
    // Block padding to a multiple of four bytes, then the CRC32 of the uncompressed data.
    let consumed = s.len() - layout.data - input.len();
    let block_end = layout.data + consumed;
    let check_at = block_end.next_multiple_of(4);
    let corrupt = |what: &str| format!("xz payload: {what}");
    let check = s
        .get(check_at..check_at + 4)
        .ok_or_else(|| corrupt("truncated after the compressed data"))?;
    if s[block_end..check_at].iter().any(|&b| b != 0) {
        return Err(corrupt("block padding is not zero"));
    }
    if crc32(out) != le32(check) {
        return Err(corrupt("CRC32 of the uncompressed data does not match"));
    }
    // The index must list exactly this block (one record) and the footer must follow.
    let mut index = &s[check_at + 4..];
    let index_start = index;
    if index.first() != Some(&0) {
        return Err(corrupt("more than one block"));
    }
    index = &index[1..];
    let records = varint(&mut index).ok_or_else(|| corrupt("bad index"))?;
    let _unpadded = varint(&mut index).ok_or_else(|| corrupt("bad index"))?;
    let uncompressed = varint(&mut index).ok_or_else(|| corrupt("bad index"))?;
    if records != 1 || uncompressed != out.len() as u64 {
        return Err(corrupt("index does not match the block"));
    }
    let index_len = (index_start.len() - index.len()).next_multiple_of(4) + 4;
    let footer = index_start
        .get(index_len..index_len + 12)
        .ok_or_else(|| corrupt("truncated index or footer"))?;
    if &footer[10..12] != FOOTER_MAGIC
        || crc32(&index_start[..index_len - 4]) != le32(&index_start[index_len - 4..index_len])
    {
        return Err(corrupt("bad index or stream footer"));
    }
    Ok(())
}

/// Undoes the x86 BCJ filter over a whole decoded stream (start offset 0): the filter
/// turned the relative targets of E8 (CALL) and E9 (JMP) rel32 into absolute ones where
/// their top byte is 00 or FF; `mask` remembers which of the three bytes before the current
/// one were E8/E9 opcodes that were not converted, as the encoder saw them.
fn bcj_x86_decode(buf: &mut [u8]) {
    /// Whether a byte can be the top byte of a converted target.
    fn is_top(b: u8) -> bool {
        b == 0x00 || b == 0xFF
    }
    /// For each mask: whether an opcode may be converted after it, and which byte of the
    /// operand decides when it may not.
    const ALLOWED: [bool; 8] = [true, true, true, false, true, false, false, false];
    const BYTE: [usize; 8] = [0, 1, 2, 2, 3, 3, 3, 3];
    if buf.len() < 5 {
        return;
    }
    let end = buf.len() - 5;
    let mut mask = 0usize;
    let mut prev: isize = -1;
    let mut i = 0;
    while i <= end {
        // Skip to the next E8/E9 with a vectorised search: most bytes are neither.
        match memchr::memchr2(0xE8, 0xE9, &buf[i..=end]) {
            Some(k) => i += k,
            None => break,
        }
        let distance = i as isize - prev;
        if distance > 3 {
            mask = 0;
        } else {
            mask = (mask << (distance - 1)) & 7;
            if mask != 0 && (!ALLOWED[mask] || is_top(buf[i + 4 - BYTE[mask]])) {
                prev = i as isize;
                mask = (mask << 1) | 1;
                i += 1;
                continue;
            }
        }
        prev = i as isize;
        if is_top(buf[i + 4]) {
            let mut src = le32(&buf[i + 1..i + 5]);
            let here = (i as u32).wrapping_add(5);
            let mut dest;
            loop {
                dest = src.wrapping_sub(here);
                if mask == 0 {
                    break;
                }
                let shift = BYTE[mask] as u32 * 8;
                if !is_top((dest >> (24 - shift)) as u8) {
                    break;
                }
                src = dest ^ ((1u32 << (32 - shift)) - 1);
            }
            // Bit 24 of the target decides the top byte: 00 or FF.
            let top = if dest & 1 << 24 != 0 { 0xFF } else { 0 };
            buf[i + 1..i + 5].copy_from_slice(&(dest & 0x00FF_FFFF | top << 24).to_le_bytes());
            i += 5;
        } else {
            mask = (mask << 1) | 1;
            i += 1;
        }
    }
}

/// A multibyte integer of the .xz format: seven bits per byte, low first, at most nine.
fn varint(r: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..9 {
        let (&b, rest) = r.split_first()?;
        *r = rest;
        v |= ((b & 0x7F) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return (i == 0 || b != 0).then_some(v);
        }
    }
    None
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn crc32(b: &[u8]) -> u32 {
    crc32fast::hash(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2 KiB dense in E8/E9 opcodes, 00/FF bytes and their neighbours: every branch of the
    /// BCJ decoder's mask logic (a small LCG, as the vector was generated).
    fn bcj_input() -> Vec<u8> {
        let mut x: u32 = 1;
        (0..2048)
            .map(|_| {
                x = x.wrapping_mul(1103515245).wrapping_add(12345);
                let choices = [
                    0xE8,
                    0xE9,
                    0x00,
                    0xFF,
                    0xE8,
                    (x >> 24) as u8,
                    (x >> 8) as u8,
                    0,
                ];
                choices[(x >> 16) as usize & 7]
            })
            .collect()
    }

    /// `bcj_input()` compressed with `xz --check=crc32 --x86 --lzma2=dict=1MiB`.
    const BCJ_XZ: &str = concat!(
        "fd377a585a0000016922de3602010400210110008b216f49e007ff06365d003f2c192060067e9ad85f6af593",
        "6ec46baa9769b7e22e61a5e9645a2ba7123e02e28ad58dd23f019c72e42eef44d7ff69ffecfe689ae57dafc3",
        "c17ff7d071aae7f6532851d5595ad5cc0dda117745d31207ec08fe6d732b5b9204e921b76dae9651be244bc1",
        "d10c9d9a957a97356b439139123d184276f8e551ba18877fad918fa5e3428fc7eb3e240abbdf2666118dd5c2",
        "c0d5bc4cbbc2d7b5ca1ab92f6e064e4f2c56215f900cee6fd7604913eabe490dfbed7e00f64379e11687c011",
        "e5888767158064bbd869387fa433d0cc1d12f774b656b271eb1110b31f31992a917af6f4240a055ba59b0f54",
        "9e69d8b4b6980b1fd384c69e0094a3b40b396e9fe7969e56216c900821ef6051e518943c367bb2aa5c99a1ef",
        "42891f46d4d405ba5ffafb32c6433e437cc34c2a183276c3e6286864f2e04879d1991a9cd45995cff7b36c8f",
        "64fe7d0c60c4f278b467f57dfb389a0e993abae5e06cef21788d0c36c1bcfbbfdae28872eee5aed739b57d0e",
        "9c0f17dd38302492eebcb8cc191e97653c77cba9a6e3ce2de01daeecf53770f57bfd2941d357eef9e46838f9",
        "f1d8e19c0057b4f9973fb47f1456d63a7e626160d228a71f6904d003befed21d52eca3fa2ef5218a128f8948",
        "b9e2d6c7668557714f6bd7b9476f4f420733d723d64b0a4ee9fa24c84fa541c3a2e70a7dfae940fad4109a72",
        "e9880389e5b58a48427daa6fb69a1ad9975316caac51ad19201af74909bae65e0c7bcfaaa3e3e0b499241d33",
        "f5d245d0db8580704ad9828116afbedd4f1c18c114a3a51f492b7a4b2a5f7a11a5689eac9a6ef128d27b7199",
        "4d791edc24764b3ccf9ca1ad6d6a5f3832846b58e0925fcf0e5118f74978e2105d0d4735253333af7c2d6178",
        "8792540b7b1e3482d5e5a99673c87c1507b02c45080910851938f8a33a839a199c435cc5c6133d3de6a2cb16",
        "ca0d154422f8e9e7806f5d51c8621782289ff640da3ef3654e7eebfee920a06adc1b089a09493768de4fd483",
        "f5f47fbb32a56123aa3973a3eec0e186ba87f7aa6efd591429596cce39304fd242896232405dcd4e12e50d76",
        "38e18b26b5da4eefe18e186539a44714744d3b6e959994c9b5ba4dd6f4e85e1fbb3232b396ea975ed76221cd",
        "b948073261a184b20020c7defa236793cd2e77ff78b04472bf9c3ca0683935893514c6deadfffd8f8080a712",
        "5bc9c9742613ecb24978c93b3331ed473e6d3863bf7ca72bdb45c15a4ce7cbd1838ff92f8b4c9389127064e6",
        "9922044770b64712450a7824ca0955282b35f21eef2b05efc3e7c7c96f67b39545bd9c151824f2f4764b3927",
        "fd34bdf802aa94867612a806e7776bab88bb18040c92f1ad85a49ca5000751e056d51197dd7f0b5123249db6",
        "c33aaca5ffde0d82cfcfd92226ef993a1f442941b8a9ee7a604bfcf0353c830c46057196591a1656d9955b76",
        "6e300afaa989d69c7011e3cfb3b704b9fc13038a7bb3f4c0992217052d08f20c030a1e8e30149a971ac0f7f8",
        "04a0fe0770c144a6667d016399ecd51b43c5119ca0995648bde6870a1f5311d27b58f383b4e713c38676d009",
        "427862e23fe444ea6a434d3a45afced22fa51b071b5ecfbd54820ceba81e708b662587b579d4435211cfb512",
        "70468326ebf83ee4b4a99e1a6928756c587ec225c33add1d0f4701836e66cea330ca75831dd2364f85dc850e",
        "8c9140f0e1e3c08f3e0ffeca925e3fcd53085578b0fa1ef0320b5210d8f2a3b829f4c6ddd2d72f8542e60d60",
        "263ac89090f62dc1ea7c2227406188ce99e2ac0b0d11903ed9c2dfec0ea450355e59e636aa25211d180c630b",
        "1e113bfe83f160e363edeeafc8c65c818f7e6e34a1d50cda1c70f4cfb6c90f72415c0257865ab105bf11c7a0",
        "1589094a2634b7f9c285d0c78f07da172409ebc8cfe02e02f1ffee8c6529e175bbb83bd5c4f5537b7fee3d51",
        "24cf7f95ae831ccd9616601b328befd70faef0fb5005860f2319a90421d084af892983f89216fdeca3962a82",
        "b26b98ffe71ce338fd6e69e320a2fc49bb56e7028d552e4047bf7e2f166ff70c2fbbd380d35729e7e1d5e802",
        "0f74cd9ceadfcdcbbc2203569e06b883c8dd7b01ba8a33717f3b02f88a4d10f2b977a1391025ef9c6dd0c389",
        "d8383a22ed834144a8af169e8d7e8d680cbc141d08b02c3992d748a487014405c8df100d1d5fb33bb22d0343",
        "daf6679333e8113a1ac6b41a2fe7779bea184664210bff0b4e3ca1c16f03e0671bdf621b00000000cd5a74fd",
        "0001ce0c80100000535338dc3e300d8b020000000001595a",
    );

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn single_block_path_matches_the_original_and_the_general_reader() {
        let xz = unhex(BCJ_XZ);
        let mut out = Vec::new();
        decode_single_block(&xz, 1 << 20, &mut out)
            .expect("the layout xz_wrap.sh writes")
            .unwrap();
        assert_eq!(out, bcj_input());
        let mut general = Vec::new();
        lzma_rust2::XzReader::new(&xz[..], false)
            .read_to_end(&mut general)
            .unwrap();
        assert_eq!(general, out);
        // The filter did convert targets: without it the data differs.
        let layout = parse_block_header(&xz).unwrap();
        let mut raw = Vec::new();
        lzma_rust2::Lzma2Reader::new(&xz[layout.data..], layout.dict_size, None)
            .read_to_end(&mut raw)
            .unwrap();
        assert_ne!(raw, out);
    }

    #[test]
    fn a_corrupt_check_or_index_is_reported_and_other_layouts_go_elsewhere() {
        let xz = unhex(BCJ_XZ);
        let mut out = Vec::new();
        // The CRC32 of the data sits before the index (12 bytes for one record of these
        // sizes) and the stream footer (12 bytes).
        let mut bad = xz.clone();
        let n = bad.len();
        bad[n - 12 - 12 - 4] ^= 1;
        let e = decode_single_block(&bad, 1 << 20, &mut out)
            .unwrap()
            .unwrap_err();
        assert!(e.contains("CRC32"), "{e}");
        let mut bad = xz.clone();
        bad[n - 12 - 12 + 4] ^= 1; // the uncompressed size in the index record
        let e = decode_single_block(&bad, 1 << 20, &mut Vec::new())
            .unwrap()
            .unwrap_err();
        assert!(e.contains("index"), "{e}");
        // CRC64 in the stream flags: not this layout.
        let mut crc64 = xz.clone();
        crc64[7] = 0x04;
        assert!(decode_single_block(&crc64, 1 << 20, &mut Vec::new()).is_none());
    }

    #[test]
    fn bit_flips_anywhere_give_errors_or_other_data_never_a_panic() {
        let xz = unhex(BCJ_XZ);
        for at in 0..xz.len() {
            let mut bad = xz.clone();
            bad[at] ^= 1 << (at % 8);
            let _ = decode_single_block(&bad, 4096, &mut Vec::new());
        }
    }

    #[test]
    fn varints_are_seven_bits_a_byte_with_no_trailing_zero_byte() {
        assert_eq!(varint(&mut &[0x05][..]), Some(5));
        assert_eq!(varint(&mut &[0x80, 0x01][..]), Some(128));
        assert_eq!(varint(&mut &[0x80, 0x00][..]), None, "not minimal");
        assert_eq!(varint(&mut &[0x80][..]), None, "truncated");
    }

    #[test]
    fn bcj_leaves_short_and_unconvertible_input_alone() {
        let mut b = [0xE8, 1, 2, 3];
        bcj_x86_decode(&mut b);
        assert_eq!(b, [0xE8, 1, 2, 3]);
        // CALL with a target whose top byte is neither 00 nor FF is not converted.
        let mut b = [0xE8, 1, 2, 3, 0x12, 0x90];
        bcj_x86_decode(&mut b);
        assert_eq!(b, [0xE8, 1, 2, 3, 0x12, 0x90]);
    }

    #[test]
    fn bcj_turns_an_absolute_call_target_back_into_a_relative_one() {
        // At offset 0x10 a CALL whose absolute target is 0x1000 (as the encoder wrote it):
        // the relative displacement is 0x1000 - (0x10 + 5).
        let mut b = vec![0x90; 0x20];
        b[0x10] = 0xE8;
        b[0x11..0x15].copy_from_slice(&0x1000u32.to_le_bytes());
        bcj_x86_decode(&mut b);
        assert_eq!(le32(&b[0x11..0x15]), 0x1000 - 0x15);
    }
}
