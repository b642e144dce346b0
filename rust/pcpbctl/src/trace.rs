// SPDX-License-Identifier: GPL-2.0

//! Allocation traces: the kernel's page-allocator tracepoints as recorded by tracefs
//! (`scripts/record-traces.sh`), turned into replay files (`pcpbctl trace import`) that
//! `PCPBUDDY_IOC_REPLAY` runs (Documentation/benchmarks.md, "Replay").
//!
//! A replay file (`.pcpt`, gzip-compressed when its name ends in `.gz`) is the line `PCPT1`, one
//! line of JSON (where the trace comes from and its summary), then the operations, each a LEB128
//! number `cpu << 6 | order << 1 | free`, followed for a free by a LEB128 distance back to its
//! allocation (`allocations so far - 1 - id`): allocations are numbered in file order, so their
//! numbers are not stored, and recent allocations, the ones most often freed, are close.
//!
//! Linking a free to its allocation (the recording has `pfn` and `order` of each event):
//!
//! * a free of exactly a live allocation's `pfn` and `order` frees it;
//! * a free of a piece of a live allocation (the kernel splits non-compound allocations with
//!   `split_page()`, `alloc_pages_exact()` frees the tail, large folios are split before their
//!   parts are freed) counts its pages off the allocation; the allocation is freed, whole, at
//!   the free of its last piece, on that CPU (the pool's API frees what it allocated, so the
//!   replay cannot free a part: the live set is kept a little longer than in the recording);
//! * a free that covers several live allocations frees each of them;
//! * a free that meets no live allocation frees memory allocated before the recording started
//!   (or in a bulk allocation, `alloc_pages_bulk()`, which fires no tracepoint): dropped, counted;
//! * an allocation over a live one means its free was not recorded (events lost when a ring
//!   buffer was full): the old one is freed just before, on its own CPU, counted;
//! * `mm_page_free_batched` follows an `mm_page_free` of the same page since Linux 6.x (both fire
//!   in `free_unref_folios()`): it is a duplicate then, and a free of its order-0 page otherwise;
//! * allocations still live at the end of the window are not freed by the file: the replay frees
//!   them after its timed part, counted.

use crate::error::{describe, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

/// The first line of a replay file.
pub const MAGIC: &str = "PCPT1";
/// Orders the format can carry (5 bits); the kernel refuses those above its `block_order`.
pub const MAX_ORDER: u8 = 31;

/// One operation of a replay file, as `struct pcpbuddy_replay_op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// An allocation's number (file order), or the number of the allocation a free frees.
    pub id: u32,
    pub cpu: u16,
    pub order: u8,
    pub free: bool,
}

/// A tracepoint event of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Alloc,
    Free,
    FreeBatched,
}

/// One event parsed from a line of tracefs's `trace` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub cpu: u16,
    pub pfn: u64,
    pub order: u8,
}

/// What a line of the `trace` file holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Event(Event),
    /// `CPU:N [LOST M EVENTS]`.
    Lost(u64),
    /// A failed allocation (no page), a comment or another event.
    Other,
}

fn field(text: &str, name: &str) -> Option<u64> {
    let at = text
        .split_whitespace()
        .find_map(|t| t.strip_prefix(name)?.strip_prefix('='))?;
    match at.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => at.parse().ok(),
    }
}

