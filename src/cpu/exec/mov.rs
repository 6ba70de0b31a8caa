//! Data movement: MOV, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMOVcc, SETcc, CBW/CWDE/CDQE,
//! CWD/CDQ/CQO, LAHF/SAHF, XLAT, XADD, CMPXCHG(8B/16B), MOVBE.

use iced_x86::{Mnemonic as M, Register};

use super::R;
use crate::cpu::decode::{Decoded, Flow};
use crate::cpu::fault::Fault;
use crate::cpu::flags::{bit, FlagOp};
use crate::cpu::state::reg;
use crate::cpu::{Cpu, Op, Width, U16, U32, U64, U8};
use crate::{sized, sized_cc, with_cc};

fn mov_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.rm);
    W::set(cpu, op.r, v);
    Ok(())
}

fn mov_ri<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    W::set(cpu, op.r, op.imm);
    Ok(())
}

fn mov_rm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<W>(op)?;
    W::set(cpu, op.r, v);
    Ok(())
}

fn mov_mr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.r);
    cpu.write_ea::<W>(op, v)
}

fn mov_mi<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    cpu.write_ea::<W>(op, op.imm)
}

/// `MOV AL/AX/EAX/RAX, moffs` with a 64-bit absolute offset in `imm`.
fn mov_r_moffs<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read::<W>(op.seg, op.imm)?;
    W::set(cpu, op.r, v);
    Ok(())
}

/// `MOV moffs, AL/AX/EAX/RAX` with a 64-bit absolute offset in `imm`.
fn mov_moffs_r<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = W::get(cpu, op.r);
    cpu.write::<W>(op.seg, op.imm, v)
}

/// MOVZX/MOVSX/MOVSXD register forms: `D` destination, `S` source, `SX` sign-extends.
fn ext_rr<D: Width, S: Width, const SX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let v = S::get(cpu, op.rm);
    D::set(cpu, op.r, if SX { S::sext(v) } else { v });
    Ok(())
}

fn ext_rm<D: Width, S: Width, const SX: bool>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<S>(op)?;
    D::set(cpu, op.r, if SX { S::sext(v) } else { v });
    Ok(())
}

fn lea<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.ea(op);
    W::set(cpu, op.r, v);
    Ok(())
}

fn xchg_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let a = W::get(cpu, op.r);
    let b = W::get(cpu, op.rm);
    W::set(cpu, op.r, b);
    W::set(cpu, op.rm, a);
    Ok(())
}

fn xchg_rm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let m = cpu.read_rmw::<W>(op.seg, off)?;
    let r = W::get(cpu, op.r);
    cpu.write::<W>(op.seg, off, r)?;
    W::set(cpu, op.r, m);
    Ok(())
}

fn cmov_rr<W: Width, const CC: u8>(cpu: &mut Cpu, op: &Op) -> R {
    // A 32-bit CMOV zero-extends its destination even when the condition is false.
    let v = if cpu.flags.cond(CC) {
        W::get(cpu, op.rm)
    } else {
        W::get(cpu, op.r)
    };
    W::set(cpu, op.r, v);
    Ok(())
}

fn cmov_rm<W: Width, const CC: u8>(cpu: &mut Cpu, op: &Op) -> R {
    // The source is read (and may fault) whatever the condition.
    let m = cpu.read_ea::<W>(op)?;
    let v = if cpu.flags.cond(CC) {
        m
    } else {
        W::get(cpu, op.r)
    };
    W::set(cpu, op.r, v);
    Ok(())
}

fn set_r<const CC: u8>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.flags.cond(CC) as u64;
    U8::set(cpu, op.r, v);
    Ok(())
}

fn set_m(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.flags.cond(op.imm2 as u8) as u64;
    cpu.write_ea::<U8>(op, v)
}

/// CBW/CWDE/CDQE: sign-extend the lower half of the accumulator into `W`.
fn cbw<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let half = W::BITS / 2;
    let v = cpu.gpr[reg::RAX as usize];
    let sh = 64 - half as u32;
    let x = (((v << sh) as i64) >> sh) as u64;
    W::set(cpu, reg::RAX, x);
    Ok(())
}

