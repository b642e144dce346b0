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
    let mut data = synthetic();
    // pool-classic's churn run came with a peak map (pool's did not: its counts are drawn).
    let classic = data
        .runs
        .iter_mut()
        .find(|r| {
            r.run.params.pattern == Pattern::Churn && r.run.params.backend == Backend::PoolClassic
        })
        .unwrap();
    let peak = crate::abi::BenchSample {
        ns: 3_000_000,
        free_pages: 600,
        free_blocks: 1,
        owned_blocks: 3,
        ..Default::default()
    };
    let entry = |state: u8, owner: u16, free_pages| crate::abi::BenchBlock {
        state,
        owner,
        free_pages,
        ..Default::default()
    };
    let none = crate::abi::BLOCK_NO_OWNER;
    classic.run.result.peak_map = Some(crate::bench::PeakMap::new(
        peak,
        4,
        &[
            entry(1, 0, 30),
            entry(0, none, 512),
            entry(1, 1, 28),
            entry(1, 0, 30),
        ],
    ));
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
    let map = get("block_map.svg");
    assert!(map.contains(">1</text>"));
    // The synthetic churn samples peak at the last: 9 free, 7 owned of 16.
    assert!(map.contains("at the churn peak: sample 8 of 8, 7.0 ms"));
    assert!(map.contains(">9 free, 7 owned, 0 fragment, 0 shared<"));
    assert!(md.contains("At the churn peak with `pool` (sample 8 of 8): 9 free, 7 owned"));
    // The peak map: block by block, owners numbered and shaded.
    assert!(map.contains(">at the churn peak, 3.0 ms in (fewest free blocks)<"));
    assert!(map.contains(">1 free, 3 owned, 0 fragment, 0 shared<"));
    assert!(map.contains(">blocks per owner: CPU 0 2, CPU 1 1<"));
    assert!(map.contains(crate::svg::owner_color(1)));
    assert!(md.contains(
        "At the churn peak with `pool-classic` (3.0 ms in, the fewest free blocks): 1 free, 3 \
         owned, 0 fragment, 0 shared; blocks per owner: CPU 0 2, CPU 1 1."
    ));
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

