//! The 8086 and 80286 personalities: what those chips do with bytes that iced-x86 (which
//! decodes as a 386+ does) reads differently, applied at decode time so the default model
//! pays nothing. The facts come from the recorded SingleStepTests vectors and their metadata.
//!
//! - 8086: only the segment, LOCK (F0, and its alias F1) and REP prefixes exist; 60–6F alias
//!   the Jcc at 70–7F; C0/C1/C8/C9 alias RETN/RETF C2/C3/CA/CB; 0F is POP CS; D0–D3 /6 are
//!   SETMO/SETMOC (all ones); FF /7 aliases PUSH r/m; 8C/8E decode only two bits of the
//!   segment register field; PUSH SP pushes the decremented SP; D8–DF (ESC) do nothing
//!   without an 8087.
//! - 80286: 64–67 do not exist (#UD); of the 0F page only 0F 00–0F 06 exist (#UD otherwise);
//!   D8–DF do nothing without an 80287, and WAIT faults only when MSW.MP and MSW.TS are set.
//! - Both: LOCK (and its alias F1) never faults, whatever instruction it precedes.

use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction};

use super::decode::{translate, Decoded, DecodedOp, Flow};
use super::exec::R;
use super::flags::FlagOp;
use super::op::Op;
use super::state::{reg, sreg, Model};
use super::{Cpu, Cr0, Width, U16};
use crate::sized;

/// Decodes one instruction for an old model; returns the op and its length (0 if the bytes
/// end before the instruction does).
pub fn decode(model: Model, bytes: &[u8], bits: u32, ins: &mut Instruction) -> (DecodedOp, usize) {
    // Prefixes: both chips know only the segment overrides, LOCK (F0, and its alias F1) and
    // REP. LOCK has no effect on one processor, and neither chip faults on it where a 386
    // would (the vectors run LOCK MOV reg, reg), so it is dropped before iced-x86 sees it.
    let mut buf = [0u8; 16];
    let (mut n, mut p, mut dropped) = (0, 0, 0);
    for &b in bytes.iter().take(buf.len()) {
        if n == p {
            match b {
                0xF0 | 0xF1 => {
                    dropped += 1;
                    continue;
                }
                0x26 | 0x2E | 0x36 | 0x3E | 0xF2 | 0xF3 => p += 1,
                _ => {}
            }
        }
        buf[n] = b;
        n += 1;
    }
    let buf = &mut buf[..n];
    let (mut d, len) = decode_rest(model, buf, p, bits, ins);
    if len == 0 {
        return (d, 0);
    }
    d.op.len += dropped as u8;
    if model == Model::I80286 && len + dropped > MAX_LEN_286 {
        d.op.run = gp0;
        d.flow = Flow::End;
    }
    (d, len + dropped)
}

/// The longest instruction the 80286 executes; a longer one (redundant prefixes) raises
/// #GP(0) with IP on its first byte (80286 PRM; the vectors record it for 11 bytes).
const MAX_LEN_286: usize = 10;