/// CWD/CDQ/CQO: fill rDX with the sign of rAX.
fn cwd<W: Width>(cpu: &mut Cpu, _: &Op) -> R {
    let neg = W::get(cpu, reg::RAX) & W::SIGN != 0;
    W::set(cpu, reg::RDX, if neg { W::MASK } else { 0 });
    Ok(())
}

fn lahf(cpu: &mut Cpu, _: &Op) -> R {
    let f = cpu.flags.get() & 0xFF;
    U8::set(cpu, reg::HIGH8, f | 0x02);
    Ok(())
}

fn sahf(cpu: &mut Cpu, _: &Op) -> R {
    let ah = U8::get(cpu, reg::HIGH8);
    let mask = bit::SF | bit::ZF | bit::AF | bit::PF | bit::CF;
    cpu.flags.set_arith(mask, ah);
    Ok(())
}

/// XLAT: AL = [seg:rBX + AL] at the address size.
fn xlat(cpu: &mut Cpu, op: &Op) -> R {
    let mask = crate::cpu::operand::ASIZE_MASK[(op.asize & 3) as usize];
    let off = cpu.gpr[reg::RBX as usize].wrapping_add(U8::get(cpu, reg::RAX)) & mask;
    let v = cpu.read::<U8>(op.seg, off)?;
    U8::set(cpu, reg::RAX, v);
    Ok(())
}

/// XADD r, r: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP (SDM Vol. 2B "XADD"). With one
/// register for both, the sum wins.
fn xadd_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let d = W::get(cpu, op.rm);
    let s = W::get(cpu, op.r);
    let r = d.wrapping_add(s) & W::MASK;
    W::set(cpu, op.r, d);
    W::set(cpu, op.rm, r);
    cpu.flags.set_lazy(FlagOp::Add, W::BITS, d, s, r);
    Ok(())
}

/// XADD m, r.
fn xadd_mr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let d = cpu.read_rmw::<W>(op.seg, off)?;
    let s = W::get(cpu, op.r);
    let r = d.wrapping_add(s) & W::MASK;
    cpu.write::<W>(op.seg, off, r)?;
    W::set(cpu, op.r, d);
    cpu.flags.set_lazy(FlagOp::Add, W::BITS, d, s, r);
    Ok(())
}

/// CMPXCHG r, r: compares the accumulator with DEST (flags as CMP); equal: DEST = SRC;
/// otherwise the accumulator = DEST and DEST is written with its own value (SDM Vol. 2A
/// "CMPXCHG": the destination always receives a write), which zero-extends a 32-bit register.
fn cmpxchg_rr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let acc = W::get(cpu, reg::RAX);
    let d = W::get(cpu, op.rm);
    cpu.flags
        .set_lazy(FlagOp::Sub, W::BITS, acc, d, acc.wrapping_sub(d) & W::MASK);
    if acc == d {
        let s = W::get(cpu, op.r);
        W::set(cpu, op.rm, s);
    } else {
        W::set(cpu, reg::RAX, d);
        W::set(cpu, op.rm, d);
    }
    Ok(())
}

/// CMPXCHG m, r: the memory operand is written either way (with its old value on a
/// mismatch), so a read-only destination faults even when the compare fails.
fn cmpxchg_mr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let d = cpu.read_rmw::<W>(op.seg, off)?;
    let acc = W::get(cpu, reg::RAX);
    let eq = acc == d;
    let v = if eq { W::get(cpu, op.r) } else { d };
    cpu.write::<W>(op.seg, off, v)?;
    if !eq {
        W::set(cpu, reg::RAX, d);
    }
    cpu.flags
        .set_lazy(FlagOp::Sub, W::BITS, acc, d, acc.wrapping_sub(d) & W::MASK);
    Ok(())
}

/// CMPXCHG8B m64: EDX:EAX against m64; equal: m64 = ECX:EBX, ZF = 1; otherwise EDX:EAX =
/// m64 (written back unchanged), ZF = 0. Other flags are unaffected.
fn cmpxchg8b(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let m = cpu.read_rmw::<U64>(op.seg, off)?;
    let cmp = U32::get(cpu, reg::RDX) << 32 | U32::get(cpu, reg::RAX);
    let eq = m == cmp;
    let v = if eq {
        U32::get(cpu, reg::RCX) << 32 | U32::get(cpu, reg::RBX)
    } else {
        m
    };
    cpu.write::<U64>(op.seg, off, v)?;
    if !eq {
        U32::set(cpu, reg::RAX, m);
        U32::set(cpu, reg::RDX, m >> 32);
    }
    cpu.flags.assign(bit::ZF, eq);
    Ok(())
}

