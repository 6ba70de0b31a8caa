//! Table tests of the x87 instructions: each runs through the real decoder and handler in
//! 32-bit protected mode (and real mode for the environment layouts), and states what the
//! processor does.

use iced_x86::code_asm::*;

use super::state::sw;
use crate::cpu::exec::system::testing::{exec, prot, real};
use crate::cpu::softfloat::{F32, F64, F80};
use crate::cpu::{reg, Cpu, Cr0, Fault, Vector};

/// Where test data lives (flat 32-bit addresses).
const DATA: u64 = 0x20_0000;

/// Runs the instructions that `body` assembles, one by one; stops at the first fault.
fn run(
    c: &mut Cpu,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), Fault> {
    let bits = c.code_bits();
    let mut a = CodeAssembler::new(bits).unwrap();
    body(&mut a).unwrap();
    for ins in a.instructions().to_vec() {
        let mut e = iced_x86::Encoder::new(bits);
        e.encode(&ins, 0).unwrap();
        exec(c, &e.take_buffer())?;
    }
    Ok(())
}

/// A processor in flat 32-bit protected mode with the FPU initialized (FNINIT) and
/// CR0.NE set.
fn cpu() -> Cpu {
    let mut c = prot();
    c.cr0 |= Cr0::NE;
    c.fpu.init();
    c
}

fn put(c: &mut Cpu, at: u64, bytes: &[u8]) {
    c.mem.write_bytes(at, bytes).unwrap();
}

fn get<const N: usize>(c: &Cpu, at: u64) -> [u8; N] {
    let mut b = [0u8; N];
    c.mem.read_bytes(at, &mut b);
    b
}

fn f80(se: u16, m: u64) -> F80 {
    F80 { se, m }
}

const TWO: F80 = F80 {
    se: 0x4000,
    m: 1 << 63,
};
const THREE: F80 = F80 {
    se: 0x4000,
    m: 0xC000_0000_0000_0000,
};

#[test]
fn loads_and_stores_in_every_format() {
    let mut c = cpu();
    put(&mut c, DATA, &1.5f32.to_bits().to_le_bytes());
    put(&mut c, DATA + 8, &(-2.25f64).to_bits().to_le_bytes());
    put(&mut c, DATA + 16, &(-7i16).to_le_bytes());
    put(&mut c, DATA + 24, &100_000i32.to_le_bytes());
    put(&mut c, DATA + 32, &i64::MIN.to_le_bytes());
    // -123456789012345678 in packed BCD.
    put(
        &mut c,
        DATA + 48,
        &[0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80],
    );
    run(&mut c, |a| {
        a.fld(dword_ptr(DATA))?;
        a.fld(qword_ptr(DATA + 8))?;
        a.fild(word_ptr(DATA + 16))?;
        a.fild(dword_ptr(DATA + 24))?;
        a.fild(qword_ptr(DATA + 32))?;
        a.fbld(tword_ptr(DATA + 48))
    })
    .unwrap();
    let f = &c.fpu;
    assert_eq!(f.top, 2, "six pushes from TOP = 0");
    assert_eq!(f.st(5), f80(0x3FFF, 0xC000_0000_0000_0000));
    assert_eq!(f.st(4), f80(0xC000, 0x9000_0000_0000_0000));
    assert_eq!(f.st(3), f80(0xC001, 0xE000_0000_0000_0000));
    assert_eq!(f.st(2), f80(0x400F, 0xC350_0000_0000_0000));
    assert_eq!(f.st(1), f80(0xC03E, 1 << 63));
    assert!(f.st(0).sign());
    assert_eq!(c.fpu.status() & sw::FLAGS, 0, "every load was exact");
    // Store them back in other formats, popping.
    run(&mut c, |a| {
        a.fbstp(tword_ptr(DATA + 0x100))?;
        a.fistp(qword_ptr(DATA + 0x110))?;
        a.fistp(dword_ptr(DATA + 0x118))?; // 100000
        a.fist(word_ptr(DATA + 0x11C))?; // -7
        a.fstp(tword_ptr(DATA + 0x120))?;
        a.fst(dword_ptr(DATA + 0x130))?; // -2.25 (exact)
        a.fstp(qword_ptr(DATA + 0x138))?;
        a.fstp(qword_ptr(DATA + 0x140))
    })
    .unwrap();
    assert_eq!(get::<10>(&c, DATA + 0x100), get::<10>(&c, DATA + 48));
    assert_eq!(get::<8>(&c, DATA + 0x110), i64::MIN.to_le_bytes());
    assert_eq!(get::<4>(&c, DATA + 0x118), 100_000i32.to_le_bytes());
    assert_eq!(get::<2>(&c, DATA + 0x11C), (-7i16).to_le_bytes());
    assert_eq!(
        F80::from_bytes(get::<10>(&c, DATA + 0x120)),
        f80(0xC001, 0xE000_0000_0000_0000)
    );
    assert_eq!(
        get::<4>(&c, DATA + 0x130),
        (-2.25f32).to_bits().to_le_bytes()
    );
    assert_eq!(
        get::<8>(&c, DATA + 0x138),
        (-2.25f64).to_bits().to_le_bytes()
    );
    assert_eq!(get::<8>(&c, DATA + 0x140), 1.5f64.to_bits().to_le_bytes());
    assert_eq!(c.fpu.top, 0);
    assert_eq!(c.fpu.valid, 0, "all popped");
}