/// Decodes the instruction in `buf` whose prefixes take the first `p` bytes.
fn decode_rest(
    model: Model,
    buf: &mut [u8],
    p: usize,
    bits: u32,
    ins: &mut Instruction,
) -> (DecodedOp, usize) {
    let n = buf.len();
    if p == n {
        return (iced(model, buf, bits, ins).0, 0);
    }
    let special = match model {
        Model::I8086 => rewrite_8086(buf, p),
        _ => rewrite_286(buf, p),
    };
    match special {
        Special::None => {}
        Special::Op(run, len, flow) => {
            if len > n {
                return (iced(model, buf, bits, ins).0, 0);
            }
            let mut op = Op::new(len as u8);
            op.run = run;
            *ins = Instruction::default();
            let plain = flow == Flow::Next;
            return (
                DecodedOp {
                    op,
                    flow,
                    unimplemented: false,
                    plain,
                },
                len,
            );
        }
        Special::Esc => {
            // Without a coprocessor an ESC only computes its address: a NOP of its length.
            let (mut d, len) = iced(model, buf, bits, ins);
            d.op = Op::new(d.op.len);
            d.op.run = nop;
            d.flow = Flow::Next;
            d.unimplemented = false;
            d.plain = true;
            return (d, len);
        }
        Special::String286 => {
            let (mut d, len) = iced(model, buf, bits, ins);
            if len > 0 && !ins.is_invalid() {
                if let Some(run) = string_286_handler(ins) {
                    d.op.run = run;
                }
            }
            return (d, len);
        }
        Special::Invalid => {
            let (mut d, len) = iced(model, buf, bits, ins);
            d.op = Op::new(d.op.len);
            d.op.run = ud;
            d.flow = Flow::End;
            d.unimplemented = false;
            return (d, len);
        }
        Special::Pop286 => {
            let (mut d, len) = iced(model, buf, bits, ins);
            if len > 0 && !ins.is_invalid() && ins.op0_kind() == iced_x86::OpKind::Memory {
                d.op.run = pop_m_286;
            }
            return (d, len);
        }
        Special::SetMo { cl } => {
            let (mut d, len) = iced(model, buf, bits, ins);
            if len > 0 && !ins.is_invalid() {
                d.op = setmo_op(&Decoded { ins, bits, model }, cl);
                d.flow = Flow::Next;
                d.plain = true;
            }
            return (d, len);
        }
    }
    iced(model, buf, bits, ins)
}

/// Decodes `bytes` with iced-x86 and translates the instruction for `model`.
fn iced(model: Model, bytes: &[u8], bits: u32, ins: &mut Instruction) -> (DecodedOp, usize) {
    let mut d = Decoder::with_ip(bits, bytes, 0, DecoderOptions::NONE);
    d.decode_out(ins);
    let len = if ins.is_invalid() && d.last_error() == DecoderError::NoMoreBytes {
        0
    } else {
        ins.len()
    };
    (translate(ins, bits, model), len)
}

/// What the personality makes of an opcode that iced-x86 would read differently.
enum Special {
    /// Decode the (possibly rewritten) bytes with iced-x86.
    None,
    /// An op with this handler and length that needs no operands.
    Op(super::Handler, usize, Flow),
    /// An x87 escape with no coprocessor attached.
    Esc,
    /// 8086 SETMO (D0/D1 /6) or SETMOC (D2/D3 /6, only when CL is not zero).
    SetMo { cl: bool },
    /// An 80286 word string instruction (its segment-overrun side effects differ).
    String286,
    /// 80286 POP r/m16 with a memory operand (SP stays popped when the store faults).
    Pop286,
    /// An encoding the model does not have: #UD, with the length iced-x86 reads.
    Invalid,
}

/// Rewrites 8086 opcodes at `buf[p]` into the 386 encodings that do the same thing.
fn rewrite_8086(buf: &mut [u8], p: usize) -> Special {
    let modrm_reg = |buf: &[u8]| buf.get(p + 1).map(|m| (m >> 3) & 7);
    match buf[p] {
        // 60–6F decode as the Jcc at 70–7F (only bit 4 of the opcode differs).
        0x60..=0x6F => buf[p] |= 0x10,
        // C0/C1/C8/C9 decode as RETN imm16 / RETN / RETF imm16 / RETF (bit 1 is ignored).
        0xC0 | 0xC1 | 0xC8 | 0xC9 => buf[p] |= 0x02,
        0x0F => return Special::Op(pop_cs, p + 1, Flow::End),
        0x54 => return Special::Op(push_sp_8086, p + 1, Flow::Next),
        // FF /6 and its alias FF /7 with the SP register operand.
        0xFF if matches!(buf.get(p + 1), Some(0xF4 | 0xFC)) => {
            return Special::Op(push_sp_8086, p + 2, Flow::Next)
        }
        0xD8..=0xDF => return Special::Esc,
        // WAIT: with no 8087 the TEST pin is never asserted busy.
        0x9B => return Special::Op(nop, p + 1, Flow::Next),
        0xD0..=0xD3 if modrm_reg(buf) == Some(6) => {
            // Decode the operand as SHL (/4) would; the handler writes all ones.
            buf[p + 1] = (buf[p + 1] & !0x38) | (4 << 3);
            return Special::SetMo { cl: buf[p] >= 0xD2 };
        }
        // FF /7 is a second PUSH r/m (/6).
        0xFF if modrm_reg(buf) == Some(7) => buf[p + 1] &= !0x08,
        // The segment register field has two bits: /4–/7 name ES, CS, SS, DS again.
        0x8C | 0x8E if modrm_reg(buf).is_some_and(|r| r >= 4) => buf[p + 1] &= !0x20,
        _ => {}
    }
    Special::None
}