/// CMPXCHG16B m128: as CMPXCHG8B with RDX:RAX and RCX:RBX; #GP(0) unless the operand is
/// 16-byte aligned (SDM Vol. 2A "CMPXCHG8B/CMPXCHG16B").
fn cmpxchg16b(cpu: &mut Cpu, op: &Op) -> R {
    let off = cpu.ea(op);
    let lin = cpu.seg(op.seg).lin_base.wrapping_add(off);
    if lin & 15 != 0 {
        return Err(Fault::GP0);
    }
    // Both halves must be writable before either is written.
    let lo = cpu.read_rmw::<U64>(op.seg, off)?;
    let hi = cpu.read_rmw::<U64>(op.seg, off.wrapping_add(8))?;
    let eq = lo == cpu.gpr[reg::RAX as usize] && hi == cpu.gpr[reg::RDX as usize];
    let (vlo, vhi) = if eq {
        (cpu.gpr[reg::RBX as usize], cpu.gpr[reg::RCX as usize])
    } else {
        (lo, hi)
    };
    cpu.write::<U64>(op.seg, off, vlo)?;
    cpu.write::<U64>(op.seg, off.wrapping_add(8), vhi)?;
    if !eq {
        cpu.gpr[reg::RAX as usize] = lo;
        cpu.gpr[reg::RDX as usize] = hi;
    }
    cpu.flags.assign(bit::ZF, eq);
    Ok(())
}

/// Swaps the bytes of a `W` value.
#[inline(always)]
fn swap<W: Width>(v: u64) -> u64 {
    v.swap_bytes() >> (64 - W::BITS as u32)
}

/// MOVBE r, m: load with the bytes swapped.
fn movbe_rm<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.read_ea::<W>(op)?;
    W::set(cpu, op.r, swap::<W>(v));
    Ok(())
}

/// MOVBE m, r: store with the bytes swapped.
fn movbe_mr<W: Width>(cpu: &mut Cpu, op: &Op) -> R {
    let v = swap::<W>(W::get(cpu, op.r));
    cpu.write_ea::<W>(op, v)
}

/// Decodes XADD, CMPXCHG, CMPXCHG8B/16B and MOVBE.
fn decode_atomic(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let size = d.op_size(0);
    match d.ins.mnemonic() {
        M::Xadd | M::Cmpxchg => {
            let xadd = d.ins.mnemonic() == M::Xadd;
            op.r = d.reg(1);
            op.run = if d.is_mem(0) {
                d.mem(op);
                if xadd {
                    sized!(size, xadd_mr)
                } else {
                    sized!(size, cmpxchg_mr)
                }
            } else {
                op.rm = d.reg(0);
                if xadd {
                    sized!(size, xadd_rr)
                } else {
                    sized!(size, cmpxchg_rr)
                }
            };
        }
        M::Cmpxchg8b | M::Cmpxchg16b => {
            // A register operand is #UD (iced-x86 already reports it invalid).
            if !d.is_mem(0) {
                return None;
            }
            d.mem(op);
            op.run = if d.ins.mnemonic() == M::Cmpxchg8b {
                cmpxchg8b
            } else {
                cmpxchg16b
            };
        }
        M::Movbe => {
            if d.is_mem(1) {
                op.r = d.reg(0);
                d.mem(op);
                op.run = sized!(size, movbe_rm);
            } else if d.is_mem(0) {
                op.r = d.reg(1);
                d.mem(op);
                op.run = sized!(d.op_size(1), movbe_mr);
            } else {
                return None;
            }
        }
        _ => return None,
    }
    Some(Flow::Next)
}

