//! The string instructions: MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS with and without
//! REP/REPE/REPNE, in every address size (SDM Vol. 2 "REP/REPE/REPZ/REPNE/REPNZ").
//!
//! The address size (rSI/rDI/rCX at 16, 32 or 64 bits) and the REP kind are decided at decode
//! time, so a handler is one generic instance per element width, address size and prefix.
//!
//! A REP string is restartable: the registers reflect every completed iteration, so a fault
//! leaves RCX/RSI/RDI at the faulting iteration with RIP at the instruction. Each iteration
//! retires as one instruction for virtual time; when the budget runs out, an interrupt or NMI
//! is pending, TF is set or the bus asks to stop, the string pauses between iterations with
//! RIP at the instruction, to go on after the event (SDM Vol. 2 REP: "a repeating string operation can be suspended").
//!
//! Long REP MOVS, STOS, CMPS and SCAS work up to a page at a time through the TLB's host
//! pointers. Pages that hold decoded code have no write tag, so stores to them take the
//! per-element slow path, which invalidates the decoded blocks (self-modifying code).

use iced_x86::{Instruction, Mnemonic as M, OpKind};

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::flags::{bit, FlagOp};
use crate::cpu::mmu::paging::Access;
use crate::cpu::operand::{canonical, ASIZE_MASK};
use crate::cpu::state::{reg, sreg, Mode};
use crate::cpu::{Cpu, Op, Width};
use crate::sized;

/// REP prefix kinds, as const-generic selectors.
pub mod rep {
    /// No prefix: one iteration.
    pub const NONE: u8 = 0;
    /// REP (MOVS, LODS, STOS, INS, OUTS; either F2 or F3) or REPE/REPZ (CMPS, SCAS).
    pub const REPE: u8 = 1;
    /// REPNE/REPNZ (CMPS, SCAS only).
    pub const REPNE: u8 = 2;
}
use rep::{NONE, REPE, REPNE};

/// rSI/rDI/rCX read at address size `A` (0, 1, 2 for 16, 32, 64 bits).
#[inline(always)]
fn areg<const A: u8>(cpu: &Cpu, r: u8) -> u64 {
    cpu.gpr[r as usize] & ASIZE_MASK[A as usize]
}

/// Writes rSI/rDI/rCX at address size `A`: a 16-bit write keeps bits 63:16, a 32-bit write
/// zero-extends as every 32-bit register write does in 64-bit mode.
#[inline(always)]
fn set_areg<const A: u8>(cpu: &mut Cpu, r: u8, v: u64) {
    let g = &mut cpu.gpr[r as usize];
    *g = match A {
        0 => (*g & !0xFFFF) | (v & 0xFFFF),
        1 => v & 0xFFFF_FFFF,
        _ => v,
    };
}

impl Cpu {
    /// How many iterations a REP string starting now may run before it pauses: the rest of
    /// the instruction budget, or one under EFLAGS.TF (single-step traps after each
    /// iteration, SDM Vol. 3B "Single-Step Exception Condition").
    fn string_budget(&self) -> u64 {
        if self.flags.has(bit::TF) {
            return 1;
        }
        self.stop_at.saturating_sub(self.icount).max(1)
    }

    /// Whether a REP string must pause between iterations for an event: a deliverable INTR
    /// or NMI, or a stop request. These arrive only through bus accesses, which end the
    /// block when they report one, so `block_ended` guards the full test.
    #[inline(always)]
    fn string_must_pause(&self) -> bool {
        self.block_ended()
            && ((self.intr && self.flags.has(bit::IF))
                || (self.nmi_pending && !self.nmi_blocked)
                || self.stop_requested)
    }
}

/// The rSI/rDI offsets a string works on, at the address size, kept in locals while a REP
/// runs and written back when it ends, pauses or faults; `d` is the per-element step.
#[derive(Clone, Copy)]
struct Cursor {
    si: u64,
    di: u64,
    d: u64,
}

impl Cursor {
    /// The cursor at rSI/rDI, moving by `W` in the direction EFLAGS.DF gives.
    #[inline(always)]
    fn new<W: Width, const A: u8>(cpu: &Cpu) -> Cursor {
        let d = if cpu.flags.has(bit::DF) {
            W::BYTES.wrapping_neg()
        } else {
            W::BYTES
        };
        Cursor {
            si: areg::<A>(cpu, reg::RSI),
            di: areg::<A>(cpu, reg::RDI),
            d,
        }
    }

    /// Whether the string goes down (EFLAGS.DF set).
    #[inline(always)]
    fn back(&self) -> bool {
        self.d as i64 <= 0
    }

    /// Steps rSI past one element.
    #[inline(always)]
    fn next_si<const A: u8>(&mut self) {
        self.si = self.si.wrapping_add(self.d) & ASIZE_MASK[A as usize];
    }

    /// Steps rDI past one element.
    #[inline(always)]
    fn next_di<const A: u8>(&mut self) {
        self.di = self.di.wrapping_add(self.d) & ASIZE_MASK[A as usize];
    }

    /// Writes the registers the string uses (`SI`, `DI`) back.
    #[inline(always)]
    fn store<const A: u8, const SI: bool, const DI: bool>(&self, cpu: &mut Cpu) {
        if SI {
            set_areg::<A>(cpu, reg::RSI, self.si);
        }
        if DI {
            set_areg::<A>(cpu, reg::RDI, self.di);
        }
    }
}

