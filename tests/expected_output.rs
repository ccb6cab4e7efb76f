//! End-to-end: `pgtls read --format jsonl` over every bundled capture must
//! print exactly the output checked in under `tests/expected/`.
//!
//! After a deliberate change of output, regenerate with
//! `PGTLS_BLESS=1 cargo test --test expected_output` and review the diff.

#[path = "common/golden.rs"]
mod golden;

use std::path::Path;
use std::process::Command;

fn pgtls_jsonl(file: &Path, ports: &[u16]) -> (String, String, i32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgtls"));
    cmd.arg("read").arg(file).args(["--format", "jsonl"]);
    for p in ports {
        cmd.args(["--port", &p.to_string()]);
    }
    let out = cmd.output().expect("run pgtls");
    (
        String::from_utf8(out.stdout).expect("utf-8 output"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
        out.status.code().unwrap_or(-1),
    )
}

fn check_dir(dir: &str, ports: &[u16]) {
    let mut failures = Vec::new();
    let files = golden::captures_in(dir);
    assert!(!files.is_empty(), "no captures in {dir}");
    for file in files {
        let rel = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&file);
        let (out, err, code) = pgtls_jsonl(rel, ports);
        assert_eq!(code, 0, "{}: exit {code}, stderr: {err}", rel.display());
        for line in out.lines() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", rel.display()));
        }
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let expected_path = Path::new("tests/expected").join(format!("{name}.jsonl"));
        // One session per line: the line number is the session's.
        if let Some(diff) = golden::check(&expected_path, &out, "expected_output") {
            failures.push(format!("{}: {diff}", rel.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn samples_match_expected_output() {
    check_dir("samples", &[5432]);
}

#[test]
fn public_captures_match_expected_output() {
    check_dir("tests/data/public", &[5432, 15432, 8000]);
}
