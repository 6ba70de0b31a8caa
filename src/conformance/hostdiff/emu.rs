//! The vx86 side: a `Cpu` in IA-32e mode at CPL 3 (a 64-bit code segment, or the 32-bit
//! one for compatibility-mode cases) whose page tables map the test region at the same
//! linear addresses as on the host (code page, scratch buffer; the guard page stays
//! unmapped). Exceptions go through an IDT whose 32 gates lead to one HLT stub each, on a
//! supervisor stack from the TSS (RSP0), so the stub address tells the vector and the frame
//! holds the saved RIP, RFLAGS and RSP (SDM Vol. 3A 6.14).

use super::{
    Case, Event, Exc, Layout, Outcome, BUF_LEN, FX_LEN, GS_BASE, MAX_CODE, REGION_LEN, SEQ_OFFSET,
};
use crate::cpu::segment::attr;
use crate::cpu::setup::{descriptor, gdt};
use crate::cpu::state::{sreg, Cr0, Cr4};
use crate::cpu::{Cpu, Model, OpenBus, Segment, TableReg};
use crate::mem::PhysMem;
use crate::Error;

/// Guest-physical (and, identity-mapped, supervisor-linear) layout of the helper structures.
const GDT: u64 = 0x1000;
const IDT: u64 = 0x2000;
const TSS: u64 = 0x3000;
const STUBS: u64 = 0x4000;
/// Bytes between two vector stubs.
const STUB_SIZE: u64 = 16;
/// Exceptions only: vectors 0–31.
const VECTORS: u64 = 32;
/// Top of the supervisor stack that receives exception frames (TSS.RSP0).
const STACK_TOP: u64 = 0x8000;
/// Page tables built here (a bump allocator of 4-KiB tables).
const TABLES: u64 = 0x10000;
const TABLES_END: u64 = 0x20000;
/// The physical pages behind the region's code and buffer pages (the buffer's two pages are
/// not adjacent, so an access across them needs two translations).
const CODE_PHYS: u64 = 0x20000;
const BUF_PHYS: [u64; 2] = [0x21000, 0x23000];
/// Where `enter_long_mode` writes its identity tables (replaced by ours right after).
const SETUP_TABLES: u64 = 0x30000;
const RAM: u64 = 0x40000;
/// The TSS selector: GDT entries 7 and 8 after the ones `enter_long_mode` writes.
const TSS_SEL: u16 = (gdt::ENTRIES * 8) as u16;
/// Steps before giving up on a sequence (REP string instructions may step per iteration).
const MAX_STEPS: usize = 10_000;

/// Page-table entry bits (SDM Vol. 3A 4.5).
const PTE_P: u64 = 1 << 0;
const PTE_RW: u64 = 1 << 1;
const PTE_US: u64 = 1 << 2;

/// Runs cases in vx86.
pub struct Emu {
    cpu: Cpu,
    layout: Layout,
    bus: OpenBus,
    /// The user segment registers of 64-bit cases, and of 32-bit (compatibility-mode) ones.
    user_segs: [[Segment; 8]; 2],
    /// The FXSAVE image the running case started from (its SSE part comes back unchanged).
    fx_in: Box<[u8; FX_LEN]>,
}