/// Runs a string instruction with REP kind `K` (SDM Vol. 2 REP, Operation): `bulk` may do
/// up to `max` iterations at once and returns how many (0 when it cannot), `one` does a
/// single iteration. `COMPARE` makes REPE/REPNE test ZF after each iteration; `SI`/`DI` name
/// the registers the string advances. rCX counts down at the address size `A`.
///
/// The registers reflect every completed iteration on every way out: a fault leaves them at
/// the faulting iteration, and a pause (budget, event) leaves RIP at the instruction. Each
/// iteration retires as one instruction; the run loop adds one for the op itself.
#[inline(always)]
fn string<const A: u8, const K: u8, const COMPARE: bool, const SI: bool, const DI: bool>(
    cpu: &mut Cpu,
    op: &Op,
    mut cur: Cursor,
    mut bulk: impl FnMut(&mut Cpu, &mut Cursor, u64) -> u64,
    mut one: impl FnMut(&mut Cpu, &mut Cursor) -> R,
) -> R {
    if K == NONE {
        one(cpu, &mut cur)?;
        cur.store::<A, SI, DI>(cpu);
        return Ok(());
    }
    let mut count = areg::<A>(cpu, reg::RCX);
    if count == 0 {
        return Ok(());
    }
    // The run loop budgeted this op as one instruction; at least one iteration always runs,
    // so a paused string still makes progress.
    let budget = cpu.string_budget();
    let mut done = 0u64;
    let paused = loop {
        let n = match bulk(cpu, &mut cur, count.min(budget - done)) {
            0 => match one(cpu, &mut cur) {
                Ok(()) => 1,
                Err(f) => {
                    // The completed iterations retired; the faulting one did not.
                    cur.store::<A, SI, DI>(cpu);
                    set_areg::<A>(cpu, reg::RCX, count);
                    cpu.icount += done;
                    return Err(f);
                }
            },
            n => n,
        };
        done += n;
        count -= n;
        // REPE stops on the first difference, REPNE on the first match.
        if count == 0 || (COMPARE && cpu.flags.zf() != (K == REPE)) {
            break false;
        }
        if done >= budget || cpu.string_must_pause() {
            break true;
        }
    };
    cur.store::<A, SI, DI>(cpu);
    set_areg::<A>(cpu, reg::RCX, count);
    cpu.icount += done - 1;
    if paused {
        cpu.set_rip(cpu.rip().wrapping_sub(op.len as u64));
        cpu.end_block();
    } else if done > 1 {
        // Later ops in this block were budgeted as if this one retired once.
        cpu.end_block();
    }
    Ok(())
}

/// No bulk path: every iteration takes the per-element path.
#[inline(always)]
fn no_bulk(_: &mut Cpu, _: &mut Cursor, _: u64) -> u64 {
    0
}

/// The host address of `len` bytes at linear `lin` (inside one page) for a bulk access, from
/// the TLB or by filling its entry. Any fault is left for the per-element path to raise in
/// the architectural order, so this only answers "not here".
fn bulk_ptr(cpu: &mut Cpu, lin: u64, len: u64, write: bool) -> Option<usize> {
    let hit = if write {
        cpu.tlb.write_ptr(lin, len)
    } else {
        cpu.tlb.read_ptr(lin, len)
    };
    if hit.is_some() {
        return hit;
    }
    // A walk ignores bits 63:48: a non-canonical address must reach the slow path's #GP and
    // never get a TLB entry that the fast path would then hit.
    if cpu.mode == Mode::Long && !canonical(lin) {
        return None;
    }
    // Source and destination may share a TLB slot (buffers 4 MiB apart): fill the entry
    // again; a pointer taken before the other fill stays valid, as RAM never moves.
    let who = cpu.data_privilege();
    let t = cpu
        .translate(lin, if write { Access::Write } else { Access::Read }, who)
        .ok()?;
    let backing = cpu.mem.backing(t.phys);
    cpu.tlb_fill(lin, &t, backing);
    if write {
        cpu.tlb.write_ptr(lin, len)
    } else {
        cpu.tlb.read_ptr(lin, len)
    }
}

/// A run of elements the bulk path may move at once: `n` elements whose bytes span
/// `[lo, lo + n * W)` in offsets and start at linear `lin_lo`, all inside one page.
struct Span {
    n: u64,
    lo: u64,
    lin_lo: u64,
}

/// How many `W` elements, starting at offset `off` of segment `seg` and going up (or down
/// with `back`), stay inside one page, inside the address-size wrap and inside the segment
/// window, up to `max`.
#[inline]
fn bulk_span<W: Width, const A: u8>(
    cpu: &Cpu,
    seg: u8,
    off: u64,
    max: u64,
    write: bool,
    back: bool,
) -> Option<Span> {
    let s = cpu.seg(seg);
    let lin = s.lin_base.wrapping_add(off) & cpu.lin_mask;
    let in_page = lin & 0xFFF;
    let n = if back {
        // Elements at off, off - W, … down to the page start and to offset 0; the first
        // one must not cross the page end.
        if in_page + W::BYTES > 0x1000 {
            return None;
        }
        max.min(in_page / W::BYTES + 1).min(off / W::BYTES + 1)
    } else {
        let wrap_room = (ASIZE_MASK[A as usize] - off).saturating_add(1);
        max.min((0x1000 - in_page).min(wrap_room) / W::BYTES)
    };
    if n == 0 {
        return None;
    }
    let below = if back { (n - 1) * W::BYTES } else { 0 };
    let span = Span {
        n,
        lo: off - below,
        lin_lo: lin - below,
    };
    let bytes = n * W::BYTES;
    let ok = if write {
        s.write_ok(span.lo, bytes)
    } else {
        s.read_ok(span.lo, bytes)
    };
    ok.then_some(span)
}

