//! Operands: register access by width, effective addresses, and segmented memory access with
//! the fast path (segment window, TLB tag compare, host pointer) inlined into handlers.

use super::fault::Fault;
use super::mmu::paging::Privilege;
use super::op::Op;
use super::state::{sreg, Mode, Model};
use super::Cpu;

/// An operand width. Values travel as `u64`, truncated to the width.
pub trait Width: Copy + 'static {
    /// Bytes.
    const BYTES: u64;
    /// Bits.
    const BITS: u8;
    /// All ones in the width.
    const MASK: u64;
    /// The sign bit.
    const SIGN: u64;
    /// Reads register `r` at this width (byte registers: `HIGH8 | n` is AH/CH/DH/BH).
    fn get(cpu: &Cpu, r: u8) -> u64;
    /// Writes register `r` at this width with the x86 merge rules (32-bit writes zero-extend).
    fn set(cpu: &mut Cpu, r: u8, v: u64);
    /// Loads from a host address.
    ///
    /// # Safety
    /// `p` must point to `BYTES` readable bytes.
    unsafe fn load(p: usize) -> u64;
    /// Stores to a host address.
    ///
    /// # Safety
    /// `p` must point to `BYTES` writable bytes.
    unsafe fn store(p: usize, v: u64);
    /// Sign-extends a value of this width to 64 bits.
    #[inline(always)]
    fn sext(v: u64) -> u64 {
        let sh = 64 - Self::BITS as u32;
        (((v << sh) as i64) >> sh) as u64
    }
}

/// Byte operands.
#[derive(Clone, Copy, Debug)]
pub struct U8;
/// Word operands.
#[derive(Clone, Copy, Debug)]
pub struct U16;
/// Doubleword operands.
#[derive(Clone, Copy, Debug)]
pub struct U32;
/// Quadword operands.
#[derive(Clone, Copy, Debug)]
pub struct U64;

impl Width for U8 {
    const BYTES: u64 = 1;
    const BITS: u8 = 8;
    const MASK: u64 = 0xFF;
    const SIGN: u64 = 0x80;
    #[inline(always)]
    fn get(cpu: &Cpu, r: u8) -> u64 {
        let sh = (r & 0x10) >> 1;
        (cpu.gpr[(r & 15) as usize] >> sh) & 0xFF
    }
    #[inline(always)]
    fn set(cpu: &mut Cpu, r: u8, v: u64) {
        let sh = (r & 0x10) >> 1;
        let g = &mut cpu.gpr[(r & 15) as usize];
        *g = (*g & !(0xFF << sh)) | ((v & 0xFF) << sh);
    }
    #[inline(always)]
    unsafe fn load(p: usize) -> u64 {
        *(p as *const u8) as u64
    }
    #[inline(always)]
    unsafe fn store(p: usize, v: u64) {
        *(p as *mut u8) = v as u8;
    }
}

impl Width for U16 {
    const BYTES: u64 = 2;
    const BITS: u8 = 16;
    const MASK: u64 = 0xFFFF;
    const SIGN: u64 = 0x8000;
    #[inline(always)]
    fn get(cpu: &Cpu, r: u8) -> u64 {
        cpu.gpr[(r & 31) as usize] & 0xFFFF
    }
    #[inline(always)]
    fn set(cpu: &mut Cpu, r: u8, v: u64) {
        let g = &mut cpu.gpr[(r & 31) as usize];
        *g = (*g & !0xFFFF) | (v & 0xFFFF);
    }
    #[inline(always)]
    unsafe fn load(p: usize) -> u64 {
        u16::from_le_bytes(std::ptr::read_unaligned(p as *const [u8; 2])) as u64
    }
    #[inline(always)]
    unsafe fn store(p: usize, v: u64) {
        std::ptr::write_unaligned(p as *mut [u8; 2], (v as u16).to_le_bytes())
    }
}

impl Width for U32 {
    const BYTES: u64 = 4;
    const BITS: u8 = 32;
    const MASK: u64 = 0xFFFF_FFFF;
    const SIGN: u64 = 0x8000_0000;
    #[inline(always)]
    fn get(cpu: &Cpu, r: u8) -> u64 {
        cpu.gpr[(r & 31) as usize] & 0xFFFF_FFFF
    }
    #[inline(always)]
    fn set(cpu: &mut Cpu, r: u8, v: u64) {
        cpu.gpr[(r & 31) as usize] = v & 0xFFFF_FFFF;
    }
    #[inline(always)]
    unsafe fn load(p: usize) -> u64 {
        u32::from_le_bytes(std::ptr::read_unaligned(p as *const [u8; 4])) as u64
    }
    #[inline(always)]
    unsafe fn store(p: usize, v: u64) {
        std::ptr::write_unaligned(p as *mut [u8; 4], (v as u32).to_le_bytes())
    }
}

