//! Hostile topology files: alias bombs, deep nesting, very large files and binary
//! garbage are refused with a clear message (exit code 2) within a bounded time and
//! memory, and nothing panics.
//!
//! Each file is checked by the vprolab binary under `prlimit --as`, so that a loader
//! that allocated past the limit would abort instead of passing.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Address space the check may use: the binary maps about 100 MiB of it before it
/// reads anything.
const MEMORY_LIMIT: u64 = 512 * 1024 * 1024;
/// Time a check may take in a debug build on 2 cores; release builds take a fraction.
const TIME_LIMIT: Duration = Duration::from_secs(10);

struct Checked {
    exit_code: Option<i32>,
    stderr: String,
    took: Duration,
}

fn check(path: &Path) -> Checked {
    let started = Instant::now();
    let output = Command::new("prlimit")
        .arg(format!("--as={MEMORY_LIMIT}"))
        .args(["--", common::VPROLAB, "validate"])
        .arg(path)
        .output()
        .expect("run prlimit (util-linux)");
    Checked { exit_code: output.status.code(), stderr: String::from_utf8_lossy(&output.stderr).into_owned(), took: started.elapsed() }
}

fn assert_refused(name: &str, content: &[u8], fragment: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();

    let checked = check(&path);

    assert_eq!(checked.exit_code, Some(2), "{name}: {}", checked.stderr);
    assert!(checked.stderr.contains(fragment), "{name}: {fragment:?} missing from {}", checked.stderr);
    assert!(!checked.stderr.contains("panicked"), "{name}: {}", checked.stderr);
    assert!(checked.took < TIME_LIMIT, "{name} took {:?}", checked.took);
    assert!(checked.stderr.len() < 64 * 1024, "{name}: {} bytes of messages", checked.stderr.len());
}

#[test]
fn hostile_alias_bomb_refused() {
    let mut text = "lab: x\nb0: &b0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
    for level in 1..12 {
        text.push_str(&format!("b{level}: &b{level} [{}]\n", vec![format!("*b{}", level - 1); 10].join(", ")));
    }

    assert_refused("alias-bomb.yaml", text.as_bytes(), "aliases expand to more than");
}

#[test]
fn hostile_merge_key_bomb_refused() {
    let mut text = "lab: x\nm0: &m0 {a: 1, b: 2, c: 3, d: 4}\n".to_owned();
    for level in 1..30 {
        text.push_str(&format!("m{level}: &m{level} {{<<: [*m{prev}, *m{prev}], k{level}: 1}}\n", prev = level - 1));
    }

    assert_refused("merge-bomb.yaml", text.as_bytes(), "invalid YAML");
}

#[test]
fn hostile_deep_nesting_refused() {
    let flow = format!("lab: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert_refused("deep-flow.yaml", flow.as_bytes(), "levels deep");

    let block: String = (0..2_000).map(|depth| format!("{}k{depth}:\n", " ".repeat(depth))).collect();
    assert_refused("deep-block.yaml", block.as_bytes(), "levels deep");
}

#[test]
fn hostile_large_files_refused() {
    let too_large = vec![b'#'; 5 * 1024 * 1024];
    assert_refused("too-large.yaml", &too_large, "is larger than");

    let many_values = format!("lab: [{}]\n", vec!["1"; 1_000_000].join(","));
    assert_refused("many-values.yaml", many_values.as_bytes(), "more than 100000 values");

    let many_keys: String = (0..30_000).map(|index| format!("key{index}: 1\n")).collect();
    assert_refused("many-keys.yaml", many_keys.as_bytes(), "more problems");

    let long_scalar = format!("lab: {}\n", "x".repeat(4_000_000));
    assert_refused("long-scalar.yaml", long_scalar.as_bytes(), "lab");
}

#[test]
fn hostile_binary_garbage_refused() {
    // A fixed pseudo-random sequence (xorshift), so that a failure repeats.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let garbage: Vec<u8> = (0..1_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    assert_refused("garbage.bin", &garbage, "not UTF-8");

    let text: String = garbage.iter().map(|byte| char::from(byte % 96 + 32)).collect();
    assert_refused("printable-garbage.yaml", text.as_bytes(), "invalid YAML");

    assert_refused("nul-bytes.yaml", &[0u8; 4096], "invalid YAML");
}
