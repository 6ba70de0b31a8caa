//! The library against the processor it runs on: random operands (biased towards zeros,
//! denormals, pseudo-denormals, unnormals, infinities, NaNs, halfway and near-overflow
//! values) through the host's x87 and SSE units and through this library, with every
//! control-word rounding and precision mode, all exceptions masked. Results, exception
//! flags and C1 must agree bit for bit. (x86-64 hosts only; elsewhere there is nothing to
//! compare with.)

use std::arch::asm;

use super::compare::{compare, Relation};
use super::convert::{convert, from_int, to_int};
use super::rem::fprem;
use super::scale::{fscale, fxtract};
use super::{add, div, mul, rndint, sqrt, trans};
use super::{Ctx, Exc, Round, F32, F64, F80};
use crate::conformance::hostdiff::gen::Rng;

/// The host's x87 state after one operation: ST0, ST1 and the status word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HostOut {
    st0: F80,
    st1: F80,
    sw: u16,
    mem: [u8; 10],
}

macro_rules! x87_op {
    ($name:ident, $($ins:literal),+) => {
        /// Runs the instructions with ST0 = a, ST1 = b under control word `cw`; `mem` is a
        /// memory operand. Exceptions stay pending (only non-waiting instructions follow).
        fn $name(a: F80, b: F80, cw: u16, mem: [u8; 10]) -> HostOut {
            let (ab, bb) = (a.to_bytes(), b.to_bytes());
            let mut m = [0u8; 16];
            m[..10].copy_from_slice(&mem);
            let mut save = [0u8; 108];
            // SAFETY: the block uses only the x87 unit, the three buffers it is given and
            // the control word; it leaves the x87 initialized (FNSAVE) as it found it.
            unsafe {
                asm!(
                    "fninit",
                    "fld tbyte ptr [{b}]",
                    "fld tbyte ptr [{a}]",
                    "fnclex",
                    "fldcw word ptr [{cw}]",
                    $($ins,)+
                    "fnsave [{save}] /* {m} */",
                    a = in(reg) ab.as_ptr(),
                    b = in(reg) bb.as_ptr(),
                    cw = in(reg) &cw,
                    m = in(reg) m.as_mut_ptr(),
                    save = in(reg) save.as_mut_ptr(),
                    options(nostack),
                );
            }
            let reg = |i: usize| {
                let mut r = [0u8; 10];
                r.copy_from_slice(&save[28 + 10 * i..38 + 10 * i]);
                F80::from_bytes(r)
            };
            let mut mem = [0u8; 10];
            mem.copy_from_slice(&m[..10]);
            HostOut {
                st0: reg(0),
                st1: reg(1),
                sw: u16::from_le_bytes([save[4], save[5]]),
                mem,
            }
        }
    };
}

x87_op!(h_fadd, "fadd st(0), st(1)");
x87_op!(h_fsub, "fsub st(0), st(1)");
x87_op!(h_fmul, "fmul st(0), st(1)");
x87_op!(h_fdiv, "fdiv st(0), st(1)");
x87_op!(h_fsqrt, "fsqrt");
x87_op!(h_frndint, "frndint");
x87_op!(h_fprem, "fprem");
x87_op!(h_fprem1, "fprem1");
x87_op!(h_fscale, "fscale");
x87_op!(h_fxtract, "fxtract");
x87_op!(h_fsin, "fsin");
x87_op!(h_fcos, "fcos");
x87_op!(h_fptan, "fptan");
x87_op!(h_fsincos, "fsincos");
x87_op!(h_fpatan, "fpatan");
x87_op!(h_f2xm1, "f2xm1");
x87_op!(h_fyl2x, "fyl2x");
x87_op!(h_fyl2xp1, "fyl2xp1");
x87_op!(h_fcom, "fcom st(1)");
x87_op!(h_fucom, "fucom st(1)");
x87_op!(h_fst32, "fst dword ptr [{m}]");
x87_op!(h_fst64, "fst qword ptr [{m}]");
x87_op!(h_fld32, "fld dword ptr [{m}]");
x87_op!(h_fld64, "fld qword ptr [{m}]");
x87_op!(h_fist16, "fist word ptr [{m}]");
x87_op!(h_fist32, "fist dword ptr [{m}]");
x87_op!(h_fistp64, "fistp qword ptr [{m}]");
x87_op!(h_fisttp32, "fisttp dword ptr [{m}]");
x87_op!(h_fild64, "fild qword ptr [{m}]");
x87_op!(h_fild32, "fild dword ptr [{m}]");

