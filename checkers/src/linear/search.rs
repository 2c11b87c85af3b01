//! The WGL search (Wing & Gong 1993, with Lowe's memoisation, 2017) for one key.
//!
//! Calls and returns sit in one doubly linked list in real-time order. The search walks it
//! from the head: at a call it tries to linearize that op now (the model must accept it in
//! the current state, and the pair (linearized set, state) must be new); on success the op's
//! call and return are lifted out of the list and the walk restarts at the head. Reaching the
//! return of an op not yet linearized means the current prefix cannot be extended: pop the
//! last op, put it back, and try the next call after it. An explicit stack replaces
//! recursion; the memo makes every (set, state) configuration explored at most once, so the
//! work is bounded by the number of reachable configurations.
//!
//! Optional ops (crashed, `info`) have no return in the list: they may be linearized at any
//! point after their call, or never. The search succeeds as soon as every must op is
//! linearized.
//!
//! With the reductions on, two more prunings apply. Each configuration tries its must ops
//! before its crashed ones, and a configuration is skipped when one with the same state and
//! the same must ops, but a subset of its crashed ops, was reached before: the earlier one
//! has every option this one has (sound because a crashed op is never required, and
//! identical crashed ops are interchangeable).
//!
//! ```text
//! p0 |--write 1--X  (crashed)
//! p1     |--write 1--|
//! {ok: p1's write}  crashed used: {}            state 1   explored first
//! {ok: p1's write}  crashed used: {p0's write}  state 1   skipped: the one above dominates
//! ```
//!
//! The linearized set is kept as a bitset; the memo key stores it compactly as the frontier
//! (the first must op not linearized: every must op before it is), the bitset words from the
//! frontier to the last linearized op, and the bits of the optional ops. Long histories
//! thus cost a few words per configuration instead of one bit per op.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use smallvec::SmallVec;

use crate::model::{Model, WordHasher};

/// One op as the search sees it.
#[derive(Clone, Debug)]
pub(crate) struct SearchOp {
    /// Index into the model's ops.
    pub model_op: u32,
    /// Position of the invocation in the history.
    pub call: usize,
    /// Position by which the op must have taken effect; `None` for optional ops.
    pub ret: Option<Deadline>,
    /// For interchangeable optional ops: the previous identical one, which must be
    /// linearized first (so the linearized members of a group are always a prefix).
    pub same_prev: Option<u32>,
}

/// The latest point at which an op may take effect.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub pos: usize,
    /// A deadline derived from an observer (the observer's return): sorted just before a
    /// real return at the same position.
    pub synthetic: bool,
}

/// Limits shared by the searches of all keys.
pub(crate) struct Limits<'a> {
    pub deadline: Option<Instant>,
    pub memory_used: &'a AtomicUsize,
    pub memory_bytes: usize,
    /// Skip linearizing an optional op that leaves the state as it is: the configuration
    /// without it dominates the one with it.
    pub prune_idle_optional: bool,
    /// Skip configurations dominated by one already reached (see [`Memo`]).
    pub subsume: bool,
}

/// Where the search got stuck furthest into the history.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stuck {
    /// The op (search index) whose return was reached while it could not be linearized.
    pub op: u32,
    /// Distinct states in which it could not be placed (at most [`MAX_STATES`]).
    pub states: Vec<u32>,
    /// The longest linearized prefix found (search indices, in linearization order).
    pub prefix: Vec<u32>,
    /// The state before the prefix's first op, then after each of its ops (one more than
    /// `prefix`): the path the model took along it.
    pub prefix_states: Vec<u32>,
}

pub(crate) const MAX_STATES: usize = 8;

#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Valid,
    Invalid(Stuck),
    /// The budget ran out; says which.
    Unknown(String),
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    /// Configurations memoised (distinct (linearized set, state) pairs reached).
    pub configurations: u64,
    /// Loop iterations (calls tried and backtracks).
    pub steps: u64,
}

/// A configuration's state and linearized must ops ([`Linearized::key`]): mostly one to
/// three words, kept in place rather than in a heap block of their own.
type MemoKey = SmallVec<[u64; MEMO_INLINE]>;

/// Words of a [`MemoKey`] kept in place; a longer key takes a heap block.
const MEMO_INLINE: usize = 3;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

/// Configurations reached: for each (state, linearized must ops), the sets of linearized
/// optional ops seen with it, `stride` words each.
///
/// With `subsume`, a configuration is also skipped when one seen before had the same state
/// and must ops but a subset of its optional ops: every crashed op still unused there is
/// unused here too, so whatever this configuration can still do, that one could (and was, or
/// is being, explored). Sets it dominates are then dropped from the list.
struct Memo {
    map: HashMap<MemoKey, Vec<u64>, BuildHasherDefault<WordHasher>>,
    stride: usize,
    subsume: bool,
    configurations: u64,
}