/// Rewrites (or rejects) 80286 opcodes at `buf[p]`.
fn rewrite_286(buf: &mut [u8], p: usize) -> Special {
    match buf[p] {
        // FS, GS and the operand- and address-size prefixes arrived with the 386.
        0x64..=0x67 => Special::Op(ud, p + 1, Flow::End),
        0x0F => match buf.get(p + 1) {
            Some(0x00..=0x06) | None => Special::None,
            Some(_) => Special::Op(ud, p + 2, Flow::End),
        },
        0xD8..=0xDF => Special::Esc,
        0x9B => Special::Op(wait_286, p + 1, Flow::Next),
        0x6D | 0x6F | 0xA5 | 0xA7 | 0xAB | 0xAD | 0xAF => Special::String286,
        // BOUND, LES, LDS need a memory operand; iced-x86 would read EVEX/VEX here.
        0x62 | 0xC4 | 0xC5 if buf.get(p + 1).is_some_and(|&m| m >= 0xC0) => {
            Special::Op(ud, p + 2, Flow::End)
        }
        // The segment register field has only ES, CS, SS, DS: FS and GS came with the 386.
        0x8C | 0x8E if buf.get(p + 1).is_some_and(|&m| m & 0x20 != 0) => Special::Invalid,
        0x8F if buf.get(p + 1).is_some_and(|&m| m < 0xC0 && m & 0x38 == 0) => Special::Pop286,
        _ => Special::None,
    }
}

fn nop(_: &mut Cpu, _: &Op) -> R {
    Ok(())
}

fn gp0(_: &mut Cpu, _: &Op) -> R {
    Err(super::Fault::GP0)
}

fn ud(_: &mut Cpu, _: &Op) -> R {
    Err(super::Fault::UD)
}

/// 80286 WAIT with no 80287: #NM when MSW.MP and MSW.TS are both set (80286 PRM), else
/// nothing.
fn wait_286(cpu: &mut Cpu, _: &Op) -> R {
    if cpu.cr0.contains(Cr0::MP | Cr0::TS) {
        return Err(super::Fault::NM);
    }
    Ok(())
}

/// The 80286 word string instructions, as const-generic selectors.
mod string_kind {
    pub const MOVS: u8 = 0;
    pub const CMPS: u8 = 1;
    pub const STOS: u8 = 2;
    pub const LODS: u8 = 3;
    pub const SCAS: u8 = 4;
    pub const INS: u8 = 5;
    pub const OUTS: u8 = 6;
}

/// The 80286 handler of a word string instruction (16-bit addressing, the only kind there is).
fn string_286_handler(ins: &Instruction) -> Option<super::Handler> {
    use super::exec::string::rep::{NONE, REPE, REPNE};
    use iced_x86::Mnemonic as M;
    use string_kind::*;
    let kind = match ins.mnemonic() {
        M::Movsw => MOVS,
        M::Cmpsw => CMPS,
        M::Stosw => STOS,
        M::Lodsw => LODS,
        M::Scasw => SCAS,
        M::Insw => INS,
        M::Outsw => OUTS,
        _ => return None,
    };
    let compare = kind == CMPS || kind == SCAS;
    // As the string group decodes it: F2 repeats like F3 except on the comparing strings.
    let k = match (ins.has_rep_prefix(), ins.has_repne_prefix()) {
        (false, false) => NONE,
        (_, true) if compare => REPNE,
        _ => REPE,
    };
    macro_rules! pick {
        ($($kind:ident),*) => {
            match (kind, k) {
                $(
                    ($kind, NONE) => string_286::<$kind, NONE> as super::Handler,
                    ($kind, REPE) => string_286::<$kind, REPE>,
                    ($kind, _) => string_286::<$kind, REPNE>,
                )*
                _ => return None,
            }
        };
    }
    Some(pick!(MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS))
}