impl Emu {
    /// A CPU in 64-bit mode at CPL 3 with the region of `layout` mapped.
    pub fn new(layout: Layout) -> Result<Emu, Error> {
        if layout.base < 0x10_0000
            || layout.base & 0xFFF != 0
            || layout
                .base
                .checked_add(REGION_LEN)
                .is_none_or(|e| e > 1 << 47)
        {
            return Err(Error::Host(format!(
                "host-diff region {:#x} cannot be mapped in vx86",
                layout.base
            )));
        }
        let mem = PhysMem::new(RAM).map_err(|e| Error::Host(format!("guest RAM: {e}")))?;
        let mut cpu = Cpu::new(Model::Modern, mem);
        cpu.enter_long_mode(GDT, SETUP_TABLES, 1);
        let mut e = Emu {
            cpu,
            layout,
            bus: OpenBus,
            user_segs: [[Segment::default(); 8]; 2],
            fx_in: super::default_fx(),
        };
        e.build_tables();
        e.build_idt_tss();
        // Linux runs user code with CR0.AM and CR0.WP set, CR0.NE and MP for the FPU, and
        // CR4.OSFXSR and OSXMMEXCPT (SSE enabled, unmasked SIMD exceptions raise #XM).
        e.cpu.cr0 |= Cr0::AM | Cr0::WP | Cr0::NE | Cr0::MP;
        e.cpu.cr0 -= Cr0::EM | Cr0::TS;
        e.cpu.cr4 |= Cr4::OSFXSR | Cr4::OSXMMEXCPT;
        e.cpu.cr3 = TABLES;
        e.cpu.flush_tlb_all();
        let data = Segment::from_cache(
            gdt::USER_DATA,
            0,
            0xFFFF_FFFF,
            attr::DATA_RW | attr::G | attr::DB | 3 << attr::DPL_SHIFT,
        );
        let mut segs = e.cpu.segs;
        for i in [sreg::ES, sreg::SS, sreg::DS, sreg::FS, sreg::GS] {
            segs[i as usize] = data;
        }
        segs[sreg::GS as usize].base = GS_BASE;
        segs[sreg::CS as usize] = Segment::from_cache(
            gdt::USER_CODE64,
            0,
            0xFFFF_FFFF,
            attr::CODE_RX | attr::G | attr::L | 3 << attr::DPL_SHIFT,
        );
        let mut segs32 = segs;
        segs32[sreg::CS as usize] = Segment::from_cache(
            gdt::USER_CODE32,
            0,
            0xFFFF_FFFF,
            attr::CODE_RX | attr::G | attr::DB | 3 << attr::DPL_SHIFT,
        );
        e.user_segs = [segs, segs32];
        Ok(e)
    }

    fn write(&mut self, addr: u64, bytes: &[u8]) {
        self.cpu
            .mem
            .write_bytes(addr, bytes)
            .expect("host-diff structures lie in guest RAM");
    }

    fn read_u64(&self, addr: u64) -> u64 {
        let mut b = [0u8; 8];
        self.cpu.mem.read_bytes(addr, &mut b);
        u64::from_le_bytes(b)
    }

    /// 4-level page tables: the helper structures identity-mapped for the supervisor, the
    /// region's code and buffer pages for the user; the guard and context pages unmapped.
    fn build_tables(&mut self) {
        let mut next = TABLES + 0x1000;
        let mut map = |e: &mut Emu, lin: u64, phys: u64, flags: u64| {
            let mut table = TABLES;
            for shift in [39, 30, 21] {
                let slot = table + ((lin >> shift) & 511) * 8;
                let entry = e.read_u64(slot);
                table = if entry & PTE_P != 0 {
                    entry & 0x000F_FFFF_FFFF_F000
                } else {
                    let t = next;
                    next += 0x1000;
                    assert!(next <= TABLES_END, "host-diff page tables overflow");
                    e.write(slot, &(t | PTE_P | PTE_RW | PTE_US).to_le_bytes());
                    t
                };
            }
            e.write(
                table + ((lin >> 12) & 511) * 8,
                &(phys | flags).to_le_bytes(),
            );
        };
        for page in (GDT..STACK_TOP).step_by(0x1000) {
            map(self, page, page, PTE_P | PTE_RW);
        }
        map(self, self.layout.base, CODE_PHYS, PTE_P | PTE_RW | PTE_US);
        for (i, phys) in BUF_PHYS.iter().enumerate() {
            map(
                self,
                self.layout.buf() + 0x1000 * i as u64,
                *phys,
                PTE_P | PTE_RW | PTE_US,
            );
        }
    }

    /// The IDT (interrupt gates to the HLT stubs), the HLT stubs, and a 64-bit TSS whose
    /// RSP0 is the exception stack (SDM Vol. 3A 6.14.1, 8.7).
    fn build_idt_tss(&mut self) {
        for v in 0..VECTORS {
            let stub = STUBS + v * STUB_SIZE;
            // HLT; JMP back to it.
            self.write(stub, &[0xF4, 0xEB, 0xFD]);
            // Present 64-bit interrupt gates, DPL 0 except for #BP and #OF, which user code may
            // raise with INT3 and INTO (as Linux's IDT has them).
            let access: u64 = if v == 3 || v == 4 { 0xEE } else { 0x8E };
            let low = (stub & 0xFFFF)
                | (gdt::CODE64 as u64) << 16
                | access << 40
                | ((stub >> 16) & 0xFFFF) << 48;
            let high = stub >> 32;
            self.write(IDT + v * 16, &low.to_le_bytes());
            self.write(IDT + v * 16 + 8, &high.to_le_bytes());
        }
        self.cpu.idtr = TableReg {
            base: IDT,
            limit: (VECTORS * 16 - 1) as u32,
        };
        // 64-bit TSS: RSP0 at offset 4, IST1 at 0x24, no I/O bitmap (base past the limit).
        self.write(TSS + 4, &STACK_TOP.to_le_bytes());
        self.write(TSS + 0x24, &STACK_TOP.to_le_bytes());
        self.write(TSS + 0x66, &0x68u16.to_le_bytes());
        let busy_tss = 0x8B;
        let gdt_base = self.cpu.gdtr.base;
        self.write(
            gdt_base + TSS_SEL as u64,
            &descriptor(TSS as u32, 0x67, busy_tss).to_le_bytes(),
        );
        self.write(gdt_base + TSS_SEL as u64 + 8, &0u64.to_le_bytes());
        self.cpu.gdtr.limit = TSS_SEL as u32 + 15;
        self.cpu.tr = Segment::from_cache(TSS_SEL, TSS, 0x67, busy_tss);
    }