#[test]
fn constants_follow_the_rounding_control() {
    let mut c = cpu();
    run(&mut c, |a| {
        a.fldpi()?;
        a.fldl2e()?;
        a.fld1()?;
        a.fldz()
    })
    .unwrap();
    assert_eq!(c.fpu.st(3), f80(0x4000, 0xC90F_DAA2_2168_C235));
    assert_eq!(c.fpu.st(2), f80(0x3FFF, 0xB8AA_3B29_5C17_F0BC));
    assert_eq!(c.fpu.st(1), F80::ONE);
    assert_eq!(c.fpu.st(0), F80::ZERO);
    // Round down: π's next bits are 1100…, so the last bit drops.
    c.fpu.set_control(0x077F);
    run(&mut c, |a| a.fldpi()).unwrap();
    assert_eq!(c.fpu.st(0), f80(0x4000, 0xC90F_DAA2_2168_C234));
    assert_eq!(
        c.fpu.status() & sw::PE,
        0,
        "constants raise no precision exception"
    );
}

#[test]
fn arithmetic_forms_pick_their_operands() {
    let mut c = cpu();
    put(&mut c, DATA, &3i16.to_le_bytes());
    c.fpu.push(THREE);
    c.fpu.push(TWO);
    // ST0 = 2, ST1 = 3.
    run(&mut c, |a| a.fsub_2(st0, st1)).unwrap();
    assert_eq!(c.fpu.st(0), -F80::ONE, "2 - 3");
    run(&mut c, |a| a.fsubr_2(st0, st1)).unwrap();
    assert_eq!(c.fpu.st(0), f80(0x4001, 1 << 63), "3 - (-1) = 4");
    run(&mut c, |a| a.fdiv_2(st1, st0)).unwrap();
    assert_eq!(
        c.fpu.st(1),
        f80(0x3FFE, 0xC000_0000_0000_0000),
        "3 / 4 into ST1"
    );
    run(&mut c, |a| a.fimul(word_ptr(DATA))).unwrap();
    assert_eq!(c.fpu.st(0), f80(0x4002, 0xC000_0000_0000_0000), "4 * 3");
    run(&mut c, |a| a.fsubrp(st1, st0)).unwrap();
    // ST1 = ST0 - ST1 = 12 - 0.75 = 11.25, then pop.
    assert_eq!(c.fpu.top, 7);
    assert_eq!(c.fpu.st(0), f80(0x4002, 0xB400_0000_0000_0000));
    // Precision control: 1/3 at 24 bits, rounded to nearest, C1 = 0 (rounded down).
    c.fpu.set_control(0x007F);
    c.fpu.set_st(0, F80::ONE);
    put(&mut c, DATA + 8, &3.0f32.to_bits().to_le_bytes());
    run(&mut c, |a| a.fdiv(dword_ptr(DATA + 8))).unwrap();
    assert_eq!(c.fpu.st(0), f80(0x3FFD, 0xAAAA_AB00_0000_0000));
    assert_eq!(
        c.fpu.status() & (sw::PE | sw::C1),
        sw::PE | sw::C1,
        "rounded up"
    );
}