/// An 80286 word string instruction. A word at offset FFFF raises interrupt 13 (segment
/// overrun) with IP on the instruction, as on later chips, but the 80286 has already
/// stepped the index register of the faulting access, and of an access before it, and
/// counted CX down (the vectors: MOVSW, STOSW, INSW count two for a faulting store, one for
/// a faulting load; CMPSW reads ES:DI before DS:SI and counts none when ES:DI faults).
fn string_286<const KIND: u8, const K: u8>(cpu: &mut Cpu, op: &Op) -> R {
    use super::exec::string as s;
    use string_kind::*;
    let r = match KIND {
        MOVS => s::movs::<U16, 0, K>(cpu, op),
        CMPS => s::cmps::<U16, 0, K>(cpu, op),
        STOS => s::stos::<U16, 0, K>(cpu, op),
        LODS => s::lods::<U16, 0, K>(cpu, op),
        SCAS => s::scas::<U16, 0, K>(cpu, op),
        INS => s::ins::<U16, 0, K>(cpu, op),
        _ => s::outs::<U16, 0, K>(cpu, op),
    };
    if r == Err(super::Fault::GP0) && cpu.mode == super::Mode::Real {
        let si = cpu.gpr[reg::RSI as usize] & 0xFFFF == 0xFFFF;
        let di = cpu.gpr[reg::RDI as usize] & 0xFFFF == 0xFFFF;
        // (step SI, step DI, CX count) for the access that overran.
        let (step_si, step_di, count) = match KIND {
            MOVS if si => (true, false, 1),
            MOVS if di => (true, true, 2),
            CMPS if di => (false, true, 0),
            CMPS if si => (true, true, 1),
            STOS | INS if di => (false, true, 2),
            SCAS if di => (false, true, 1),
            LODS | OUTS if si => (true, false, 1),
            _ => return r,
        };
        let d: u64 = if cpu.flags.has(super::flags::bit::DF) {
            0xFFFE
        } else {
            2
        };
        let bump = |cpu: &mut Cpu, r: u8, by: u64| {
            let g = &mut cpu.gpr[r as usize];
            *g = (*g & !0xFFFF) | (g.wrapping_add(by) & 0xFFFF);
        };
        if step_si {
            bump(cpu, reg::RSI, d);
        }
        if step_di {
            bump(cpu, reg::RDI, d);
        }
        if K != super::exec::string::rep::NONE {
            bump(cpu, reg::RCX, (count as u64).wrapping_neg());
        }
    }
    r
}

/// 80286 POP m16: the effective address is computed after SP is incremented (as on every
/// x86), but a store that overruns the segment leaves SP incremented (the vectors: POP [SI]
/// with SI = FFFF raises interrupt 13 with SP two higher).
fn pop_m_286(cpu: &mut Cpu, op: &Op) -> R {
    let v = cpu.pop::<U16>()?;
    let off = cpu.ea(op);
    cpu.write::<U16>(op.seg, off, v)
}

/// 8086 `0F`: POP CS, a plain pop into CS (real mode: base = selector << 4).
fn pop_cs(cpu: &mut Cpu, _: &Op) -> R {
    let v = cpu.pop::<U16>()?;
    cpu.load_seg(sreg::CS, v as u16)?;
    cpu.end_block();
    Ok(())
}