impl Width for U64 {
    const BYTES: u64 = 8;
    const BITS: u8 = 64;
    const MASK: u64 = u64::MAX;
    const SIGN: u64 = 1 << 63;
    #[inline(always)]
    fn get(cpu: &Cpu, r: u8) -> u64 {
        cpu.gpr[(r & 31) as usize]
    }
    #[inline(always)]
    fn set(cpu: &mut Cpu, r: u8, v: u64) {
        cpu.gpr[(r & 31) as usize] = v;
    }
    #[inline(always)]
    unsafe fn load(p: usize) -> u64 {
        u64::from_le_bytes(std::ptr::read_unaligned(p as *const [u8; 8]))
    }
    #[inline(always)]
    unsafe fn store(p: usize, v: u64) {
        std::ptr::write_unaligned(p as *mut [u8; 8], v.to_le_bytes())
    }
}

/// Address-size masks indexed by `Op::asize` (16-, 32-, 64-bit addressing).
pub const ASIZE_MASK: [u64; 4] = [0xFFFF, 0xFFFF_FFFF, u64::MAX, u64::MAX];

/// Whether a 64-bit linear address is canonical (48-bit virtual addresses).
#[inline(always)]
pub fn canonical(lin: u64) -> bool {
    ((lin as i64) << 16 >> 16) as u64 == lin
}

impl Cpu {
    /// The effective address of the op's memory operand: base + index << scale + disp,
    /// truncated to the address size. RIP-relative uses RIP (already the next instruction).
    #[inline(always)]
    pub fn ea(&self, op: &Op) -> u64 {
        let base = self.gpr[(op.base & 31) as usize];
        let index = self.gpr[(op.index & 31) as usize] << (op.scale & 3);
        base.wrapping_add(index).wrapping_add(op.disp as i64 as u64)
            & ASIZE_MASK[(op.asize & 3) as usize]
    }

    /// Reads a `W` from `seg:off` (`seg` may carry [`sreg::FLAT`]).
    #[inline(always)]
    pub fn read<W: Width>(&mut self, seg: u8, off: u64) -> Result<u64, Fault> {
        if seg & sreg::FLAT != 0 {
            if let Some(p) = self.tlb.read_ptr(off, W::BYTES) {
                // SAFETY: as below; the linear address is the offset (base 0, no limit, and
                // only canonical pages are ever in the TLB).
                return Ok(unsafe { W::load(p) });
            }
            return self.read_slow(seg & 7, off, W::BYTES as u8);
        }
        let s = &self.segs[(seg & 7) as usize];
        if s.read_ok(off, W::BYTES) {
            let lin = s.lin_base.wrapping_add(off) & self.lin_mask;
            if let Some(p) = self.tlb.read_ptr(lin, W::BYTES) {
                // SAFETY: a read tag matched, so the TLB entry maps this whole access (the tag
                // is compared against the page of its last byte) to live RAM or ROM.
                return Ok(unsafe { W::load(p) });
            }
        }
        self.read_slow(seg, off, W::BYTES as u8)
    }

    /// Writes a `W` to `seg:off` (`seg` may carry [`sreg::FLAT`]).
    #[inline(always)]
    pub fn write<W: Width>(&mut self, seg: u8, off: u64, v: u64) -> Result<(), Fault> {
        if seg & sreg::FLAT != 0 {
            if let Some(p) = self.tlb.write_ptr(off, W::BYTES) {
                // SAFETY: as below, at linear address `off`.
                unsafe { W::store(p, v) };
                return Ok(());
            }
            return self.write_slow(seg & 7, off, W::BYTES as u8, v);
        }
        let s = &self.segs[(seg & 7) as usize];
        if s.write_ok(off, W::BYTES) {
            let lin = s.lin_base.wrapping_add(off) & self.lin_mask;
            if let Some(p) = self.tlb.write_ptr(lin, W::BYTES) {
                // SAFETY: a write tag matched: the whole access lies in a writable RAM page
                // that holds no decoded code.
                unsafe { W::store(p, v) };
                return Ok(());
            }
        }
        self.write_slow(seg, off, W::BYTES as u8, v)
    }

