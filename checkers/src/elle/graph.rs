//! The transaction dependency graph, its strongly connected components, and the search for
//! the most specific cycle inside each component.
//!
//! Nodes are transactions (by index in [`Txns`](super::txn::Txns)) followed by *barrier*
//! nodes that carry real-time order compactly. Edges are Adya's dependencies — `ww`
//! (write-write: the target installed the version right after the source's), `wr` (the
//! target read the source's version), `rw` (anti-dependency: the source read a version the
//! target overwrote) — and two orders: `process` (the next transaction of the same process)
//! and `realtime` (the source completed before the target was invoked).
//!
//! Real-time order has up to n²/2 pairs. Instead of linking each transaction to every
//! transaction that completed before it began, the completions between two invocations are
//! gathered into one barrier node, barriers are chained in time, and each invocation hangs
//! off the latest barrier:
//!
//! ```text
//!   A ──┐            C ──┐
//!   B ──┴─► b1 ────────┴─► b2 ──► T      (A, B, C completed before T was invoked)
//!            └──► S                      (S was invoked after A and B completed)
//! ```
//!
//! which keeps exactly the real-time reachability with at most three edges per transaction.
//! A cycle through barriers is reported with each barrier run spliced into one `realtime`
//! (or, within one process, `process`) step.
//!
//! Components come from Tarjan's algorithm, run iteratively with an explicit stack so that
//! a long chain cannot overflow the thread's stack. Within a component, cycles are sought
//! from the most specific class down — G0, G1c, G-single, G-nonadjacent, G2-item — first
//! with dependency edges only (such a cycle rules out the most isolation levels), then for
//! each class allowing process edges, then real-time edges; so an order edge appears in a
//! reported cycle only when no cycle without it exists. Each component yields one cycle of
//! its most specific class — or, for G-single, one per anti-dependency that closes one, as
//! each is a separate stale read that overlapping ones would otherwise hide. Every search is
//! a breadth-first search (shortest witness); the per-edge searches for G-single and
//! G-nonadjacent share a work limit, past which G2-item (one pass) answers.

use std::time::Instant;

use crate::history::Outcome;

use super::txn::Txns;

pub(crate) const WW: u8 = 1;
pub(crate) const WR: u8 = 2;
pub(crate) const RW: u8 = 4;
pub(crate) const PROCESS: u8 = 8;
pub(crate) const REALTIME: u8 = 16;
const DEPENDENCY: u8 = WW | WR | RW;

/// Adjacency entries for order edges carry their kind instead of a dependency index.
const ORDER_BIT: u32 = 1 << 31;
const UNVISITED: u32 = u32::MAX;

pub(crate) fn kind_name(kind: u8) -> &'static str {
    match kind {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        _ => "realtime",
    }
}

/// A dependency between two transactions, with the evidence for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DepEdge {
    pub from: u32,
    pub to: u32,
    pub key: u32,
    pub kind: u8,
    /// `ww`: the source's version; `wr`: the version the target read; `rw`: the target's
    /// version, which the source did not see.
    pub value: i64,
    /// `ww`: the target's version; `rw`: the version the source read (`NIL`: nothing).
    pub other: i64,
    /// `rw` to an append no read ever saw: it must follow every version read, but where
    /// exactly is unknown.
    pub unseen: bool,
    /// `rw` that holds only if versions follow real time (the target's write began after
    /// the version read was written): usable only where real-time edges are, and a cycle
    /// through it is named `-realtime`.
    pub realtime: bool,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Adj {
    pub to: u32,
    edge: u32,
}

/// One step of a reported cycle: from a transaction, along an edge, to the next one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hop {
    pub from: u32,
    pub to: u32,
    pub kind: u8,
    /// The dependency behind a `ww`/`wr`/`rw` step.
    pub dep: Option<DepEdge>,
}

pub(crate) struct Graph {
    pub n_txns: usize,
    n_nodes: usize,
    start: Vec<u32>,
    adj: Vec<Adj>,
    pub deps: Vec<DepEdge>,
    process: Vec<u64>,
}

/// Reusable per-node arrays, so that the many small searches allocate nothing.
pub(crate) struct Scratch {
    index: Vec<u32>,
    low: Vec<u32>,
    on_stack: Vec<bool>,
    sub: Vec<u32>,
    seen: Vec<u32>,
    parent: Vec<(u32, Adj)>,
    stamp: u32,
    /// The check's deadline: searches read the clock every [`CLOCK_EVERY`] edge visits.
    deadline: Option<Instant>,
    /// Set once the deadline has passed; every search then stops.
    pub timed_out: bool,
}