/// 8086 PUSH SP: SP is decremented before it is read, so the new value is pushed (the 286
/// and later push the old one).
fn push_sp_8086(cpu: &mut Cpu, _: &Op) -> R {
    let sp = cpu.gpr[reg::RSP as usize].wrapping_sub(2) & 0xFFFF;
    cpu.push::<U16>(sp)
}

/// The op of a SETMO/SETMOC whose operand was decoded as SHL r/m.
fn setmo_op(d: &Decoded, cl: bool) -> Op {
    let mut op = Op::new(d.ins.len() as u8);
    let size = d.op_size(0);
    if d.is_reg(0) {
        op.r = d.reg(0);
        op.run = if cl {
            sized!(size, setmo_r, true)
        } else {
            sized!(size, setmo_r, false)
        };
    } else {
        d.mem(&mut op);
        op.run = if cl {
            sized!(size, setmo_m, true)
        } else {
            sized!(size, setmo_m, false)
        };
    }
    op
}

/// Records the flags of an all-ones result (as OR with all ones: CF = OF = AF = 0, SF = PF = 1).
fn setmo_flags<W: Width>(cpu: &mut Cpu) {
    cpu.flags.set_lazy(FlagOp::Logic, W::BITS, 0, 0, W::MASK);
}

fn setmo_r<W: Width, const CL: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if CL && cpu.gpr[reg::RCX as usize] & 0xFF == 0 {
        return Ok(());
    }
    W::set(cpu, op.r, W::MASK);
    setmo_flags::<W>(cpu);
    Ok(())
}

