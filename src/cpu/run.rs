//! The run loop: events at block boundaries, block lookup and decode, and block execution.

use iced_x86::{Decoder, DecoderError, DecoderOptions, Instruction};

use super::bus::Bus;
use super::decode::{translate, DecodedOp, Flow};
use super::fault::Fault;
use super::flags::bit;
use super::icache::{key, MAX_BLOCK};
use super::mmu::paging::{Access, Privilege};
use super::op::Op;
use super::state::{reg, sreg, Mode, Model};
use super::{personality, Cpu};
use crate::mem::Backing;

/// Why [`Cpu::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// The instruction budget is spent.
    Budget,
    /// The CPU executed HLT and waits for an interrupt (the machine may skip time).
    Halted,
    /// Triple fault or shutdown: the processor stopped.
    Shutdown,
    /// The bus asked the CPU to stop (reset, power-off, debug exit).
    Stopped,
}

/// Where the instruction bytes of the next block come from.
enum CodeSource {
    /// A cacheable block at this physical address with a host pointer to `avail` bytes.
    Cached {
        phys: u64,
        host: *const u8,
        avail: usize,
    },
    /// Bytes gathered one at a time (page-crossing, MMIO, segment wrap): run uncached.
    Gathered { bytes: [u8; 16], avail: usize },
}

impl Cpu {
    /// Runs until `max_instructions` more have retired, the CPU halts or shuts down, or the
    /// bus asks it to stop.
    pub fn run(&mut self, bus: &mut dyn Bus, max_instructions: u64) -> RunExit {
        self.bus.attach(bus);
        self.stop_at = self.icount.saturating_add(max_instructions);
        // The machine may have changed device state (timers, host input) since the last run.
        self.sync_bus();
        let exit = self.run_loop();
        self.bus.detach();
        exit
    }

    /// Executes exactly one instruction (or delivers one pending event), for debuggers and
    /// the single-step conformance tests.
    pub fn step(&mut self, bus: &mut dyn Bus) -> RunExit {
        self.bus.attach(bus);
        self.stop_at = self.icount + 1;
        let exit = if self.shutdown {
            RunExit::Shutdown
        } else {
            let before = self.icount;
            if let Some(exit) = self.service_events() {
                exit
            } else {
                if self.icount == before {
                    self.step_block(true);
                }
                if self.shutdown {
                    RunExit::Shutdown
                } else {
                    RunExit::Budget
                }
            }
        };
        self.bus.detach();
        exit
    }

    fn run_loop(&mut self) -> RunExit {
        loop {
            if self.shutdown {
                return RunExit::Shutdown;
            }
            if self.stop_requested {
                self.stop_requested = false;
                return RunExit::Stopped;
            }
            let single = self.shadow || self.flags.has(bit::TF);
            if self.halted || self.nmi_pending || (self.intr && self.flags.has(bit::IF)) || single {
                if let Some(exit) = self.service_events() {
                    return exit;
                }
                // With TF or a shadow pending and the budget spent, nothing ran: stop here
                // rather than ask again forever.
                if self.icount >= self.stop_at {
                    return RunExit::Budget;
                }
                continue;
            }
            if self.icount >= self.stop_at {
                return RunExit::Budget;
            }
            let Some(mut id) = self.find_block() else {
                continue;
            };
            // Chain through plain blocks without the checks above: nothing they do can make
            // an event pending (see `DecodedOp::plain`); anything else ends the chain.
            loop {
                let block = self.icache.block(id);
                let count = block.count as u64;
                let plain = block.plain;
                let ptr = self.icache.ops_ptr(block);
                if self.icount + count > self.stop_at {
                    let n = self.stop_at.saturating_sub(self.icount) as usize;
                    if n > 0 {
                        self.exec_ops(ptr, n);
                    }
                    break;
                }
                self.exec_ops(ptr, count as usize);
                if !plain || self.block_ended() {
                    break;
                }
                // An uncached instruction (crossing a page) runs inside `find_block`: the
                // budget must be checked before looking for the next block.
                if self.icount >= self.stop_at {
                    break;
                }
                let rip = self.rip();
                id = match self.follow_link(id, rip) {
                    Some(next) => next,
                    None => {
                        let epoch = self.icache.epoch();
                        match self.find_block() {
                            Some(next) => {
                                // A flush while decoding took `id` away with every link.
                                if self.icache.epoch() == epoch {
                                    self.icache.link(id, rip, next, self.tlb.code_gen);
                                }
                                next
                            }
                            None => break,
                        }
                    }
                };
            }
        }
    }