#[test]
fn stack_faults_masked_and_unmasked() {
    let mut c = cpu();
    // Underflow, masked: the real indefinite, IE, SF, C1 = 0.
    run(&mut c, |a| a.fadd_2(st0, st1)).unwrap();
    assert_eq!(c.fpu.st(0), F80::INDEFINITE);
    assert_eq!(c.fpu.status(), sw::IE | sw::SF);
    // Overflow, masked: eight pushes fill the stack, the ninth pushes the indefinite.
    c.fpu.init();
    for _ in 0..9 {
        run(&mut c, |a| a.fld1()).unwrap();
    }
    assert_eq!(c.fpu.st(0), F80::INDEFINITE);
    assert_eq!(c.fpu.status() & !sw::TOP, sw::IE | sw::SF | sw::C1);
    // Unmasked: nothing changes but the flags, ES and B; the next waiting instruction
    // raises #MF, a non-waiting one runs.
    c.fpu.init();
    c.fpu.set_control(0x037E);
    run(&mut c, |a| a.fsqrt()).unwrap();
    assert_eq!(c.fpu.valid, 0);
    assert_eq!(c.fpu.status(), sw::IE | sw::SF | sw::ES | sw::B);
    assert_eq!(run(&mut c, |a| a.fld1()), Err(Fault::MF));
    assert_eq!(c.fpu.valid, 0, "FLD1 did not run");
    run(&mut c, |a| a.fnstsw(ax)).unwrap();
    assert_eq!(c.gpr[reg::RAX as usize] & 0xFFFF, 0x80C1);
    assert_eq!(run(&mut c, |a| a.wait()), Err(Fault::MF));
    run(&mut c, |a| a.fnclex()).unwrap();
    run(&mut c, |a| a.wait()).unwrap();
}

#[test]
fn device_not_available_follows_cr0() {
    let mut c = cpu();
    c.cr0 |= Cr0::TS;
    assert_eq!(run(&mut c, |a| a.fld1()), Err(Fault::NM));
    assert_eq!(
        run(&mut c, |a| a.fninit()),
        Err(Fault::NM),
        "non-waiting too"
    );
    run(&mut c, |a| a.wait()).unwrap();
    c.cr0 |= Cr0::MP;
    assert_eq!(
        run(&mut c, |a| a.wait()),
        Err(Fault::NM),
        "WAIT with MP and TS"
    );
    c.cr0 = (c.cr0 - Cr0::TS - Cr0::MP) | Cr0::EM;
    assert_eq!(run(&mut c, |a| a.fld1()), Err(Fault::NM));
    run(&mut c, |a| a.wait()).unwrap();
    assert_eq!(Fault::NM.vector, Vector::NM);
}

#[test]
fn ferr_freezes_the_next_waiting_instruction_without_cr0_ne() {
    let mut c = cpu();
    c.cr0 -= Cr0::NE;
    c.fpu.set_control(0x037B); // #Z unmasked
    c.fpu.push(F80::ONE);
    c.fpu.push(F80::ZERO);
    run(&mut c, |a| a.fdivr_2(st0, st1)).unwrap();
    assert!(c.fpu.status() & sw::ES != 0);
    assert!(
        !c.fpu_ferr(),
        "FERR# waits for the next waiting instruction"
    );
    let rip = c.rip();
    run(&mut c, |a| a.fld1()).unwrap();
    assert!(c.fpu_ferr() && c.halted, "frozen, FERR# asserted");
    assert_eq!(c.rip(), rip, "RIP stays at the frozen instruction");
    // IGNNE# lets it through.
    c.halted = false;
    c.set_fpu_ignne(true);
    run(&mut c, |a| a.fld1()).unwrap();
    assert!(!c.halted);
    // FNCLEX drops FERR#.
    run(&mut c, |a| a.fnclex()).unwrap();
    assert!(!c.fpu_ferr());
}

