//! Comparing the host's outcome with vx86's: all sixteen GPRs, XMM0–XMM15 and MXCSR, RFLAGS (the arithmetic flags
//! and DF, less those the sequence left undefined), the scratch buffer and the exception
//! (vector, saved RIP, error code where it is architectural, CR2 for #PF). A mismatch is
//! reported as one block: the code, the inputs and both results.

use std::fmt::Write;

use iced_x86::{FastFormatter, Instruction};

use super::{Case, Event, Exc, Family, Outcome, BUF_LEN, FX_LEN};
use crate::cpu::flags::bit;
use crate::cpu::softfloat::F80;

/// The RFLAGS bits compared (where the sequence defines them).
pub const COMPARED_FLAGS: u64 = bit::ARITH | bit::DF;

/// Register names in encoding order.
pub const NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// Memory runs reported per mismatch at most.
const MEM_LINES: usize = 6;

/// Compares the two outcomes of `case`; `None` if they agree, else the report.
pub fn diff(case: &Case, host: &Outcome, emu: &Outcome) -> Option<String> {
    let mut lines = Vec::new();
    if let Some(l) = event_diff(&host.event, &emu.event) {
        lines.push(l);
    }
    // The flags undefined at the point where the host stopped.
    let at = match &host.event {
        Event::Exception(e) => case
            .insns
            .iter()
            .position(|i| i.ip() == e.rip)
            .unwrap_or(case.insns.len()),
        _ => case.insns.len(),
    };
    let undefined = case.undefined.get(at).copied().unwrap_or(0);
    let mask = COMPARED_FLAGS & !undefined;
    let vendor = case.vendor_bits.get(at).copied().unwrap_or([0; 16]);
    // Compatibility mode: only the low halves of the eight legacy registers are defined.
    let (count, width) = if case.bits == 32 {
        (8, 0xFFFF_FFFF)
    } else {
        (16, u64::MAX)
    };
    for (r, name) in NAMES.iter().enumerate().take(count) {
        if (host.regs[r] ^ emu.regs[r]) & width & !vendor[r] != 0 {
            lines.push(format!(
                "{name:>6}: host {:#018x}  vx86 {:#018x}",
                host.regs[r], emu.regs[r]
            ));
        }
    }
    let fdiff = (host.rflags ^ emu.rflags) & mask;
    if fdiff != 0 {
        lines.push(format!(
            "rflags: host {:#x}  vx86 {:#x}  (differ in {}; compared {})",
            host.rflags,
            emu.rflags,
            flag_names(fdiff),
            flag_names(mask)
        ));
    }
    lines.extend(sse_diff(host, emu));
    if case.family == Family::Sse {
        lines.extend(mmx_diff(host, emu));
    }
    lines.extend(mem_diff(case, host, emu));
    if case.family == Family::X87 {
        lines.extend(x87_diff(case, host, emu, at));
    }
    if lines.is_empty() {
        return None;
    }
    Some(report(case, host, emu, &lines))
}

/// The differing XMM registers (all 128 bits) and MXCSR.
fn sse_diff(host: &Outcome, emu: &Outcome) -> Vec<String> {
    let ((hx, hm), (ex, em)) = (super::sse_of(&host.fx), super::sse_of(&emu.fx));
    let mut lines = Vec::new();
    for r in 0..16 {
        if hx[r] != ex[r] {
            lines.push(format!(
                "{:>6}: host {:#034x}  vx86 {:#034x}",
                format!("xmm{r}"),
                hx[r],
                ex[r]
            ));
        }
    }
    if hm != em {
        lines.push(format!(
            " mxcsr: host {hm:#06x}  vx86 {em:#06x}  (differ in {:#06x})",
            hm ^ em
        ));
    }
    lines
}