/// Copies up to `max` elements through host pointers in the direction EFLAGS.DF gives;
/// returns how many (0 if the bulk path does not apply here and one element must take the
/// slow path).
fn movs_bulk<W: Width, const A: u8>(cpu: &mut Cpu, op: &Op, cur: &mut Cursor, max: u64) -> u64 {
    if max < 2 {
        return 0;
    }
    let back = cur.back();
    let Some(s) = bulk_span::<W, A>(cpu, op.seg, cur.si, max, false, back) else {
        return 0;
    };
    let Some(d) = bulk_span::<W, A>(cpu, sreg::ES, cur.di, s.n, true, back) else {
        return 0;
    };
    // The destination run may be shorter: keep the source run's end where the string starts.
    let n = d.n;
    let bytes = n * W::BYTES;
    let src_lin = if back {
        s.lin_lo + (s.n - n) * W::BYTES
    } else {
        s.lin_lo
    };
    let Some(src) = bulk_ptr(cpu, src_lin, bytes, false) else {
        return 0;
    };
    let Some(dst) = bulk_ptr(cpu, d.lin_lo, bytes, true) else {
        return 0;
    };
    let len = bytes as usize;
    let w = W::BYTES as usize;
    // An element-by-element copy differs from a memmove only when the destination overlaps
    // the part of the source still to be read: ahead of it going up, behind it going down.
    // There the processor's order makes the pattern repeat, so copy in that order.
    let hazard = if back {
        src > dst && src < dst + len
    } else {
        dst > src && dst < src + len
    };
    if hazard {
        for i in 0..n as usize {
            let o = if back { len - w - i * w } else { i * w };
            // SAFETY: both ranges lie inside single RAM (or, for the source, ROM) pages the
            // TLB maps for this access (`bulk_ptr`), and `o + w <= len`.
            unsafe { W::store(dst + o, W::load(src + o)) };
        }
    } else {
        // SAFETY: as above; `copy` allows the remaining overlaps, where it equals the
        // element-by-element copy.
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, len) };
    }
    let step = if back { bytes.wrapping_neg() } else { bytes };
    cur.si = cur.si.wrapping_add(step) & ASIZE_MASK[A as usize];
    cur.di = cur.di.wrapping_add(step) & ASIZE_MASK[A as usize];
    n
}

/// Fills up to `max` elements through a host pointer in the direction EFLAGS.DF gives;
/// returns how many.
fn stos_bulk<W: Width, const A: u8>(cpu: &mut Cpu, cur: &mut Cursor, max: u64) -> u64 {
    if max < 2 {
        return 0;
    }
    let back = cur.back();
    let Some(d) = bulk_span::<W, A>(cpu, sreg::ES, cur.di, max, true, back) else {
        return 0;
    };
    let bytes = d.n * W::BYTES;
    let Some(dst) = bulk_ptr(cpu, d.lin_lo, bytes, true) else {
        return 0;
    };
    let v = W::get(cpu, reg::RAX);
    // SAFETY: `dst` maps `bytes` writable bytes of one RAM page (`bulk_ptr`), and nothing
    // else refers to that guest memory while the slice lives.
    let buf = unsafe { std::slice::from_raw_parts_mut(dst as *mut u8, bytes as usize) };
    let pattern = v.to_le_bytes();
    let w = W::BYTES as usize;
    if pattern[..w].iter().all(|&b| b == pattern[0]) {
        // One byte repeated (zeroing, mostly): a plain memset.
        buf.fill(pattern[0]);
    } else {
        // Store one element, then double the filled prefix: a few memcpys per page instead
        // of one store per element (REP STOSD over 4 MiB went from 139 to 79 us in
        // `benches/cpu.rs`). Elements are aligned to the run's start, so either end works.
        buf[..w].copy_from_slice(&pattern[..w]);
        let mut filled = w;
        while filled < buf.len() {
            let k = filled.min(buf.len() - filled);
            buf.copy_within(..k, filled);
            filled += k;
        }
    }
    let step = if back { bytes.wrapping_neg() } else { bytes };
    cur.di = cur.di.wrapping_add(step) & ASIZE_MASK[A as usize];
    d.n
}

/// MOVS: `ES:[rDI] = seg:[rSI]`.
pub(crate) fn movs<W: Width, const A: u8, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let cur = Cursor::new::<W, A>(cpu);
    string::<A, K, false, true, true>(
        cpu,
        op,
        cur,
        |cpu, cur, max| movs_bulk::<W, A>(cpu, op, cur, max),
        |cpu, cur| {
            let v = cpu.read::<W>(op.seg, cur.si)?;
            cpu.write::<W>(sreg::ES, cur.di, v)?;
            cur.next_si::<A>();
            cur.next_di::<A>();
            Ok(())
        },
    )
}

/// STOS: `ES:[rDI] = rAX`.
pub(crate) fn stos<W: Width, const A: u8, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let cur = Cursor::new::<W, A>(cpu);
    string::<A, K, false, false, true>(cpu, op, cur, stos_bulk::<W, A>, |cpu, cur| {
        let v = W::get(cpu, reg::RAX);
        cpu.write::<W>(sreg::ES, cur.di, v)?;
        cur.next_di::<A>();
        Ok(())
    })
}

/// LODS: `rAX = seg:[rSI]`.
pub(crate) fn lods<W: Width, const A: u8, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let cur = Cursor::new::<W, A>(cpu);
    string::<A, K, false, true, false>(cpu, op, cur, no_bulk, |cpu, cur| {
        let v = cpu.read::<W>(op.seg, cur.si)?;
        W::set(cpu, reg::RAX, v);
        cur.next_si::<A>();
        Ok(())
    })
}

/// Compares up to `max` elements of the source run (`si`, CMPS only) or rAX (SCAS) with the
/// ES:rDI run through host pointers, stopping after the first element that ends a REPE
/// (a difference) or REPNE (a match); sets the flags of that last comparison and returns how
/// many elements it compared (0 if the bulk path does not apply).
fn cmp_bulk<W: Width, const A: u8, const K: u8, const SCAS: bool>(
    cpu: &mut Cpu,
    op: &Op,
    cur: &mut Cursor,
    max: u64,
) -> u64 {
    if max < 2 {
        return 0;
    }
    let back = cur.back();
    let mut n = max;
    let mut src_span = None;
    if !SCAS {
        let Some(s) = bulk_span::<W, A>(cpu, op.seg, cur.si, n, false, back) else {
            return 0;
        };
        n = s.n;
        src_span = Some(s);
    }
    let Some(d) = bulk_span::<W, A>(cpu, sreg::ES, cur.di, n, false, back) else {
        return 0;
    };
    let n = d.n;
    let bytes = n * W::BYTES;
    let src = match src_span {
        Some(s) => {
            let lin = if back {
                s.lin_lo + (s.n - n) * W::BYTES
            } else {
                s.lin_lo
            };
            let Some(p) = bulk_ptr(cpu, lin, bytes, false) else {
                return 0;
            };
            p
        }
        None => 0,
    };
    let Some(dst) = bulk_ptr(cpu, d.lin_lo, bytes, false) else {
        return 0;
    };
    let acc = W::get(cpu, reg::RAX);
    let (len, w) = (bytes as usize, W::BYTES as usize);
    let (mut a, mut b) = (0, 0);
    let mut k = 0;
    while k < n as usize {
        let o = if back { len - w - k * w } else { k * w };
        // SAFETY: both runs lie inside single readable RAM or ROM pages the TLB maps for
        // this access (`bulk_ptr`), and `o + w <= len`.
        (a, b) = unsafe { (if SCAS { acc } else { W::load(src + o) }, W::load(dst + o)) };
        k += 1;
        if (a == b) != (K == REPE) {
            break;
        }
    }
    cpu.flags
        .set_lazy(FlagOp::Sub, W::BITS, a, b, a.wrapping_sub(b) & W::MASK);
    let step = (k as u64 * W::BYTES).wrapping_mul(if back { u64::MAX } else { 1 });
    if !SCAS {
        cur.si = cur.si.wrapping_add(step) & ASIZE_MASK[A as usize];
    }
    cur.di = cur.di.wrapping_add(step) & ASIZE_MASK[A as usize];
    k as u64
}

