//! The SingleStepTests runner: instruction vectors recorded on a real 8086 and 80286.
//!
//! Every `*.MOO.gz` file of a folder runs on its own thread (one [`Cpu`] per file, reused
//! across its tests). A test loads the recorded registers and RAM bytes in real mode, runs the
//! instruction (8086: exactly one; 80286: until the HLT that ends every test has executed),
//! and compares every register and RAM byte with the recorded final state, FLAGS under the
//! opcode's `flags-mask` from `metadata.json`. Tests the metadata marks `undefined` or `fpu`,
//! and those in `revocation_list.txt`, are skipped and never count as passed.
//!
//! Setting `VX86_SST_VERBOSE=N` prints the first N failures of each file to stderr.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::metadata::{Info, Metadata, Status};
use super::moo::{self, r, State, Test, REG_NAMES};
use crate::cpu::{reg, sreg, Cpu, Model, OpenBus, RunExit, Segment};
use crate::mem::PhysMem;
use crate::Error;

/// The pass rate (in percent of the non-skipped tests) a folder needs for exit status 0.
pub const REQUIRED_PERCENT: f64 = 99.5;

/// The most instructions an 80286 test may take to reach its HLT: the vectors' REP string ops
/// repeat at most 63 times, and an exception adds its delivery.
const STEPS_286: u32 = 200;

/// The outcome of one file.
#[derive(Clone, Debug, Default)]
pub struct FileResult {
    /// The file name, e.g. `00.MOO.gz`.
    pub name: String,
    /// Tests that matched the recorded final state.
    pub passed: u32,
    /// Tests that did not.
    pub failed: u32,
    /// Tests left out: undefined or x87 opcodes, revoked tests.
    pub skipped: u32,
    /// Descriptions of the first failures (as many as asked for).
    pub failures: Vec<String>,
}

impl FileResult {
    /// The pass rate in percent of the non-skipped tests (100 when all were skipped).
    pub fn percent(&self) -> f64 {
        percent(self.passed, self.failed)
    }
}

fn percent(passed: u32, failed: u32) -> f64 {
    let total = passed + failed;
    if total == 0 {
        100.0
    } else {
        100.0 * passed as f64 / total as f64
    }
}

/// The outcome of a folder, one entry per file in file-name order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per-file results.
    pub files: Vec<FileResult>,
}

impl Report {
    /// Passed tests over all files.
    pub fn passed(&self) -> u32 {
        self.files.iter().map(|f| f.passed).sum()
    }

    /// Failed tests over all files.
    pub fn failed(&self) -> u32 {
        self.files.iter().map(|f| f.failed).sum()
    }

    /// Skipped tests over all files.
    pub fn skipped(&self) -> u32 {
        self.files.iter().map(|f| f.skipped).sum()
    }

