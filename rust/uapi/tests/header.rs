// SPDX-License-Identifier: GPL-2.0

//! The drift test: the Rust ABI against `include/uapi/linux/pcpbuddy.h`.
//!
//! A C program, generated from the crate's tables and compiled against the header, prints what
//! the compiler makes of every structure (size; each field's offset, size and signedness),
//! constant, enum value and command number; each must equal the Rust value. A field renamed
//! or removed in the header stops the program from compiling, one added changes its
//! structure's size, and every `PCPBUDDY_*` name and `struct pcpbuddy_*` of the header must be
//! in the tables: so any drift fails.

use pcpbuddy_uapi::{Backend, BenchCounters, BlockState, Pattern, Source, CONSTS, STRUCTS};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include/uapi")
}

fn header() -> String {
    std::fs::read_to_string(include_dir().join("linux/pcpbuddy.h")).expect("the uapi header")
}

/// The C name of every Rust enum value.
fn enum_values() -> Vec<(String, u64)> {
    fn c_names<T: Copy>(
        all: &[T],
        prefix: &str,
        name: fn(T) -> &'static str,
        abi: fn(T) -> u32,
    ) -> Vec<(String, u64)> {
        all.iter()
            .map(|&v| {
                let c = format!("{prefix}{}", name(v).to_uppercase().replace('-', "_"));
                (c, u64::from(abi(v)))
            })
            .collect()
    }
    let mut v = c_names(&Source::ALL, Source::C_PREFIX, Source::name, Source::abi);
    v.extend(c_names(
        &Pattern::ALL,
        Pattern::C_PREFIX,
        Pattern::name,
        Pattern::abi,
    ));
    v.extend(c_names(
        &Backend::ALL,
        Backend::C_PREFIX,
        Backend::name,
        Backend::abi,
    ));
    v.extend(c_names(
        &BlockState::ALL,
        BlockState::C_PREFIX,
        BlockState::name,
        BlockState::abi,
    ));
    v
}

/// Every value the C program prints, as `(key, C expression, Rust value)`.
fn expected() -> Vec<(String, String, u64)> {
    let mut v = Vec::new();
    for s in STRUCTS {
        let t = format!("struct {}", s.c_name);
        v.push((
            format!("sizeof({t})"),
            format!("sizeof({t})"),
            s.size as u64,
        ));
        for f in s.fields {
            let member = format!("((({t} *)0)->{})", f.name);
            v.push((
                format!("offsetof({t}, {})", f.name),
                format!("offsetof({t}, {})", f.name),
                f.offset as u64,
            ));
            v.push((
                format!("sizeof({t}.{})", f.name),
                format!("sizeof{member}"),
                f.size as u64,
            ));
            if let Some(signed) = f.signed {
                v.push((
                    format!("signed({t}.{})", f.name),
                    format!("((__typeof__{member})-1 < 0)"),
                    u64::from(signed),
                ));
            }
        }
    }
    for (name, value) in CONSTS
        .iter()
        .map(|&(n, v)| (n.to_string(), v))
        .chain(enum_values())
    {
        v.push((name.clone(), name, value));
    }
    v
}

fn c_program(values: &[(String, String, u64)]) -> String {
    let mut s = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <linux/pcpbuddy.h>\n\
         int main(void)\n{\n",
    );
    for (key, expr, _) in values {
        s.push_str(&format!(
            "\tprintf(\"%s=%llu\\n\", \"{key}\", (unsigned long long)({expr}));\n"
        ));
    }
    s.push_str("\treturn 0;\n}\n");
    s
}

/// The header without its comments.
fn header_code() -> String {
    let text = header();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("closed comment");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Identifiers of the header's code that start with `prefix`.
fn identifiers(code: &str, prefix: &str) -> BTreeSet<String> {
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_name_of_the_header_is_in_the_tables() {
    let code = header_code();
    let mut rust: BTreeSet<String> = CONSTS.iter().map(|(n, _)| n.to_string()).collect();
    rust.extend(enum_values().into_iter().map(|(n, _)| n));
    rust.insert("_UAPI_LINUX_PCPBUDDY_H".into());
    let missing: Vec<_> = identifiers(&code, "PCPBUDDY_")
        .into_iter()
        .chain(identifiers(&code, "_UAPI_LINUX_PCPBUDDY_H"))
        .filter(|n| !rust.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "in the header, not in the Rust ABI: {missing:?}"
    );

    let structs: BTreeSet<String> = STRUCTS.iter().map(|s| s.c_name.to_string()).collect();
    let missing: Vec<_> = identifiers(&code, "pcpbuddy_")
        .into_iter()
        .filter(|n| code.contains(&format!("struct {n} {{")) && !structs.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "structures in the header, not in the Rust ABI: {missing:?}"
    );
}

#[test]
fn rust_enums_are_the_header_enums() {
    assert_eq!(
        Backend::from_name("pool-classic"),
        Some(Backend::PoolClassic)
    );
    assert_eq!(Pattern::from_abi(5), Some(Pattern::Churn));
    assert_eq!(Backend::from_abi(4), None);
    assert_eq!(
        BenchCounters::NAMES.len(),
        BenchCounters::default().values().len()
    );
    let c = BenchCounters::from_fn(|n| n.len() as u64);
    assert_eq!(c.fragments_recovered, "fragments_recovered".len() as u64);
}

#[test]
fn layout_matches_the_c_header() {
    let include = include_dir();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let values = expected();
    let dir = std::env::temp_dir().join(format!("pcpbuddy-uapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("abi.c");
    let exe = dir.join("abi");
    std::fs::write(&src, c_program(&values)).unwrap();
    let out = match Command::new(&cc)
        .arg("-I")
        .arg(&include)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            println!("SKIP layout_matches_the_c_header: no C compiler ({cc}: {e})");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let _ = std::fs::remove_dir_all(&dir);
        if stderr.contains("linux/ioctl.h") || stderr.contains("linux/types.h") {
            println!("SKIP layout_matches_the_c_header: no kernel UAPI headers (linux-libc-dev)");
            return;
        }
        panic!("the C program did not compile (a name of the Rust ABI is not in the header?):\n{stderr}");
    }
    let run = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(run.status.success());
    let stdout = String::from_utf8(run.stdout).unwrap();
    let c: BTreeMap<&str, u64> = stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    assert_eq!(c.len(), values.len(), "every value printed once");
    let mismatches: Vec<String> = values
        .iter()
        .filter(|(key, _, rust)| c.get(key.as_str()) != Some(rust))
        .map(|(key, _, rust)| format!("{key}: C {:?}, Rust {rust}", c.get(key.as_str())))
        .collect();
    assert!(
        mismatches.is_empty(),
        "ABI drift:\n{}",
        mismatches.join("\n")
    );
}