impl Memo {
    /// True when the configuration is new (and records it); `bytes` grows by its cost.
    fn visit(&mut self, key: &mut Vec<u64>, optional: &[u64], bytes: &mut usize) -> bool {
        if !self.subsume && !optional.is_empty() {
            // Exact matching: the optional bits belong in the hashed key, not in a list.
            key.extend_from_slice(optional);
            return self.visit(key, &[], bytes);
        }
        let Some(list) = self.map.get_mut(key.as_slice()) else {
            let spilled = if key.len() > MEMO_INLINE {
                heap_block(key.len())
            } else {
                0
            };
            *bytes += spilled + heap_block(optional.len());
            self.map.insert(MemoKey::from_slice(key), optional.to_vec());
            self.configurations += 1;
            return true;
        };
        if optional.is_empty() {
            return false;
        }
        let subset = |seen: &[u64]| seen.iter().zip(optional).all(|(a, b)| a & !b == 0);
        let seen = list.chunks_exact(self.stride).any(|seen| {
            if self.subsume {
                subset(seen)
            } else {
                seen == optional
            }
        });
        if seen {
            return false;
        }
        if self.subsume {
            let superset = |seen: &[u64]| seen.iter().zip(optional).all(|(a, b)| b & !a == 0);
            let mut kept = 0;
            for i in 0..list.len() / self.stride {
                let range = i * self.stride..(i + 1) * self.stride;
                if !superset(&list[range.clone()]) {
                    list.copy_within(range, kept * self.stride);
                    kept += 1;
                }
            }
            list.truncate(kept * self.stride);
        }
        let before = list.capacity();
        list.extend_from_slice(optional);
        *bytes += (list.capacity() - before) * 8;
        self.configurations += 1;
        true
    }
}

/// Bytes a heap block of `words` takes: rounded up to 16-byte blocks, plus the allocator's
/// header.
fn heap_block(words: usize) -> usize {
    if words == 0 {
        0
    } else {
        (words * 8).div_ceil(16) * 16 + 16
    }
}

/// The event list: entry 0 is the head; entries 1.. are calls and returns in time order.
struct EventList {
    next: Vec<u32>,
    prev: Vec<u32>,
    /// (op, is_call) per entry.
    entry: Vec<(u32, bool)>,
    call_entry: Vec<u32>,
    ret_entry: Vec<u32>,
}

impl EventList {
    fn new(ops: &[SearchOp]) -> EventList {
        let mut order: Vec<(u64, u32, bool)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.call as u64 * 2 + 1, i as u32, true));
            if let Some(d) = op.ret {
                order.push((d.pos as u64 * 2 + u64::from(!d.synthetic), i as u32, false));
            }
        }
        // Calls come in order and each return soon after its call: the stable sort finds
        // such nearly sorted runs, and the keys are distinct, so the order is the same.
        order.sort();
        let len = order.len() + 1;
        let mut list = EventList {
            next: (1..=len as u32).collect(),
            prev: Vec::with_capacity(len),
            entry: Vec::with_capacity(len),
            call_entry: vec![NIL; ops.len()],
            ret_entry: vec![NIL; ops.len()],
        };
        list.next[len - 1] = NIL;
        list.prev.push(NIL);
        list.prev.extend(0..len as u32 - 1);
        list.entry.push((NIL, false));
        for (e, &(_, op, is_call)) in order.iter().enumerate() {
            let e = e as u32 + 1;
            list.entry.push((op, is_call));
            if is_call {
                list.call_entry[op as usize] = e;
            } else {
                list.ret_entry[op as usize] = e;
            }
        }
        list
    }

    #[inline]
    fn unlink(&mut self, e: u32) {
        if e == NIL {
            return;
        }
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    #[inline]
    fn relink(&mut self, e: u32) {
        if e == NIL {
            return;
        }
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NIL {
            self.prev[n as usize] = e;
        }
    }

    fn lift(&mut self, op: u32) {
        self.unlink(self.call_entry[op as usize]);
        self.unlink(self.ret_entry[op as usize]);
    }

    fn unlift(&mut self, op: u32) {
        self.relink(self.ret_entry[op as usize]);
        self.relink(self.call_entry[op as usize]);
    }
}

struct Frame {
    op: u32,
    state: u32,
    frontier: u32,
    high: u32,
}

/// The linearized set and how it is written into a memo key.
struct Linearized {
    bits: Vec<u64>,
    /// The same bits, for must ops only.
    must_bits: Vec<u64>,
    /// Must ops in index order, and for each op its position in that list (or NIL).
    must: Vec<u32>,
    optional_slot: Vec<u32>,
    optional_bits: Vec<u64>,
}