    /// The block a link of block `from` names for `rip`, if the link is of the current code
    /// generation (no executable translation dropped, no CS, mode or CPL change since) and
    /// the block is still valid (its code not written since).
    #[inline(always)]
    fn follow_link(&self, from: u32, rip: u64) -> Option<u32> {
        let to = self.icache.follow(from, rip, self.tlb.code_gen)?;
        self.icache.block(to).valid.then_some(to)
    }

    /// Handles NMI, INTR, HLT, the interrupt shadow and the trap flag between blocks.
    /// Returns an exit when the loop must stop.
    fn service_events(&mut self) -> Option<RunExit> {
        if self.shadow {
            // STI / MOV SS: the next instruction runs before any interrupt is recognized.
            // With the budget spent the shadow waits for the next call to run that instruction.
            if self.icount >= self.stop_at && !self.halted {
                return None;
            }
            self.shadow = false;
            if !self.halted {
                let tf = self.flags.has(bit::TF);
                let before = self.icount;
                self.step_block(true);
                if tf && self.icount > before {
                    self.single_step_trap();
                }
            }
            return None;
        }
        if self.nmi_pending && !self.nmi_blocked {
            self.nmi_pending = false;
            self.nmi_blocked = true;
            self.halted = false;
            self.deliver_external(2);
            return None;
        }
        if self.intr && self.flags.has(bit::IF) {
            let now = self.now();
            let bus = self.bus.at(now);
            let vector = bus.ack_interrupt(&mut self.mem);
            let st = bus.status();
            self.apply_bus_status(st);
            if let Some(v) = vector {
                self.halted = false;
                self.deliver_external(v);
                return None;
            }
        }
        if self.halted {
            return Some(RunExit::Halted);
        }
        if self.flags.has(bit::TF) && self.icount < self.stop_at {
            let before = self.icount;
            self.step_block(true);
            if self.icount > before {
                self.single_step_trap();
            }
        }
        None
    }

    /// Delivers the single-step #DB trap after an instruction executed with TF set.
    fn single_step_trap(&mut self) {
        self.dr[6] |= 1 << 14; // DR6.BS
        if let Err(f) = self.interrupt(1, super::interrupt::IntKind::Exception, None) {
            self.deliver_fault(f);
        }
    }

    /// The physical address of code at linear `lin`, from the TLB or a walk (#PF on failure).
    fn code_phys(&mut self, lin: u64) -> Result<u64, Fault> {
        let idx = self.tlb.index(lin);
        if self.tlb.entries[idx].exec == lin >> 12 {
            return Ok(self.tlb.meta[idx].phys | (lin & 0xFFF));
        }
        let who = if self.cpl == 3 {
            Privilege::User
        } else {
            Privilege::Supervisor
        };
        let t = self.translate(lin, Access::Exec, who)?;
        let backing = self.mem.backing(t.phys);
        self.tlb_fill(lin, &t, backing);
        Ok(t.phys | (lin & 0xFFF))
    }

    /// Finds or decodes the block at CS:RIP and runs it (only its first op if `single`).
    fn step_block(&mut self, single: bool) {
        if let Some(id) = self.find_block() {
            self.run_block(id, single);
        }
    }

    /// Finds the cached block at CS:RIP or decodes it. Returns `None` when a fault was
    /// delivered instead, or an uncacheable instruction has already run.
    fn find_block(&mut self) -> Option<u32> {
        let rip = self.rip();
        let cs = self.segs[sreg::CS as usize];
        let long = self.mode == Mode::Long;
        if !long && rip > cs.limit as u64 && self.model != Model::I8086 {
            self.deliver_fault(Fault::GP0);
            return None;
        }
        let lin = cs.lin_base.wrapping_add(rip) & self.lin_mask;
        if long && !super::operand::canonical(lin) {
            self.deliver_fault(Fault::GP0);
            return None;
        }
        let phys = match self.code_phys(lin) {
            Ok(p) => p,
            Err(f) => {
                self.deliver_fault(f);
                return None;
            }
        };
        let bits = self.code_bits();
        let k = key(phys, bits);
        if let Some(id) = self.icache.lookup(k) {
            let b = self.icache.block(id);
            if long || rip + b.bytes as u64 - 1 <= cs.limit as u64 || self.model == Model::I8086 {
                return Some(id);
            }
        }
        match self.decode_block(rip, lin, phys, bits) {
            Ok(id) => id,
            Err(f) => {
                self.deliver_fault(f);
                None
            }
        }
    }