/// Parses one line of tracefs's `trace` output, e.g.
/// `   make-123  [002] ..... 4711: mm_page_alloc: page=000 pfn=0x1a2b3 order=0 migratetype=1 ...`
/// (the flags column is there with the `irq-info` option; the time stamp is a plain number with
/// trace_clock `counter`, `secs.usecs` with the others).
pub fn parse_line(line: &str) -> std::result::Result<Line, String> {
    if line.starts_with('#') || line.trim().is_empty() {
        return Ok(Line::Other);
    }
    if let Some(rest) = line.trim_start().strip_prefix("CPU:") {
        if let Some(n) = rest.split("[LOST ").nth(1) {
            let n = n.split_whitespace().next().unwrap_or("0");
            return Ok(Line::Lost(n.parse().unwrap_or(0)));
        }
    }
    let Some(at) = line.find(": mm_page_") else {
        return Ok(Line::Other);
    };
    let (head, tail) = (&line[..at], &line[at + 2..]);
    let (name, fields) = tail.split_once(':').unwrap_or((tail, ""));
    let kind = match name.trim() {
        "mm_page_alloc" => EventKind::Alloc,
        "mm_page_free" => EventKind::Free,
        "mm_page_free_batched" => EventKind::FreeBatched,
        _ => return Ok(Line::Other),
    };
    // The CPU is the last `[NNN]` before the time stamp (a command name may hold brackets).
    let cpu = head
        .split_whitespace()
        .rev()
        .find_map(|t| t.strip_prefix('[')?.strip_suffix(']')?.parse::<u16>().ok())
        .ok_or_else(|| format!("no [cpu] in '{line}'"))?;
    let pfn = field(fields, "pfn").ok_or_else(|| format!("no pfn in '{line}'"))?;
    let order = match kind {
        EventKind::FreeBatched => 0,
        _ => field(fields, "order").ok_or_else(|| format!("no order in '{line}'"))?,
    };
    if order > u64::from(MAX_ORDER) {
        return Err(format!("order {order} in '{line}'"));
    }
    // A failed allocation prints pfn 0 (and is filtered out by the recording script anyway).
    if kind == EventKind::Alloc && pfn == 0 {
        return Ok(Line::Other);
    }
    Ok(Line::Event(Event {
        kind,
        cpu,
        pfn,
        order: order as u8,
    }))
}

/// What the import saw and did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Events read (allocations, frees, batched frees).
    pub events: u64,
    /// Events the ring buffers lost (`[LOST N EVENTS]` lines).
    pub lost_events: u64,
    pub ops: u64,
    pub allocs: u64,
    pub frees: u64,
    /// Allocations per order (index = order).
    pub orders: Vec<u64>,
    /// Recorded CPUs that allocated or freed.
    pub cpus: Vec<u16>,
    /// Frees on another CPU than their allocation.
    pub remote_frees: u64,
    /// Frees of memory allocated before the recording (or by `alloc_pages_bulk()`): dropped.
    pub dropped_frees: u64,
    pub dropped_pages: u64,
    /// Allocations still live at the end: freed by the replay after its timed part.
    pub unmatched_allocs: u64,
    pub unmatched_pages: u64,
    /// Allocations freed in pieces (freed whole at the last piece), and the piece frees.
    pub split_allocs: u64,
    pub piece_frees: u64,
    /// Frees inserted for an allocation over a live one (its free was not recorded).
    pub implicit_frees: u64,
    /// `mm_page_free_batched` events that repeat an `mm_page_free`.
    pub batched_duplicates: u64,
    /// The largest live set in file order (pages), counting allocations never freed.
    pub peak_live_pages: u64,
    /// Events left out by `--max-ops`.
    pub cut_events: u64,
}

impl Summary {
    /// Frees on another CPU than their allocation, of all frees.
    pub fn remote_share(&self) -> Option<f64> {
        (self.frees > 0).then(|| self.remote_frees as f64 / self.frees as f64)
    }

    /// `0:1234 1:56 9:3`: allocations per order, the orders seen.
    pub fn orders_text(&self) -> String {
        let seen: Vec<String> = self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(o, n)| format!("{o}:{n}"))
            .collect();
        if seen.is_empty() {
            "-".into()
        } else {
            seen.join(" ")
        }
    }
}

/// A live allocation during the import.
struct Live {
    id: u32,
    order: u8,
    cpu: u16,
    /// Pages not freed yet (a piece free takes some).
    left: u64,
    pieces: u64,
}