    /// The pass rate in percent of the non-skipped tests.
    pub fn percent(&self) -> f64 {
        percent(self.passed(), self.failed())
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The model to emulate; `Modern` picks the one the files' headers name.
    pub model: Model,
    /// Only files whose name starts with this (case-insensitive), e.g. `D0` or `F6.7`.
    pub filter: Option<String>,
    /// How many failure descriptions to keep per file.
    pub keep_failures: usize,
    /// Worker threads (0: one per host core).
    pub threads: usize,
}

/// Runs every MOO.gz file in `dir` and prints the pass rates; returns the exit status.
pub fn main(dir: &Path, model: Model, filter: Option<&str>) -> Result<u8, Error> {
    let keep = std::env::var("VX86_SST_VERBOSE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let opts = Options {
        model,
        filter: filter.map(str::to_owned),
        keep_failures: keep,
        threads: 0,
    };
    let report = run(dir, &opts)?;
    for f in &report.files {
        let total = f.passed + f.failed;
        let skipped = if f.skipped > 0 {
            format!("  ({} skipped)", f.skipped)
        } else {
            String::new()
        };
        if total == 0 {
            println!("{:<12}  skip  0/0{skipped}", f.name);
        } else {
            println!(
                "{:<12} {:>5.1}  {}/{}{skipped}",
                f.name,
                f.percent(),
                f.passed,
                total
            );
        }
        for msg in &f.failures {
            eprintln!("{}: {msg}", f.name);
        }
    }
    println!("{} skipped", report.skipped());
    println!("{} passed, {} failed", report.passed(), report.failed());
    Ok(if report.percent() >= REQUIRED_PERCENT {
        0
    } else {
        1
    })
}

/// The `*.MOO.gz` / `*.MOO` files of `dir` that pass the filter, in file-name order.
fn list_files(dir: &Path, filter: Option<&str>) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::file(dir, e.to_string()))?;
    let filter = filter.map(str::to_ascii_uppercase);
    let mut files = Vec::new();
    for e in entries {
        let path = e.map_err(|e| Error::file(dir, e.to_string()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let upper = name.to_ascii_uppercase();
        if !(upper.ends_with(".MOO.GZ") || upper.ends_with(".MOO")) {
            continue;
        }
        if filter
            .as_ref()
            .is_some_and(|f| !upper.starts_with(f.as_str()))
        {
            continue;
        }
        files.push(path);
    }
    files.sort();
    if files.is_empty() {
        return Err(Error::file(
            dir,
            "no *.MOO.gz files here (or none match the filter)",
        ));
    }
    Ok(files)
}

/// The SHA-1 hashes of `revocation_list.txt`, if the folder has one.
fn load_revoked(dir: &Path) -> Result<HashSet<[u8; 20]>, Error> {
    let path = dir.join("revocation_list.txt");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(HashSet::new());
    };
    let mut set = HashSet::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let bad = || Error::file(&path, format!("not a SHA-1 hash: `{line}`"));
        if line.len() != 40 || !line.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut h = [0u8; 20];
        for (i, b) in h.iter_mut().enumerate() {
            *b = u8::from_str_radix(&line[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        set.insert(h);
    }
    Ok(set)
}

/// Runs the files of `dir` in parallel and returns the per-file results.
pub fn run(dir: &Path, opts: &Options) -> Result<Report, Error> {
    let meta = Metadata::load(&dir.join("metadata.json"))?;
    let revoked = load_revoked(dir)?;
    let files = list_files(dir, opts.filter.as_deref())?;
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(files.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FileResult, Error>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let r = run_file(path, opts, &meta, &revoked);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    let mut report = Report::default();
    for r in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        match r {
            Some(r) => report.files.push(r?),
            None => return Err(Error::Host("a runner thread died".into())),
        }
    }
    Ok(report)
}

/// The model the file's CPU id names, unless the caller chose one.
fn model_for(id: &[u8; 4], requested: Model) -> Model {
    match (requested, id) {
        (Model::Modern, b"8086" | b"8088") => Model::I8086,
        (Model::Modern, b"C286" | b"286 " | b"0286") => Model::I80286,
        (m, _) => m,
    }
}

/// Runs one file.
pub fn run_file(
    path: &Path,
    opts: &Options,
    meta: &Metadata,
    revoked: &HashSet<[u8; 20]>,
) -> Result<FileResult, Error> {
    let file = moo::load(path)?;
    let model = model_for(&file.cpu, opts.model);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut result = FileResult {
        name,
        ..FileResult::default()
    };
    let mut h = Harness::new(model).map_err(|e| Error::Host(format!("guest memory: {e}")))?;
    for (i, t) in file.tests.iter().enumerate() {
        let info = meta.classify(&t.bytes).unwrap_or(Info {
            status: Status::Normal,
            flags_mask: 0xFFFF,
        });
        if info.status.skipped() || t.hash.is_some_and(|hash| revoked.contains(&hash)) {
            result.skipped += 1;
            continue;
        }
        match h.run(t, info.flags_mask) {
            Ok(()) => result.passed += 1,
            Err(diff) => {
                result.failed += 1;
                if result.failures.len() < opts.keep_failures {
                    let bytes: Vec<String> = t.bytes.iter().map(|b| format!("{b:02x}")).collect();
                    result.failures.push(format!(
                        "test {i} `{}` [{}]: {diff}",
                        t.name,
                        bytes.join(" ")
                    ));
                }
            }
        }
    }
    Ok(result)
}

/// A processor and its memory, set up for one model's tests.
pub struct Harness {
    /// The processor.
    pub cpu: Cpu,
    bus: OpenBus,
}

impl Harness {
    /// A real-mode processor of `model` with the memory its bus addresses: 1 MiB wrapping at
    /// 0xFFFFF for the 8086, 16 MiB (24 address lines) for the 80286.
    pub fn new(model: Model) -> std::io::Result<Harness> {
        let (size, mask) = match model {
            Model::I8086 => (1 << 20, 0xF_FFFF),
            _ => (16 << 20, 0xFF_FFFF),
        };
        let mut mem = PhysMem::new(size)?;
        mem.set_addr_mask(mask);
        let mut cpu = Cpu::new(model, mem);
        cpu.flush_tlb_all();
        Ok(Harness { cpu, bus: OpenBus })
    }

    /// Loads `st` (a complete `INIT` state) into the processor.
    fn load(&mut self, st: &State) {
        let flags = self.init_flags(st);
        let cpu = &mut self.cpu;
        if cpu.mode != crate::cpu::Mode::Real || cpu.shutdown {
            cpu.reset();
        }
        cpu.halted = false;
        cpu.shadow = false;
        cpu.nmi_pending = false;
        cpu.intr = false;
        let v = |i: usize| st.regs[i].unwrap_or(0) as u64;
        for (i, g) in [
            (r::AX, reg::RAX),
            (r::BX, reg::RBX),
            (r::CX, reg::RCX),
            (r::DX, reg::RDX),
            (r::SP, reg::RSP),
            (r::BP, reg::RBP),
            (r::SI, reg::RSI),
            (r::DI, reg::RDI),
        ] {
            cpu.gpr[g as usize] = v(i);
        }
        for (i, s) in [
            (r::ES, sreg::ES),
            (r::CS, sreg::CS),
            (r::SS, sreg::SS),
            (r::DS, sreg::DS),
        ] {
            let sel = v(i) as u16;
            cpu.segs[s as usize] = if s == sreg::CS {
                Segment::from_cache(
                    sel,
                    (sel as u64) << 4,
                    0xFFFF,
                    crate::cpu::segment::attr::CODE_RX,
                )
            } else {
                Segment::real(sel)
            };
        }
        cpu.segs[sreg::FS as usize] = Segment::real(0);
        cpu.segs[sreg::GS as usize] = Segment::real(0);
        cpu.set_rip(v(r::IP));
        cpu.flags.set(flags);
        cpu.update_mode();
        for &(addr, val) in &st.ram {
            cpu.mem.write_u8(addr as u64, val);
        }
    }

    /// The FLAGS value a test starts with: the 80286 cannot hold bits 12–15 in real mode.
    fn init_flags(&self, st: &State) -> u64 {
        let f = st.regs[r::FLAGS].unwrap_or(2) as u64;
        if self.cpu.model == Model::I8086 {
            f
        } else {
            f & 0x0FFF
        }
    }

    /// Executes the test's instruction.
    fn execute(&mut self, t: &Test) -> Result<(), String> {
        let cpu = &mut self.cpu;
        if cpu.model == Model::I8086 {
            cpu.run(&mut self.bus, 1);
            // A REP string op may yield between iterations with IP still on it.
            if is_rep_string(&t.bytes) {
                let start = (t.init.regs[r::CS], t.init.regs[r::IP]);
                let mut n = 0;
                while n < 0x20000
                    && !cpu.halted
                    && !cpu.shutdown
                    && (Some(cpu.seg(sreg::CS).selector), Some(cpu.rip() as u16)) == start
                {
                    cpu.run(&mut self.bus, 1);
                    n += 1;
                }
            }
            return Ok(());
        }
        // Step by step, so that a test that never reaches its HLT stops early.
        for _ in 0..STEPS_286 {
            match cpu.run(&mut self.bus, 1) {
                RunExit::Halted => return Ok(()),
                RunExit::Shutdown => return Err("shutdown (triple fault)".into()),
                _ if cpu.halted => return Ok(()),
                _ => {}
            }
        }
        Err(format!("no HLT within {STEPS_286} instructions"))
    }

    /// Runs one test and compares the outcome; `Err` describes every difference.
    pub fn run(&mut self, t: &Test, flags_mask: u16) -> Result<(), String> {
        self.load(&t.init);
        let outcome = self.execute(t);
        let diff = self.compare(t, flags_mask as u64);
        // Clear what the test touched so that the next one starts from the same memory.
        for &(addr, _) in t.init.ram.iter().chain(&t.fina.ram) {
            self.cpu.mem.write_u8(addr as u64, 0);
        }
        match (outcome, diff.is_empty()) {
            (Ok(()), true) => Ok(()),
            (Ok(()), false) => Err(diff.join(", ")),
            (Err(e), _) => Err(format!("{e}; {}", diff.join(", "))),
        }
    }

    fn actual_regs(&self) -> [u16; 14] {
        let cpu = &self.cpu;
        let g = |i: u8| cpu.gpr[i as usize] as u16;
        let s = |i: u8| cpu.seg(i).selector;
        [
            g(reg::RAX),
            g(reg::RBX),
            g(reg::RCX),
            g(reg::RDX),
            s(sreg::CS),
            s(sreg::SS),
            s(sreg::DS),
            s(sreg::ES),
            g(reg::RSP),
            g(reg::RBP),
            g(reg::RSI),
            g(reg::RDI),
            cpu.rip() as u16,
            cpu.rflags() as u16,
        ]
    }

    /// Every register (FINA, else unchanged from INIT) and every RAM byte (INIT overlaid by
    /// FINA); FLAGS, and the FLAGS word an exception pushed, under `mask`.
    fn compare(&self, t: &Test, mask: u64) -> Vec<String> {
        let mut diff = Vec::new();
        let actual = self.actual_regs();
        for i in 0..14 {
            let mut want = t.fina.regs[i].or(t.init.regs[i]).unwrap_or(0) as u64;
            if i == r::FLAGS && t.fina.regs[i].is_none() {
                want = self.init_flags(&t.init);
            }
            let mut got = actual[i] as u64;
            if i == r::FLAGS {
                want &= mask;
                got &= mask;
            }
            if want != got {
                diff.push(format!("{} {got:04x} (want {want:04x})", REG_NAMES[i]));
            }
        }
        let flags_at = match t.exception {
            Some(e) => Some(self.recorded_flags_push(t, e.flags_addr)),
            None => self.inferred_flags_push(t, mask),
        };
        let mut check = |addr: u32, want: u8| {
            let mut got = self.cpu.mem.read_u8(addr as u64).unwrap_or(0xFF);
            let mut want = want;
            if let Some(f) = flags_at {
                if addr == f || addr == f.wrapping_add(1) {
                    let m = (mask >> (8 * (addr - f))) as u8;
                    got &= m;
                    want &= m;
                }
            }
            if got != want {
                diff.push(format!("[{addr:06x}] {got:02x} (want {want:02x})"));
            }
        };
        for &(addr, want) in &t.fina.ram {
            check(addr, want);
        }
        for &(addr, want) in &t.init.ram {
            if !t.fina.ram.iter().any(|&(a, _)| a == addr) {
                check(addr, want);
            }
        }
        diff
    }
}

impl Harness {
    /// The address of the FLAGS word an exception pushed, from the `EXCP` chunk. The 80286
    /// set records the even address of the bus cycle: with an odd SP the word starts one
    /// byte higher, at SS:SP+4 of the final state.
    fn recorded_flags_push(&self, t: &Test, recorded: u32) -> u32 {
        match self.stack_word(t, 4) {
            Some(a) if a & !1 == recorded & !1 => a,
            _ => recorded,
        }
    }

    /// The physical address of SS:SP+`off` in the final state.
    fn stack_word(&self, t: &Test, off: u16) -> Option<u32> {
        let (i, f) = (&t.init.regs, &t.fina.regs);
        let ss = f[r::SS].or(i[r::SS])? as u32;
        let sp = f[r::SP].or(i[r::SP])?;
        let addr = (ss << 4) + sp.wrapping_add(off) as u32;
        Some((addr as u64 & self.cpu.mem.addr_mask()) as u32)
    }

    /// The address of the FLAGS word an exception pushed, for tests without an `EXCP`
    /// chunk (the 8086 set): when flags are partly undefined and the instruction ended in
    /// another code segment with SP six bytes lower (FLAGS, CS, IP pushed), as a #DE does.
    fn inferred_flags_push(&self, t: &Test, mask: u64) -> Option<u32> {
        if mask == 0xFFFF {
            return None;
        }
        let (i, f) = (&t.init.regs, &t.fina.regs);
        let sp = f[r::SP]?;
        if f[r::CS].is_none() || i[r::SP]?.wrapping_sub(sp) != 6 {
            return None;
        }
        self.stack_word(t, 4)
    }
}

/// Whether the bytes are a REP-prefixed string instruction (8086 encodings).
fn is_rep_string(bytes: &[u8]) -> bool {
    let mut rep = false;
    for &b in bytes {
        match b {
            0x26 | 0x2E | 0x36 | 0x3E | 0xF0 | 0xF1 => {}
            0xF2 | 0xF3 => rep = true,
            0xA4..=0xA7 | 0xAA..=0xAF => return rep,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(bytes: &[u8], init: [u16; 14], ram: Vec<(u32, u8)>) -> Test {
        Test {
            bytes: bytes.to_vec(),
            init: State {
                regs: init.map(Some),
                ram,
            },
            ..Test::default()
        }
    }

    #[test]
    fn an_8086_add_passes_and_a_wrong_expectation_fails() {
        // add cl, ah at 1000:0010 with AH = 0x12, CL = 0x34.
        let mut t = test(
            &[0x00, 0xE1],
            [
                0x1200, 0, 0x34, 0, 0x1000, 0, 0, 0, 0x100, 0, 0, 0, 0x10, 0xF002,
            ],
            vec![(0x10010, 0x00), (0x10011, 0xE1)],
        );
        t.fina.regs[r::CX] = Some(0x46);
        t.fina.regs[r::IP] = Some(0x12);
        t.fina.regs[r::FLAGS] = Some(0xF002);
        let mut h = Harness::new(Model::I8086).unwrap();
        assert_eq!(h.run(&t, 0xFFFF), Ok(()));
        t.fina.regs[r::CX] = Some(0x47);
        let err = h.run(&t, 0xFFFF).unwrap_err();
        assert!(err.contains("cx 0046 (want 0047)"), "{err}");
    }

    #[test]
    fn the_8086_wraps_at_one_mebibyte() {
        // mov [0x0010], al with DS = 0xFFFF: the byte lands at 0x00000 on an 8086.
        let mut t = test(
            &[0xA2, 0x10, 0x00],
            [
                0x55, 0, 0, 0, 0, 0, 0xFFFF, 0, 0x100, 0, 0, 0, 0x500, 0xF002,
            ],
            vec![(0x500, 0xA2), (0x501, 0x10), (0x502, 0)],
        );
        t.fina.regs[r::IP] = Some(0x503);
        t.fina.ram = vec![(0, 0x55)];
        let mut h = Harness::new(Model::I8086).unwrap();
        assert_eq!(h.run(&t, 0xFFFF), Ok(()));
    }

    #[test]
    fn the_pushed_flags_word_is_found_with_and_without_excp() {
        let h = Harness::new(Model::I80286).unwrap();
        let mut t = Test::default();
        t.init.regs[r::SS] = Some(0x1000);
        t.init.regs[r::SP] = Some(0x0107);
        t.fina.regs[r::SP] = Some(0x0101);
        t.fina.regs[r::CS] = Some(0x2000);
        // SS:SP+4 = 0x10105: the 80286 set records the even bus address 0x10104.
        assert_eq!(h.recorded_flags_push(&t, 0x10104), 0x10105);
        assert_eq!(
            h.recorded_flags_push(&t, 0x20000),
            0x20000,
            "far off: trust the record"
        );
        // Without EXCP (8086): only for undefined flags, a new CS and six bytes pushed.
        assert_eq!(h.inferred_flags_push(&t, 0xF72A), Some(0x10105));
        assert_eq!(h.inferred_flags_push(&t, 0xFFFF), None);
        t.fina.regs[r::CS] = None;
        assert_eq!(h.inferred_flags_push(&t, 0xF72A), None);
    }

    #[test]
    fn rep_string_detection_looks_through_prefixes() {
        assert!(is_rep_string(&[0xF3, 0xA4]));
        assert!(is_rep_string(&[0x26, 0xF2, 0xAE]));
        assert!(!is_rep_string(&[0xA4]));
        assert!(!is_rep_string(&[0xF3, 0x90]));
    }

    #[test]
    fn revocation_hashes_parse() {
        let dir = std::env::temp_dir().join(format!("vx86-sst-revoked-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("revocation_list.txt"),
            "# comment\n\n0123456789abcdef0123456789abcdef01234567\n",
        )
        .unwrap();
        let set = load_revoked(&dir).unwrap();
        assert!(set.contains(&[
            0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB,
            0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67
        ]));
        std::fs::write(dir.join("revocation_list.txt"), "xyz\n").unwrap();
        assert!(load_revoked(&dir).is_err());
        // Forty bytes that are not forty hex digits: a multi-byte character used to split
        // inside a pair and panic; a sign used to pass for a digit.
        for bad in [
            "é123456789abcdef0123456789abcdef0123456\n",
            "+123456789abcdef0123456789abcdef01234567\n",
        ] {
            std::fs::write(dir.join("revocation_list.txt"), bad).unwrap();
            assert!(load_revoked(&dir).is_err(), "{bad}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