fn setmo_m<W: Width, const CL: bool>(cpu: &mut Cpu, op: &Op) -> R {
    if CL && cpu.gpr[reg::RCX as usize] & 0xFF == 0 {
        return Ok(());
    }
    let off = cpu.ea(op);
    cpu.read_rmw::<W>(op.seg, off)?;
    cpu.write::<W>(op.seg, off, W::MASK)?;
    setmo_flags::<W>(cpu);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{Cpu, OpenBus, Segment};
    use crate::mem::PhysMem;

    /// Runs `code` at 0000:0100 with SS:SP = 0000:1000 for one instruction.
    fn run(model: Model, code: &[u8], setup: impl FnOnce(&mut Cpu)) -> Cpu {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        mem.set_addr_mask(0xF_FFFF);
        let mut cpu = Cpu::new(model, mem);
        for s in [sreg::ES, sreg::SS, sreg::DS] {
            cpu.segs[s as usize] = Segment::real(0);
        }
        cpu.segs[sreg::CS as usize] =
            Segment::from_cache(0, 0, 0xFFFF, crate::cpu::segment::attr::CODE_RX);
        cpu.update_mode();
        cpu.set_rip(0x100);
        cpu.gpr[reg::RSP as usize] = 0x1000;
        cpu.mem.write_bytes(0x100, code).unwrap();
        setup(&mut cpu);
        cpu.run(&mut OpenBus, 1);
        cpu
    }

    fn decoded(model: Model, bytes: &[u8]) -> (DecodedOp, usize) {
        decode(model, bytes, 16, &mut Instruction::default())
    }

    #[test]
    fn the_8086_reads_60_to_6f_as_jcc() {
        // 64 05 is JZ +5 on an 8086 (FS: prefix on a 386).
        let cpu = run(Model::I8086, &[0x64, 0x05], |c| c.flags.set(0x40));
        assert_eq!(cpu.rip(), 0x107);
        assert_eq!(decoded(Model::I8086, &[0x6F, 0x10]).1, 2);
    }

    #[test]
    fn the_8086_pops_cs_with_0f() {
        let cpu = run(Model::I8086, &[0x0F], |c| {
            c.mem.write_bytes(0x1000, &[0x34, 0x12]).unwrap()
        });
        assert_eq!(cpu.seg(sreg::CS).selector, 0x1234);
        assert_eq!(cpu.seg(sreg::CS).base, 0x12340);
        assert_eq!((cpu.rip(), cpu.gpr[reg::RSP as usize]), (0x101, 0x1002));
    }

    #[test]
    fn the_8086_pushes_the_decremented_sp() {
        for code in [&[0x54][..], &[0xFF, 0xF4], &[0xFF, 0xFC]] {
            let cpu = run(Model::I8086, code, |_| {});
            let mut b = [0u8; 2];
            cpu.mem.read_bytes(0xFFE, &mut b);
            assert_eq!(u16::from_le_bytes(b), 0xFFE, "{code:02x?}");
            assert_eq!(cpu.rip(), 0x100 + code.len() as u64);
        }
    }

    #[test]
    fn the_8086_setmo_writes_all_ones() {
        // D1 F0: SETMO AX. D2 F3 with CL = 0: SETMOC BL does nothing.
        let cpu = run(Model::I8086, &[0xD1, 0xF0], |_| {});
        assert_eq!(cpu.gpr[reg::RAX as usize] & 0xFFFF, 0xFFFF);
        let cpu = run(Model::I8086, &[0xD2, 0xF3], |c| {
            c.gpr[reg::RBX as usize] = 0x12
        });
        assert_eq!(cpu.gpr[reg::RBX as usize], 0x12);
    }

    #[test]
    fn the_8086_aliases_ret_and_lock() {
        assert_eq!(
            decoded(Model::I8086, &[0xC0, 0x04, 0x00]).1,
            3,
            "C0 = RETN imm16"
        );
        assert_eq!(decoded(Model::I8086, &[0xC9]).1, 1, "C9 = RETF");
        assert_eq!(decoded(Model::I8086, &[0xF1, 0x90]).1, 2, "F1 = LOCK");
        assert_eq!(
            decoded(Model::I8086, &[0xD8, 0x06, 0x34, 0x12]).1,
            4,
            "ESC with disp16"
        );
        assert_eq!(
            decoded(Model::I8086, &[0x26]).1,
            0,
            "a prefix alone is incomplete"
        );
    }

    #[test]
    fn lock_is_ignored_even_before_a_register_move() {
        // F0 88 D3: LOCK MOV BL, DL runs on both chips (a 386 raises #UD).
        for model in [Model::I8086, Model::I80286] {
            let cpu = run(model, &[0xF0, 0x88, 0xD3], |c| {
                c.gpr[reg::RDX as usize] = 0x42
            });
            assert_eq!(
                (cpu.gpr[reg::RBX as usize], cpu.rip()),
                (0x42, 0x103),
                "{model:?}"
            );
            assert_eq!(decoded(model, &[0xF1, 0xF0, 0x26, 0x00, 0x07]).1, 5);
        }
    }

    #[test]
    fn the_286_faults_on_instructions_longer_than_ten_bytes() {
        // Five segment prefixes and ADD WORD [SI+disp16], imm16: eleven bytes.
        let long = [
            0x2E, 0x36, 0x2E, 0x3E, 0x3E, 0x81, 0x84, 0xDF, 0x1D, 0x93, 0x76,
        ];
        let (d, len) = decoded(Model::I80286, &long);
        assert_eq!(len, 11);
        let mut cpu = Cpu::new(Model::I80286, PhysMem::new(1 << 20).unwrap());
        assert_eq!(
            (d.op.run)(&mut cpu, &d.op).unwrap_err(),
            crate::cpu::Fault::GP0
        );
        let (d, _) = decoded(Model::I80286, &long[1..]);
        assert!((d.op.run)(&mut cpu, &d.op).is_ok(), "ten bytes run");
        let (d, _) = decoded(Model::I8086, &long);
        assert!((d.op.run)(&mut cpu, &d.op).is_ok(), "the 8086 has no limit");
    }

    #[test]
    fn the_286_steps_the_index_of_a_word_string_overrun() {
        // REP MOVSW with DI = FFFF: #GP, SI and DI stepped, CX counted down by two.
        let setup = |c: &mut Cpu| {
            c.gpr[reg::RSI as usize] = 0x10;
            c.gpr[reg::RDI as usize] = 0xFFFF;
            c.gpr[reg::RCX as usize] = 5;
        };
        let cpu = run(Model::I80286, &[0xF3, 0xA5], setup);
        assert_eq!(cpu.last_fault, Some(crate::cpu::Fault::GP0));
        let r = |i: u8| cpu.gpr[i as usize];
        assert_eq!((r(reg::RSI), r(reg::RDI), r(reg::RCX)), (0x12, 0x1, 3));
        // CMPSW with DI = FFFF: only DI steps (ES:DI is read first).
        let cpu = run(Model::I80286, &[0xA7], setup);
        assert_eq!(
            (cpu.gpr[reg::RSI as usize], cpu.gpr[reg::RDI as usize]),
            (0x10, 0x1)
        );
        // A 386+ leaves the registers at the faulting iteration.
        let cpu = run(Model::Modern, &[0xF3, 0xA5], setup);
        assert_eq!(
            (cpu.gpr[reg::RSI as usize], cpu.gpr[reg::RDI as usize]),
            (0x10, 0xFFFF)
        );
    }

    #[test]
    fn the_286_keeps_sp_popped_when_pop_m16_overruns() {
        let cpu = run(Model::I80286, &[0x8F, 0x04], |c| {
            c.gpr[reg::RSI as usize] = 0xFFFF
        });
        assert_eq!(cpu.last_fault, Some(crate::cpu::Fault::GP0));
        // Popped (+2), then FLAGS, CS, IP pushed for interrupt 13 (-6).
        assert_eq!(cpu.gpr[reg::RSP as usize], 0x1000 + 2 - 6);
    }

    #[test]
    fn the_286_has_no_fs_or_gs() {
        // 8C 26 34 12: MOV [1234h], FS on a 386.
        let (d, len) = decoded(Model::I80286, &[0x8C, 0x26, 0x34, 0x12]);
        assert_eq!(len, 4);
        assert!(!d.unimplemented, "a deliberate #UD, not a gap");
        let mut cpu = Cpu::new(Model::I80286, PhysMem::new(1 << 20).unwrap());
        assert_eq!(
            (d.op.run)(&mut cpu, &d.op).unwrap_err(),
            crate::cpu::Fault::UD
        );
    }

    #[test]
    fn the_286_rejects_register_forms_of_bound_les_lds() {
        for bytes in [[0x62, 0xC6], [0xC4, 0xC0], [0xC5, 0xFD]] {
            let (d, len) = decoded(Model::I80286, &[bytes[0], bytes[1], 0x70, 0x90, 0xBB, 0x78]);
            let mut cpu = Cpu::new(Model::I80286, PhysMem::new(1 << 20).unwrap());
            assert_eq!(len, 2);
            assert_eq!(
                (d.op.run)(&mut cpu, &d.op).unwrap_err(),
                crate::cpu::Fault::UD,
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn wait_without_a_coprocessor_does_nothing() {
        let cpu = run(Model::I80286, &[0x9B], |_| {});
        assert_eq!(cpu.rip(), 0x101);
        let (d, _) = decoded(Model::I80286, &[0x9B]);
        let mut cpu = Cpu::new(Model::I80286, PhysMem::new(1 << 20).unwrap());
        cpu.cr0 |= Cr0::MP | Cr0::TS;
        assert_eq!(
            (d.op.run)(&mut cpu, &d.op).unwrap_err(),
            crate::cpu::Fault::NM
        );
    }

    #[test]
    fn the_286_has_no_386_prefixes_or_0f_opcodes() {
        for bytes in [
            &[0x66, 0x90][..],
            &[0x67, 0x90],
            &[0x64, 0x90],
            &[0x0F, 0xB6, 0xC0],
            &[0x0F, 0x80, 0, 0],
        ] {
            let (d, _) = decoded(Model::I80286, bytes);
            let mut cpu = Cpu::new(Model::I80286, PhysMem::new(1 << 20).unwrap());
            assert_eq!(
                (d.op.run)(&mut cpu, &d.op).unwrap_err(),
                crate::cpu::Fault::UD,
                "{bytes:02x?}"
            );
        }
    }
}