/// Turns events into operations; see the module's doc for the rules.
#[derive(Default)]
pub struct Linker {
    live: BTreeMap<u64, Live>,
    /// Pages freed by `mm_page_free` at order 0 and not yet seen in `mm_page_free_batched`.
    freed0: HashSet<u64>,
    pub ops: Vec<Op>,
    pub summary: Summary,
    next_id: u32,
    live_pages: u64,
    max_ops: Option<u64>,
}

impl Linker {
    /// A linker that stops taking events once `max_ops` operations are out.
    pub fn new(max_ops: Option<u64>) -> Self {
        Linker {
            max_ops,
            ..Default::default()
        }
    }

    fn emit(&mut self, op: Op) {
        let s = &mut self.summary;
        s.ops += 1;
        if let Err(i) = s.cpus.binary_search(&op.cpu) {
            s.cpus.insert(i, op.cpu);
        }
        if op.free {
            s.frees += 1;
            self.live_pages -= 1u64 << op.order;
        } else {
            s.allocs += 1;
            let o = usize::from(op.order);
            if s.orders.len() <= o {
                s.orders.resize(o + 1, 0);
            }
            s.orders[o] += 1;
            self.live_pages += 1u64 << op.order;
            s.peak_live_pages = s.peak_live_pages.max(self.live_pages);
        }
        self.ops.push(op);
    }

    /// Frees live allocation `start` on `cpu`.
    fn free_live(&mut self, start: u64, cpu: u16) {
        if let Some(a) = self.live.remove(&start) {
            if a.pieces > 0 {
                self.summary.split_allocs += 1;
            }
            if cpu != a.cpu {
                self.summary.remote_frees += 1;
            }
            self.emit(Op {
                id: a.id,
                cpu,
                order: a.order,
                free: true,
            });
        }
    }

    /// Starts of live allocations overlapping `[pfn, pfn + 2^order)`.
    fn overlapping(&self, pfn: u64, order: u8) -> Vec<u64> {
        let end = pfn + (1u64 << order);
        let mut v = Vec::new();
        if let Some((&s, a)) = self.live.range(..=pfn).next_back() {
            if s + (1u64 << a.order) > pfn {
                v.push(s);
            }
        }
        v.extend(self.live.range(pfn + 1..end).map(|(&s, _)| s));
        v
    }

    /// Whether `--max-ops` has been reached: the rest of the recording is left out.
    pub fn full(&self) -> bool {
        self.max_ops.is_some_and(|m| self.summary.ops >= m)
    }

    /// Takes one event.
    pub fn event(&mut self, e: Event) {
        self.summary.events += 1;
        if self.full() {
            self.summary.cut_events += 1;
            return;
        }
        match e.kind {
            EventKind::Alloc => self.alloc(e),
            EventKind::Free => {
                if e.order == 0 {
                    self.freed0.insert(e.pfn);
                }
                self.free(e)
            }
            EventKind::FreeBatched => {
                if self.freed0.remove(&e.pfn) {
                    self.summary.batched_duplicates += 1;
                } else {
                    self.free(e)
                }
            }
        }
    }