    /// Runs `case` and returns the state it leaves.
    pub fn run(&mut self, case: &Case) -> Outcome {
        let seq = self.layout.seq();
        let end = seq + case.code.len() as u64;
        // The sequence, then HLT (a #GP at CPL 3) in case vx86 ran past the end.
        let mut code = [0xF4u8; MAX_CODE + 16];
        code[..case.code.len()].copy_from_slice(&case.code);
        self.write(CODE_PHYS + SEQ_OFFSET, &code);
        self.cpu.sync_dirty_code();
        for (i, phys) in BUF_PHYS.iter().enumerate() {
            let p = *phys as usize;
            self.cpu.mem.ram_mut()[p..p + 0x1000]
                .copy_from_slice(&case.mem[0x1000 * i..0x1000 * (i + 1)]);
        }
        let cpu = &mut self.cpu;
        cpu.segs = self.user_segs[(case.bits == 32) as usize];
        cpu.update_mode();
        cpu.set_cpl(3);
        cpu.halted = false;
        cpu.shutdown = false;
        cpu.shadow = false;
        cpu.delivering = None;
        cpu.cr2 = 0;
        cpu.last_fault = None;
        cpu.gpr[..16].copy_from_slice(&case.regs);
        cpu.fpu.fxrstor_x87(&case.fx[..], true);
        let (xmm, mxcsr) = super::sse_of(&case.fx);
        cpu.sse.xmm = xmm;
        cpu.sse.mxcsr = mxcsr;
        self.fx_in = case.fx.clone();
        cpu.set_rip(seq);
        cpu.flags = Default::default();
        cpu.write_flags(case.rflags, u64::MAX);
        for _ in 0..MAX_STEPS {
            let rip = self.cpu.rip();
            if (STUBS..STUBS + VECTORS * STUB_SIZE).contains(&rip) || self.cpu.cpl == 0 {
                return self.delivered(rip);
            }
            if self.cpu.shutdown {
                // The exception could not be delivered; RIP is back at the instruction, and
                // the CPU recorded the fault it raised.
                let exc = Exc {
                    vector: self.cpu.last_fault.map(|f| f.vector.number()),
                    code: self.cpu.last_fault.map_or(0, |f| f.code),
                    addr: self.cpu.cr2,
                    rip,
                    delivered: false,
                };
                return self.outcome(Event::Exception(exc));
            }
            if rip == end {
                return self.outcome(Event::Completed);
            }
            self.cpu.step(&mut self.bus);
        }
        self.outcome(Event::Failed(format!(
            "vx86 did not reach the end of the sequence in {MAX_STEPS} steps"
        )))
    }

