// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/pcpbuddy/`: reading and parsing `stats` and `blocks`
//! (Documentation/debugfs.md).

use crate::error::{errno, Error, Result};
use nix::errno::Errno;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where the module's debugfs directory is when debugfs is mounted in the usual place.
pub const DEFAULT_DIR: &str = "/sys/kernel/debug/pcpbuddy";

/// The module's debugfs directory.
pub struct Debugfs {
    dir: PathBuf,
}

/// Whether a debugfs is mounted at `mount_point`, from `/proc/self/mounts`.
fn debugfs_mounted(mount_point: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return true; // Cannot tell: do not claim it is not.
    };
    mounts.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let (_, at, kind) = (fields.next(), fields.next(), fields.next());
        at == mount_point.to_str() && kind == Some("debugfs")
    })
}

impl Debugfs {
    pub fn new(dir: &Path) -> Self {
        Debugfs {
            dir: dir.to_path_buf(),
        }
    }

    /// Reads one file, with an error that says whether debugfs or the module is missing.
    pub fn read(&self, name: &str) -> Result<String> {
        let path = self.dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| {
            let hint = match errno(&e) {
                Some(Errno::ENOENT) => match self.dir.parent() {
                    Some(parent) if !self.dir.exists() && !debugfs_mounted(parent) => {
                        format!(
                            " (debugfs is not mounted at {}: mount -t debugfs none {0})",
                            parent.display()
                        )
                    }
                    _ if !self.dir.exists() => " (is the pcpbuddy module loaded?)".into(),
                    _ => String::new(),
                },
                Some(Errno::EACCES | Errno::EPERM) => " (debugfs is root-only)".into(),
                _ => String::new(),
            };
            Error::io(&path, &e).hint(&hint)
        })
    }

    pub fn stats(&self) -> Result<Stats> {
        parse_stats(&self.read("stats")?)
    }

    pub fn blocks(&self) -> Result<Vec<Block>> {
        parse_blocks(&self.read("blocks")?)
    }
}

/// Counters in the order the file lists them.
pub type Counters = Vec<(String, u64)>;

/// Looks a counter up by name.
pub fn counter(counters: &Counters, name: &str) -> Option<u64> {
    counters.iter().find(|(k, _)| k == name).map(|&(_, v)| v)
}

/// The `stats` file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// `global.X`.
    pub global: Counters,
    /// `total.X`.
    pub total: Counters,
    /// `cpuN.X`, by CPU number in file order.
    pub cpus: Vec<(u32, Counters)>,
}

impl Stats {
    /// All counters as JSON: `{"global": {..}, "total": {..}, "cpus": {"0": {..}, ..}}`.
    pub fn to_json(&self, only_cpu: Option<u32>) -> serde_json::Value {
        let map = |c: &Counters| {
            serde_json::Value::Object(
                c.iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
                    .collect(),
            )
        };
        let cpus: serde_json::Map<String, serde_json::Value> = self
            .cpus
            .iter()
            .filter(|(cpu, _)| only_cpu.is_none_or(|only| only == *cpu))
            .map(|(cpu, c)| (cpu.to_string(), map(c)))
            .collect();
        if only_cpu.is_some() {
            return serde_json::json!({ "cpus": cpus });
        }
        serde_json::json!({
            "global": map(&self.global),
            "total": map(&self.total),
            "cpus": cpus,
        })
    }
}

/// Parses `stats`: `global.X: N`, `total.X: N`, `cpuN.X: N` lines (X may contain dots:
/// `free_errors.bad_cpu`). Lines of other shapes are ignored: keys are only ever added.
pub fn parse_stats(text: &str) -> Result<Stats> {
    let mut stats = Stats::default();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = || Error::new(format!("stats line {}: cannot parse '{line}'", lineno + 1));
        let (key, value) = line.split_once(':').ok_or_else(bad)?;
        let Ok(value) = value.trim().parse::<u64>() else {
            return Err(bad());
        };
        let (scope, name) = key.trim().split_once('.').ok_or_else(bad)?;
        let entry = (name.to_string(), value);
        match scope {
            "global" => stats.global.push(entry),
            "total" => stats.total.push(entry),
            _ => {
                let Some(cpu) = scope
                    .strip_prefix("cpu")
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                match stats.cpus.iter_mut().find(|(c, _)| *c == cpu) {
                    Some((_, counters)) => counters.push(entry),
                    None => stats.cpus.push((cpu, vec![entry])),
                }
            }
        }
    }
    Ok(stats)
}

/// One line of `blocks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Block {
    pub index: u32,
    pub pfn: u64,
    pub source: String,
    /// `free`, `owned`, `fragment` or `shared`.
    pub state: String,
    /// The owning CPU of an `owned` block.
    pub owner: Option<u32>,
    /// Free pages in the block.
    pub free: u32,
    /// Largest free order; `None` when the block has no free page.
    pub order: Option<u32>,
    /// Pages freed remotely and not yet absorbed.
    pub pending: u32,
}