    /// Runs block `id` (only its first op if `single`), within the instruction budget.
    fn run_block(&mut self, id: u32, single: bool) {
        let block = self.icache.block(id);
        let count = block.count as usize;
        let ptr = self.icache.ops_ptr(block);
        let budget = self.stop_at.saturating_sub(self.icount).max(1);
        let n = if single {
            1
        } else {
            (count as u64).min(budget) as usize
        };
        self.exec_ops(ptr, n);
    }

    /// Executes up to `n` (at least one) ops starting at `ops`, retiring each as it completes.
    #[inline(always)]
    fn exec_ops(&mut self, ops: *const Op, n: usize) {
        self.block_stop = self.icount + n as u64;
        let mut op = ops;
        // One op: RIP past it, its handler, retire; the loop ends after the block's last op
        // or when a handler ended the block.
        macro_rules! step {
            () => {{
                // SAFETY: `op` points at one of the `n` ops of a block in the icache arena,
                // which neither moves nor shrinks while a block executes (see
                // `ICache::ops_ptr`): handlers only invalidate blocks by flag, and the arena is
                // cleared only between blocks. Each step retires exactly one instruction (a
                // REP string that retires more ends the block), and the loop stops after the
                // `n`th, so `op` never passes the block's last op.
                let o = unsafe { &*op };
                let start = self.gpr[reg::RIP as usize];
                self.gpr[reg::RIP as usize] = start.wrapping_add(o.len as u64);
                if let Err(f) = (o.run)(self, o) {
                    self.gpr[reg::RIP as usize] = start;
                    self.deliver_fault(f);
                    self.end_block();
                    return;
                }
                self.icount += 1;
                if self.icount >= self.block_stop {
                    break;
                }
                // SAFETY: as above; fewer than `n` ops have run, so the next one exists.
                op = unsafe { op.add(1) };
            }};
        }
        // Four copies of the step, so that the ops of a block are dispatched from four
        // indirect call sites rather than one: the host's branch predictor then tells apart
        // targets it would otherwise mix up (the boot to /init runs 7% faster; two copies do
        // almost as well, eight no better).
        loop {
            step!();
            step!();
            step!();
            step!();
        }
        self.gpr[reg::RIP as usize] &= self.ip_mask;
    }

    /// Runs one op that is not cached (page-crossing or MMIO code).
    fn exec_uncached(&mut self, op: Op) {
        self.exec_ops(&op as *const Op, 1);
    }

    /// Where the bytes at `lin` (physical `phys`) come from, honouring the CS limit.
    fn code_source(&mut self, rip: u64, lin: u64, phys: u64) -> Result<CodeSource, Fault> {
        let cs = self.segs[sreg::CS as usize];
        let limit_left = if self.mode == Mode::Long || self.model == Model::I8086 {
            usize::MAX
        } else {
            (cs.limit as u64 - rip + 1).min(usize::MAX as u64) as usize
        };
        let page_left = (0x1000 - (phys & 0xFFF)) as usize;
        // The 8086 wraps IP inside the segment; 16-bit code never decodes across 64 KiB.
        let wrap_left = if self.code_bits() == 16 {
            (0x10000 - (rip & 0xFFFF)) as usize
        } else {
            usize::MAX
        };
        let backing = self.mem.backing(phys & !0xFFF);
        let host = match backing {
            Backing::Ram(p) => Some(p as *const u8),
            Backing::Rom(p) => Some(p),
            Backing::Mmio => None,
        };
        if let Some(h) = host {
            // Near the page end the block is decoded from what is left of the page: only an
            // instruction that really crosses into the next page is gathered (and run
            // uncached) by `decode_block`, not every one of the page's last 14 bytes.
            if limit_left >= 15 && wrap_left >= 15 {
                // SAFETY: `h` points at the start of a whole RAM/ROM page.
                let host = unsafe { h.add((phys & 0xFFF) as usize) };
                return Ok(CodeSource::Cached {
                    phys,
                    host,
                    avail: page_left.min(limit_left).min(wrap_left),
                });
            }
        }
        let (bytes, avail, _) = self.gather(rip, lin, phys)?;
        Ok(CodeSource::Gathered { bytes, avail })
    }