    /// Reads a `W` from `seg:off` for a read-modify-write: faults as a write would, so that
    /// nothing is read from a location the instruction may not write.
    #[inline(always)]
    pub fn read_rmw<W: Width>(&mut self, seg: u8, off: u64) -> Result<u64, Fault> {
        if seg & sreg::FLAT != 0 {
            if let Some(p) = self.tlb.write_ptr(off, W::BYTES) {
                // SAFETY: as below, at linear address `off`.
                return Ok(unsafe { W::load(p) });
            }
            self.probe_write(seg & 7, off, W::BYTES as u8)?;
            return self.read_slow(seg & 7, off, W::BYTES as u8);
        }
        let s = &self.segs[(seg & 7) as usize];
        if s.write_ok(off, W::BYTES) {
            let lin = s.lin_base.wrapping_add(off) & self.lin_mask;
            if let Some(p) = self.tlb.write_ptr(lin, W::BYTES) {
                // SAFETY: as in `write`; the page is readable too.
                return Ok(unsafe { W::load(p) });
            }
        }
        self.probe_write(seg, off, W::BYTES as u8)?;
        self.read_slow(seg, off, W::BYTES as u8)
    }

    /// Reads a `W` at the op's memory operand.
    #[inline(always)]
    pub fn read_ea<W: Width>(&mut self, op: &Op) -> Result<u64, Fault> {
        let off = self.ea(op);
        self.read::<W>(op.seg, off)
    }

    /// Writes a `W` at the op's memory operand.
    #[inline(always)]
    pub fn write_ea<W: Width>(&mut self, op: &Op, v: u64) -> Result<(), Fault> {
        let off = self.ea(op);
        self.write::<W>(op.seg, off, v)
    }

    /// Reads 16 bytes from `seg:off` (an XMM operand). `aligned` forms raise #GP(0) when the
    /// linear address is not a multiple of 16 (SDM Vol. 1 11.6.7), after the segment checks
    /// and before paging. With alignment checking on, the unaligned forms raise #AC(0) when
    /// the address is not a multiple of 16 (SDM Vol. 3A 6.15 leaves this to the
    /// implementation; the AMD processors host-diff runs on do so).
    #[inline(always)]
    pub fn read128(&mut self, seg: u8, off: u64, aligned: bool) -> Result<u128, Fault> {
        let s = &self.segs[(seg & 7) as usize];
        if s.read_ok(off, 16) {
            let lin = s.lin_base.wrapping_add(off) & self.lin_mask;
            if aligned && lin & 15 != 0 {
                return Err(Fault::GP0);
            }
            if let Some(p) = self.tlb.read_ptr(lin, 16) {
                // SAFETY: as in `read`: the tag matched the page of the last byte, so the
                // whole access lies in one live RAM or ROM page.
                return Ok(u128::from_le_bytes(unsafe {
                    std::ptr::read_unaligned(p as *const [u8; 16])
                }));
            }
        }
        self.read128_slow(seg, off, aligned)
    }

    /// Writes 16 bytes to `seg:off` (an XMM operand); alignment as in [`Cpu::read128`].
    #[inline(always)]
    pub fn write128(&mut self, seg: u8, off: u64, v: u128, aligned: bool) -> Result<(), Fault> {
        let s = &self.segs[(seg & 7) as usize];
        if s.write_ok(off, 16) {
            let lin = s.lin_base.wrapping_add(off) & self.lin_mask;
            if aligned && lin & 15 != 0 {
                return Err(Fault::GP0);
            }
            if let Some(p) = self.tlb.write_ptr(lin, 16) {
                // SAFETY: as in `write`: a writable RAM page holding no decoded code.
                unsafe { std::ptr::write_unaligned(p as *mut [u8; 16], v.to_le_bytes()) };
                return Ok(());
            }
        }
        self.write128_slow(seg, off, v, aligned)
    }

    /// The slow path of [`Cpu::read128`]: naturally aligned pieces of at most 8 bytes, so
    /// that none crosses a page or trips the alignment check.
    #[inline(never)]
    fn read128_slow(&mut self, seg: u8, off: u64, aligned: bool) -> Result<u128, Fault> {
        let lin = self.linear(seg, off, 16, false)?;
        if aligned && lin & 15 != 0 {
            return Err(Fault::GP0);
        }
        let who = self.data_privilege();
        self.check_alignment(lin, 16, who)?;
        let mut v = 0u128;
        let mut at = 0;
        while at < 16 {
            let n = piece(lin.wrapping_add(at), 16 - at);
            let a = lin.wrapping_add(at) & self.lin_mask;
            v |= (self.read_lin(a, n as u8, who)? as u128) << (8 * at);
            at += n;
        }
        Ok(v)
    }