    fn alloc(&mut self, e: Event) {
        for start in self.overlapping(e.pfn, e.order) {
            let cpu = self.live[&start].cpu;
            self.summary.implicit_frees += 1;
            self.free_live(start, cpu);
        }
        if e.order == 0 {
            self.freed0.remove(&e.pfn);
        } else {
            let end = e.pfn + (1u64 << e.order);
            self.freed0.retain(|&p| p < e.pfn || p >= end);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.live.insert(
            e.pfn,
            Live {
                id,
                order: e.order,
                cpu: e.cpu,
                left: 1u64 << e.order,
                pieces: 0,
            },
        );
        self.emit(Op {
            id,
            cpu: e.cpu,
            order: e.order,
            free: false,
        });
    }

    fn free(&mut self, e: Event) {
        let hit = self.overlapping(e.pfn, e.order);
        let pages = 1u64 << e.order;
        match hit.as_slice() {
            [] => {
                self.summary.dropped_frees += 1;
                self.summary.dropped_pages += pages;
            }
            &[start]
                if {
                    let a = &self.live[&start];
                    start <= e.pfn && e.pfn + pages <= start + (1u64 << a.order)
                } =>
            {
                // Inside one allocation: all of it, or a piece.
                let a = self.live.get_mut(&start).expect("live");
                if start == e.pfn && e.order == a.order && a.pieces == 0 {
                    self.free_live(start, e.cpu);
                } else {
                    a.left = a.left.saturating_sub(pages);
                    a.pieces += 1;
                    self.summary.piece_frees += 1;
                    if a.left == 0 {
                        self.free_live(start, e.cpu);
                    }
                }
            }
            starts => {
                // The free covers several allocations (or more than one).
                for &start in starts {
                    self.free_live(start, e.cpu);
                }
            }
        }
    }

    /// Ends the import: what is still live is counted (the replay frees it at its end).
    pub fn finish(mut self) -> (Vec<Op>, Summary) {
        for a in self.live.values() {
            self.summary.unmatched_allocs += 1;
            self.summary.unmatched_pages += a.left;
            if a.pieces > 0 {
                self.summary.split_allocs += 1;
            }
        }
        (self.ops, self.summary)
    }
}

/// Opens a file, decompressing it when it starts with the gzip magic.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let err = |e: std::io::Error| Error::io(path, &e);
    let mut file = BufReader::new(std::fs::File::open(path).map_err(err)?);
    let gz = file.fill_buf().map_err(err)?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(file)))
    } else {
        Box::new(file)
    })
}

/// Imports a tracefs recording: the operations and the summary.
pub fn import(input: impl BufRead, max_ops: Option<u64>) -> Result<(Vec<Op>, Summary)> {
    let mut linker = Linker::new(max_ops);
    for (n, line) in input.split(b'\n').enumerate() {
        let line =
            line.map_err(|e| Error::new(format!("reading the recording: {}", describe(&e))))?;
        let line = String::from_utf8_lossy(&line);
        match parse_line(&line) {
            Ok(Line::Event(e)) => linker.event(e),
            Ok(Line::Lost(n)) => linker.summary.lost_events += n,
            Ok(Line::Other) => {}
            Err(e) => return Err(Error::new(format!("line {}: {e}", n + 1))),
        }
    }
    Ok(linker.finish())
}

fn put_leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_leb(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The operations in the file's encoding.
pub fn encode(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ops.len() * 2);
    let mut allocs = 0u64;
    for op in ops {
        put_leb(
            &mut out,
            u64::from(op.cpu) << 6 | u64::from(op.order) << 1 | u64::from(op.free),
        );
        if op.free {
            put_leb(&mut out, allocs - 1 - u64::from(op.id));
        } else {
            allocs += 1;
        }
    }
    out
}

/// Decodes the operations (the inverse of [`encode`]).
pub fn decode(data: &[u8]) -> std::result::Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    let mut at = 0;
    let mut allocs = 0u64;
    while at < data.len() {
        let head = get_leb(data, &mut at).ok_or("truncated operation")?;
        let cpu = u16::try_from(head >> 6).map_err(|_| "CPU number too large")?;
        let order = ((head >> 1) & 31) as u8;
        let free = head & 1 != 0;
        let id = if free {
            let back = get_leb(data, &mut at).ok_or("truncated free")?;
            allocs
                .checked_sub(1 + back)
                .ok_or_else(|| format!("operation {}: a free before its allocation", ops.len()))?
        } else {
            allocs += 1;
            allocs - 1
        };
        let id = u32::try_from(id).map_err(|_| "too many allocations")?;
        ops.push(Op {
            id,
            cpu,
            order,
            free,
        });
    }
    Ok(ops)
}