/// A random 80-bit operand, biased to the edges.
pub fn rand_f80(r: &mut Rng) -> F80 {
    let sign = (r.below(2) as u16) << 15;
    let m = match r.below(6) {
        0 => 1 << 63 | r.next_u64() >> r.below(64),
        1 => u64::MAX << r.below(64),
        2 => 1 << 63 | (r.below(4) << 61) | r.below(8),
        _ => 1 << 63 | r.next_u64(),
    };
    let e: u16 = match r.below(20) {
        0 => 0,
        1 => 0x7FFF,
        2 => r.below(70) as u16,
        3 => 0x7FFF - r.below(70) as u16,
        4..=6 => 0x3FFF + r.below(130) as u16 - 65,
        7 => 0x3FFF + r.below(8) as u16 - 4,
        8 => 0x3F81 - 40 + r.below(80) as u16,
        9 => 0x3C01 - 60 + r.below(120) as u16,
        _ => r.below(0x7FFF) as u16,
    };
    let mut m = m;
    match r.below(24) {
        0 => m = 0,
        1 => m &= !(1 << 63), // unnormal, pseudo-denormal...
        2 => m = 1 << 63,     // infinity with e = 7FFF
        3 => m = 0xC000_0000_0000_0000,
        _ => {}
    }
    if e == 0 && r.chance(1, 2) {
        m &= !(1 << 63);
    }
    F80 { se: sign | e, m }
}

/// A second operand: often close to the first (cancellation, halfway cases), or an edge.
fn rand_pair(r: &mut Rng) -> (F80, F80) {
    let a = rand_f80(r);
    let b = match r.below(4) {
        0 => F80 {
            se: a.se ^ ((r.below(2) as u16) << 15),
            m: a.m ^ (1 << r.below(64)) ^ r.below(4),
        },
        1 => F80 {
            se: (a.se & 0x8000
                | (a.se & 0x7FFF)
                    .wrapping_add(r.below(130) as u16)
                    .wrapping_sub(65)
                    & 0x7FFF)
                ^ ((r.below(2) as u16) << 15),
            m: a.m,
        },
        _ => rand_f80(r),
    };
    (a, b)
}

/// A control word with random rounding and precision, all exceptions masked except, in a
/// quarter of the cases, some of OE, UE and PE (whose unmasked responses still write the
/// register).
fn rand_cw(r: &mut Rng) -> u16 {
    let unmask = if r.chance(1, 4) {
        (r.below(8) as u16) << 3
    } else {
        0
    };
    (0x037F & !0x0F00 | (r.below(4) as u16) << 10 | (r.below(4) as u16) << 8) & !unmask
}

/// The status word bits compared: the exception flags, SF and C1.
const SW_MASK: u16 = 0x3F | 0x40 | 0x200;

fn sw_of(ctx: &Ctx) -> u16 {
    ctx.flags.bits() as u16 | (ctx.up as u16) << 9
}

use crate::conformance::hostdiff::compare::ulps;

fn check(
    what: &str,
    i: u64,
    inputs: &str,
    host: (Vec<F80>, u16),
    mine: (Vec<F80>, u16),
    fails: &mut u32,
) {
    if host != mine {
        if std::env::var("VX86_CLASSIFY").is_ok() {
            let worst = host
                .0
                .iter()
                .zip(&mine.0)
                .map(|(a, b)| ulps(*a, *b))
                .max()
                .unwrap_or(0);
            let kind = if host.0 != mine.0 {
                format!(
                    "value {worst} ulp{}",
                    if (host.1 ^ mine.1) & !0x200 != 0 {
                        " +flags"
                    } else {
                        ""
                    }
                )
            } else if (host.1 ^ mine.1) == 0x200 {
                "C1 only".to_string()
            } else {
                format!("flags {:#x}", host.1 ^ mine.1)
            };
            eprintln!(
                "CLASS {what} {kind} | {inputs} | host {:x?} {:#06x} | mine {:x?} {:#06x}",
                host.0, host.1, mine.0, mine.1
            );
        }
        *fails += 1;
        if *fails <= 6 || std::env::var("VX86_ALL").is_ok() {
            eprintln!(
                "{what} #{i}: {inputs}\n  host {:x?} sw {:#06x}\n  mine {:x?} sw {:#06x}",
                host.0, host.1, mine.0, mine.1
            );
        }
    }
}

fn fmt2(a: F80, b: F80, cw: u16) -> String {
    format!(
        "a = {:04x}:{:016x} b = {:04x}:{:016x} cw {:#06x}",
        a.se, a.m, b.se, b.m, cw
    )
}

/// Runs `n` random cases of a binary operation.
fn binary(
    name: &str,
    n: u64,
    seed: u64,
    host: fn(F80, F80, u16, [u8; 10]) -> HostOut,
    mine: fn(&mut Ctx, F80, F80) -> F80,
) -> u32 {
    let mut r = Rng::new(seed);
    let mut fails = 0;
    for i in 0..n {
        let (a, b) = rand_pair(&mut r);
        let cw = rand_cw(&mut r);
        let h = host(a, b, cw, [0; 10]);
        let mut c = Ctx::x87(cw);
        let v = mine(&mut c, a, b);
        check(
            name,
            i,
            &fmt2(a, b, cw),
            (vec![h.st0], h.sw & SW_MASK),
            (vec![v], sw_of(&c)),
            &mut fails,
        );
    }
    if fails > 0 {
        eprintln!("{name}: {fails} of {n} differ");
    }
    fails
}

