//! Output checked in beside the tests: compared byte for byte, or rewritten
//! for review when `PGTLS_BLESS=1` is set.

use std::path::{Path, PathBuf};

/// `PGTLS_BLESS` is set: checked-in files are rewritten, not compared.
pub fn blessing() -> bool {
    std::env::var_os("PGTLS_BLESS").is_some()
}

/// Compares `actual` with the file at `path` (or writes it when blessing).
/// Returns where they differ, for the caller to collect; `test` names the
/// test target to rerun with `PGTLS_BLESS=1`.
pub fn check(path: &Path, actual: &str, test: &str) -> Option<String> {
    if blessing() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create expected-output directory");
        }
        std::fs::write(path, actual).expect("write expected output");
        return None;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|_| {
        panic!(
            "missing {}: run PGTLS_BLESS=1 cargo test --test {test}",
            path.display()
        )
    });
    if expected == actual {
        return None;
    }
    let line = expected
        .lines()
        .zip(actual.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(expected.lines().count().min(actual.lines().count()));
    Some(format!(
        "{}: differs at line {}\n  expected: {}\n  actual:   {}",
        path.display(),
        line + 1,
        expected.lines().nth(line).unwrap_or("<none>"),
        actual.lines().nth(line).unwrap_or("<none>")
    ))
}

/// The pcap and pcapng files of a directory, sorted.
pub fn captures_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("capture directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap") | Some("pcapng")
            )
        })
        .collect();
    v.sort();
    v
}