/// The x87 state MMX instructions change, compared exactly: the control and status words,
/// the abridged tags, and the eight registers (MM0–MM7 in their significands). FOP is not
/// compared, as in [`x87_diff`]: AMD processors save it only with an exception pending.
fn mmx_diff(host: &Outcome, emu: &Outcome) -> Vec<String> {
    let mut lines = Vec::new();
    let (hcw, hsw, htw, hst) = x87_of(&host.fx);
    let (ecw, esw, etw, est) = x87_of(&emu.fx);
    for (name, h, e) in [
        ("fcw", hcw, ecw),
        ("fsw", hsw, esw),
        ("ftw", htw.into(), etw.into()),
    ] {
        if h != e {
            lines.push(format!("{name:>6}: host {h:#06x}  vx86 {e:#06x}"));
        }
    }
    for (i, (h, e)) in hst.iter().zip(&est).enumerate() {
        if (h.se, h.m) != (e.se, e.m) {
            lines.push(format!(
                "   st{i}: host {:04x}:{:016x}  vx86 {:04x}:{:016x}",
                h.se, h.m, e.se, e.m
            ));
        }
    }
    lines
}

/// The difference between how the sequence ended on each side, if any.
fn event_diff(host: &Event, emu: &Event) -> Option<String> {
    match (host, emu) {
        (Event::Completed, Event::Completed) => None,
        (Event::Exception(h), Event::Exception(e)) => {
            // The host always delivers (its kernel turns the fault into a signal); vx86
            // shutting down instead is a difference like any other.
            let same = h.vector == e.vector
                && h.delivered == e.delivered
                && h.rip == e.rip
                && match h.vector {
                    // Error codes: selector-style codes compare whole; #PF compares P, W/R
                    // and U/S (the host may add bits vx86 does not model) and CR2.
                    Some(10..=13) | Some(17) => h.code == e.code,
                    Some(14) => h.code & 7 == e.code & 7 && h.addr == e.addr,
                    _ => true,
                };
            (!same).then(|| "exception differs".to_string())
        }
        (Event::Failed(_), _) | (_, Event::Failed(_)) => Some("a runner failed".to_string()),
        _ => Some("the sequences ended differently".to_string()),
    }
}

/// The distance of two 80-bit values in units in the last place (`u64::MAX` across signs,
/// infinities and NaNs unless equal).
pub fn ulps(a: F80, b: F80) -> u64 {
    if a == b {
        return 0;
    }
    if a.sign() != b.sign() || a.exp() == 0x7FFF || b.exp() == 0x7FFF {
        return u64::MAX;
    }
    let key = |x: F80| ((x.exp() as u128) << 63) + (x.m as u128 & !(1 << 63));
    key(a).abs_diff(key(b)).min(u64::MAX as u128) as u64
}

/// The x87 state in an FXSAVE image: FCW, FSW, the abridged tag byte and ST0–ST7.
fn x87_of(fx: &[u8; FX_LEN]) -> (u16, u16, u8, [F80; 8]) {
    let mut st = [F80::ZERO; 8];
    for (i, r) in st.iter_mut().enumerate() {
        let mut b = [0u8; 10];
        b.copy_from_slice(&fx[32 + 16 * i..42 + 16 * i]);
        *r = F80::from_bytes(b);
    }
    (
        u16::from_le_bytes([fx[0], fx[1]]),
        u16::from_le_bytes([fx[2], fx[3]]),
        fx[4],
        st,
    )
}