/// Decodes the data-movement group.
pub fn decode(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    match ins.mnemonic() {
        M::Mov => decode_mov(d, op),
        M::Movzx | M::Movsx | M::Movsxd => {
            let dst = d.op_size(0);
            let src = d.op_size(1);
            let sx = ins.mnemonic() != M::Movzx;
            op.r = d.reg(0);
            let mem = d.is_mem(1);
            if mem {
                d.mem_flat(op);
            } else {
                op.rm = d.reg(1);
            }
            macro_rules! ext {
                ($D:ty, $S:ty) => {
                    match (mem, sx) {
                        (false, false) => ext_rr::<$D, $S, false> as crate::cpu::Handler,
                        (false, true) => ext_rr::<$D, $S, true>,
                        (true, false) => ext_rm::<$D, $S, false>,
                        (true, true) => ext_rm::<$D, $S, true>,
                    }
                };
            }
            op.run = match (dst, src) {
                (2, 1) => ext!(U16, U8),
                (4, 1) => ext!(U32, U8),
                (8, 1) => ext!(U64, U8),
                (2, 2) => ext!(U16, U16),
                (4, 2) => ext!(U32, U16),
                (8, 2) => ext!(U64, U16),
                (4, 4) => ext!(U32, U32),
                (8, 4) => ext!(U64, U32),
                _ => return None,
            };
            Some(Flow::Next)
        }
        M::Lea => {
            if !d.is_mem(1) {
                return None;
            }
            op.r = d.reg(0);
            d.mem(op);
            op.run = sized!(d.op_size(0), lea);
            Some(Flow::Next)
        }
        M::Xchg => {
            let size = d.op_size(0);
            if d.is_reg(0) && d.is_reg(1) {
                op.r = d.reg(0);
                op.rm = d.reg(1);
                op.run = sized!(size, xchg_rr);
            } else {
                let (m, r) = if d.is_mem(0) { (0, 1) } else { (1, 0) };
                let _ = m;
                op.r = d.reg(r);
                d.mem(op);
                op.run = sized!(size, xchg_rm);
            }
            Some(Flow::Next)
        }
        M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg => {
            let cc = ins.condition_code() as u8 - 1;
            op.imm2 = cc as u16;
            op.r = d.reg(0);
            let size = d.op_size(0);
            if d.is_reg(1) {
                op.rm = d.reg(1);
                op.run = sized_cc!(size, cmov_rr, cc);
            } else {
                d.mem(op);
                op.run = sized_cc!(size, cmov_rm, cc);
            }
            Some(Flow::Next)
        }
        M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => {
            let cc = ins.condition_code() as u8 - 1;
            op.imm2 = cc as u16;
            if d.is_reg(0) {
                op.r = d.reg(0);
                op.run = with_cc!(set_r, cc);
            } else {
                d.mem(op);
                op.run = set_m;
            }
            Some(Flow::Next)
        }
        M::Cbw => Some(set(op, cbw::<U16>)),
        M::Cwde => Some(set(op, cbw::<U32>)),
        M::Cdqe => Some(set(op, cbw::<U64>)),
        M::Cwd => Some(set(op, cwd::<U16>)),
        M::Cdq => Some(set(op, cwd::<U32>)),
        M::Cqo => Some(set(op, cwd::<U64>)),
        M::Lahf => Some(set(op, lahf)),
        M::Sahf => Some(set(op, sahf)),
        M::Xadd | M::Cmpxchg | M::Cmpxchg8b | M::Cmpxchg16b | M::Movbe => decode_atomic(d, op),
        M::Xlatb => {
            op.seg = d.mem_seg();
            op.asize = match ins.memory_base() {
                Register::BX => 0,
                Register::EBX => 1,
                _ => 2,
            };
            Some(set(op, xlat))
        }
        _ => None,
    }
}

fn set(op: &mut Op, h: crate::cpu::Handler) -> Flow {
    op.run = h;
    Flow::Next
}