#[test]
fn x87_arithmetic_matches_the_host() {
    let n = 200_000;
    let mut fails = 0;
    fails += binary("fadd", n, 1, h_fadd, add::add);
    fails += binary("fsub", n, 2, h_fsub, add::sub);
    fails += binary("fmul", n, 3, h_fmul, mul::mul);
    fails += binary("fdiv", n, 4, h_fdiv, div::div);
    fails += binary("fsqrt", n, 5, h_fsqrt, |c, a, _| sqrt::sqrt(c, a));
    fails += binary("frndint", n, 6, h_frndint, |c, a, _| {
        let round = c.round;
        rndint::round_to_int(c, a, round)
    });
    fails += binary("fscale", n, 7, h_fscale, fscale);
    assert_eq!(fails, 0, "mismatches with the host's x87");
}

/// Runs `n` random cases of an operation with up to two register results, the status word
/// bits in `sw_mask` compared.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn general(
    name: &str,
    n: u64,
    seed: u64,
    gen: fn(&mut Rng) -> (F80, F80),
    host: fn(F80, F80, u16, [u8; 10]) -> HostOut,
    pick: fn(&HostOut) -> Vec<F80>,
    mine: fn(&mut Ctx, F80, F80) -> (Vec<F80>, u16),
    sw_mask: u16,
) -> u32 {
    general_tol(name, n, seed, gen, host, pick, mine, sw_mask, false)
}

/// [`general`], optionally tolerating the last-bit differences of the transcendental
/// functions (`last_bit`): results within one unit in the last place and C1.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn general_tol(
    name: &str,
    n: u64,
    seed: u64,
    gen: fn(&mut Rng) -> (F80, F80),
    host: fn(F80, F80, u16, [u8; 10]) -> HostOut,
    pick: fn(&HostOut) -> Vec<F80>,
    mine: fn(&mut Ctx, F80, F80) -> (Vec<F80>, u16),
    sw_mask: u16,
    last_bit: bool,
) -> u32 {
    let mut r = Rng::new(seed);
    let mut fails = 0;
    let mut near = 0;
    for i in 0..n {
        let (a, b) = gen(&mut r);
        let cw = rand_cw(&mut r);
        if std::env::var("VX86_TRACE").is_ok() {
            eprintln!("{name} {i} {}", fmt2(a, b, cw));
        }
        let h = host(a, b, cw, [0; 10]);
        let mut c = Ctx::x87(cw);
        let (v, extra) = mine(&mut c, a, b);
        let (hv, hs) = (pick(&h), h.sw & sw_mask);
        let ms = (sw_of(&c) | extra) & sw_mask;
        if last_bit
            && (hv != v || hs != ms)
            && (hs ^ ms) & !C1 == 0
            && hv.len() == v.len()
            && hv.iter().zip(&v).all(|(x, y)| ulps(*x, *y) <= 1)
        {
            near += 1;
            continue;
        }
        check(name, i, &fmt2(a, b, cw), (hv, hs), (v, ms), &mut fails);
    }
    if fails > 0 || near > 0 {
        eprintln!("{name}: {fails} of {n} differ; {near} differ in the last bit or C1 only");
    }
    fails
}

const C0: u16 = 1 << 8;
const C1: u16 = 1 << 9;
const C2: u16 = 1 << 10;
const C3: u16 = 1 << 14;
const FLAGS: u16 = 0x3F;

fn st0(h: &HostOut) -> Vec<F80> {
    vec![h.st0]
}

fn st01(h: &HostOut) -> Vec<F80> {
    vec![h.st0, h.st1]
}

/// A pair for the partial remainders: often nearby exponents, sometimes far apart.
fn rem_pair(r: &mut Rng) -> (F80, F80) {
    let (a, mut b) = rand_pair(r);
    if r.chance(1, 2) && a.exp() != 0x7FFF && a.exp() > 10 {
        b.se = b.se & 0x8000 | (a.exp() - r.below(100).min(a.exp() as u64 - 1) as u16);
        b.m |= 1 << 63;
    }
    (a, b)
}

#[test]
fn x87_remainders_and_scaling_match_the_host() {
    let n = 100_000;
    let mut fails = 0;
    for (nearest, name, host) in [
        (
            false,
            "fprem",
            h_fprem as fn(F80, F80, u16, [u8; 10]) -> HostOut,
        ),
        (true, "fprem1", h_fprem1),
    ] {
        fails += general(
            name,
            n,
            11 + nearest as u64,
            rem_pair,
            host,
            st0,
            if nearest {
                |c, a, b| rem_case(c, a, b, true)
            } else {
                |c, a, b| rem_case(c, a, b, false)
            },
            FLAGS | C0 | C1 | C2 | C3,
        );
    }
    fails += general(
        "fxtract",
        n,
        13,
        rand_pair,
        h_fxtract,
        st01,
        |c, a, _| {
            let (e, s) = fxtract(c, a);
            (vec![s, e], 0)
        },
        FLAGS | C1,
    );
    assert_eq!(fails, 0, "mismatches with the host's x87");
}