/// The differences in the x87 state: the control word, the status word less the bits the
/// sequence left undefined before instruction `at`, the tags and the eight registers at 80
/// bits. The instruction and data pointers and the opcode are not compared (the vendors
/// store them differently: AMD only with an exception pending). After a transcendental
/// instruction ([`Case::last_bit`]) registers may differ in the last bit and C1 is not
/// compared.
fn x87_diff(case: &Case, host: &Outcome, emu: &Outcome, at: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let (hcw, hsw, htw, hst) = x87_of(&host.fx);
    let (ecw, esw, etw, est) = x87_of(&emu.fx);
    if hcw != ecw {
        lines.push(format!("   fcw: host {hcw:#06x}  vx86 {ecw:#06x}"));
    }
    let mut undefined = case.sw_undefined.get(at).copied().unwrap_or(0);
    if case.last_bit {
        undefined |= 1 << 9;
    }
    if (hsw ^ esw) & !undefined != 0 {
        lines.push(format!(
            "   fsw: host {hsw:#06x}  vx86 {esw:#06x}  (undefined {undefined:#06x})"
        ));
    }
    if htw != etw {
        lines.push(format!(
            "   ftw: host {htw:#04x}  vx86 {etw:#04x} (abridged)"
        ));
    }
    for i in 0..8 {
        let tolerance = if case.last_bit { 1 } else { 0 };
        if ulps(hst[i], est[i]) > tolerance {
            lines.push(format!(
                "   st{i}: host {:04x}:{:016x}  vx86 {:04x}:{:016x}",
                hst[i].se, hst[i].m, est[i].se, est[i].m
            ));
        }
    }
    lines
}

/// Whether a case that passed did so only thanks to the last-bit tolerance of
/// [`Case::last_bit`] (its registers or C1 differ from the host's).
pub fn within_last_bit(case: &Case, host: &Outcome, emu: &Outcome) -> bool {
    if !case.last_bit {
        return false;
    }
    let (_, hsw, _, hst) = x87_of(&host.fx);
    let (_, esw, _, est) = x87_of(&emu.fx);
    hst != est || (hsw ^ esw) & (1 << 9) != 0
}

/// Names of the RFLAGS bits in `f`.
pub fn flag_names(f: u64) -> String {
    let names: Vec<&str> = [
        (bit::CF, "CF"),
        (bit::PF, "PF"),
        (bit::AF, "AF"),
        (bit::ZF, "ZF"),
        (bit::SF, "SF"),
        (bit::OF, "OF"),
        (bit::DF, "DF"),
        (bit::AC, "AC"),
    ]
    .iter()
    .filter(|(b, _)| f & b != 0)
    .map(|(_, n)| *n)
    .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join("|")
    }
}

/// The differing runs of the scratch buffer, with the input bytes.
fn mem_diff(case: &Case, host: &Outcome, emu: &Outcome) -> Vec<String> {
    let mut lines = Vec::new();
    let mut i = 0;
    let mut runs = 0;
    while i < BUF_LEN {
        if host.mem[i] == emu.mem[i] || case.mem_ignore.iter().any(|r| r.contains(&i)) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while end < BUF_LEN
            && end - start < 16
            && (host.mem[end] != emu.mem[end]
                || (end + 1 < BUF_LEN && host.mem[end + 1] != emu.mem[end + 1]))
        {
            end += 1;
        }
        runs += 1;
        if runs <= MEM_LINES {
            let hex = |m: &[u8]| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            lines.push(format!(
                "   mem: buf+{start:#05x}: in [{}] host [{}] vx86 [{}]",
                hex(&case.mem[start..end]),
                hex(&host.mem[start..end]),
                hex(&emu.mem[start..end])
            ));
        }
        i = end;
    }
    if runs > MEM_LINES {
        lines.push(format!("   mem: {} more differing runs", runs - MEM_LINES));
    }
    lines
}

/// The exception's name: `#GP` and so on.
pub fn vector_name(v: u8) -> String {
    const NAMES: [&str; 20] = [
        "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#09", "#TS", "#NP", "#SS",
        "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM",
    ];
    NAMES
        .get(v as usize)
        .map_or_else(|| format!("vector {v}"), |n| n.to_string())
}