fn decode_mov(d: &Decoded, op: &mut Op) -> Option<Flow> {
    let ins = d.ins;
    let r0 = ins.op0_register();
    let r1 = if ins.op_count() > 1 {
        ins.op1_register()
    } else {
        Register::None
    };
    if r0.is_segment_register() || r1.is_segment_register() {
        return super::segment::decode_mov_sreg(d, op);
    }
    if r0.is_cr() || r1.is_cr() || r0.is_dr() || r1.is_dr() || r0.is_tr() || r1.is_tr() {
        return super::system::decode_mov_crdr(d, op);
    }
    let size = d.op_size(0);
    if d.is_reg(0) {
        op.r = d.reg(0);
        if d.is_reg(1) {
            op.rm = d.reg(1);
            op.run = sized!(size, mov_rr);
        } else if d.is_mem(1) {
            if let Some(off) = moffs64(d) {
                op.seg = d.mem_seg();
                op.imm = off;
                op.run = sized!(size, mov_r_moffs);
            } else {
                d.mem_flat(op);
                op.run = sized!(size, mov_rm);
            }
        } else {
            op.imm = d.imm(1);
            op.run = sized!(size, mov_ri);
        }
    } else {
        if d.is_reg(1) {
            op.r = d.reg(1);
            if let Some(off) = moffs64(d) {
                op.seg = d.mem_seg();
                op.imm = off;
                op.run = sized!(size, mov_moffs_r);
                return Some(Flow::Next);
            }
            op.run = sized!(size, mov_mr);
        } else {
            op.imm = d.imm(1);
            op.run = sized!(size, mov_mi);
        }
        d.mem_flat(op);
    }
    Some(Flow::Next)
}