    /// Gathers up to 15 instruction bytes one at a time (across a page end, from MMIO, or
    /// wrapping at 64 KiB), stopping at the CS limit. A fault on the second page is raised only
    /// if the instruction really needs bytes from it.
    fn gather(&mut self, rip: u64, lin: u64, phys: u64) -> Result<([u8; 16], usize, bool), Fault> {
        let cs = self.segs[sreg::CS as usize];
        let bits = self.code_bits();
        let limit_left = if self.mode == Mode::Long || self.model == Model::I8086 {
            15
        } else {
            (cs.limit as u64 - rip + 1).min(15) as usize
        };
        let mut bytes = [0u8; 16];
        let mut avail = 0;
        while avail < limit_left {
            let ip = if bits == 16 {
                (rip + avail as u64) & 0xFFFF
            } else {
                rip + avail as u64
            };
            let l = cs.lin_base.wrapping_add(ip) & self.lin_mask;
            let p = if (l & !0xFFF) == (lin & !0xFFF) {
                phys & !0xFFF | (l & 0xFFF)
            } else {
                match self.code_phys(l) {
                    Ok(p) => p,
                    Err(f) => {
                        if avail > 0 && self.decodes_within(&bytes[..avail]) {
                            break;
                        }
                        return Err(f);
                    }
                }
            };
            bytes[avail] = match self.mem.read_u8(p) {
                Some(b) => b,
                None => {
                    let mem = &mut self.mem;
                    self.bus.at(self.icount + self.idle_ns).mmio_read(mem, p, 1) as u8
                }
            };
            avail += 1;
        }
        Ok((bytes, avail, limit_left < 15))
    }