/// Parses `blocks`: a header line, then `index pfn source state owner free order pending`.
pub fn parse_blocks(text: &str) -> Result<Vec<Block>> {
    let mut blocks = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0] == "index" {
            continue;
        }
        let bad = || {
            Error::new(format!(
                "blocks line {}: cannot parse '{}'",
                lineno + 1,
                line.trim()
            ))
        };
        if f.len() < 8 {
            return Err(bad());
        }
        let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
        let opt = |s: &str| if s == "-" { Ok(None) } else { num(s).map(Some) };
        let pfn = f[1].strip_prefix("0x").unwrap_or(f[1]);
        blocks.push(Block {
            index: num(f[0])?,
            pfn: u64::from_str_radix(pfn, 16).map_err(|_| bad())?,
            source: f[2].to_string(),
            state: f[3].to_string(),
            owner: opt(f[4])?,
            free: num(f[5])?,
            order: opt(f[6])?,
            pending: num(f[7])?,
        });
    }
    Ok(blocks)
}

/// Blocks counted by state, with their free and pending pages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlockSummary {
    pub blocks: usize,
    pub free: usize,
    pub owned: usize,
    pub fragment: usize,
    pub shared: usize,
    pub other: usize,
    pub free_pages: u64,
    pub pending_pages: u64,
}

impl BlockSummary {
    pub fn of(blocks: &[Block]) -> Self {
        let mut s = BlockSummary {
            blocks: blocks.len(),
            ..Default::default()
        };
        for b in blocks {
            match b.state.as_str() {
                "free" => s.free += 1,
                "owned" => s.owned += 1,
                "fragment" => s.fragment += 1,
                "shared" => s.shared += 1,
                _ => s.other += 1,
            }
            s.free_pages += u64::from(b.free);
            s.pending_pages += u64::from(b.pending);
        }
        s
    }

    /// `64 blocks: 40 free, 20 owned, 3 fragment, 1 shared; 20000 free pages, 0 pending`.
    pub fn line(&self) -> String {
        let other = if self.other > 0 {
            format!(", {} other", self.other)
        } else {
            String::new()
        };
        format!(
            "{} blocks: {} free, {} owned, {} fragment, {} shared{}; {} free pages, {} pending",
            self.blocks,
            self.free,
            self.owned,
            self.fragment,
            self.shared,
            other,
            self.free_pages,
            self.pending_pages
        )
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const STATS: &str = "\
global.lock_acquisitions: 12
global.blocks_claimed: 3
global.free_pages: 8192
total.allocs: 100
total.free_errors.bad_cpu: 1
cpu0.cached_pages: 40
cpu0.allocs: 60
cpu0.free_errors.bad_cpu: 1
cpu1.cached_pages: 7
cpu1.allocs: 40
";

    pub const BLOCKS: &str = "\
 index          pfn source  state     owner  free order pending
     0      0x6fe00 cma     owned         1   311     8       0
     1      0x70000 cma     free          -   512     9       0
     2      0x70200 contig  fragment      -     0     -       3
";

    #[test]
    fn parses_stats() {
        let s = parse_stats(STATS).unwrap();
        assert_eq!(counter(&s.global, "lock_acquisitions"), Some(12));
        assert_eq!(counter(&s.total, "free_errors.bad_cpu"), Some(1));
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.cpus[1].0, 1);
        assert_eq!(counter(&s.cpus[0].1, "cached_pages"), Some(40));
        assert_eq!(counter(&s.cpus[0].1, "free_errors.bad_cpu"), Some(1));
        let json = s.to_json(None);
        assert_eq!(json["cpus"]["1"]["allocs"], 40);
        assert_eq!(json["global"]["free_pages"], 8192);
        let one = s.to_json(Some(1));
        assert!(one.get("global").is_none());
        assert!(one["cpus"].get("0").is_none());
        assert!(parse_stats("global.x: y").is_err());
        assert!(parse_stats("nonsense").is_err());
    }

    #[test]
    fn parses_blocks() {
        let b = parse_blocks(BLOCKS).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].pfn, 0x6fe00);
        assert_eq!(b[0].owner, Some(1));
        assert_eq!(b[1].owner, None);
        assert_eq!(b[2].order, None);
        assert_eq!(b[2].pending, 3);
        let s = BlockSummary::of(&b);
        assert_eq!(
            s.line(),
            "3 blocks: 1 free, 1 owned, 1 fragment, 0 shared; 823 free pages, 3 pending"
        );
        assert!(parse_blocks("0 0x1 cma").is_err());
    }

    #[test]
    fn missing_directory_names_the_module_or_debugfs() {
        let d = Debugfs::new(Path::new("/nonexistent-pcpbctl/pcpbuddy"));
        let msg = d.read("stats").unwrap_err().message;
        // /nonexistent-pcpbctl is no debugfs mount point.
        assert!(msg.contains("debugfs is not mounted"), "{msg}");
        let dir = std::env::temp_dir().join(format!("pcpbctl-dfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let msg = Debugfs::new(&dir.join("pcpbuddy"))
            .read("stats")
            .unwrap_err()
            .message;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            msg.contains("debugfs is not mounted") || msg.contains("module loaded"),
            "{msg}"
        );
    }
}