/// CMPS: the flags of `seg:[rSI] - ES:[rDI]`.
pub(crate) fn cmps<W: Width, const A: u8, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let cur = Cursor::new::<W, A>(cpu);
    string::<A, K, true, true, true>(
        cpu,
        op,
        cur,
        |cpu, cur, max| cmp_bulk::<W, A, K, false>(cpu, op, cur, max),
        |cpu, cur| {
            let a = cpu.read::<W>(op.seg, cur.si)?;
            let b = cpu.read::<W>(sreg::ES, cur.di)?;
            cpu.flags
                .set_lazy(FlagOp::Sub, W::BITS, a, b, a.wrapping_sub(b) & W::MASK);
            cur.next_si::<A>();
            cur.next_di::<A>();
            Ok(())
        },
    )
}

/// SCAS: the flags of `rAX - ES:[rDI]`.
pub(crate) fn scas<W: Width, const A: u8, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let cur = Cursor::new::<W, A>(cpu);
    string::<A, K, true, false, true>(
        cpu,
        op,
        cur,
        |cpu, cur, max| cmp_bulk::<W, A, K, true>(cpu, op, cur, max),
        |cpu, cur| {
            let b = cpu.read::<W>(sreg::ES, cur.di)?;
            let a = W::get(cpu, reg::RAX);
            cpu.flags
                .set_lazy(FlagOp::Sub, W::BITS, a, b, a.wrapping_sub(b) & W::MASK);
            cur.next_di::<A>();
            Ok(())
        },
    )
}

/// Whether an INS/OUTS with REP kind `K` accesses the port at all (a REP with rCX = 0 does
/// nothing, not even the permission check).
#[inline(always)]
fn io_runs<const A: u8, const K: u8>(cpu: &Cpu) -> bool {
    K == NONE || areg::<A>(cpu, reg::RCX) != 0
}

/// INS: `ES:[rDI] = port DX`. The destination is checked before the port is read, so a
/// faulting store does not lose the device's data.
pub(crate) fn ins<W: Width, const A: u8, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let port = cpu.gpr[reg::RDX as usize] as u16;
    if io_runs::<A, K>(cpu) {
        // The I/O permission does not change between iterations: checked once.
        cpu.io_permission(port, W::BYTES as u8)?;
    }
    let cur = Cursor::new::<W, A>(cpu);
    string::<A, K, false, false, true>(cpu, op, cur, no_bulk, |cpu, cur| {
        probe_es::<W>(cpu, cur.di)?;
        let v = cpu.port_in(port, W::BYTES as u8);
        cpu.write::<W>(sreg::ES, cur.di, v as u64)?;
        cur.next_di::<A>();
        Ok(())
    })
}

/// Checks that a `W` at ES:`off` could be written, without writing: a TLB write hit inside
/// the segment window answers at once, anything else asks the slow path.
#[inline(always)]
fn probe_es<W: Width>(cpu: &mut Cpu, off: u64) -> R {
    let s = cpu.seg(sreg::ES);
    if s.write_ok(off, W::BYTES) {
        let lin = s.lin_base.wrapping_add(off) & cpu.lin_mask;
        if cpu.tlb.write_ptr(lin, W::BYTES).is_some() {
            return Ok(());
        }
    }
    cpu.probe_write(sreg::ES, off, W::BYTES as u8)
}

/// OUTS: port DX = `seg:[rSI]`.
pub(crate) fn outs<W: Width, const A: u8, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let port = cpu.gpr[reg::RDX as usize] as u16;
    if io_runs::<A, K>(cpu) {
        cpu.io_permission(port, W::BYTES as u8)?;
    }
    let cur = Cursor::new::<W, A>(cpu);
    string::<A, K, false, true, false>(cpu, op, cur, no_bulk, |cpu, cur| {
        let v = cpu.read::<W>(op.seg, cur.si)?;
        cpu.port_out(port, W::BYTES as u8, v as u32);
        cur.next_si::<A>();
        Ok(())
    })
}

/// The address size of a string instruction from its implicit memory operands (0, 1, 2 for
/// 16, 32, 64 bits), or `None` for the SSE forms that share a mnemonic (MOVSD, CMPSD).
fn string_asize(ins: &Instruction) -> Option<u8> {
    (0..ins.op_count()).find_map(|i| match ins.op_kind(i) {
        OpKind::MemorySegSI | OpKind::MemoryESDI => Some(0),
        OpKind::MemorySegESI | OpKind::MemoryESEDI => Some(1),
        OpKind::MemorySegRSI | OpKind::MemoryESRDI => Some(2),
        _ => None,
    })
}

/// Picks `f::<W, A, K>` for runtime size, address size and REP kind.
macro_rules! pick {
    ($f:ident, $size:expr, $a:expr, $k:expr) => {
        match $a {
            0 => pick!(@k $f, $size, 0, $k),
            1 => pick!(@k $f, $size, 1, $k),
            _ => pick!(@k $f, $size, 2, $k),
        }
    };
    (@k $f:ident, $size:expr, $a:tt, $k:expr) => {
        match $k {
            NONE => sized!($size, $f, $a, NONE),
            REPE => sized!($size, $f, $a, REPE),
            _ => sized!($size, $f, $a, REPNE),
        }
    };
}