#[test]
fn comparisons_set_condition_codes_and_eflags() {
    let mut c = cpu();
    c.fpu.push(THREE);
    c.fpu.push(TWO);
    run(&mut c, |a| a.fcom_2(st0, st1)).unwrap();
    assert_eq!(c.fpu.status() & sw::CC, sw::C0, "2 < 3");
    run(&mut c, |a| a.fcomi(st0, st1)).unwrap();
    assert!(c.flags.cf() && !c.flags.zf() && !c.flags.pf());
    run(&mut c, |a| a.ftst()).unwrap();
    assert_eq!(c.fpu.status() & sw::CC, 0, "2 > 0");
    c.fpu.set_st(1, F80::INDEFINITE);
    run(&mut c, |a| a.fucom(st0, st1)).unwrap();
    assert_eq!(c.fpu.status() & sw::CC, sw::C0 | sw::C2 | sw::C3);
    assert_eq!(c.fpu.status() & sw::IE, 0, "FUCOM of a QNaN is quiet");
    run(&mut c, |a| a.fcomp_2(st0, st1)).unwrap();
    assert_eq!(c.fpu.status() & sw::IE, sw::IE, "FCOM of a QNaN is invalid");
    assert_eq!(c.fpu.top, 7, "popped once");
    run(&mut c, |a| a.fxam()).unwrap();
    assert_eq!(c.fpu.status() & sw::CC, sw::C0 | sw::C1, "a negative NaN");
    run(&mut c, |a| a.fucomip(st0, st1)).unwrap();
    assert!(
        c.flags.zf() && c.flags.pf() && c.flags.cf(),
        "unordered (ST1 empty: masked)"
    );
    run(&mut c, |a| a.fxam()).unwrap();
    assert_eq!(
        c.fpu.status() & (sw::C3 | sw::C2 | sw::C0),
        sw::C3 | sw::C0,
        "empty"
    );
}

#[test]
fn environment_and_state_round_trip_in_both_layouts() {
    let mut c = cpu();
    c.fpu.push(THREE);
    c.fpu.push(F80::inf(true));
    c.fpu.set_control(0x0A7F);
    run(&mut c, |a| {
        a.fnstenv(dword_ptr(DATA))?;
        a.fnsave(dword_ptr(DATA + 0x40))
    })
    .unwrap();
    let env = get::<28>(&c, DATA);
    assert_eq!(&env[0..4], &[0x7F, 0x0A, 0xFF, 0xFF]);
    assert_eq!(u16::from_le_bytes([env[4], env[5]]), 6 << 11);
    assert_eq!(
        u16::from_le_bytes([env[8], env[9]]),
        0x2FFF,
        "R7 valid, R6 special"
    );
    assert_eq!(c.fpu.control(), 0x037F, "FNSAVE initialized the FPU");
    run(&mut c, |a| a.frstor(dword_ptr(DATA + 0x40))).unwrap();
    assert_eq!(c.fpu.control(), 0x0A7F | 0x3F);
    assert_eq!(c.fpu.st(0), F80::inf(true));
    assert_eq!(c.fpu.st(1), THREE);
    // The 16-bit real-mode layout: FIP as a 20-bit linear address beside the opcode.
    let mut r = real();
    r.fpu.init();
    r.segs[crate::cpu::sreg::CS as usize].selector = 0x1234;
    r.set_rip(0x10);
    run(&mut r, |a| a.fld1()).unwrap();
    run(&mut r, |a| a.fnstenv(word_ptr(0x800u32))).unwrap();
    let env = get::<14>(&r, 0x800);
    let fip = 0x12340 + 0x10;
    assert_eq!(u16::from_le_bytes([env[6], env[7]]), fip as u16);
    assert_eq!(
        u16::from_le_bytes([env[8], env[9]]),
        ((fip >> 4) & 0xF000) as u16 | 0x1E8
    );
}