fn rem_case(c: &mut Ctx, a: F80, b: F80, nearest: bool) -> (Vec<F80>, u16) {
    let r = fprem(c, a, b, nearest);
    let q = r.quotient;
    let mut sw = 0;
    if r.complete {
        // C0 = Q2, C3 = Q1, C1 = Q0.
        sw |= if q & 4 != 0 { C0 } else { 0 }
            | if q & 2 != 0 { C3 } else { 0 }
            | if q & 1 != 0 { C1 } else { 0 };
    } else {
        sw |= C2;
    }
    c.up = false;
    (vec![r.value], sw)
}

fn comparison(c: &mut Ctx, a: F80, b: F80, signaling: bool) -> (Vec<F80>, u16) {
    let sw = match compare(c, a, b, signaling) {
        Relation::Greater => 0,
        Relation::Less => C0,
        Relation::Equal => C3,
        Relation::Unordered => C0 | C2 | C3,
    };
    (vec![], sw)
}

#[test]
fn x87_comparisons_match_the_host() {
    let n = 100_000;
    let mut fails = 0;
    fails += general(
        "fcom",
        n,
        21,
        rand_pair,
        h_fcom,
        |_| vec![],
        |c, a, b| comparison(c, a, b, true),
        FLAGS | C0 | C1 | C2 | C3,
    );
    fails += general(
        "fucom",
        n,
        22,
        rand_pair,
        h_fucom,
        |_| vec![],
        |c, a, b| comparison(c, a, b, false),
        FLAGS | C0 | C1 | C2 | C3,
    );
    assert_eq!(fails, 0, "mismatches with the host's x87");
}

/// Operands for the trigonometric functions: mostly moderate, some huge or tiny.
fn trig_pair(r: &mut Rng) -> (F80, F80) {
    let (mut a, b) = rand_pair(r);
    if r.chance(3, 4) && a.exp() != 0x7FFF && a.exp() != 0 {
        a.se = a.se & 0x8000 | (0x3FFF + r.below(70) as u16 - 8);
        a.m |= 1 << 63;
    }
    (a, b)
}

/// Operands within F2XM1's domain and near FYL2XP1's.
fn small_pair(r: &mut Rng) -> (F80, F80) {
    let (mut a, b) = rand_pair(r);
    if a.exp() != 0x7FFF && a.exp() >= 0x3FFF {
        a.se = a.se & 0x8000 | (0x3FFE - r.below(80) as u16);
    }
    (a, b)
}

fn positive_pair(r: &mut Rng) -> (F80, F80) {
    let (mut a, b) = rand_pair(r);
    if r.chance(7, 8) {
        a.se &= 0x7FFF;
    }
    (a, b)
}

fn trig(r: Option<F80>, a: F80) -> (Vec<F80>, u16) {
    match r {
        Some(v) => (vec![v], 0),
        None => (vec![a], C2),
    }
}