/// Decodes the string group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let instr = d.ins;
    let asize = string_asize(instr)?;
    let size = match instr.mnemonic() {
        M::Movsb | M::Cmpsb | M::Scasb | M::Lodsb | M::Stosb | M::Insb | M::Outsb => 1,
        M::Movsw | M::Cmpsw | M::Scasw | M::Lodsw | M::Stosw | M::Insw | M::Outsw => 2,
        M::Movsd | M::Cmpsd | M::Scasd | M::Lodsd | M::Stosd | M::Insd | M::Outsd => 4,
        _ => 8,
    };
    op.asize = asize;
    // The source segment (DS unless overridden); ES:rDI cannot be overridden.
    op.seg = d.mem_seg();
    let compare = matches!(
        instr.mnemonic(),
        M::Cmpsb | M::Cmpsw | M::Cmpsd | M::Cmpsq | M::Scasb | M::Scasw | M::Scasd | M::Scasq
    );
    let k = match (instr.has_rep_prefix(), instr.has_repne_prefix()) {
        (false, false) => NONE,
        // F2 on the non-comparing strings repeats like F3 (as on Intel processors).
        (_, true) if compare => REPNE,
        _ => REPE,
    };
    let mut flow = Flow::Next;
    op.run = match instr.mnemonic() {
        M::Movsb | M::Movsw | M::Movsd | M::Movsq => pick!(movs, size, asize, k),
        M::Stosb | M::Stosw | M::Stosd | M::Stosq => pick!(stos, size, asize, k),
        M::Lodsb | M::Lodsw | M::Lodsd | M::Lodsq => pick!(lods, size, asize, k),
        M::Cmpsb | M::Cmpsw | M::Cmpsd | M::Cmpsq => pick!(cmps, size, asize, k),
        M::Scasb | M::Scasw | M::Scasd | M::Scasq => pick!(scas, size, asize, k),
        M::Insb | M::Insw | M::Insd => {
            flow = Flow::End;
            pick!(ins, size, asize, k)
        }
        M::Outsb | M::Outsw | M::Outsd => {
            flow = Flow::End;
            pick!(outs, size, asize, k)
        }
        _ => return None,
    };
    Some(flow)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cpu::decode::translate;
    use crate::cpu::fault::Fault;
    use crate::cpu::{Model, Segment};
    use crate::mem::PhysMem;
    use iced_x86::{Decoder, DecoderOptions};

    /// Decodes the instruction in `bytes` for the current mode and runs its handler once, as
    /// the run loop would (RIP at the next instruction, put back on a fault), with the
    /// instruction budget ending at `stop_at`.
    pub(crate) fn exec_budget(cpu: &mut Cpu, bytes: &[u8], stop_at: u64) -> R {
        let bits = cpu.code_bits();
        let ins = Decoder::with_ip(bits, bytes, 0, DecoderOptions::NONE).decode();
        let op = translate(&ins, bits, cpu.model).op;
        cpu.stop_at = stop_at;
        cpu.block_stop = u64::MAX;
        let start = cpu.rip();
        cpu.set_rip(start.wrapping_add(op.len as u64));
        let r = (op.run)(cpu, &op);
        if r.is_err() {
            cpu.set_rip(start);
        }
        r
    }

    /// [`exec_budget`] with no budget limit.
    pub(crate) fn exec_one(cpu: &mut Cpu, bytes: &[u8]) -> R {
        exec_budget(cpu, bytes, u64::MAX)
    }

    /// A real-mode CPU with 2 MiB of RAM and every data segment at 0.
    pub(crate) fn real() -> Cpu {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(2 << 20).unwrap());
        cpu.segs[sreg::CS as usize] = Segment::real(0);
        cpu.update_mode();
        cpu.set_rip(0x7000);
        cpu
    }

    /// A flat 32-bit protected-mode CPU (paging off).
    pub(crate) fn flat32() -> Cpu {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(4 << 20).unwrap());
        cpu.enter_protected_flat(0x500);
        cpu.set_rip(0x7000);
        cpu
    }

    /// A 64-bit-mode CPU with the first GiB identity-mapped.
    pub(crate) fn long64() -> Cpu {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(4 << 20).unwrap());
        cpu.enter_long_mode(0x500, 0x10000, 1);
        cpu.set_rip(0x7000);
        cpu
    }

    fn set(cpu: &mut Cpu, r: u8, v: u64) {
        cpu.gpr[r as usize] = v;
    }

    fn get(cpu: &Cpu, r: u8) -> u64 {
        cpu.gpr[r as usize]
    }

    fn bytes(cpu: &Cpu, at: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        cpu.mem.read_bytes(at, &mut b);
        b
    }

    #[test]
    fn sse_forms_sharing_a_mnemonic_are_not_strings() {
        // F2 0F 10 C1 is MOVSD xmm0, xmm1: no implicit string operands.
        let ins = Decoder::with_ip(64, &[0xF2, 0x0F, 0x10, 0xC1], 0, DecoderOptions::NONE).decode();
        assert_eq!(ins.mnemonic(), M::Movsd);
        let d = Decoded {
            ins: &ins,
            bits: 64,
            model: Model::Modern,
        };
        assert!(decode(&d, &mut Op::new(4)).is_none());
    }

    #[test]
    fn overlapping_forward_copy_repeats_the_pattern() {
        // REP MOVSB with EDI = ESI + 1 smears the first byte, element by element.
        let mut cpu = flat32();
        cpu.mem
            .write_bytes(0x2000, &[0xAB, 1, 2, 3, 4, 5, 6, 7, 8])
            .unwrap();
        set(&mut cpu, reg::RSI, 0x2000);
        set(&mut cpu, reg::RDI, 0x2001);
        set(&mut cpu, reg::RCX, 8);
        exec_one(&mut cpu, &[0xF3, 0xA4]).unwrap();
        assert_eq!(bytes(&cpu, 0x2000, 9), vec![0xAB; 9]);
        assert_eq!(
            (
                get(&cpu, reg::RSI),
                get(&cpu, reg::RDI),
                get(&cpu, reg::RCX)
            ),
            (0x2008, 0x2009, 0)
        );
        assert_eq!(cpu.icount, 7, "eight iterations: the loop adds the eighth");
        assert_eq!(cpu.rip(), 0x7002);
    }

    #[test]
    fn overlapping_backward_copies_follow_element_order() {
        // Going down with EDI = ESI - 1, each store lands on a byte still to be read: the
        // last byte smears down. With EDI = ESI + 1 the result is a plain move up.
        let mut cpu = flat32();
        cpu.flags.bits |= bit::DF;
        cpu.mem
            .write_bytes(0x2000, &[1, 2, 3, 4, 5, 6, 7, 8, 0xCD])
            .unwrap();
        set(&mut cpu, reg::RSI, 0x2008);
        set(&mut cpu, reg::RDI, 0x2007);
        set(&mut cpu, reg::RCX, 8);
        exec_one(&mut cpu, &[0xF3, 0xA4]).unwrap();
        assert_eq!(bytes(&cpu, 0x2000, 9), vec![0xCD; 9]);
        assert_eq!((get(&cpu, reg::RSI), get(&cpu, reg::RDI)), (0x2000, 0x1FFF));
        cpu.mem
            .write_bytes(0x3000, &[1, 2, 3, 4, 5, 6, 7, 8, 9])
            .unwrap();
        set(&mut cpu, reg::RSI, 0x3006);
        set(&mut cpu, reg::RDI, 0x3007);
        set(&mut cpu, reg::RCX, 4);
        exec_one(&mut cpu, &[0xF3, 0x66, 0xA5]).unwrap(); // rep movsw: words at 6, 4, 2, 0
        assert_eq!(bytes(&cpu, 0x3000, 9), vec![1, 1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn backward_bulk_runs_stop_at_page_starts() {
        // STD; REP MOVSD from a source and destination at different page offsets, across
        // several pages, with a trailing fill going down too.
        let mut cpu = flat32();
        cpu.flags.bits |= bit::DF;
        let data: Vec<u8> = (0..12000u32).map(|i| (i * 13 + 5) as u8).collect();
        cpu.mem.write_bytes(0x10010, &data).unwrap();
        set(&mut cpu, reg::RSI, 0x10010 + 12000 - 4);
        set(&mut cpu, reg::RDI, 0x50F00 + 12000 - 4);
        set(&mut cpu, reg::RCX, 3000);
        exec_one(&mut cpu, &[0xF3, 0xA5]).unwrap();
        assert_eq!(bytes(&cpu, 0x50F00, 12000), data);
        assert_eq!(
            (get(&cpu, reg::RSI), get(&cpu, reg::RDI)),
            (0x10010 - 4, 0x50F00 - 4)
        );
        set(&mut cpu, reg::RAX, 0x0102_0304);
        set(&mut cpu, reg::RCX, 2000);
        exec_one(&mut cpu, &[0xF3, 0xAB]).unwrap(); // rep stosd, down from 0x50EFC
        assert_eq!(bytes(&cpu, 0x50F00 - 8000, 8000), [4, 3, 2, 1].repeat(2000));
        assert_eq!(bytes(&cpu, 0x50F00 - 8004, 4), vec![0; 4]);
    }

    #[test]
    fn bulk_copy_crosses_pages_and_matches_memmove() {
        let mut cpu = flat32();
        let data: Vec<u8> = (0..10000u32).map(|i| (i * 7 + 3) as u8).collect();
        cpu.mem.write_bytes(0x10123, &data).unwrap();
        set(&mut cpu, reg::RSI, 0x10123);
        set(&mut cpu, reg::RDI, 0x40001);
        set(&mut cpu, reg::RCX, 2500);
        exec_one(&mut cpu, &[0xF3, 0xA5]).unwrap(); // rep movsd
        assert_eq!(bytes(&cpu, 0x40001, 10000), data);
        assert_eq!(get(&cpu, reg::RDI), 0x40001 + 10000);
        assert_eq!(cpu.icount, 2499);
    }

    #[test]
    fn backward_words_wrap_inside_a_16_bit_segment() {
        // STD; REP MOVSW with SI = 2: words at 2, 0, then 0xFFFE; SI wraps, bits above 16 kept.
        let mut cpu = real();
        cpu.flags.bits |= bit::DF;
        cpu.segs[sreg::DS as usize] = Segment::real(0x1000);
        cpu.segs[sreg::ES as usize] = Segment::real(0x2000);
        cpu.update_mode();
        cpu.mem
            .write_bytes(0x10000, &[0x11, 0x22, 0x33, 0x44])
            .unwrap();
        cpu.mem.write_bytes(0x1FFFE, &[0x55, 0x66]).unwrap();
        set(&mut cpu, reg::RSI, 0xABCD_0002);
        set(&mut cpu, reg::RDI, 0x0102);
        set(&mut cpu, reg::RCX, 0x7777_0003);
        exec_one(&mut cpu, &[0xF3, 0xA5]).unwrap();
        assert_eq!(
            bytes(&cpu, 0x20000 + 0xFE, 6),
            vec![0x55, 0x66, 0x11, 0x22, 0x33, 0x44]
        );
        assert_eq!(get(&cpu, reg::RSI), 0xABCD_FFFC);
        assert_eq!(get(&cpu, reg::RDI), 0x00FC);
        assert_eq!(get(&cpu, reg::RCX), 0x7777_0000);
    }

    #[test]
    fn source_segment_override_and_fixed_es_destination() {
        // FS: REP MOVSB reads FS:SI and writes ES:DI.
        let mut cpu = real();
        cpu.segs[sreg::FS as usize] = Segment::real(0x3000);
        cpu.segs[sreg::ES as usize] = Segment::real(0x4000);
        cpu.update_mode();
        cpu.mem.write_bytes(0x30010, b"vx86").unwrap();
        set(&mut cpu, reg::RSI, 0x10);
        set(&mut cpu, reg::RDI, 0x20);
        set(&mut cpu, reg::RCX, 4);
        exec_one(&mut cpu, &[0x64, 0xF3, 0xA4]).unwrap();
        assert_eq!(bytes(&cpu, 0x40020, 4), b"vx86".to_vec());
    }

    #[test]
    fn repe_cmps_stops_at_the_first_difference() {
        let mut cpu = flat32();
        cpu.mem.write_bytes(0x3000, b"abcdef").unwrap();
        cpu.mem.write_bytes(0x4000, b"abcXef").unwrap();
        set(&mut cpu, reg::RSI, 0x3000);
        set(&mut cpu, reg::RDI, 0x4000);
        set(&mut cpu, reg::RCX, 6);
        exec_one(&mut cpu, &[0xF3, 0xA6]).unwrap();
        // Four iterations ran: the fourth compared 'd' with 'X' and cleared ZF.
        assert_eq!(get(&cpu, reg::RCX), 2);
        assert_eq!(get(&cpu, reg::RSI), 0x3004);
        assert!(!cpu.flags.zf());
        assert!(!cpu.flags.cf(), "'d' > 'X'");
        assert_eq!(cpu.icount, 3);
    }

    #[test]
    fn repne_scas_finds_a_byte_and_counts_down() {
        let mut cpu = long64();
        cpu.mem.write_bytes(0x5000, b"hello\0world").unwrap();
        set(&mut cpu, reg::RDI, 0x5000);
        set(&mut cpu, reg::RCX, u64::MAX);
        set(&mut cpu, reg::RAX, 0);
        exec_one(&mut cpu, &[0xF2, 0xAE]).unwrap(); // repne scasb: strlen
        assert_eq!(get(&cpu, reg::RDI), 0x5006);
        assert_eq!(!get(&cpu, reg::RCX) - 1, 5);
        assert!(cpu.flags.zf());
    }

    #[test]
    fn repne_cmps_with_equal_strings_runs_to_the_count() {
        let mut cpu = flat32();
        cpu.mem
            .write_bytes(0x3000, &[1, 2, 3, 4, 5, 6, 7, 8])
            .unwrap();
        cpu.mem
            .write_bytes(0x4000, &[9, 9, 9, 9, 9, 9, 9, 9])
            .unwrap();
        set(&mut cpu, reg::RSI, 0x3000);
        set(&mut cpu, reg::RDI, 0x4000);
        set(&mut cpu, reg::RCX, 4);
        exec_one(&mut cpu, &[0xF2, 0x66, 0xA7]).unwrap(); // repne cmpsw
        assert_eq!((get(&cpu, reg::RCX), get(&cpu, reg::RSI)), (0, 0x3008));
        assert!(!cpu.flags.zf());
    }

    #[test]
    fn long_compares_cross_pages_in_both_directions() {
        // 10000 equal bytes from page offsets 0x123 and 0xF01, one difference near the start.
        let mut cpu = flat32();
        let data: Vec<u8> = (0..10000u32).map(|i| (i * 7 + 1) as u8).collect();
        cpu.mem.write_bytes(0x10123, &data).unwrap();
        cpu.mem.write_bytes(0x40F01, &data).unwrap();
        cpu.mem.write_u8(0x40F01 + 5, 0);
        // Forward REPE CMPSD: the difference is in the second doubleword.
        set(&mut cpu, reg::RSI, 0x10123);
        set(&mut cpu, reg::RDI, 0x40F01);
        set(&mut cpu, reg::RCX, 2500);
        exec_one(&mut cpu, &[0xF3, 0xA7]).unwrap();
        assert_eq!((get(&cpu, reg::RCX), get(&cpu, reg::RSI)), (2498, 0x1012B));
        assert!(!cpu.flags.zf());
        // Backward from the end: everything above the difference is equal.
        cpu.flags.bits |= bit::DF;
        set(&mut cpu, reg::RSI, 0x10123 + 9999);
        set(&mut cpu, reg::RDI, 0x40F01 + 9999);
        set(&mut cpu, reg::RCX, 10000);
        exec_one(&mut cpu, &[0xF3, 0xA6]).unwrap(); // repe cmpsb
        assert_eq!(
            get(&cpu, reg::RCX),
            5,
            "stopped at index 5 after 9995 iterations"
        );
        assert_eq!(get(&cpu, reg::RDI), 0x40F01 + 4);
        assert!(!cpu.flags.zf() && !cpu.flags.cf(), "data[5] - 0: no borrow");
        assert_eq!(cpu.icount, 1 + 9994);
        // Backward REPNE SCASB finds the last occurrence of a byte.
        set(&mut cpu, reg::RDI, 0x10123 + 9999);
        set(&mut cpu, reg::RCX, 10000);
        set(&mut cpu, reg::RAX, data[3] as u64);
        exec_one(&mut cpu, &[0xF2, 0xAE]).unwrap();
        let last = data.iter().rposition(|&b| b == data[3]).unwrap() as u64;
        assert_eq!(get(&cpu, reg::RDI), 0x10123 + last - 1);
        assert!(cpu.flags.zf());
        // Equal all the way: the count runs out with ZF set.
        cpu.flags.bits &= !bit::DF;
        set(&mut cpu, reg::RSI, 0x10123 + 6);
        set(&mut cpu, reg::RDI, 0x40F01 + 6);
        set(&mut cpu, reg::RCX, 9994);
        exec_one(&mut cpu, &[0xF3, 0xA6]).unwrap();
        assert_eq!(
            (get(&cpu, reg::RCX), get(&cpu, reg::RSI)),
            (0, 0x10123 + 10000)
        );
        assert!(cpu.flags.zf());
    }

    #[test]
    fn lods_and_stos_move_through_the_accumulator() {
        let mut cpu = long64();
        cpu.mem
            .write_bytes(0x6000, &0x1122_3344_5566_7788u64.to_le_bytes())
            .unwrap();
        set(&mut cpu, reg::RSI, 0x6000);
        exec_one(&mut cpu, &[0x48, 0xAD]).unwrap(); // lodsq
        assert_eq!(get(&cpu, reg::RAX), 0x1122_3344_5566_7788);
        assert_eq!(get(&cpu, reg::RSI), 0x6008);
        set(&mut cpu, reg::RDI, 0x7001);
        set(&mut cpu, reg::RCX, 3);
        exec_one(&mut cpu, &[0xF3, 0xAB]).unwrap(); // rep stosd
        assert_eq!(bytes(&cpu, 0x7001, 12), [0x88, 0x77, 0x66, 0x55].repeat(3));
        assert_eq!(get(&cpu, reg::RDI), 0x700D);
    }

    #[test]
    fn address_size_32_in_64_bit_mode_zero_extends() {
        // 67 F3 A4: REP MOVSB with ESI/EDI/ECX; the upper halves are cleared.
        let mut cpu = long64();
        set(&mut cpu, reg::RSI, 0xFFFF_0000_0000_8000);
        set(&mut cpu, reg::RDI, 0xFFFF_0000_0000_9000);
        set(&mut cpu, reg::RCX, 0xFFFF_0000_0000_0002);
        cpu.mem.write_bytes(0x8000, &[5, 6]).unwrap();
        exec_one(&mut cpu, &[0x67, 0xF3, 0xA4]).unwrap();
        assert_eq!(bytes(&cpu, 0x9000, 2), vec![5, 6]);
        assert_eq!(
            (
                get(&cpu, reg::RSI),
                get(&cpu, reg::RDI),
                get(&cpu, reg::RCX)
            ),
            (0x8002, 0x9002, 0)
        );
    }

    #[test]
    fn a_non_canonical_source_faults_instead_of_aliasing() {
        // Bits 63:48 must copy bit 47; a walk would ignore them, the string must not.
        let mut cpu = long64();
        cpu.mem.write_bytes(0x8000, &[1; 16]).unwrap();
        set(&mut cpu, reg::RSI, 0x0001_0000_0000_8000);
        set(&mut cpu, reg::RDI, 0x9000);
        set(&mut cpu, reg::RCX, 16);
        assert_eq!(exec_one(&mut cpu, &[0xF3, 0xA4]), Err(Fault::GP0));
        assert_eq!(get(&cpu, reg::RCX), 16);
        assert_eq!(bytes(&cpu, 0x9000, 16), vec![0; 16]);
    }

    #[test]
    fn count_zero_does_nothing() {
        let mut cpu = long64();
        // Non-canonical pointers would fault if anything were accessed.
        set(&mut cpu, reg::RSI, 0x8000_0000_0000_0000);
        set(&mut cpu, reg::RDI, 0x8000_0000_0000_0000);
        set(&mut cpu, reg::RCX, 0);
        for code in [
            [0xF3, 0xA4],
            [0xF3, 0xA6],
            [0xF2, 0xAE],
            [0xF3, 0xAA],
            [0xF3, 0x6C],
        ] {
            exec_one(&mut cpu, &code).unwrap();
            assert_eq!(get(&cpu, reg::RSI), 0x8000_0000_0000_0000);
            assert_eq!(cpu.icount, 0);
        }
    }

    #[test]
    fn the_budget_pauses_a_string_with_rip_at_the_instruction() {
        let mut cpu = flat32();
        set(&mut cpu, reg::RDI, 0x2000);
        set(&mut cpu, reg::RCX, 100);
        set(&mut cpu, reg::RAX, 0x5A);
        exec_budget(&mut cpu, &[0xF3, 0xAA], 10).unwrap();
        assert_eq!(get(&cpu, reg::RCX), 90);
        assert_eq!(cpu.rip(), 0x7000, "paused: RIP back at the REP STOSB");
        assert_eq!(cpu.icount, 9, "the run loop adds the tenth");
        assert!(cpu.block_ended());
        assert_eq!(bytes(&cpu, 0x2000, 11), [vec![0x5A; 10], vec![0]].concat());
    }

    #[test]
    fn the_trap_flag_pauses_after_each_iteration() {
        // SDM Vol. 3B "Single-Step Exception Condition": with TF set, a REP string traps after every iteration.
        let mut cpu = flat32();
        cpu.flags.bits |= bit::TF;
        set(&mut cpu, reg::RSI, 0x2000);
        set(&mut cpu, reg::RDI, 0x3000);
        set(&mut cpu, reg::RCX, 50);
        exec_one(&mut cpu, &[0xF3, 0xA4]).unwrap();
        assert_eq!(
            (get(&cpu, reg::RCX), get(&cpu, reg::RDI), cpu.rip()),
            (49, 0x3001, 0x7000)
        );
        cpu.flags.bits &= !bit::TF;
        exec_one(&mut cpu, &[0xF3, 0xA4]).unwrap();
        assert_eq!((get(&cpu, reg::RCX), cpu.rip()), (0, 0x7002));
    }

    #[test]
    fn a_fault_mid_string_leaves_the_registers_at_the_faulting_element() {
        // Real mode: the word at DS:0xFFFF crosses the segment limit (#GP(0)).
        let mut cpu = real();
        set(&mut cpu, reg::RSI, 0xFFF9);
        set(&mut cpu, reg::RDI, 0x100);
        set(&mut cpu, reg::RCX, 10);
        let r = exec_one(&mut cpu, &[0xF3, 0xA5]);
        assert_eq!(r, Err(Fault::GP0));
        assert_eq!(
            (
                get(&cpu, reg::RSI),
                get(&cpu, reg::RDI),
                get(&cpu, reg::RCX)
            ),
            (0xFFFF, 0x106, 7)
        );
        assert_eq!(cpu.icount, 3, "three iterations retired");
        assert_eq!(cpu.rip(), 0x7000);
    }

    #[test]
    fn stores_to_code_pages_take_the_slow_path() {
        let mut cpu = flat32();
        cpu.mem.set_holds_code(0x2000);
        set(&mut cpu, reg::RDI, 0x2000);
        set(&mut cpu, reg::RCX, 64);
        set(&mut cpu, reg::RAX, 0x90);
        exec_one(&mut cpu, &[0xF3, 0xAA]).unwrap();
        assert!(
            !cpu.mem.holds_code(0x2000),
            "the first store invalidated the page's code"
        );
        assert_eq!(bytes(&cpu, 0x2000, 64), vec![0x90; 64]);
    }
}