/// A replay file: where it comes from, its summary, its operations.
#[derive(Clone, Debug)]
pub struct TraceFile {
    pub meta: serde_json::Value,
    pub ops: Vec<Op>,
}

impl TraceFile {
    /// The name of the trace (`meta.name`, or the file's stem).
    pub fn name(&self) -> String {
        self.meta["name"].as_str().unwrap_or("trace").to_string()
    }

    /// The summary stored by `import`.
    pub fn summary(&self) -> Option<Summary> {
        serde_json::from_value(self.meta["summary"].clone()).ok()
    }

    /// Writes the file (gzip-compressed when the name ends in `.gz`).
    pub fn write(&self, path: &Path) -> Result<()> {
        let err = |e: std::io::Error| Error::io(path, &e);
        let mut bytes = format!("{MAGIC}\n{}\n", self.meta).into_bytes();
        bytes.extend(encode(&self.ops));
        let file = std::fs::File::create(path).map_err(err)?;
        if path.extension().is_some_and(|e| e == "gz") {
            let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
            gz.write_all(&bytes).map_err(err)?;
            gz.finish().map_err(err)?;
        } else {
            let mut file = file;
            file.write_all(&bytes).map_err(err)?;
        }
        Ok(())
    }

    /// Reads a replay file.
    pub fn read(path: &Path) -> Result<TraceFile> {
        let bad = |what: String| Error::new(format!("{}: {what}", path.display()));
        let mut data = Vec::new();
        open(path)?
            .read_to_end(&mut data)
            .map_err(|e| Error::io(path, &e))?;
        let rest = data
            .strip_prefix(format!("{MAGIC}\n").as_bytes())
            .ok_or_else(|| bad(format!("not a replay file (no {MAGIC} line; import a recording with `pcpbctl trace import`)")))?;
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("no header line".into()))?;
        let meta: serde_json::Value =
            serde_json::from_slice(&rest[..nl]).map_err(|e| bad(format!("bad header: {e}")))?;
        let ops = decode(&rest[nl + 1..]).map_err(bad)?;
        let mut meta = meta;
        if meta["name"].is_null() {
            let stem = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = stem.split('.').next().unwrap_or("trace").to_string();
            meta["name"] = stem.into();
        }
        Ok(TraceFile { meta, ops })
    }
}