#[test]
fn transcendentals_keep_huge_operands_and_push_results() {
    let mut c = cpu();
    c.fpu.push(f80(0x403E, 1 << 63)); // 2^63
    run(&mut c, |a| a.fsin()).unwrap();
    assert_eq!(c.fpu.status() & sw::C2, sw::C2);
    assert_eq!(c.fpu.st(0), f80(0x403E, 1 << 63));
    c.fpu.set_st(0, F80::ZERO);
    run(&mut c, |a| a.fptan()).unwrap();
    assert_eq!((c.fpu.st(0), c.fpu.st(1)), (F80::ONE, F80::ZERO));
    assert_eq!(c.fpu.status() & sw::C2, 0);
    // FSINCOS of 1: ST(0) = cos 1, ST(1) = sin 1.
    run(&mut c, |a| a.fsincos()).unwrap();
    assert_eq!(
        (c.fpu.st(0), c.fpu.st(1)),
        (
            f80(0x3FFE, 0x8A51_407D_A834_5C92),
            f80(0x3FFE, 0xD76A_A478_4867_7021)
        )
    );
    // atan2(1, 1) = π/4 into ST1, popped.
    c.fpu.init();
    run(&mut c, |a| {
        a.fld1()?;
        a.fld1()?;
        a.fpatan()
    })
    .unwrap();
    assert_eq!(c.fpu.st(0), f80(0x3FFE, 0xC90F_DAA2_2168_C235));
}

#[test]
fn stack_housekeeping() {
    let mut c = cpu();
    c.fpu.push(THREE);
    c.fpu.push(TWO);
    run(&mut c, |a| a.fxch(st0, st1)).unwrap();
    assert_eq!((c.fpu.st(0), c.fpu.st(1)), (THREE, TWO));
    c.flags.set(0x2 | 1); // CF
    run(&mut c, |a| a.fcmovb(st0, st1)).unwrap();
    assert_eq!(c.fpu.st(0), TWO);
    run(&mut c, |a| a.fcmove(st0, st1)).unwrap();
    assert_eq!(c.fpu.st(0), TWO, "ZF clear: no move");
    run(&mut c, |a| {
        a.ffree(st1)?;
        a.fincstp()
    })
    .unwrap();
    assert!(c.fpu.empty(0) && !c.fpu.empty(7));
    run(&mut c, |a| a.fdecstp()).unwrap();
    assert_eq!(c.fpu.st(0), TWO);
    // FPREM reduces 2^100 modulo 3 in several partial steps.
    c.fpu.init();
    c.fpu.push(THREE);
    c.fpu.push(f80(0x3FFF + 100, 1 << 63));
    let mut steps = 0;
    loop {
        run(&mut c, |a| a.fprem()).unwrap();
        steps += 1;
        if c.fpu.status() & sw::C2 == 0 {
            break;
        }
    }
    assert!(steps > 1);
    assert_eq!(c.fpu.st(0), F80::ONE, "2^100 mod 3 = 1");
}

#[test]
fn stores_round_and_report_precision() {
    let mut c = cpu();
    c.fpu.push(f80(0x3FFB, 0xCCCC_CCCC_CCCC_CCCD)); // 0.1
    run(&mut c, |a| {
        a.fst(dword_ptr(DATA))?;
        a.fst(qword_ptr(DATA + 8))
    })
    .unwrap();
    assert_eq!(
        F32(u32::from_le_bytes(get::<4>(&c, DATA))),
        F32(0.1f32.to_bits())
    );
    assert_eq!(
        F64(u64::from_le_bytes(get::<8>(&c, DATA + 8))),
        F64(0.1f64.to_bits())
    );
    assert_eq!(c.fpu.status() & sw::PE, sw::PE);
    // FIST of 2.5 rounds to even; FISTTP truncates (when SSE3 is claimed).
    c.fpu.set_st(0, f80(0x4000, 0xA000_0000_0000_0000));
    run(&mut c, |a| a.fist(dword_ptr(DATA + 16))).unwrap();
    assert_eq!(get::<4>(&c, DATA + 16), 2i32.to_le_bytes());
    // An invalid store with #IA unmasked writes nothing.
    c.fpu.set_control(0x037E);
    c.fpu.set_st(0, F80::inf(false));
    put(&mut c, DATA + 24, &[0x55; 4]);
    run(&mut c, |a| a.fistp(dword_ptr(DATA + 24))).unwrap();
    assert_eq!(get::<4>(&c, DATA + 24), [0x55; 4]);
    assert!(!c.fpu.empty(0), "not popped");
}