impl Scratch {
    /// Whether the deadline has passed (and, from then on, always true).
    pub fn out_of_time(&mut self) -> bool {
        self.timed_out |= self.deadline.is_some_and(|d| Instant::now() >= d);
        self.timed_out
    }
}

/// Edge visits between two readings of the clock in a search (a power of two, used as a
/// mask): often enough to keep a time
/// budget within a millisecond or so, rarely enough not to cost anything measurable.
const CLOCK_EVERY: u64 = 4096;

/// What a component search costs at most, in edge visits, before it settles for a less
/// specific class (G2-item always succeeds in one pass).
const SEARCH_WORK_LIMIT: u64 = 40_000_000;

impl Graph {
    /// Builds the graph: the given dependencies plus process and real-time order over the
    /// transactions that did not fail.
    pub fn build(txns: &Txns, deps: Vec<DepEdge>) -> Graph {
        let n_txns = txns.len();
        let process: Vec<u64> = txns.meta.iter().map(|m| m.process).collect();
        let mut order: Vec<(u32, u32, u8)> = Vec::with_capacity(n_txns * 4);
        let live = |t: usize| txns.outcome[t] != Outcome::Fail;
        let mut last_of_process = std::collections::HashMap::new();
        for t in (0..n_txns).filter(|&t| live(t)) {
            let prev = last_of_process.insert(process[t], t as u32);
            // A crashed transaction may take effect later still, so it orders nothing
            // (the format gives its process a new id anyway).
            let prev = prev.filter(|&p| txns.outcome[p as usize] == Outcome::Ok);
            if let Some(prev) = prev {
                order.push((prev, t as u32, PROCESS));
            }
        }
        let n_nodes = n_txns + realtime_edges(txns, &live, &mut order);
        let mut start = vec![0u32; n_nodes + 1];
        for e in &deps {
            start[e.from as usize + 1] += 1;
        }
        for &(from, _, _) in &order {
            start[from as usize + 1] += 1;
        }
        for i in 0..n_nodes {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut adj = vec![Adj { to: 0, edge: 0 }; start[n_nodes] as usize];
        let mut put = |from: u32, a: Adj| {
            let slot = &mut fill[from as usize];
            adj[*slot as usize] = a;
            *slot += 1;
        };
        for (i, e) in deps.iter().enumerate() {
            put(
                e.from,
                Adj {
                    to: e.to,
                    edge: i as u32,
                },
            );
        }
        for &(from, to, kind) in &order {
            put(
                from,
                Adj {
                    to,
                    edge: ORDER_BIT | kind as u32,
                },
            );
        }
        Graph {
            n_txns,
            n_nodes,
            start,
            adj,
            deps,
            process,
        }
    }

    pub fn edge_count(&self) -> usize {
        self.adj.len()
    }

    pub fn kind(&self, a: Adj) -> u8 {
        if a.edge & ORDER_BIT != 0 {
            (a.edge & 0xff) as u8
        } else {
            self.deps[a.edge as usize].kind
        }
    }

    /// Whether a search over edge kinds `mask` may follow `a`.
    fn allowed(&self, a: Adj, mask: u8) -> bool {
        if a.edge & ORDER_BIT != 0 {
            return (a.edge & 0xff) as u8 & mask != 0;
        }
        let d = &self.deps[a.edge as usize];
        d.kind & mask != 0 && (!d.realtime || mask & REALTIME != 0)
    }

    fn out(&self, v: u32) -> &[Adj] {
        &self.adj[self.start[v as usize] as usize..self.start[v as usize + 1] as usize]
    }

    pub fn scratch(&self, deadline: Option<Instant>) -> Scratch {
        Scratch {
            deadline,
            timed_out: false,
            index: vec![UNVISITED; self.n_nodes],
            low: vec![0; self.n_nodes],
            on_stack: vec![false; self.n_nodes],
            // The cycle search's arrays are sized on first use: most histories have no
            // cycle at all.
            sub: Vec::new(),
            seen: Vec::new(),
            parent: Vec::new(),
            stamp: 0,
        }
    }

    /// The strongly connected components with more than one node, over all edges.
    pub fn components(&self, scratch: &mut Scratch) -> (Vec<Vec<u32>>, Vec<u32>) {
        let mut comp = vec![UNVISITED; self.n_nodes];
        let nodes: Vec<u32> = (0..self.n_nodes as u32).collect();
        let sccs = self.tarjan(&nodes, |_| true, |_| true, scratch, &mut comp);
        (sccs, comp)
    }

    /// Iterative Tarjan over `nodes`, following only edges `keep` accepts to nodes
    /// `in_scope` accepts. Writes each visited node's component id into `comp` and returns
    /// the components with more than one node.
    fn tarjan(
        &self,
        nodes: &[u32],
        in_scope: impl Fn(u32) -> bool,
        keep: impl Fn(Adj) -> bool,
        s: &mut Scratch,
        comp: &mut [u32],
    ) -> Vec<Vec<u32>> {
        let mut counter = 0u32;
        let mut comp_count = 0u32;
        let mut stack: Vec<u32> = Vec::new();
        let mut calls: Vec<(u32, u32)> = Vec::new();
        let mut found = Vec::new();
        for &root in nodes {
            if s.index[root as usize] != UNVISITED {
                continue;
            }
            let mut visit = |v: u32, s: &mut Scratch, stack: &mut Vec<u32>| {
                s.index[v as usize] = counter;
                s.low[v as usize] = counter;
                counter += 1;
                s.on_stack[v as usize] = true;
                stack.push(v);
            };
            visit(root, s, &mut stack);
            calls.push((root, self.start[root as usize]));
            while let Some(&mut (v, ref mut next)) = calls.last_mut() {
                if *next < self.start[v as usize + 1] {
                    let a = self.adj[*next as usize];
                    *next += 1;
                    if !keep(a) || !in_scope(a.to) {
                        continue;
                    }
                    let w = a.to as usize;
                    if s.index[w] == UNVISITED {
                        visit(a.to, s, &mut stack);
                        calls.push((a.to, self.start[w]));
                    } else if s.on_stack[w] {
                        s.low[v as usize] = s.low[v as usize].min(s.index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    s.low[u as usize] = s.low[u as usize].min(s.low[v as usize]);
                }
                if s.low[v as usize] == s.index[v as usize] {
                    let mut members = Vec::new();
                    loop {
                        let w = stack.pop().expect("tarjan stack holds the component");
                        s.on_stack[w as usize] = false;
                        comp[w as usize] = comp_count;
                        members.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comp_count += 1;
                    if members.len() > 1 {
                        found.push(members);
                    }
                }
            }
        }
        for &v in nodes {
            s.index[v as usize] = UNVISITED;
        }
        found
    }

    /// The most specific cycles in component `id` (members `scc`), as hops between
    /// transactions: one cycle, or, when the most specific class is G-single, one for each
    /// anti-dependency that closes such a cycle (each is a separate stale or skewed read),
    /// up to `limit`. Empty only when the work limit ran out first.
    pub fn find_cycles(
        &self,
        scc: &[u32],
        id: u32,
        comp: &[u32],
        s: &mut Scratch,
        limit: usize,
    ) -> Vec<Vec<Hop>> {
        if s.seen.is_empty() {
            s.sub = vec![UNVISITED; self.n_nodes];
            s.seen = vec![0; self.n_nodes * 2];
            s.parent = vec![(0, Adj { to: 0, edge: 0 }); self.n_nodes * 2];
        }
        let mut present = 0u8;
        for &v in scc {
            for &a in self.out(v) {
                if comp[a.to as usize] == id {
                    present |= self.kind(a);
                    if a.edge & ORDER_BIT == 0 && self.deps[a.edge as usize].realtime {
                        present |= REALTIME;
                    }
                }
            }
        }
        let mut work = SEARCH_WORK_LIMIT;
        // Dependency edges alone first: such a cycle rules out the most levels. Then, as
        // every cycle needing order edges rules out the same level, the most specific class
        // wins, with process order tried before real-time order.
        let mut orders = vec![0u8];
        if present & PROCESS != 0 {
            orders.push(PROCESS);
        }
        if present & REALTIME != 0 {
            orders.push(PROCESS | REALTIME);
        }
        let mut plan: Vec<(usize, u8)> = (0..5).map(|c| (c, 0u8)).collect();
        for c in 0..5 {
            plan.extend(orders[1..].iter().map(|&o| (c, o)));
        }
        for (class, suffix) in plan {
            if s.out_of_time() {
                return Vec::new();
            }
            let non_rw = WW | WR | suffix;
            let paths = match class {
                0 => self
                    .cycle_through(scc, id, comp, WW | suffix, WW, s)
                    .into_iter()
                    .collect(),
                1 => self
                    .cycle_through(scc, id, comp, non_rw, WR, s)
                    .into_iter()
                    .collect(),
                2 => self.single(scc, id, comp, non_rw, s, &mut work, limit),
                3 => self
                    .nonadjacent(scc, id, comp, non_rw, s, &mut work)
                    .into_iter()
                    .collect(),
                _ => self
                    .cycle_through(scc, id, comp, non_rw | RW, RW, s)
                    .into_iter()
                    .collect(),
            };
            if !paths.is_empty() {
                return paths.iter().map(|p| self.splice(p)).collect();
            }
        }
        Vec::new()
    }

    /// A cycle made of `mask` edges that contains an edge of kind `need`: restrict the
    /// component to `mask`, split it again, and close any `need` edge inside a part.
    fn cycle_through(
        &self,
        scc: &[u32],
        id: u32,
        comp: &[u32],
        mask: u8,
        need: u8,
        s: &mut Scratch,
    ) -> Option<Vec<(u32, Adj)>> {
        let mut sub = std::mem::take(&mut s.sub);
        let parts = self.tarjan(
            scc,
            |v| comp[v as usize] == id,
            |a| self.allowed(a, mask),
            s,
            &mut sub,
        );
        let mut result = None;
        'search: for part in &parts {
            for &u in part {
                for &a in self.out(u) {
                    let inside = comp[a.to as usize] == id && sub[a.to as usize] == sub[u as usize];
                    if s.timed_out {
                        break 'search;
                    }
                    if inside && self.kind(a) == need && self.allowed(a, mask) {
                        let part_id = sub[u as usize];
                        let back = self.bfs(
                            a.to,
                            u,
                            |v| comp[v as usize] == id && sub[v as usize] == part_id,
                            mask,
                            s,
                            &mut u64::MAX.clone(),
                        );
                        if let Some(mut path) = back {
                            path.insert(0, (u, a));
                            result = Some(path);
                            break 'search;
                        }
                    }
                }
            }
        }
        for &v in scc {
            sub[v as usize] = UNVISITED;
        }
        s.sub = sub;
        result
    }

    /// Cycles with exactly one anti-dependency: `rw` edges a → b each closed by a path
    /// b → a of `non_rw` edges; at most `limit`.
    #[allow(clippy::too_many_arguments)]
    fn single(
        &self,
        scc: &[u32],
        id: u32,
        comp: &[u32],
        non_rw: u8,
        s: &mut Scratch,
        work: &mut u64,
        limit: usize,
    ) -> Vec<Vec<(u32, Adj)>> {
        let mut found = Vec::new();
        for &a in scc {
            for &e in self.out(a) {
                if self.kind(e) != RW || !self.allowed(e, non_rw | RW) || comp[e.to as usize] != id
                {
                    continue;
                }
                if *work == 0 || found.len() >= limit {
                    return found;
                }
                let back = self.bfs(e.to, a, |v| comp[v as usize] == id, non_rw, s, work);
                if let Some(mut path) = back {
                    path.insert(0, (a, e));
                    found.push(path);
                }
            }
        }
        found
    }

    /// Breadth-first path from `from` to `to` over edges of `mask` within `scope`.
    fn bfs(
        &self,
        from: u32,
        to: u32,
        scope: impl Fn(u32) -> bool,
        mask: u8,
        s: &mut Scratch,
        work: &mut u64,
    ) -> Option<Vec<(u32, Adj)>> {
        s.stamp += 1;
        let stamp = s.stamp;
        let mut queue = std::collections::VecDeque::from([from]);
        s.seen[from as usize] = stamp;
        while let Some(v) = queue.pop_front() {
            if v == to {
                return Some(self.unwind(from, to, s, |x| x));
            }
            for &a in self.out(v) {
                *work = work.saturating_sub(1);
                if *work & (CLOCK_EVERY - 1) == 0 && s.out_of_time() {
                    *work = 0;
                    break;
                }
                if !self.allowed(a, mask) || !scope(a.to) || s.seen[a.to as usize] == stamp {
                    continue;
                }
                s.seen[a.to as usize] = stamp;
                s.parent[a.to as usize] = (v, a);
                queue.push_back(a.to);
            }
            if *work == 0 {
                return None;
            }
        }
        None
    }

    /// Follows parents back from `to` to `from`; `state` maps a node to its slot.
    fn unwind(
        &self,
        from_state: u32,
        to_state: u32,
        s: &Scratch,
        node_of: impl Fn(u32) -> u32,
    ) -> Vec<(u32, Adj)> {
        let mut path = Vec::new();
        let mut state = to_state;
        while state != from_state {
            let (prev, a) = s.parent[state as usize];
            path.push((node_of(prev), a));
            state = prev;
        }
        path.reverse();
        path
    }

    /// A cycle with at least two anti-dependencies, no two of them adjacent: for each `rw`
    /// edge a → b, a search over (node, last edge was rw) states from (b, rw) to
    /// (a, not rw).
    fn nonadjacent(
        &self,
        scc: &[u32],
        id: u32,
        comp: &[u32],
        non_rw: u8,
        s: &mut Scratch,
        work: &mut u64,
    ) -> Option<Vec<(u32, Adj)>> {
        for &a in scc {
            for &e in self.out(a) {
                if self.kind(e) != RW || !self.allowed(e, non_rw | RW) || comp[e.to as usize] != id
                {
                    continue;
                }
                if *work == 0 {
                    return None;
                }
                if let Some(mut path) = self.state_bfs(e.to, a, id, comp, non_rw, s, work) {
                    path.insert(0, (a, e));
                    let mut nodes: Vec<u32> = path.iter().map(|&(v, _)| v).collect();
                    nodes.sort_unstable();
                    nodes.dedup();
                    if nodes.len() == path.len() {
                        return Some(path);
                    }
                }
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn state_bfs(
        &self,
        from: u32,
        to: u32,
        id: u32,
        comp: &[u32],
        non_rw: u8,
        s: &mut Scratch,
        work: &mut u64,
    ) -> Option<Vec<(u32, Adj)>> {
        s.stamp += 1;
        let stamp = s.stamp;
        let start = from * 2 + 1;
        let goal = to * 2;
        let mut queue = std::collections::VecDeque::from([start]);
        s.seen[start as usize] = stamp;
        while let Some(state) = queue.pop_front() {
            if state == goal {
                return Some(self.unwind(start, goal, s, |x| x / 2));
            }
            let (v, after_rw) = (state / 2, state % 2 == 1);
            for &a in self.out(v) {
                *work = work.saturating_sub(1);
                if *work & (CLOCK_EVERY - 1) == 0 && s.out_of_time() {
                    *work = 0;
                    break;
                }
                if !self.allowed(a, non_rw | RW) {
                    continue;
                }
                let kind = self.kind(a);
                let next = match kind {
                    RW if !after_rw => a.to * 2 + 1,
                    k if k & non_rw != 0 => a.to * 2,
                    _ => continue,
                };
                if comp[a.to as usize] != id || s.seen[next as usize] == stamp {
                    continue;
                }
                s.seen[next as usize] = stamp;
                s.parent[next as usize] = (state, a);
                queue.push_back(next);
            }
            if *work == 0 {
                return None;
            }
        }
        None
    }

    /// Turns a closed path of graph edges into hops between transactions, merging each run
    /// of order edges through barriers into one step.
    fn splice(&self, path: &[(u32, Adj)]) -> Vec<Hop> {
        let mut hops = Vec::with_capacity(path.len());
        let mut pending: Option<u32> = None;
        for &(from, a) in path {
            let kind = self.kind(a);
            let origin = pending.unwrap_or(from);
            if (a.to as usize) >= self.n_txns {
                pending = Some(origin);
                continue;
            }
            pending = None;
            let hop = if kind & DEPENDENCY != 0 {
                Hop {
                    from,
                    to: a.to,
                    kind,
                    dep: Some(self.deps[a.edge as usize]),
                }
            } else {
                let same = self.process[origin as usize] == self.process[a.to as usize];
                Hop {
                    from: origin,
                    to: a.to,
                    kind: if same { PROCESS } else { REALTIME },
                    dep: None,
                }
            };
            hops.push(hop);
        }
        hops
    }
}

/// Adds real-time order through barrier nodes (numbered from `txns.len()`); returns how
/// many barriers it made.
fn realtime_edges(
    txns: &Txns,
    live: &dyn Fn(usize) -> bool,
    order: &mut Vec<(u32, u32, u8)>,
) -> usize {
    let n = txns.len();
    // Only committed transactions certainly took effect before they completed; a crashed
    // one may take effect at any later time, so it precedes nothing.
    let mut completions: Vec<(usize, u32)> = (0..n)
        .filter(|&t| txns.outcome[t] == Outcome::Ok)
        .filter_map(|t| txns.meta[t].complete_pos.map(|p| (p, t as u32)))
        .collect();
    completions.sort_unstable();
    let mut done = completions.into_iter().peekable();
    let mut pending: Vec<u32> = Vec::new();
    let mut barrier: Option<u32> = None;
    let mut barriers = 0usize;
    for t in (0..n).filter(|&t| live(t)) {
        let invoked = txns.meta[t].invoke_pos;
        while let Some(&(_, c)) = done.peek().filter(|(pos, _)| *pos < invoked) {
            pending.push(c);
            done.next();
        }
        if !pending.is_empty() {
            let b = (n + barriers) as u32;
            barriers += 1;
            if let Some(prev) = barrier {
                order.push((prev, b, REALTIME));
            }
            order.extend(pending.drain(..).map(|c| (c, b, REALTIME)));
            barrier = Some(b);
        }
        if let Some(b) = barrier {
            order.push((b, t as u32, REALTIME));
        }
    }
    barriers
}

/// The name of the most specific class a cycle belongs to.
pub(crate) fn classify(hops: &[Hop]) -> String {
    let kinds: Vec<u8> = hops.iter().map(|h| h.kind).collect();
    let rw = kinds.iter().filter(|&&k| k == RW).count();
    let adjacent_rw =
        (0..kinds.len()).any(|i| kinds[i] == RW && kinds[(i + 1) % kinds.len()] == RW);
    let base = match rw {
        0 if kinds.contains(&WR) => "G1c",
        0 => "G0",
        1 => "G-single",
        _ if adjacent_rw => "G2-item",
        _ => "G-nonadjacent",
    };
    let assumes_realtime = hops.iter().any(|h| h.dep.is_some_and(|d| d.realtime));
    let suffix = if kinds.contains(&REALTIME) || assumes_realtime {
        "-realtime"
    } else if kinds.contains(&PROCESS) {
        "-process"
    } else {
        ""
    };
    format!("{base}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle::gen::{self, GenConfig};
    use crate::elle::txn::Shape;
    use crate::verdict::Budget;

    /// Transactions reachable from `from` over order edges only.
    fn order_reach(g: &Graph, from: u32) -> Vec<bool> {
        let mut seen = vec![false; g.n_nodes];
        let mut stack = vec![from];
        while let Some(v) = stack.pop() {
            for &a in g.out(v) {
                if g.kind(a) & (PROCESS | REALTIME) != 0 && !seen[a.to as usize] {
                    seen[a.to as usize] = true;
                    stack.push(a.to);
                }
            }
        }
        seen
    }

    #[test]
    fn barrier_nodes_keep_exactly_the_real_time_order_of_committed_transactions() {
        for seed in 0..4 {
            let history = gen::list_append(&GenConfig {
                seed,
                txns: 300,
                clients: 6,
                fail_rate: 0.1,
                crash_rate: 0.1,
                ..GenConfig::default()
            });
            let txns = Txns::parse(&history, Shape::List, &Budget::default()).unwrap();
            let g = Graph::build(&txns, Vec::new());
            assert!(
                g.edge_count() <= 3 * txns.len() + g.n_txns,
                "too many order edges"
            );
            for a in 0..txns.len() {
                let reach = order_reach(&g, a as u32);
                let op_a = &history.ops[txns.op[a] as usize];
                for (b, &op_b) in txns.op.iter().enumerate() {
                    let op_b = &history.ops[op_b as usize];
                    let live = |o: &crate::history::Op| o.outcome != Outcome::Fail;
                    let expected = op_a.outcome == Outcome::Ok && live(op_b) && op_a.precedes(op_b);
                    assert_eq!(
                        reach[b], expected,
                        "seed {seed}: T{} before T{}",
                        op_a.id, op_b.id
                    );
                }
            }
        }
    }

    #[test]
    fn finds_components_in_a_long_chain_without_recursion() {
        // A history of 100,000 committed transactions one after another: a chain as deep
        // as the history, which a recursive search would overflow the stack on.
        let history = gen::list_append(&GenConfig {
            seed: 1,
            txns: 100_000,
            clients: 1,
            fail_rate: 0.0,
            crash_rate: 0.0,
            ..GenConfig::default()
        });
        let txns = Txns::parse(&history, Shape::List, &Budget::default()).unwrap();
        let g = Graph::build(&txns, Vec::new());
        let mut scratch = g.scratch(None);
        let (components, _) = g.components(&mut scratch);
        assert!(components.is_empty());
    }
}