impl Linearized {
    fn new(ops: &[SearchOp]) -> Linearized {
        let words = ops.len().div_ceil(64).max(1);
        let mut lin = Linearized {
            bits: vec![0; words],
            must_bits: vec![0; words],
            must: Vec::new(),
            optional_slot: vec![NIL; ops.len()],
            optional_bits: Vec::new(),
        };
        let mut optional = 0u32;
        for (i, op) in ops.iter().enumerate() {
            if op.ret.is_some() {
                lin.must.push(i as u32);
            } else {
                lin.optional_slot[i] = optional;
                optional += 1;
            }
        }
        lin.optional_bits = vec![0; (optional as usize).div_ceil(64)];
        lin
    }

    #[inline]
    fn has(&self, op: u32) -> bool {
        self.bits[op as usize / 64] >> (op % 64) & 1 == 1
    }

    #[inline]
    fn flip(&mut self, op: u32) {
        self.bits[op as usize / 64] ^= 1 << (op % 64);
        let slot = self.optional_slot[op as usize];
        if slot != NIL {
            self.optional_bits[slot as usize / 64] ^= 1 << (slot % 64);
        } else {
            self.must_bits[op as usize / 64] ^= 1 << (op % 64);
        }
    }

    /// The first must op (position in `must`) at or after `from` not yet linearized.
    fn advance(&self, mut from: u32) -> u32 {
        while (from as usize) < self.must.len() && self.has(self.must[from as usize]) {
            from += 1;
        }
        from
    }

    fn key(&self, out: &mut Vec<u64>, state: u32, frontier: u32, high: u32) {
        out.clear();
        let first = self
            .must
            .get(frontier as usize)
            .copied()
            .unwrap_or(self.optional_slot.len() as u32);
        out.push(u64::from(state) << 32 | u64::from(first));
        if high != NIL && high >= first {
            out.extend_from_slice(&self.must_bits[first as usize / 64..=high as usize / 64]);
        }
    }
}

/// Searches for a linearization of `ops` (sorted by call) under `model`.
///
/// One loop over the event list, as a state machine (walk, lift, backtrack): splitting it
/// would scatter the search's state over many functions without making any step clearer.
pub(crate) fn search<M: Model>(
    model: &mut M,
    ops: &[SearchOp],
    limits: &Limits,
) -> (Outcome, Stats) {
    let mut stats = Stats::default();
    let mut lin = Linearized::new(ops);
    let optional = lin
        .optional_slot
        .iter()
        .filter(|&&slot| slot != NIL)
        .count();
    let mut remaining = lin.must.len();
    if remaining == 0 {
        return (Outcome::Valid, stats);
    }
    let mut list = EventList::new(ops);
    let mut memo = Memo {
        // A search that finds its way reaches about one configuration per op: room for
        // them from the start spares the table its growing.
        map: HashMap::with_capacity_and_hasher(ops.len(), Default::default()),
        stride: lin.optional_bits.len(),
        subsume: limits.subsume,
        configurations: 0,
    };
    let mut memory = MemoryMeter::new(limits);
    let mut stack: Vec<Frame> = Vec::new();
    let mut key = Vec::new();
    let mut stuck: Option<(u64, Stuck)> = None;
    let (mut state, mut frontier, mut high) = (model.init(), 0u32, NIL);
    let mut entry = list.next[HEAD as usize];
    // With subsumption, each configuration tries its must ops first and its crashed ops
    // second, so configurations that used fewer crashed ops are reached first and dominate
    // the ones reached later.
    let mut crashed_phase = false;
    loop {
        stats.steps += 1;
        if stats.steps % 4096 == 0 {
            stats.configurations = memo.configurations;
            if let Some(why) = out_of_budget(limits, &memo, &mut memory, stack.capacity()) {
                return (Outcome::Unknown(why), stats);
            }
        }
        let (op, is_call) = if entry == NIL {
            (NIL, false)
        } else {
            list.entry[entry as usize]
        };
        if is_call {
            let sop = &ops[op as usize];
            if limits.subsume && sop.ret.is_none() != crashed_phase {
                entry = list.next[entry as usize];
                continue;
            }
            let allowed = !matches!(sop.same_prev, Some(p) if !lin.has(p));
            if let Some(next) = allowed
                .then(|| model.step(state, sop.model_op as usize))
                .flatten()
            {
                let idle = sop.ret.is_none() && next == state && limits.prune_idle_optional;
                if !idle {
                    lin.flip(op);
                    let new_frontier = lin.advance(frontier);
                    let new_high = match (sop.ret, high) {
                        (None, _) => high,
                        (Some(_), NIL) => op,
                        (Some(_), _) => high.max(op),
                    };
                    lin.key(&mut key, next, new_frontier, new_high);
                    if memo.visit(&mut key, &lin.optional_bits, &mut memory.keys_bytes) {
                        stack.push(Frame {
                            op,
                            state,
                            frontier,
                            high,
                        });
                        list.lift(op);
                        (state, frontier, high) = (next, new_frontier, new_high);
                        if sop.ret.is_some() {
                            remaining -= 1;
                            if remaining == 0 {
                                stats.configurations = memo.configurations;
                                return (Outcome::Valid, stats);
                            }
                        }
                        entry = list.next[HEAD as usize];
                        crashed_phase = false;
                        continue;
                    }
                    lin.flip(op);
                }
            }
            entry = list.next[entry as usize];
            continue;
        }
        // The return of an op not linearized (or the end of the list): a dead end, once the
        // crashed ops were tried too.
        if limits.subsume && !crashed_phase && optional > 0 {
            crashed_phase = true;
            entry = list.next[HEAD as usize];
            continue;
        }
        if op != NIL {
            record_stuck(&mut stuck, &list, op, state, &stack);
        }
        let Some(frame) = stack.pop() else {
            stats.configurations = memo.configurations;
            let stuck = stuck.map(|(_, s)| s).unwrap_or_default();
            return (Outcome::Invalid(stuck), stats);
        };
        lin.flip(frame.op);
        list.unlift(frame.op);
        if ops[frame.op as usize].ret.is_some() {
            remaining += 1;
        }
        (state, frontier, high) = (frame.state, frame.frontier, frame.high);
        crashed_phase = ops[frame.op as usize].ret.is_none();
        entry = list.next[list.call_entry[frame.op as usize] as usize];
    }
}