    /// The slow path of [`Cpu::write128`]: both pages are checked for writing before any
    /// byte is stored.
    #[inline(never)]
    fn write128_slow(&mut self, seg: u8, off: u64, v: u128, aligned: bool) -> Result<(), Fault> {
        let lin = self.linear(seg, off, 16, true)?;
        if aligned && lin & 15 != 0 {
            return Err(Fault::GP0);
        }
        let who = self.data_privilege();
        self.check_alignment(lin, 16, who)?;
        self.probe_write_lin(lin, 1, who)?;
        if lin & 0xFFF > 0xFF0 {
            // The second page, from its first byte (where a fault there reports CR2).
            self.probe_write_lin((lin | 0xFFF).wrapping_add(1) & self.lin_mask, 1, who)?;
        }
        let mut at = 0;
        while at < 16 {
            let n = piece(lin.wrapping_add(at), 16 - at);
            let a = lin.wrapping_add(at) & self.lin_mask;
            self.write_lin(a, n as u8, (v >> (8 * at)) as u64, who)?;
            at += n;
        }
        Ok(())
    }

    /// Whether data accesses are alignment-checked now (CR0.AM, EFLAGS.AC, CPL 3: SDM Vol. 3A
    /// 6.15, #AC).
    pub fn alignment_checking(&self) -> bool {
        self.data_privilege() == Privilege::User
            && self.tlb_set() == super::mmu::tlb::TlbSet::UserAligned
    }

    /// Checks that `len` bytes at `seg:off` could be written by a masked store (MASKMOVQ,
    /// MASKMOVDQU): segment, #AC when alignment checking is on and the address is not a
    /// multiple of `ac_align`, and both pages if `pages`; writes nothing.
    pub fn probe_masked_store(
        &mut self,
        seg: u8,
        off: u64,
        len: u8,
        ac_align: u64,
        pages: bool,
    ) -> Result<(), Fault> {
        let lin = self.linear(seg, off, len, true)?;
        let who = self.data_privilege();
        if self.alignment_checking() && lin & (ac_align - 1) != 0 {
            return Err(Fault::AC);
        }
        if !pages {
            return Ok(());
        }
        self.probe_write_lin(lin, 1, who)?;
        let last = lin.wrapping_add(len as u64 - 1);
        if last & !0xFFF != lin & !0xFFF {
            self.probe_write_lin(last & !0xFFF & self.lin_mask, 1, who)?;
        }
        Ok(())
    }

    /// The fault a segment-limit or rights violation on `seg` raises. The 80286 in real mode
    /// raises interrupt 13 (segment overrun) for every segment, SS included (the recorded
    /// vectors: a word at SS:FFFF, POP at SP = FFFF).
    pub fn seg_fault(&self, seg: u8) -> Fault {
        if seg == sreg::SS && !(self.model == Model::I80286 && self.mode == Mode::Real) {
            Fault::ss(0)
        } else {
            Fault::GP0
        }
    }

    /// Segmentation for an access that missed the fast window: returns the linear address of
    /// each byte run (one, or two where the 8086 wraps inside its segment), or the fault.
    fn linear(&self, seg: u8, off: u64, n: u8, write: bool) -> Result<u64, Fault> {
        let s = &self.segs[(seg & 7) as usize];
        let ok = if write {
            s.write_ok(off, n as u64)
        } else {
            s.read_ok(off, n as u64)
        };
        if self.mode == Mode::Long {
            let lin = s.lin_base.wrapping_add(off);
            let last = lin.wrapping_add(n as u64 - 1);
            if !canonical(lin) || !canonical(last) {
                return Err(self.seg_fault(seg));
            }
            return Ok(lin);
        }
        if !ok {
            if !s.usable() && self.mode != Mode::Real && self.mode != Mode::V8086 {
                return Err(Fault::GP0);
            }
            return Err(self.seg_fault(seg));
        }
        Ok(s.lin_base.wrapping_add(off) & self.lin_mask)
    }

    /// The segment-checked slow path of [`Cpu::read`].
    #[inline(never)]
    pub fn read_slow(&mut self, seg: u8, off: u64, n: u8) -> Result<u64, Fault> {
        if self.model == Model::I8086 {
            return self.read_8086(seg, off, n);
        }
        let lin = self.linear(seg, off, n, false)?;
        let who = self.data_privilege();
        self.read_lin(lin, n, who)
    }