/// A `moffs` operand whose 64-bit offset does not fit the op's 32-bit displacement.
fn moffs64(d: &Decoded) -> Option<u64> {
    let ins = d.ins;
    let abs = ins.memory_base() == Register::None
        && ins.memory_index() == Register::None
        && ins.memory_displ_size() == 8;
    let disp = ins.memory_displacement64();
    (abs && disp as i64 != disp as i32 as i64).then_some(disp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::flags::bit::*;
    use crate::cpu::Model;
    use crate::mem::PhysMem;

    /// A 64-bit CPU with RAX..RDX as given and an op whose memory operand is [RSI] (RSI = 0x800).
    fn setup(rax: u64, rbx: u64, rcx: u64, rdx: u64) -> (Cpu, Op) {
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.enter_long_mode(0x1000, 0x10000, 1);
        cpu.gpr[reg::RAX as usize] = rax;
        cpu.gpr[reg::RBX as usize] = rbx;
        cpu.gpr[reg::RCX as usize] = rcx;
        cpu.gpr[reg::RDX as usize] = rdx;
        cpu.gpr[reg::RSI as usize] = 0x800;
        let mut op = Op::new(3);
        op.base = reg::RSI;
        op.asize = 2;
        (cpu, op)
    }

    fn mem64(cpu: &Cpu, a: u64) -> u64 {
        let mut b = [0u8; 8];
        cpu.mem.read_bytes(a, &mut b);
        u64::from_le_bytes(b)
    }

    #[test]
    fn xadd_exchanges_and_adds() {
        let (mut cpu, mut op) = setup(0, 0xFF, 0x01, 0);
        op.r = reg::RCX;
        op.rm = reg::RBX;
        xadd_rr::<U8>(&mut cpu, &op).unwrap();
        assert_eq!(
            (cpu.gpr[reg::RBX as usize], cpu.gpr[reg::RCX as usize]),
            (0x00, 0xFF)
        );
        assert_eq!(cpu.flags.get() & ARITH, CF | ZF | AF | PF);
        // One register as both operands: the sum wins.
        op.rm = reg::RCX;
        xadd_rr::<U32>(&mut cpu, &op).unwrap();
        assert_eq!(cpu.gpr[reg::RCX as usize], 0x1FE);
        cpu.mem.write_bytes(0x800, &7u64.to_le_bytes()).unwrap();
        op.r = reg::RBX;
        cpu.gpr[reg::RBX as usize] = 5;
        xadd_mr::<U64>(&mut cpu, &op).unwrap();
        assert_eq!((mem64(&cpu, 0x800), cpu.gpr[reg::RBX as usize]), (12, 7));
    }

    #[test]
    fn cmpxchg_both_outcomes() {
        // Equal: destination takes the source, ZF set.
        let (mut cpu, mut op) = setup(0xFFFF_FFFF_0000_0005, 0x5, 0x99, 0);
        op.r = reg::RCX;
        op.rm = reg::RBX;
        cmpxchg_rr::<U32>(&mut cpu, &op).unwrap();
        assert_eq!(cpu.gpr[reg::RBX as usize], 0x99);
        assert!(cpu.flags.zf());
        // RAX is not written on success, so its upper half stays.
        assert_eq!(cpu.gpr[reg::RAX as usize], 0xFFFF_FFFF_0000_0005);
        // Not equal: the accumulator takes the destination (zero-extended); flags of CMP.
        cpu.gpr[reg::RBX as usize] = 0xAAAA_AAAA_0000_0007;
        cmpxchg_rr::<U32>(&mut cpu, &op).unwrap();
        assert_eq!(cpu.gpr[reg::RAX as usize], 7);
        assert_eq!(cpu.gpr[reg::RBX as usize], 7);
        assert_eq!(cpu.flags.get() & ARITH, CF | SF | AF);
        // Memory form.
        cpu.mem.write_bytes(0x800, &[0x34, 0x12]).unwrap();
        cpu.gpr[reg::RAX as usize] = 0x1234;
        cmpxchg_mr::<U16>(&mut cpu, &op).unwrap();
        assert_eq!(mem64(&cpu, 0x800) & 0xFFFF, 0x99);
        cmpxchg_mr::<U16>(&mut cpu, &op).unwrap();
        assert_eq!(
            (mem64(&cpu, 0x800) & 0xFFFF, cpu.gpr[reg::RAX as usize]),
            (0x99, 0x99)
        );
        assert!(!cpu.flags.zf());
    }

    #[test]
    fn cmpxchg8b_and_16b() {
        let (mut cpu, op) = setup(0x1111_1111, 0x3333_3333, 0x4444_4444, 0x2222_2222);
        cpu.mem
            .write_bytes(0x800, &0x2222_2222_1111_1111u64.to_le_bytes())
            .unwrap();
        cpu.flags.set(CF | 2);
        cmpxchg8b(&mut cpu, &op).unwrap();
        assert_eq!(mem64(&cpu, 0x800), 0x4444_4444_3333_3333);
        assert_eq!(cpu.flags.get() & ARITH, CF | ZF);
        cmpxchg8b(&mut cpu, &op).unwrap();
        assert_eq!(
            (cpu.gpr[reg::RAX as usize], cpu.gpr[reg::RDX as usize]),
            (0x3333_3333, 0x4444_4444)
        );
        assert_eq!(cpu.flags.get() & ARITH, CF);

        let (mut cpu, mut op) = setup(1, 3, 4, 2);
        cpu.mem.write_bytes(0x800, &1u64.to_le_bytes()).unwrap();
        cpu.mem.write_bytes(0x808, &2u64.to_le_bytes()).unwrap();
        cmpxchg16b(&mut cpu, &op).unwrap();
        assert_eq!((mem64(&cpu, 0x800), mem64(&cpu, 0x808)), (3, 4));
        assert!(cpu.flags.zf());
        cmpxchg16b(&mut cpu, &op).unwrap();
        assert_eq!(
            (cpu.gpr[reg::RAX as usize], cpu.gpr[reg::RDX as usize]),
            (3, 4)
        );
        assert!(!cpu.flags.zf());
        op.disp = 8;
        assert_eq!(cmpxchg16b(&mut cpu, &op), Err(Fault::GP0));
    }

    #[test]
    fn movbe_swaps() {
        let (mut cpu, mut op) = setup(0, 0x1122_3344_5566_7788, 0, 0);
        op.r = reg::RBX;
        movbe_mr::<U64>(&mut cpu, &op).unwrap();
        assert_eq!(mem64(&cpu, 0x800), 0x8877_6655_4433_2211);
        op.r = reg::RAX;
        movbe_rm::<U16>(&mut cpu, &op).unwrap();
        // Memory holds 11 22 33 44 …: a big-endian load.
        assert_eq!(cpu.gpr[reg::RAX as usize], 0x1122);
        movbe_rm::<U32>(&mut cpu, &op).unwrap();
        assert_eq!(cpu.gpr[reg::RAX as usize], 0x1122_3344);
        assert_eq!(swap::<U16>(0x1234), 0x3412);
    }
}