    /// Whether `bytes` already hold a complete instruction.
    fn decodes_within(&self, bytes: &[u8]) -> bool {
        let mut d = Decoder::with_ip(self.code_bits(), bytes, 0, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        d.decode_out(&mut ins);
        !(ins.is_invalid() && d.last_error() == DecoderError::NoMoreBytes)
    }

    fn decode_one(&self, bytes: &[u8], bits: u32) -> (DecodedOp, Instruction, DecoderError) {
        let mut d = Decoder::with_ip(bits, bytes, 0, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        if self.model != Model::Modern {
            let (op, len) = personality::decode(self.model, bytes, bits, &mut ins);
            let err = if len == 0 {
                DecoderError::NoMoreBytes
            } else {
                DecoderError::None
            };
            return (op, ins, err);
        }
        d.decode_out(&mut ins);
        let err = d.last_error();
        (translate(&ins, bits, self.model), ins, err)
    }

    /// Decodes the block at `rip`; returns it, or `None` if the single instruction there could
    /// not be cached and has already been executed.
    fn decode_block(
        &mut self,
        rip: u64,
        lin: u64,
        phys: u64,
        bits: u32,
    ) -> Result<Option<u32>, Fault> {
        match self.code_source(rip, lin, phys)? {
            CodeSource::Gathered { bytes, avail, .. } => {
                self.run_gathered(&bytes[..avail], lin, bits)
            }
            CodeSource::Cached { phys, host, avail } => {
                let start = (phys & 0xFFF) as usize;
                // SAFETY: `code_source` checked that `avail` bytes from `host` lie in one RAM or
                // ROM page (and inside the CS limit); `host - start` is that page's first byte.
                let page_bytes =
                    unsafe { std::slice::from_raw_parts(host.sub(start), start + avail) };
                let lin_page = lin & !0xFFF;
                // Direct JMP and CALL to the same page continue the block at their target
                // when segments are flat (no CS limit to check per instruction): fewer, longer
                // blocks for call-heavy and branchy code. The page is one physical page, so
                // the block stays valid exactly as long as a straight-line one would.
                let cs = self.segs[sreg::CS as usize];
                let flat = self.mode == Mode::Long || (cs.lin_base == 0 && cs.limit == 0xFFFF_FFFF);
                let follow = self.model == Model::Modern && bits >= 32 && flat;
                let mut ops: Vec<Op> = Vec::with_capacity(MAX_BLOCK);
                let mut plain = true;
                let mut pos = start;
                let mut end = start;
                let max = if self.model == Model::Modern {
                    MAX_BLOCK
                } else {
                    1
                };
                while ops.len() < max && pos < page_bytes.len() {
                    let window = &page_bytes[pos..page_bytes.len().min(pos + 15)];
                    let (d, ins, err) = self.decode_one(window, bits);
                    if err == DecoderError::NoMoreBytes {
                        if ops.is_empty() {
                            // The instruction crosses the page end: gather it and run it once.
                            return self.decode_gathered(rip, lin, phys, bits);
                        }
                        break;
                    }
                    if d.unimplemented {
                        let l = d.op.len as usize;
                        self.report_unimplemented(
                            lin_page + pos as u64,
                            &window[..l.min(window.len())],
                            "",
                        );
                    }
                    pos += d.op.len as usize;
                    end = end.max(pos);
                    plain &= d.plain;
                    ops.push(d.op);
                    if d.flow == Flow::End {
                        match follow.then(|| same_page_target(&ins, pos, bits)).flatten() {
                            Some(target) => pos = target,
                            None => break,
                        }
                    }
                }
                let page = phys & !0xFFF;
                if !self.mem.holds_code(page) {
                    self.mem.set_holds_code(page);
                    self.tlb.protect_phys(page);
                }
                let id = self
                    .icache
                    .insert(key(phys, bits), &ops, (end - start) as u16, plain);
                Ok(Some(id))
            }
        }
    }

    fn decode_gathered(
        &mut self,
        rip: u64,
        lin: u64,
        phys: u64,
        bits: u32,
    ) -> Result<Option<u32>, Fault> {
        let (bytes, avail, _) = self.gather(rip, lin, phys)?;
        self.run_gathered(&bytes[..avail], lin, bits)
    }

    /// Decodes and runs one instruction from gathered bytes, without caching it.
    fn run_gathered(&mut self, bytes: &[u8], lin: u64, bits: u32) -> Result<Option<u32>, Fault> {
        let (mut d, _, err) = self.decode_one(bytes, bits);
        if err == DecoderError::NoMoreBytes {
            // The instruction runs past the CS limit (or off readable memory).
            return Err(Fault::GP0);
        }
        if d.unimplemented {
            self.report_unimplemented(
                lin,
                &bytes[..(d.op.len as usize).min(bytes.len())],
                "uncached",
            );
        }
        d.op.len = d.op.len.max(1);
        self.exec_uncached(d.op);
        Ok(None)
    }
}

/// The page offset a direct near JMP or CALL at page offset `next - len` jumps to, if it is
/// unconditional and stays in the page (`next` is the offset just past the instruction).
fn same_page_target(ins: &Instruction, next: usize, bits: u32) -> Option<usize> {
    use iced_x86::{FlowControl, OpKind};
    let direct = matches!(ins.op0_kind(), OpKind::NearBranch32 | OpKind::NearBranch64);
    if !direct
        || !matches!(
            ins.flow_control(),
            FlowControl::UnconditionalBranch | FlowControl::Call
        )
    {
        return None;
    }
    // The decoder ran with IP 0 at the instruction, so the target is relative to its start,
    // truncated to 32 bits in 32-bit code.
    let rel = ins.near_branch_target().wrapping_sub(ins.next_ip());
    let rel = if bits == 32 {
        rel as u32 as i32 as i64
    } else {
        rel as i64
    };
    let target = next as i64 + rel;
    (0..0x1000).contains(&target).then_some(target as usize)
}

#[cfg(test)]
mod tests {
    use crate::cpu::segment::attr;
    use crate::cpu::{reg, sreg, Cpu, Model, OpenBus, Segment};
    use crate::mem::PhysMem;

    #[test]
    fn the_budget_holds_before_an_instruction_that_crosses_a_page() {
        // A cached block of seven `add al, 1` ends at 0xFFE, where mov ax, 0x1234 crosses the
        // page end and runs uncached: a budget of seven must not run it.
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.segs[sreg::CS as usize] = Segment::from_cache(0, 0, 0xFFFF, attr::CODE_RX);
        cpu.update_mode();
        let mut code = [0x04, 0x01].repeat(7);
        code.extend_from_slice(&[0xB8, 0x34, 0x12]);
        cpu.mem.write_bytes(0xFF0, &code).unwrap();
        cpu.set_rip(0xFF0);
        cpu.run(&mut OpenBus, 7);
        assert_eq!(cpu.rip(), 0xFFE);
        assert_eq!(cpu.gpr[reg::RAX as usize], 7);
    }

    #[test]
    fn a_block_that_starts_near_the_page_end_is_cached() {
        // A loop in the last eight bytes of a page: `l: add al, 1; dec cx; jnz l; hlt`.
        // Blocks starting in a page's last 14 bytes used to be gathered and decoded afresh
        // on every run, though none of these instructions crosses the page end.
        let mut cpu = Cpu::new(Model::Modern, PhysMem::new(1 << 20).unwrap());
        cpu.segs[sreg::CS as usize] = Segment::from_cache(0, 0, 0xFFFF, attr::CODE_RX);
        cpu.update_mode();
        cpu.mem
            .write_bytes(0xFF8, &[0x04, 0x01, 0x49, 0x75, 0xFB, 0xF4])
            .unwrap();
        cpu.gpr[reg::RCX as usize] = 100;
        cpu.set_rip(0xFF8);
        cpu.run(&mut OpenBus, 1000);
        assert_eq!(cpu.gpr[reg::RAX as usize] & 0xFF, 100);
        assert!(cpu.halted);
        assert!(cpu.icache.lookup(super::key(0xFF8, 16)).is_some());
    }
}