    /// The segment-checked slow path of [`Cpu::write`].
    #[inline(never)]
    pub fn write_slow(&mut self, seg: u8, off: u64, n: u8, v: u64) -> Result<(), Fault> {
        if self.model == Model::I8086 {
            return self.write_8086(seg, off, n, v);
        }
        let lin = self.linear(seg, off, n, true)?;
        let who = self.data_privilege();
        self.write_lin(lin, n, v, who)
    }

    /// Checks that `n` bytes at `seg:off` could be written, writing nothing.
    pub fn probe_write(&mut self, seg: u8, off: u64, n: u8) -> Result<(), Fault> {
        if self.model == Model::I8086 {
            return Ok(());
        }
        let lin = self.linear(seg, off, n, true)?;
        let who = self.data_privilege();
        self.probe_write_lin(lin, n, who)
    }

    /// The 8086 has no segment limits: offsets wrap inside the 64-KiB segment.
    fn read_8086(&mut self, seg: u8, off: u64, n: u8) -> Result<u64, Fault> {
        let base = self.segs[(seg & 7) as usize].lin_base;
        let mut v = 0;
        for i in 0..n as u64 {
            let lin = base.wrapping_add((off + i) & 0xFFFF);
            v |= self.read_lin(lin, 1, Privilege::Supervisor)? << (8 * i);
        }
        Ok(v)
    }

    fn write_8086(&mut self, seg: u8, off: u64, n: u8, v: u64) -> Result<(), Fault> {
        let base = self.segs[(seg & 7) as usize].lin_base;
        for i in 0..n as u64 {
            let lin = base.wrapping_add((off + i) & 0xFFFF);
            self.write_lin(lin, 1, (v >> (8 * i)) & 0xFF, Privilege::Supervisor)?;
        }
        Ok(())
    }
}

/// The largest naturally aligned access (1, 2, 4 or 8 bytes) at `lin` that does not exceed
/// `left` bytes.
fn piece(lin: u64, left: u64) -> u64 {
    let mut n = 8;
    while n > left || lin & (n - 1) != 0 {
        n >>= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use crate::cpu::{sreg, Cpu, Fault, Model, U16};
    use crate::mem::PhysMem;

    #[test]
    fn a_word_at_offset_ffff_is_a_segment_overrun() {
        // A 386+ raises #SS for the stack segment; the 80286 raises interrupt 13 for all.
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        assert_eq!(cpu.read::<U16>(sreg::SS, 0xFFFF), Err(Fault::ss(0)));
        assert_eq!(cpu.read::<U16>(sreg::DS, 0xFFFF), Err(Fault::GP0));
        let mut cpu = Cpu::new(Model::I80286, PhysMem::new(1 << 20).unwrap());
        assert_eq!(cpu.read::<U16>(sreg::SS, 0xFFFF), Err(Fault::GP0));
        assert_eq!(cpu.write::<U16>(sreg::SS, 0xFFFF, 0), Err(Fault::GP0));
    }

    #[test]
    fn flat_64_bit_accesses_reach_memory_and_fault_as_their_segment_would() {
        use crate::cpu::exec::system::testing::{exec, long};
        use crate::cpu::reg;
        let mut c = long();
        c.mem
            .write_bytes(0x8000, &0x1122_3344u32.to_le_bytes())
            .unwrap();
        c.gpr[reg::RBX as usize] = 0x8000;
        // The first access fills the TLB through the slow path, the next ones hit.
        for _ in 0..2 {
            exec(&mut c, &[0x8B, 0x03]).unwrap(); // mov eax, [rbx]
            assert_eq!(c.gpr[reg::RAX as usize], 0x1122_3344);
        }
        exec(&mut c, &[0x01, 0x03]).unwrap(); // add [rbx], eax
        exec(&mut c, &[0x01, 0x03]).unwrap();
        assert_eq!(c.mem.read_u8(0x8000), Some(0x44 * 3));
        // Non-canonical: #GP(0) through DS, #SS(0) through SS ([rbp]).
        c.gpr[reg::RBX as usize] = 0x8000_0000_0000_0000;
        c.gpr[reg::RBP as usize] = 0x8000_0000_0000_0000;
        assert_eq!(exec(&mut c, &[0x8B, 0x03]), Err(Fault::GP0));
        assert_eq!(exec(&mut c, &[0x89, 0x03]), Err(Fault::GP0)); // mov [rbx], eax
        assert_eq!(exec(&mut c, &[0x8B, 0x45, 0x00]), Err(Fault::ss(0)));
        assert_eq!(exec(&mut c, &[0x01, 0x45, 0x00]), Err(Fault::ss(0)));
    }
}