/// Renders the plots of a suite's `raw.json` (its runs and block maps) into `$PCPBCTL_PLOT_DIR`,
/// and with `$PCPBCTL_SWEEP` (a sweep's `sweep.json`) the sweep's plots too, to look at them:
/// `PCPBCTL_RAW=.../raw.json PCPBCTL_PLOT_DIR=/tmp/x cargo test plots_of_raw -- --ignored`.
#[test]
#[ignore = "a tool to redraw a real run's plots by hand (needs PCPBCTL_RAW and PCPBCTL_PLOT_DIR), not a check"]
fn plots_of_raw() {
    let read = |var: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(std::env::var(var).unwrap()).unwrap())
            .unwrap()
    };
    let raw = read("PCPBCTL_RAW");
    let backend = |v: &serde_json::Value| crate::bench::parse_backend(v.as_str().unwrap()).unwrap();
    let u = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap();
    let sample = |s: &serde_json::Value| crate::abi::BenchSample {
        ns: u(s, "ns"),
        free_pages: u(s, "free_pages") as u32,
        free_blocks: u(s, "free_blocks") as u32,
        owned_blocks: u(s, "owned_blocks") as u32,
        fragment_blocks: u(s, "fragment_blocks") as u32,
        shared_blocks: u(s, "shared_blocks") as u32,
        unusable_max_milli: u(s, "unusable_max_milli") as u32,
    };
    let cpu_list = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap() as u32)
            .collect()
    };
    let mut data = synthetic();
    data.runs = raw["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let p = &r["params"];
            let mut run = run(
                crate::bench::parse_pattern(p["pattern"].as_str().unwrap()).unwrap(),
                backend(&p["backend"]),
                u(p, "order") as u32,
                &[],
                0,
            );
            run.params.batch = u(p, "batch") as u32;
            run.params.alloc_cpus = cpu_list(&p["alloc_cpus"]);
            run.params.free_cpus = cpu_list(&p["free_cpus"]);
            run.params.ops = u(p, "ops");
            run.params.seed = u(p, "seed") as u32;
            let res = &r["result"];
            run.result.elapsed_ns = u(res, "elapsed_ns");
            run.result.counters.global_locks = u(&res["counters"], "global_locks");
            run.result.cpus = res["cpus"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| crate::abi::BenchCpu {
                    cpu: u(c, "cpu") as u32,
                    role: u(c, "role") as u32,
                    allocs: u(c, "allocs"),
                    frees: u(c, "frees"),
                    alloc_ns: u(c, "alloc_ns"),
                    free_ns: u(c, "free_ns"),
                    total_ns: u(c, "total_ns"),
                    failures: u(c, "failures"),
                    reserved: u(c, "reserved"),
                })
                .collect();
            run.result.samples = res["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(sample)
                .collect();
            // The peak map, as raw.json holds it (PeakMap's fields, blocks by name).
            run.params.peak_map = p["peak_map"].as_bool().unwrap_or(false);
            run.result.peak_map = res.get("peak_map").map(|m| {
                let entries: Vec<crate::abi::BenchBlock> = m["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| crate::abi::BenchBlock {
                        state: crate::abi::BlockState::from_name(b["state"].as_str().unwrap())
                            .unwrap()
                            .abi() as u8,
                        reserved: 0,
                        owner: b["owner"]
                            .as_u64()
                            .map_or(crate::abi::BLOCK_NO_OWNER, |o| o as u16),
                        free_pages: u(b, "free_pages") as u32,
                    })
                    .collect();
                crate::bench::PeakMap::new(sample(&m["sample"]), u(m, "nr_blocks") as u32, &entries)
            });
            SuiteRun {
                series: if r["series"] == "main" {
                    Series::Main
                } else {
                    Series::RemoteSweep
                },
                run,
            }
        })
        .collect();
    data.block_maps = raw["block_maps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text: String =
                std::iter::once("index pfn source state owner free order pending\n".to_string())
                    .chain(m["blocks"].as_array().unwrap().iter().map(|b| {
                        let o =
                            |k: &str| b[k].as_u64().map(|x| x.to_string()).unwrap_or("-".into());
                        format!(
                            "{} {:#x} {} {} {} {} {} {}\n",
                            o("index"),
                            b["pfn"].as_u64().unwrap(),
                            b["source"].as_str().unwrap(),
                            b["state"].as_str().unwrap(),
                            o("owner"),
                            o("free"),
                            o("order"),
                            o("pending")
                        )
                    }))
                    .collect();
            (backend(&m["after"]), parse_blocks(&text).unwrap())
        })
        .collect();
    let dir = std::path::PathBuf::from(std::env::var("PCPBCTL_PLOT_DIR").unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    let mut files: Vec<(String, String)> = render(&data)
        .into_iter()
        .filter(|(name, _)| name.ends_with(".svg"))
        .collect();
    if std::env::var("PCPBCTL_SWEEP").is_ok() {
        let points: Vec<crate::sweep::Point> = read("PCPBCTL_SWEEP")
            .as_array()
            .unwrap()
            .iter()
            .map(|p| crate::sweep::Point {
                series: p["series"].as_str().unwrap().into(),
                cpus: u(p, "cpus") as usize,
                backend: backend(&p["backend"]),
                ns_per_op: p["ns_per_op"].as_f64().unwrap(),
                elapsed_per_op: p["elapsed_per_op"].as_f64().unwrap(),
                global_locks_per_1000: p["global_locks_per_1000"].as_f64(),
            })
            .collect();
        for series in crate::sweep::series_names(&points) {
            let name = format!("{}.svg", crate::sweep::file_stem(&series));
            files.push((name, crate::sweep::plot(&points, &series)));
        }
    }
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
}