#[test]
fn x87_transcendentals_match_the_host() {
    let n: u64 = std::env::var("VX86_TRANS_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut fails = 0;
    let general = |name, n, seed, gen, host, pick, mine, sw_mask| {
        general_tol(name, n, seed, gen, host, pick, mine, sw_mask, true)
    };
    fails += general(
        "fsin",
        n,
        31,
        trig_pair,
        h_fsin,
        st0,
        |c, a, _| trig(trans::fsin(c, a), a),
        FLAGS | C1 | C2,
    );
    fails += general(
        "fcos",
        n,
        32,
        trig_pair,
        h_fcos,
        st0,
        |c, a, _| trig(trans::fcos(c, a), a),
        FLAGS | C1 | C2,
    );
    fails += general(
        "fptan",
        n,
        33,
        trig_pair,
        h_fptan,
        st01,
        |c, a, b| match trans::ftan(c, a) {
            // A NaN result is pushed in place of the 1.0.
            Some(v) if v.exp() == 0x7FFF && v.m << 1 != 0 => (vec![v, v], 0),
            Some(v) => (vec![F80::ONE, v], 0),
            _ => (vec![a, b], C2),
        },
        FLAGS | C1 | C2,
    );
    fails += general(
        "fsincos",
        n,
        34,
        trig_pair,
        h_fsincos,
        st01,
        |c, a, b| match trans::fsincos(c, a) {
            Some((s, co)) => (vec![co, s], 0),
            None => (vec![a, b], C2),
        },
        FLAGS | C1 | C2,
    );
    fails += general(
        "fpatan",
        n,
        35,
        rand_pair,
        h_fpatan,
        st0,
        |c, a, b| (vec![trans::fpatan(c, b, a)], 0),
        FLAGS | C1,
    );
    fails += general(
        "f2xm1",
        n,
        36,
        small_pair,
        h_f2xm1,
        st0,
        |c, a, _| (vec![trans::f2xm1(c, a)], 0),
        FLAGS | C1,
    );
    fails += general(
        "fyl2x",
        n,
        37,
        positive_pair,
        h_fyl2x,
        st0,
        |c, a, b| (vec![trans::fyl2x(c, b, a)], 0),
        FLAGS | C1,
    );
    fails += general(
        "fyl2xp1",
        n,
        38,
        small_pair,
        h_fyl2xp1,
        st0,
        |c, a, b| (vec![trans::fyl2xp1(c, b, a)], 0),
        FLAGS | C1,
    );
    assert_eq!(fails, 0, "mismatches with the host's x87");
}

fn mem_of(bytes: &[u8]) -> [u8; 10] {
    let mut m = [0u8; 10];
    m[..bytes.len()].copy_from_slice(bytes);
    m
}

#[test]
fn x87_conversions_match_the_host() {
    let n = 100_000;
    let mut r = Rng::new(41);
    let mut fails = 0u32;
    for i in 0..n {
        let (a, b) = rand_pair(&mut r);
        let cw = rand_cw(&mut r) | 0x3F;
        let ins = fmt2(a, b, cw);
        // FST m32 / m64.
        let h = h_fst32(a, b, cw, [0; 10]);
        let mut c = Ctx::x87(cw);
        let v = convert::<F80, F32>(&mut c, a);
        check(
            "fst m32",
            i,
            &ins,
            (vec![], h.sw & (FLAGS | C1)),
            (vec![], sw_of(&c)),
            &mut fails,
        );
        check(
            "fst m32 value",
            i,
            &ins,
            (vec![F80::from_bytes(h.mem)], 0),
            (vec![F80::from_bytes(mem_of(&v.0.to_le_bytes()))], 0),
            &mut fails,
        );
        let h = h_fst64(a, b, cw, [0; 10]);
        let mut c = Ctx::x87(cw);
        let v = convert::<F80, F64>(&mut c, a);
        check(
            "fst m64",
            i,
            &ins,
            (vec![F80::from_bytes(h.mem)], h.sw & (FLAGS | C1)),
            (vec![F80::from_bytes(mem_of(&v.0.to_le_bytes()))], sw_of(&c)),
            &mut fails,
        );
        // FLD m32 / m64 of random bit patterns.
        let bits = r.value();
        let h = h_fld32(a, b, cw, mem_of(&(bits as u32).to_le_bytes()));
        let mut c = Ctx::x87(cw);
        let v = convert::<F32, F80>(&mut c, F32(bits as u32));
        check(
            "fld m32",
            i,
            &format!("{bits:#x}"),
            (vec![h.st0], h.sw & FLAGS),
            (vec![v], c.flags.bits() as u16),
            &mut fails,
        );
        let h = h_fld64(a, b, cw, mem_of(&bits.to_le_bytes()));
        let mut c = Ctx::x87(cw);
        let v = convert::<F64, F80>(&mut c, F64(bits));
        check(
            "fld m64",
            i,
            &format!("{bits:#x}"),
            (vec![h.st0], h.sw & FLAGS),
            (vec![v], c.flags.bits() as u16),
            &mut fails,
        );
        // FILD m64 / m32.
        let h = h_fild64(a, b, cw, mem_of(&bits.to_le_bytes()));
        let v = from_int::<F80>(&mut Ctx::x87(cw), bits as i64);
        check(
            "fild m64",
            i,
            &format!("{bits:#x}"),
            (vec![h.st0], h.sw & FLAGS),
            (vec![v], 0),
            &mut fails,
        );
        let h = h_fild32(a, b, cw, mem_of(&bits.to_le_bytes()));
        let v = from_int::<F80>(&mut Ctx::x87(cw), bits as i32 as i64);
        check(
            "fild m32",
            i,
            &format!("{bits:#x}"),
            (vec![h.st0], h.sw & FLAGS),
            (vec![v], 0),
            &mut fails,
        );
        // FIST m16 / m32, FISTP m64, FISTTP m32.
        let round = Round::from_bits(cw >> 10);
        for (name, host, width, rnd) in [
            (
                "fist m16",
                h_fist16 as fn(F80, F80, u16, [u8; 10]) -> HostOut,
                16,
                round,
            ),
            ("fist m32", h_fist32, 32, round),
            ("fistp m64", h_fistp64, 64, round),
            ("fisttp m32", h_fisttp32, 32, Round::Zero),
        ] {
            let h = host(a, b, cw, [0; 10]);
            let mut c = Ctx::x87(cw);
            let v = to_int(&mut c, a, width, rnd);
            let hv = u64::from_le_bytes(h.mem[..8].try_into().unwrap())
                & if width == 64 {
                    u64::MAX
                } else {
                    (1 << width) - 1
                };
            check(
                name,
                i,
                &ins,
                (vec![F80 { se: 0, m: hv }], h.sw & (FLAGS | C1)),
                (vec![F80 { se: 0, m: v }], sw_of(&c)),
                &mut fails,
            );
        }
    }
    let _ = Exc::empty();
    assert_eq!(fails, 0, "mismatches with the host's x87");
}

macro_rules! sse_op {
    ($name:ident, $ins:literal) => {
        /// Runs one SSE instruction on xmm0 = a, xmm1 = b (low 64 bits) under `mxcsr`;
        /// returns the low 64 bits of xmm0 and MXCSR after.
        fn $name(a: u64, b: u64, mxcsr: u32) -> (u64, u32) {
            let mut out = 0u64;
            let mut csr = mxcsr;
            // SAFETY: the block uses xmm0/xmm1 (declared clobbered), rax, and MXCSR, which it
            // restores from a saved copy before it ends.
            unsafe {
                asm!(
                    "sub rsp, 8",
                    "stmxcsr [rsp]",
                    "ldmxcsr [{csr}]",
                    "movq xmm0, {a}",
                    "movq xmm1, {b}",
                    $ins,
                    "movq {out}, xmm0",
                    "stmxcsr [{csr}]",
                    "ldmxcsr [rsp]",
                    "add rsp, 8",
                    a = in(reg) a,
                    b = in(reg) b,
                    out = out(reg) out,
                    csr = in(reg) &mut csr,
                    out("xmm0") _,
                    out("xmm1") _,
                );
            }
            (out, csr)
        }
    };
}

sse_op!(h_addss, "addss xmm0, xmm1");
sse_op!(h_subss, "subss xmm0, xmm1");
sse_op!(h_mulss, "mulss xmm0, xmm1");
sse_op!(h_divss, "divss xmm0, xmm1");
sse_op!(h_sqrtss, "sqrtss xmm0, xmm1");
sse_op!(h_addsd, "addsd xmm0, xmm1");
sse_op!(h_subsd, "subsd xmm0, xmm1");
sse_op!(h_mulsd, "mulsd xmm0, xmm1");
sse_op!(h_divsd, "divsd xmm0, xmm1");
sse_op!(h_sqrtsd, "sqrtsd xmm0, xmm1");
sse_op!(h_cvtss2sd, "cvtss2sd xmm0, xmm1");
sse_op!(h_cvtsd2ss, "cvtsd2ss xmm0, xmm1");
sse_op!(h_cvtsd2si, "cvtsd2si rax, xmm1\nmovq xmm0, rax");
sse_op!(h_cvttss2si32, "cvttss2si eax, xmm1\nmovq xmm0, rax");
sse_op!(h_cvtsi2sd, "movq rax, xmm1\ncvtsi2sd xmm0, rax");
sse_op!(h_cvtsi2ss, "movq rax, xmm1\ncvtsi2ss xmm0, rax");
sse_op!(h_roundsd, "roundsd xmm0, xmm1, 4");

/// A random binary32 or binary64 bit pattern biased to the edges (`bits` 32 or 64).
fn rand_ieee(r: &mut Rng, bits: u32) -> u64 {
    let (ebits, fbits) = if bits == 32 { (8, 23) } else { (11, 52) };
    let emax = (1u64 << ebits) - 1;
    let e = match r.below(8) {
        0 => 0,
        1 => emax,
        2 => r.below(4),
        3 => emax - 1 - r.below(4),
        4 => emax / 2 + r.below(8) - 4,
        _ => r.below(emax + 1),
    };
    let f = match r.below(5) {
        0 => 0,
        1 => 1 << r.below(fbits),
        2 => (1 << fbits) - 1 - r.below(3),
        _ => r.next_u64() & ((1 << fbits) - 1),
    };
    (r.below(2) << (bits - 1)) | e << fbits | f
}

/// Random MXCSR: all exceptions masked, any rounding mode, DAZ and FTZ at random.
fn rand_mxcsr(r: &mut Rng) -> u32 {
    0x1F80 | (r.below(4) as u32) << 13 | (r.below(2) as u32) << 6 | (r.below(2) as u32) << 15
}

#[test]
fn sse_arithmetic_matches_the_host() {
    let n = 50_000;
    let mut r = Rng::new(51);
    let mut fails = 0u32;
    type Op32 = fn(&mut Ctx, F32, F32) -> F32;
    type Op64 = fn(&mut Ctx, F64, F64) -> F64;
    type Host = fn(u64, u64, u32) -> (u64, u32);
    let ops32: [(&str, Host, Op32); 5] = [
        ("addss", h_addss, |c, a, b| add::add(c, a, b)),
        ("subss", h_subss, |c, a, b| add::sub(c, a, b)),
        ("mulss", h_mulss, |c, a, b| mul::mul(c, a, b)),
        ("divss", h_divss, |c, a, b| div::div(c, a, b)),
        ("sqrtss", h_sqrtss, |c, _, b| sqrt::sqrt(c, b)),
    ];
    let ops64: [(&str, Host, Op64); 6] = [
        ("addsd", h_addsd, |c, a, b| add::add(c, a, b)),
        ("subsd", h_subsd, |c, a, b| add::sub(c, a, b)),
        ("mulsd", h_mulsd, |c, a, b| mul::mul(c, a, b)),
        ("divsd", h_divsd, |c, a, b| div::div(c, a, b)),
        ("sqrtsd", h_sqrtsd, |c, _, b| sqrt::sqrt(c, b)),
        ("roundsd", h_roundsd, |c, _, b| {
            let round = c.round;
            rndint::round_to_int(c, b, round)
        }),
    ];
    for i in 0..n {
        let csr = rand_mxcsr(&mut r);
        let (a32, b32) = (rand_ieee(&mut r, 32), rand_ieee(&mut r, 32));
        let (a64, b64) = (rand_ieee(&mut r, 64), rand_ieee(&mut r, 64));
        let ins = format!("a {a32:#x}/{a64:#x} b {b32:#x}/{b64:#x} mxcsr {csr:#x}");
        for (name, host, mine) in ops32 {
            let (hv, hc) = host(a32, b32, csr);
            let mut c = Ctx::sse(csr);
            let v = mine(&mut c, F32(a32 as u32), F32(b32 as u32));
            check(
                name,
                i,
                &ins,
                (
                    vec![F80 {
                        se: 0,
                        m: hv & 0xFFFF_FFFF,
                    }],
                    (hc & 0x3F) as u16,
                ),
                (
                    vec![F80 {
                        se: 0,
                        m: v.0 as u64,
                    }],
                    c.flags.bits() as u16,
                ),
                &mut fails,
            );
        }
        for (name, host, mine) in ops64 {
            let (hv, hc) = host(a64, b64, csr);
            let mut c = Ctx::sse(csr);
            let v = mine(&mut c, F64(a64), F64(b64));
            check(
                name,
                i,
                &ins,
                (vec![F80 { se: 0, m: hv }], (hc & 0x3F) as u16),
                (vec![F80 { se: 0, m: v.0 }], c.flags.bits() as u16),
                &mut fails,
            );
        }
        // Conversions.
        let (hv, hc) = h_cvtss2sd(0, b32, csr);
        let mut c = Ctx::sse(csr);
        let v = convert::<F32, F64>(&mut c, F32(b32 as u32));
        check(
            "cvtss2sd",
            i,
            &ins,
            (vec![F80 { se: 0, m: hv }], (hc & 0x3F) as u16),
            (vec![F80 { se: 0, m: v.0 }], c.flags.bits() as u16),
            &mut fails,
        );
        let (hv, hc) = h_cvtsd2ss(0, b64, csr);
        let mut c = Ctx::sse(csr);
        let v = convert::<F64, F32>(&mut c, F64(b64));
        check(
            "cvtsd2ss",
            i,
            &ins,
            (
                vec![F80 {
                    se: 0,
                    m: hv & 0xFFFF_FFFF,
                }],
                (hc & 0x3F) as u16,
            ),
            (
                vec![F80 {
                    se: 0,
                    m: v.0 as u64,
                }],
                c.flags.bits() as u16,
            ),
            &mut fails,
        );
        let (hv, hc) = h_cvtsd2si(0, b64, csr);
        let mut c = Ctx::sse(csr);
        let round = c.round;
        let v = to_int(&mut c, F64(b64), 64, round);
        check(
            "cvtsd2si",
            i,
            &ins,
            (vec![F80 { se: 0, m: hv }], (hc & 0x3F) as u16),
            (vec![F80 { se: 0, m: v }], c.flags.bits() as u16),
            &mut fails,
        );
        let (hv, hc) = h_cvttss2si32(0, b32, csr);
        let mut c = Ctx::sse(csr);
        let v = to_int(&mut c, F32(b32 as u32), 32, Round::Zero);
        check(
            "cvttss2si",
            i,
            &ins,
            (
                vec![F80 {
                    se: 0,
                    m: hv & 0xFFFF_FFFF,
                }],
                (hc & 0x3F) as u16,
            ),
            (vec![F80 { se: 0, m: v }], c.flags.bits() as u16),
            &mut fails,
        );
        let int = r.value();
        let (hv, hc) = h_cvtsi2sd(0, int, csr);
        let mut c = Ctx::sse(csr);
        let v = from_int::<F64>(&mut c, int as i64);
        check(
            "cvtsi2sd",
            i,
            &ins,
            (vec![F80 { se: 0, m: hv }], (hc & 0x3F) as u16),
            (vec![F80 { se: 0, m: v.0 }], c.flags.bits() as u16),
            &mut fails,
        );
        let (hv, hc) = h_cvtsi2ss(0, int, csr);
        let mut c = Ctx::sse(csr);
        let v = from_int::<F32>(&mut c, int as i64);
        check(
            "cvtsi2ss",
            i,
            &ins,
            (
                vec![F80 {
                    se: 0,
                    m: hv & 0xFFFF_FFFF,
                }],
                (hc & 0x3F) as u16,
            ),
            (
                vec![F80 {
                    se: 0,
                    m: v.0 as u64,
                }],
                c.flags.bits() as u16,
            ),
            &mut fails,
        );
    }
    assert_eq!(fails, 0, "mismatches with the host's SSE unit");
}

/// Prints the hard-case table of `tests.rs` from the host's x87 (run with `--ignored`).
#[test]
#[ignore]
fn print_hard_case_table() {
    let one = F80::ONE;
    let f = |se: u16, m: u64| F80 { se, m };
    let half_ulp = f(0x3FFF - 64, 1 << 63); // 2^-64: half an ulp of 1.0 at 64 bits
    let cases: Vec<(&str, F80, F80)> = vec![
        ("add", one, half_ulp),
        ("add", f(0x3FFF, 0x8000_0000_0000_0001), half_ulp),
        ("add", f(0x3FFF, u64::MAX), half_ulp),
        ("sub", one, f(0x3FFF - 65, 1 << 63)),
        ("sub", one, one),
        ("add", F80::zero(true), F80::zero(true)),
        ("add", F80::zero(false), F80::zero(true)),
        ("mul", F80::zero(false), -one),
        ("add", f(0x3FFF, 0x8000_0080_0000_0000), F80::ZERO),
        ("add", f(0x3FFF, 0x8000_0000_0000_0400), F80::ZERO),
        ("mul", f(0x0001, 1 << 63), f(0x3FFE, 1 << 63)),
        ("mul", f(0x0001, 0xC000_0000_0000_0000), f(0x3FFE, 1 << 63)),
        ("mul", f(0x0000, 1), f(0x3FFE, 1 << 63)),
        ("mul", f(0x0000, 3), f(0x3FFE, 1 << 63)),
        ("div", f(0x0001, 1 << 63), f(0x4000, 0xC000_0000_0000_0000)),
        ("mul", f(0x7FFE, u64::MAX), f(0x3FFF, 0x8000_0000_0000_0001)),
        ("div", one, f(0x4000, 0xC000_0000_0000_0000)),
        ("div", one, F80::ZERO),
        ("sqrt", f(0x4000, 1 << 63), F80::ZERO),
        ("sqrt", f(0x0000, 1), F80::ZERO),
        ("sub", F80::inf(false), F80::inf(false)),
        (
            "add",
            f(0x7FFF, 0x8000_0000_0000_0001),
            f(0x7FFF, 0xC000_0000_0000_0002),
        ),
        ("add", f(0x3FFF, 1), one),
    ];
    for (op, a, b) in cases {
        for cw in [0x037F, 0x077F, 0x0B7F, 0x0F7F, 0x007F, 0x027F] {
            let h = match op {
                "add" => h_fadd(a, b, cw, [0; 10]),
                "sub" => h_fsub(a, b, cw, [0; 10]),
                "mul" => h_fmul(a, b, cw, [0; 10]),
                "div" => h_fdiv(a, b, cw, [0; 10]),
                _ => h_fsqrt(a, b, cw, [0; 10]),
            };
            println!(
                "    (\"{op}\", {cw:#06x}, ({:#06x}, {:#018x}), ({:#06x}, {:#018x}), ({:#06x}, {:#018x}), {:#06x}),",
                a.se, a.m, b.se, b.m, h.st0.se, h.st0.m, h.sw & SW_MASK
            );
        }
    }
}

/// Prints the binary32/64 hard-case table of `tests.rs` from the host's SSE unit.
#[test]
#[ignore]
fn print_sse_hard_case_table() {
    let cases32: Vec<(&str, u32, u32)> = vec![
        ("addss", 0x3F80_0000, 0x3380_0000),
        ("addss", 0x3F80_0001, 0x3380_0000),
        ("subss", 0x3F80_0000, 0x3F80_0000),
        ("mulss", 0x0080_0000, 0x3F00_0000),
        ("mulss", 0x0080_0001, 0x3F00_0000),
        ("mulss", 0x0000_0001, 0x3F00_0000),
        ("mulss", 0x0000_0003, 0x3F00_0000),
        ("addss", 0x0000_0001, 0x0000_0001),
        ("divss", 0x3F80_0000, 0x4040_0000),
        ("mulss", 0x7F7F_FFFF, 0x4000_0000),
        ("addss", 0x7FA0_0000, 0xFFC0_0001),
        ("addss", 0xFFC0_0001, 0x7FA0_0000),
        ("sqrtss", 0, 0x8000_0001),
        ("mulss", 0x007F_FFFF, 0x3F80_0001),
    ];
    for (op, a, b) in cases32 {
        for csr in [0x1F80u32, 0x3F80, 0x5F80, 0x7F80, 0x9F80, 0x1FC0] {
            let host = match op {
                "addss" => h_addss,
                "subss" => h_subss,
                "mulss" => h_mulss,
                "divss" => h_divss,
                _ => h_sqrtss,
            };
            let (r, c) = host(a as u64, b as u64, csr);
            println!(
                "    (\"{op}\", {csr:#06x}, {a:#010x}, {b:#010x}, {:#010x}, {:#04x}),",
                r as u32,
                c & 0x3F
            );
        }
    }
}
