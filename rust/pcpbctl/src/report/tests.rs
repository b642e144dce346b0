// SPDX-License-Identifier: GPL-2.0

use super::tables::spread;
use super::*;
use crate::abi::ROLE_FREE;
use crate::bench::tests::run;
use crate::bench::Spread;
use crate::debugfs::parse_blocks;

fn synthetic() -> SuiteData {
    let mut runs = Vec::new();
    for pattern in Pattern::ALL {
        let orders: &[u32] = if pattern == Pattern::Churn {
            &[9]
        } else {
            &[0, 9]
        };
        for &order in orders {
            for (i, b) in Backend::ALL.into_iter().enumerate() {
                let ns = [30 + 10 * i as u64 + order as u64, 35 + 10 * i as u64];
                runs.push(SuiteRun {
                    series: Series::Main,
                    run: run(pattern, b, order, &ns, if b.is_pool() { 4 } else { 0 }),
                });
            }
        }
    }
    for n in 1..4u64 {
        for b in Backend::ALL {
            let ns: Vec<u64> = (0..=n).map(|_| 20 * n + b.abi() as u64).collect();
            let mut r = run(Pattern::Remote, b, 0, &ns, 1);
            r.result.cpus[0].role = ROLE_FREE;
            for c in &mut r.result.cpus[1..] {
                c.role = ROLE_ALLOC;
            }
            runs.push(SuiteRun {
                series: Series::RemoteSweep,
                run: r,
            });
        }
    }
    SuiteData {
        date: utc_date(0),
        kernel: "7.3.0-test".into(),
        cpus: 4,
        mode: "TCG wall-clock".into(),
        size: "quick".into(),
        info: Some(Info {
            abi_version: 1,
            block_order: 9,
            page_size: 4096,
            size_bytes: 64 << 20,
            nr_pages: 16384,
            ..Default::default()
        }),
        policy: Some(Policy {
            ownership: 1,
            fragment_recovery: 1,
            high: 1024,
            batch: 64,
        }),
        runs,
        failed: vec![],
        block_maps: vec![(
            Backend::Pool,
            parse_blocks(crate::debugfs::tests::BLOCKS).unwrap(),
        )],
        notes: vec!["synthetic data".into()],
    }
}

#[test]
fn records_have_the_schema() {
    let data = synthetic();
    let r = record(&data.runs[0], "KVM");
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "pattern",
        "order",
        "backend",
        "cpus",
        "ops",
        "ns_per_op",
        "alloc_ns_per_op",
        "free_ns_per_op",
        "global_lock_per_1000_ops",
        "failures",
        "mode",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(json["pattern"], "repeat");
    assert_eq!(json["backend"], "pool");
    assert_eq!(json["mode"], "KVM");
    assert_eq!(json["cpus"], 2);
    assert_eq!(json["ops"], 4000);
    assert_eq!(json["ns_per_op"], 32.5);
    // 4 global locks over 4000 operations.
    assert_eq!(json["global_lock_per_1000_ops"], 1.0);
    let k = record(&data.runs[2], "KVM");
    assert_eq!(k.backend, Backend::Kernel);
    assert_eq!(k.global_lock_per_1000_ops, None);
    assert_eq!(
        serde_json::to_value(&k).unwrap()["global_lock_per_1000_ops"],
        serde_json::Value::Null
    );
}

#[test]
fn renders_every_file() {
    let data = synthetic();
    let files = render(&data);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "summary.json",
            "report.md",
            "ns_per_op.svg",
            "remote_cpus.svg",
            "churn_fragmentation.svg",
            "block_map.svg"
        ]
    );
    let get = |n: &str| &files.iter().find(|(f, _)| f == n).unwrap().1;
    let summary: serde_json::Value = serde_json::from_str(get("summary.json")).unwrap();
    assert_eq!(summary.as_array().unwrap().len(), data.runs.len());
    let md = get("report.md");
    assert!(md.contains("* kernel: `7.3.0-test`"));
    assert!(md.contains("* mode: **TCG wall-clock**"));
    assert!(md.contains("Under TCG (software emulation)"));
    assert!(md.contains("![ns/op by pattern, order and backend](ns_per_op.svg)"));
    assert!(md.contains("(remote_cpus.svg)"));
    assert!(md.contains("(churn_fragmentation.svg)"));
    assert!(md.contains("(block_map.svg)"));
    assert!(md.contains("## remote — order 0"));
    assert!(md.contains("* pool / kernel = "));
    assert!(md.contains("| global_locks |"));
    // 15 (pattern, order) groups of 4 backends, in the summary table.
    assert_eq!(md.matches("| repeat | 0 |").count(), 4);
    // The bars: one per main run, plus the background and the legend keys.
    assert_eq!(get("ns_per_op.svg").matches("<rect").count(), 1 + 60 + 4);
    assert_eq!(get("remote_cpus.svg").matches("<circle").count(), 12);
    assert!(get("block_map.svg").contains(">1</text>"));
}

#[test]
fn bench_table_and_ratios() {
    let runs = [
        run(Pattern::Bulk, Backend::Pool, 0, &[31], 1),
        run(Pattern::Bulk, Backend::Kernel, 0, &[50], 0),
    ];
    let refs: Vec<&Run> = runs.iter().collect();
    let text = bench_table(&refs).render();
    assert!(text.starts_with("backend "));
    assert!(text.contains("pool"));
    assert_eq!(ratio_text(&refs), "pool / kernel = 0.62x\n");
    assert_eq!(
        spread(Some(Spread {
            min: 1.0,
            avg: 2.0,
            max: 3.0
        })),
        "2.00 (1.00..3.00)"
    );
}

#[test]
fn dates() {
    assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
    assert_eq!(utc_date(951_782_400 + 3600 + 120), "2000-02-29 01:02 UTC");
    assert_eq!(utc_date(20_000 * 86_400), "2024-10-04 00:00 UTC");
}