/// The facts of a recording's `.meta` file (`key value` lines), as JSON.
pub fn read_meta(path: &Path) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(' ') {
                let v = v.trim();
                let value = v
                    .parse::<u64>()
                    .map(serde_json::Value::from)
                    .or_else(|_| v.parse::<f64>().map(serde_json::Value::from))
                    .unwrap_or_else(|_| v.into());
                m.insert(k.to_string(), value);
            }
        }
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind, cpu: u16, pfn: u64, order: u8) -> Event {
        Event {
            kind,
            cpu,
            pfn,
            order,
        }
    }

    fn link(events: &[Event]) -> (Vec<Op>, Summary) {
        let mut l = Linker::new(None);
        for &e in events {
            l.event(e);
        }
        l.finish()
    }

    fn op(id: u32, cpu: u16, order: u8, free: bool) -> Op {
        Op {
            id,
            cpu,
            order,
            free,
        }
    }

    #[test]
    fn parses_tracefs_lines() {
        use EventKind::*;
        let l = "            make-1234    [002] ..... 123456: mm_page_alloc: page=00000000a1b2c3d4 pfn=0x1a2b3 order=2 migratetype=1 gfp_flags=GFP_KERNEL";
        assert_eq!(parse_line(l), Ok(Line::Event(ev(Alloc, 2, 0x1a2b3, 2))));
        // No flags column (irq-info off), a name with spaces and brackets, secs.usecs stamps.
        let l = " kworker/u8:1 [x]-77 [001]  12.345678: mm_page_free: page=0000000012345678 pfn=0x100 order=0";
        assert_eq!(parse_line(l), Ok(Line::Event(ev(Free, 1, 0x100, 0))));
        let l = "  <idle>-0  [003] d..2. 99: mm_page_free_batched: page=0000000012345678 pfn=0x2000 order=0";
        assert_eq!(
            parse_line(l),
            Ok(Line::Event(ev(FreeBatched, 3, 0x2000, 0)))
        );
        // A failed allocation (pfn 0), comments, other events, lost events.
        let l = "  sh-1 [000] ..... 5: mm_page_alloc: page=0000000000000000 pfn=0x0 order=9 migratetype=1 gfp_flags=GFP_KERNEL";
        assert_eq!(parse_line(l), Ok(Line::Other));
        assert_eq!(parse_line("# tracer: nop"), Ok(Line::Other));
        assert_eq!(
            parse_line("  sh-1 [000] ..... 5: sched_switch: x"),
            Ok(Line::Other)
        );
        assert_eq!(parse_line("CPU:2 [LOST 1234 EVENTS]"), Ok(Line::Lost(1234)));
        assert!(parse_line("  sh-1 [000] ..... 5: mm_page_free: pfn=0x10").is_err());
    }

    #[test]
    fn links_frees_to_allocations() {
        use EventKind::*;
        let (ops, s) = link(&[
            ev(Alloc, 0, 0x100, 0),
            ev(Alloc, 1, 0x200, 3),
            ev(Free, 1, 0x100, 0), // a remote free
            ev(Free, 0, 0x50, 0),  // allocated before the recording: dropped
            ev(Free, 1, 0x200, 3),
            ev(Alloc, 0, 0x300, 9), // never freed
        ]);
        assert_eq!(
            ops,
            vec![
                op(0, 0, 0, false),
                op(1, 1, 3, false),
                op(0, 1, 0, true),
                op(1, 1, 3, true),
                op(2, 0, 9, false),
            ]
        );
        assert_eq!((s.allocs, s.frees, s.ops), (3, 2, 5));
        assert_eq!(
            (s.remote_frees, s.dropped_frees, s.dropped_pages),
            (1, 1, 1)
        );
        assert_eq!((s.unmatched_allocs, s.unmatched_pages), (1, 512));
        assert_eq!(s.orders, vec![1, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.orders_text(), "0:1 3:1 9:1");
        assert_eq!(s.cpus, vec![0, 1]);
        assert_eq!(s.peak_live_pages, 512 + 8 + 1 - 9);
        assert_eq!(s.remote_share(), Some(0.5));
    }

    #[test]
    fn split_allocations_are_freed_at_their_last_piece() {
        use EventKind::*;
        // An order-2 allocation split into pages, freed one by one on two CPUs.
        let (ops, s) = link(&[
            ev(Alloc, 0, 0x400, 2),
            ev(Free, 0, 0x401, 0),
            ev(Free, 1, 0x403, 0),
            ev(Free, 1, 0x400, 0),
            ev(Free, 2, 0x402, 0),
        ]);
        assert_eq!(ops, vec![op(0, 0, 2, false), op(0, 2, 2, true)]);
        assert_eq!((s.split_allocs, s.piece_frees, s.remote_frees), (1, 4, 1));
        // alloc_pages_exact(): an order-1 tail freed at once, the rest later.
        let (ops, s) = link(&[
            ev(Alloc, 0, 0x800, 2),
            ev(Free, 0, 0x802, 1),
            ev(Free, 0, 0x800, 1),
        ]);
        assert_eq!(ops, vec![op(0, 0, 2, false), op(0, 0, 2, true)]);
        assert_eq!((s.split_allocs, s.piece_frees), (1, 2));
    }

    #[test]
    fn batched_duplicates_and_missed_frees() {
        use EventKind::*;
        let (ops, s) = link(&[
            ev(Alloc, 0, 0x10, 0),
            ev(Free, 1, 0x10, 0),
            ev(FreeBatched, 1, 0x10, 0), // the same free, again (Linux 6.x and later)
            ev(Alloc, 0, 0x20, 0),
            ev(FreeBatched, 0, 0x20, 0), // a batched free alone (older kernels)
            ev(Alloc, 2, 0x30, 0),
            ev(Alloc, 3, 0x30, 1), // over a live allocation: its free was lost
        ]);
        assert_eq!(
            ops,
            vec![
                op(0, 0, 0, false),
                op(0, 1, 0, true),
                op(1, 0, 0, false),
                op(1, 0, 0, true),
                op(2, 2, 0, false),
                op(2, 2, 0, true),
                op(3, 3, 1, false),
            ]
        );
        assert_eq!((s.batched_duplicates, s.implicit_frees), (1, 1));
        // One free over two allocations frees both.
        let (ops, _) = link(&[
            ev(Alloc, 0, 0x40, 0),
            ev(Alloc, 0, 0x41, 0),
            ev(Free, 1, 0x40, 1),
        ]);
        assert_eq!(ops[2..], [op(0, 1, 0, true), op(1, 1, 0, true)]);
    }

    #[test]
    fn max_ops_cuts_the_window() {
        use EventKind::*;
        let mut l = Linker::new(Some(2));
        for e in [
            ev(Alloc, 0, 1, 0),
            ev(Alloc, 0, 2, 0),
            ev(Free, 0, 1, 0),
            ev(Free, 0, 2, 0),
        ] {
            l.event(e);
        }
        let (ops, s) = l.finish();
        assert_eq!(ops.len(), 2);
        assert_eq!((s.cut_events, s.unmatched_allocs, s.events), (2, 2, 4));
    }

    #[test]
    fn encoding_round_trips() {
        let ops = vec![
            op(0, 0, 0, false),
            op(1, 300, 9, false),
            op(0, 65535, 0, true),
            op(2, 3, 31, false),
            op(2, 1, 31, true),
            op(1, 2, 9, true),
        ];
        let bytes = encode(&ops);
        assert_eq!(decode(&bytes), Ok(ops));
        // A free before any allocation, a cut-off number.
        assert!(decode(&[1, 0]).is_err());
        assert!(decode(&[0x80]).is_err());
    }

    #[test]
    fn imports_a_recording_and_writes_a_file() {
        let text = "# tracer: nop\n\
            a-1 [000] ..... 1: mm_page_alloc: page=0 pfn=0x1000 order=0 migratetype=0 gfp_flags=GFP_KERNEL\n\
            CPU:1 [LOST 3 EVENTS]\n\
            b-2 [001] ..... 2: mm_page_free: page=0 pfn=0x1000 order=0\n\
            b-2 [001] ..... 3: mm_page_free_batched: page=0 pfn=0x1000 order=0\n";
        let (ops, s) = import(text.as_bytes(), None).unwrap();
        assert_eq!(ops, vec![op(0, 0, 0, false), op(0, 1, 0, true)]);
        assert_eq!((s.events, s.lost_events, s.batched_duplicates), (3, 3, 1));
        let dir = std::env::temp_dir().join(format!("pcpbctl-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["t.pcpt", "t.pcpt.gz"] {
            let path = dir.join(name);
            let f = TraceFile {
                meta: serde_json::json!({ "summary": s }),
                ops: ops.clone(),
            };
            f.write(&path).unwrap();
            let back = TraceFile::read(&path).unwrap();
            assert_eq!(back.ops, ops);
            assert_eq!(back.name(), "t");
            assert_eq!(back.summary(), Some(s.clone()));
        }
        std::fs::write(dir.join("x.pcpt"), "not a trace").unwrap();
        let e = TraceFile::read(&dir.join("x.pcpt")).unwrap_err();
        assert!(e.message.contains("not a replay file"), "{}", e.message);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