/// Why the search must stop now, if it must.
fn out_of_budget(
    limits: &Limits,
    memo: &Memo,
    memory: &mut MemoryMeter,
    stack_frames: usize,
) -> Option<String> {
    if limits.deadline.is_some_and(|d| Instant::now() >= d) {
        return Some(format!(
            "the time limit ran out after {} configurations",
            memo.configurations
        ));
    }
    (!memory.charge(memo, stack_frames)).then(|| memory.exhausted())
}

/// Keeps the dead end furthest into the history, with every state it was reached in.
fn record_stuck(
    stuck: &mut Option<(u64, Stuck)>,
    list: &EventList,
    op: u32,
    state: u32,
    stack: &[Frame],
) {
    let at = u64::from(list.ret_entry[op as usize]);
    match stuck {
        Some((best, s)) if *best == at => {
            if !s.states.contains(&state) && s.states.len() < MAX_STATES {
                s.states.push(state);
            }
        }
        Some((best, _)) if *best > at => {}
        _ => {
            *stuck = Some((
                at,
                Stuck {
                    op,
                    states: vec![state],
                    prefix: stack.iter().map(|f| f.op).collect(),
                    // Each frame holds the state before its op; the current one is after
                    // the last.
                    prefix_states: stack.iter().map(|f| f.state).chain([state]).collect(),
                },
            ))
        }
    }
}

/// Estimates the memo's memory and charges it to the budget shared by all keys.
struct MemoryMeter<'a> {
    limits: &'a Limits<'a>,
    /// Bytes of key storage (heap blocks with their allocator overhead).
    keys_bytes: usize,
    /// What this search has charged to the shared counter so far.
    charged: usize,
}

impl Drop for MemoryMeter<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<'a> MemoryMeter<'a> {
    fn new(limits: &'a Limits<'a>) -> Self {
        MemoryMeter {
            limits,
            keys_bytes: 0,
            charged: 0,
        }
    }

    /// Updates the shared counter; false when the budget is exceeded.
    fn charge(&mut self, memo: &Memo, stack_frames: usize) -> bool {
        // A hash-table slot holds the key, the list and a control byte.
        let slot = std::mem::size_of::<(MemoKey, Vec<u64>)>() + 1;
        let now = self.keys_bytes
            + memo.map.capacity() * slot
            + stack_frames * std::mem::size_of::<Frame>();
        let total = if now >= self.charged {
            self.limits
                .memory_used
                .fetch_add(now - self.charged, Ordering::Relaxed)
                + (now - self.charged)
        } else {
            self.limits
                .memory_used
                .fetch_sub(self.charged - now, Ordering::Relaxed)
                - (self.charged - now)
        };
        self.charged = now;
        total <= self.limits.memory_bytes
    }

    fn exhausted(&mut self) -> String {
        let used = self.limits.memory_used.load(Ordering::Relaxed);
        format!(
            "the memory budget ran out ({} MiB of search state, limit {} MiB)",
            used >> 20,
            self.limits.memory_bytes >> 20
        )
    }

    fn release(&mut self) {
        self.limits
            .memory_used
            .fetch_sub(self.charged, Ordering::Relaxed);
        self.charged = 0;
    }
}