/// How a sequence ended, in words.
fn describe(case: &Case, e: &Event) -> String {
    match e {
        Event::Completed => "completed".into(),
        Event::Failed(why) => format!("failed: {why}"),
        Event::Exception(Exc {
            vector,
            code,
            addr,
            rip,
            delivered,
        }) => {
            let at = match case.insns.iter().position(|i| i.ip() == *rip) {
                Some(k) => format!("instruction {}", k + 1),
                None => format!("{rip:#x}"),
            };
            let how = if *delivered {
                ""
            } else {
                " (not delivered: vx86 shut down)"
            };
            match vector {
                None => format!("an unknown exception at {at}{how}"),
                Some(14) => format!("#PF(error code {code:#x}, CR2 {addr:#x}) at {at}{how}"),
                Some(v @ (8 | 10..=13 | 17)) => {
                    format!("{}({code:#x}) at {at}{how}", vector_name(*v))
                }
                Some(v) => format!("{} at {at}{how}", vector_name(*v)),
            }
        }
    }
}

/// Formats one instruction with iced's fast formatter.
pub fn format_insn(i: &Instruction) -> String {
    let mut s = String::new();
    FastFormatter::new().format(i, &mut s);
    s
}

/// The report block of a mismatch.
fn report(case: &Case, host: &Outcome, emu: &Outcome, lines: &[String]) -> String {
    let mut s = String::new();
    let mode = if case.bits == 32 {
        "32-bit code in compatibility mode"
    } else {
        "64-bit code"
    };
    let _ = writeln!(s, "MISMATCH in case {} ({mode}):", case.index);
    let base = case.insns.first().map_or(0, |i| i.ip());
    for i in &case.insns {
        let off = (i.ip() - base) as usize;
        let bytes = &case.code[off..(off + i.len()).min(case.code.len())];
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(
            s,
            "  {:#x}: {:<32} {}",
            i.ip(),
            hex.join(" "),
            format_insn(i)
        );
    }
    for row in 0..4 {
        let regs: Vec<String> = (0..4)
            .map(|c| row * 4 + c)
            .map(|r| format!("{}={:#018x}", NAMES[r], case.regs[r]))
            .collect();
        let _ = writeln!(
            s,
            "  {} {}",
            if row == 0 { "in:  " } else { "     " },
            regs.join(" ")
        );
    }
    let undefined = case.undefined.last().copied().unwrap_or(0);
    let _ = writeln!(
        s,
        "        rflags={:#x} (undefined after the sequence: {})",
        case.rflags,
        flag_names(undefined)
    );
    let vendor: Vec<String> = case
        .vendor_bits
        .last()
        .into_iter()
        .flat_map(|v| v.iter().enumerate())
        .filter(|(_, m)| **m != 0)
        .map(|(r, m)| format!("{} (mask {m:#x})", NAMES[r]))
        .collect();
    if !vendor.is_empty() {
        let _ = writeln!(
            s,
            "        vendor-specific bits, not compared: {}",
            vendor.join(", ")
        );
    }
    if case.family == Family::Sse {
        let (xmm, mxcsr) = super::sse_of(&case.fx);
        let _ = writeln!(s, "  sse in: mxcsr {mxcsr:#06x}");
        for (r, x) in xmm.iter().enumerate() {
            let _ = writeln!(s, "          xmm{r} {x:#034x}");
        }
    }
    // The MMX forms of the SSE family run on a random x87 state too.
    if matches!(case.family, Family::X87 | Family::Sse) {
        let (cw, sw, tw, st) = x87_of(&case.fx);
        let _ = writeln!(
            s,
            "  x87 in: fcw {cw:#06x} fsw {sw:#06x} ftw {tw:#04x} (abridged, by physical register)"
        );
        for (i, r) in st.iter().enumerate() {
            let _ = writeln!(s, "          st{i} {:04x}:{:016x}", r.se, r.m);
        }
    }
    let _ = writeln!(s, "  host: {}", describe(case, &host.event));
    let _ = writeln!(s, "  vx86: {}", describe(case, &emu.event));
    for l in lines {
        let _ = writeln!(s, "  {l}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::hostdiff::gen::decode_at;

    fn case() -> Case {
        let i = decode_at(&[0xF7, 0xE1], 0x5000_0200).unwrap(); // mul ecx
        Case {
            index: 7,
            bits: 64,
            code: vec![0xF7, 0xE1],
            insns: vec![i],
            regs: [1; 16],
            rflags: 0x202,
            mem: Box::new([0; BUF_LEN]),
            undefined: vec![0, bit::SF | bit::ZF | bit::AF | bit::PF],
            vendor_bits: vec![[0; 16], [0; 16]],
            family: Family::Int,
            fx: crate::conformance::hostdiff::default_fx(),
            sw_undefined: vec![0, 0],
            last_bit: false,
            mem_ignore: Vec::new(),
        }
    }

    fn outcome(c: &Case) -> Outcome {
        Outcome {
            regs: c.regs,
            rflags: c.rflags,
            mem: c.mem.clone(),
            fx: c.fx.clone(),
            event: Event::Completed,
        }
    }

    #[test]
    fn equal_outcomes_and_undefined_flags_pass() {
        let c = case();
        let h = outcome(&c);
        let mut e = outcome(&c);
        e.rflags ^= bit::ZF | bit::AF;
        assert_eq!(diff(&c, &h, &e), None);
    }

    #[test]
    fn vendor_specific_register_bits_are_not_compared() {
        let mut c = case();
        c.vendor_bits[1][3] = 0xFFFF_FFFF_0000_0000;
        let h = outcome(&c);
        let mut e = outcome(&c);
        e.regs[3] = 0x1_0000_0002;
        let r = diff(&c, &h, &e).unwrap();
        assert!(r.contains("rbx: host"), "the low half still counts: {r}");
        e.regs[3] = 0x1_0000_0000 | h.regs[3];
        assert_eq!(diff(&c, &h, &e), None);
    }

    #[test]
    fn a_register_flag_or_byte_difference_is_reported() {
        let c = case();
        let h = outcome(&c);
        let mut e = outcome(&c);
        e.regs[2] = 9;
        e.rflags ^= bit::CF;
        e.mem[0x10] = 1;
        let r = diff(&c, &h, &e).unwrap();
        assert!(r.contains("MISMATCH in case 7"), "{r}");
        assert!(r.contains("mul ecx"), "{r}");
        assert!(
            r.contains("rdx: host 0x0000000000000001  vx86 0x0000000000000009"),
            "{r}"
        );
        assert!(r.contains("differ in CF"), "{r}");
        assert!(r.contains("buf+0x010"), "{r}");
    }

    #[test]
    fn exceptions_compare_vector_rip_and_architectural_codes() {
        let c = case();
        let exc = |vector, code| {
            Event::Exception(Exc {
                vector,
                code,
                addr: 0,
                rip: 0x5000_0200,
                delivered: true,
            })
        };
        let mut h = outcome(&c);
        let mut e = outcome(&c);
        h.event = exc(Some(0), 0);
        e.event = exc(Some(0), 0);
        assert_eq!(diff(&c, &h, &e), None);
        e.event = exc(Some(6), 0);
        assert!(diff(&c, &h, &e)
            .unwrap()
            .contains("host: #DE at instruction 1"));
        h.event = exc(Some(13), 0);
        e.event = exc(Some(13), 8);
        assert!(diff(&c, &h, &e).is_some());
        e.event = exc(None, 0);
        assert!(diff(&c, &h, &e).unwrap().contains("unknown exception"));
        // The same fault, but vx86 shut down delivering it: a mismatch.
        h.event = exc(Some(14), 4);
        e.event = exc(Some(14), 4);
        assert_eq!(diff(&c, &h, &e), None);
        if let Event::Exception(x) = &mut e.event {
            x.delivered = false;
        }
        assert!(diff(&c, &h, &e).unwrap().contains("not delivered"));
        // The flags are masked with those undefined before the faulting instruction.
        h.event = exc(Some(0), 0);
        e.event = exc(Some(0), 0);
        e.rflags ^= bit::ZF;
        assert!(diff(&c, &h, &e).is_some());
    }
}