    /// The outcome of an exception delivered to the stub at `rip`: the vector from the stub
    /// and RIP, RFLAGS, RSP from the frame on the supervisor stack.
    fn delivered(&mut self, rip: u64) -> Outcome {
        let vector = rip.wrapping_sub(STUBS) / STUB_SIZE;
        if !(STUBS..STUBS + VECTORS * STUB_SIZE).contains(&rip) {
            return self.outcome(Event::Failed(format!(
                "vx86 went to CPL 0 at {rip:#x}, not through an IDT stub"
            )));
        }
        // SDM Vol. 3A Table 6-1: the vectors that push an error code.
        let has_code = matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30);
        let frame = STACK_TOP - 40 - if has_code { 8 } else { 0 };
        let code = if has_code {
            self.read_u64(frame) as u32
        } else {
            0
        };
        let f = frame + if has_code { 8 } else { 0 };
        let saved_rip = self.read_u64(f);
        let rflags = self.read_u64(f + 16);
        let rsp = self.read_u64(f + 24);
        let mut out = self.outcome(Event::Exception(Exc {
            vector: Some(vector as u8),
            code,
            addr: self.cpu.cr2,
            rip: saved_rip,
            delivered: true,
        }));
        out.regs[4] = rsp;
        out.rflags = rflags;
        out
    }

    fn outcome(&self, event: Event) -> Outcome {
        let mut regs = [0u64; 16];
        regs.copy_from_slice(&self.cpu.gpr[..16]);
        let mut mem = Box::new([0u8; BUF_LEN]);
        for (i, phys) in BUF_PHYS.iter().enumerate() {
            let p = *phys as usize;
            mem[0x1000 * i..0x1000 * (i + 1)].copy_from_slice(&self.cpu.mem.ram()[p..p + 0x1000]);
        }
        let mut fx = self.fx_in.clone();
        self.cpu.fpu.fxsave_x87(&mut fx[..], true);
        super::set_sse(&mut fx, &self.cpu.sse.xmm, self.cpu.sse.mxcsr);
        Outcome {
            regs,
            rflags: self.cpu.rflags(),
            mem,
            fx,
            event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::hostdiff::gen::decode_at;
    use crate::cpu::flags::bit;

    fn layout() -> Layout {
        Layout { base: 0x5000_0000 }
    }

    fn case(code: &[u8], regs: [u64; 16]) -> Case {
        let l = layout();
        let mut insns = Vec::new();
        let mut pos = 0;
        while pos < code.len() {
            let i = decode_at(&code[pos..], l.seq() + pos as u64).unwrap();
            pos += i.len();
            insns.push(i);
        }
        let n = insns.len();
        Case {
            index: 0,
            bits: 64,
            code: code.to_vec(),
            insns,
            regs,
            rflags: bit::FIXED1 | bit::IF,
            mem: Box::new([0xAA; BUF_LEN]),
            undefined: vec![0; n + 1],
            vendor_bits: vec![[0; 16]; n + 1],
            family: crate::conformance::hostdiff::Family::Int,
            fx: crate::conformance::hostdiff::default_fx(),
            sw_undefined: vec![0; n + 1],
            last_bit: false,
            mem_ignore: Vec::new(),
        }
    }

    #[test]
    fn runs_a_sequence_at_cpl3_to_its_end() {
        let mut e = Emu::new(layout()).unwrap();
        let mut regs = [0u64; 16];
        regs[0] = 5;
        regs[3] = 7;
        // add rax, rbx; mov [rsp-8], rax  (RSP in the buffer)
        regs[4] = layout().buf() + 0x800;
        let c = case(&[0x48, 0x01, 0xD8, 0x48, 0x89, 0x44, 0x24, 0xF8], regs);
        let out = e.run(&c);
        assert_eq!(out.event, Event::Completed);
        assert_eq!(out.regs[0], 12);
        assert_eq!(&out.mem[0x7F8..0x800], &12u64.to_le_bytes());
        assert_eq!(e.cpu.cpl, 3);
        // The same Emu runs the next case from a clean state and fresh code.
        let c = case(&[0x48, 0x29, 0xD8], regs);
        let out = e.run(&c);
        assert_eq!(out.event, Event::Completed);
        assert_eq!(out.regs[0], (-2i64) as u64);
        assert_eq!(out.mem[0x7F8], 0xAA);
    }

    #[test]
    fn a_fault_ends_the_sequence_as_an_exception_at_the_instruction() {
        let mut e = Emu::new(layout()).unwrap();
        let mut regs = [0u64; 16];
        regs[4] = layout().buf() + 0x800;
        // nop; mov al, [guard page]  -> #PF at the second instruction
        let target = (layout().guard() as u32).to_le_bytes();
        let mut code = vec![0x90, 0x8A, 0x04, 0x25];
        code.extend_from_slice(&target);
        let out = e.run(&case(&code, regs));
        let Event::Exception(exc) = out.event else {
            panic!("expected an exception, got {:?}", out.event)
        };
        assert_eq!(exc.rip, layout().seq() + 1);
        if let Some(v) = exc.vector {
            assert_eq!(v, 14);
            assert_eq!(exc.addr, layout().guard());
            assert_eq!(exc.code & 7, 4, "not present, read, user");
            assert_eq!(out.regs[4], regs[4]);
        }
    }
}