#[test]
fn fisttp_truncates_and_exists_only_with_sse3() {
    use crate::cpu::cpuid::{has, Feature};
    use crate::cpu::decode::translate;
    let bytes = [0xDB, 0x0D, 0x00, 0x00, 0x20, 0x00]; // fisttp dword [0x200000]
    let ins = iced_x86::Decoder::with_ip(32, &bytes, 0, iced_x86::DecoderOptions::NONE).decode();
    let mut d = translate(&ins, 32, crate::cpu::Model::Modern);
    let mut c = cpu();
    if !has(Feature::SSE3) {
        assert_eq!(exec(&mut c, &bytes), Err(Fault::UD), "no SSE3, no FISTTP");
        d.op.run = super::load_store::fisttp::<{ super::fmt::I32 }>;
    }
    // -2.75 truncates to -2 whatever RC says (here: round up), and pops.
    c.fpu.set_control(0x0B7F);
    c.fpu.push(f80(0xC000, 0xB000_0000_0000_0000));
    let rip = c.rip();
    c.set_rip(rip + bytes.len() as u64);
    (d.op.run)(&mut c, &d.op).unwrap();
    assert_eq!(get::<4>(&c, DATA), (-2i32).to_le_bytes());
    assert!(c.fpu.empty(0));
    assert_eq!(c.fpu.status() & sw::PE, sw::PE);
}

#[test]
fn the_opcode_and_pointers_are_recorded() {
    let mut c = cpu();
    c.fpu.push(THREE);
    c.fpu.push(TWO);
    let rip = c.rip();
    run(&mut c, |a| a.fadd_2(st0, st3)).unwrap(); // D8 C3
    assert_eq!((c.fpu.fop, c.fpu.fip), (0x0C3, rip));
    run(&mut c, |a| a.fdivr(qword_ptr(DATA + 0x10))).unwrap(); // DC /7, disp32
    assert_eq!(c.fpu.fop, 0x4 << 8 | 0x3D);
    assert_eq!(c.fpu.fdp, DATA + 0x10);
    run(&mut c, |a| a.fsin()).unwrap(); // D9 FE
    assert_eq!(c.fpu.fop, 0x1FE);
    // Control instructions leave the pointers alone.
    let fip = c.fpu.fip;
    run(&mut c, |a| a.fnstcw(word_ptr(DATA + 0x20))).unwrap();
    assert_eq!(c.fpu.fip, fip);
}

#[test]
fn the_opcode_rebuilds_the_modrm_byte_in_every_addressing_form() {
    use crate::cpu::decode::Decoded;
    use crate::cpu::Model;
    // (code size, instruction bytes, FOP = low 3 bits of the first byte : ModRM).
    let cases: [(u32, &[u8], u16); 6] = [
        (16, &[0xD9, 0x06, 0x34, 0x12], 0x106), // fld dword [0x1234]: 16-bit [disp16]
        (16, &[0xD9, 0x46, 0x02], 0x146),       // fld dword [bp+2]
        (32, &[0xD9, 0x05, 0x34, 0x12, 0, 0], 0x105), // [disp32]
        (64, &[0xD9, 0x04, 0x25, 0x34, 0x12, 0, 0], 0x104), // absolute [disp32] via SIB
        (64, &[0xD9, 0x05, 0, 0, 0, 0], 0x105), // [rip+0]
        (64, &[0xDC, 0x7C, 0x24, 0x08], 0x47C), // fdivr qword [rsp+8]
    ];
    for (bits, bytes, want) in cases {
        let ins = iced_x86::Decoder::new(bits, bytes, 0).decode();
        let d = Decoded {
            ins: &ins,
            bits,
            model: Model::Modern,
        };
        assert_eq!(super::fop(&d), want, "{bits}-bit {bytes:02x?}");
    }
}
