// SPDX-License-Identifier: GPL-2.0

//! CPU lists in the kernel's format (`0-3,5`), as in `/sys/devices/system/cpu/online` and
//! `numactl --physcpubind`.

use crate::error::{Error, Result};

/// Where the kernel lists the online CPUs.
pub const ONLINE: &str = "/sys/devices/system/cpu/online";

/// Parses `0-3,5` into sorted, distinct CPU numbers.
pub fn parse(text: &str) -> Result<Vec<u32>> {
    let bad = |why: &str| Error::new(format!("bad CPU list '{}': {}", text.trim(), why));
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err(bad("empty element"));
        }
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None => (part, part),
        };
        let lo: u32 = lo.parse().map_err(|_| bad("not a number"))?;
        let hi: u32 = hi.parse().map_err(|_| bad("not a number"))?;
        if lo > hi {
            return Err(bad("range goes down"));
        }
        if hi >= 4096 {
            return Err(bad("CPU number too large"));
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// Formats CPU numbers as a kernel CPU list, with ranges (`0-3,5`); `-` for none.
pub fn format(cpus: &[u32]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(",")
    }
}

/// The bit mask of `pcpbuddy_bench.alloc_cpus`/`free_cpus`: CPUs 0..63 only.
pub fn to_mask(cpus: &[u32]) -> Result<u64> {
    let mut mask = 0u64;
    for &cpu in cpus {
        if cpu >= 64 {
            return Err(Error::new(format!(
                "CPU {cpu}: benchmarks run on CPUs 0-63 only (PCPBUDDY_BENCH_MAX_CPUS)"
            )));
        }
        mask |= 1 << cpu;
    }
    Ok(mask)
}

/// The online CPUs.
pub fn online() -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(ONLINE).map_err(|e| Error::io(ONLINE.as_ref(), &e))?;
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_singles() {
        assert_eq!(parse("0-3,5").unwrap(), vec![0, 1, 2, 3, 5]);
        assert_eq!(parse("7\n").unwrap(), vec![7]);
        assert_eq!(parse("5,0-1,1").unwrap(), vec![0, 1, 5]);
        assert!(parse("").is_err());
        assert!(parse("3-1").is_err());
        assert!(parse("a").is_err());
        assert!(parse("1,,2").is_err());
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format(&[0, 1, 2, 3, 5]), "0-3,5");
        assert_eq!(format(&[]), "-");
        assert_eq!(format(&[4]), "4");
        assert_eq!(
            parse(&format(&[1, 2, 9, 10, 11])).unwrap(),
            vec![1, 2, 9, 10, 11]
        );
    }

    #[test]
    fn masks() {
        assert_eq!(to_mask(&[0, 3]).unwrap(), 0b1001);
        assert_eq!(to_mask(&[63]).unwrap(), 1 << 63);
        assert!(to_mask(&[64]).is_err());
    }
}
