//! Every capture the project bundles (samples and public captures), read
//! the way the whole-corpus tests read them.

#[path = "golden.rs"]
#[allow(dead_code)]
mod golden;

use pgtls::analyze::{Analyzer, AnalyzerConfig, Departed, Retired};
use pgtls::flow::PortSet;
use std::path::{Path, PathBuf};

/// The samples, then the public captures, each directory sorted.
pub fn captures() -> Vec<PathBuf> {
    let mut files = golden::captures_in("samples");
    files.extend(golden::captures_in("tests/data/public"));
    assert!(files.len() > 30, "{} captures", files.len());
    files
}

/// Port 5432, and any other port whose client starts like PostgreSQL.
pub fn analyzer() -> Analyzer {
    Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(vec![5432]),
        max_flows: 100_000,
        report_early: false,
    })
    .with_any_port()
}

/// Reads `path` into `a`; returns the name its reports carry.
pub fn read_into(a: &mut Analyzer, path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let name = path.display().to_string();
    pgtls::read::read_capture(a, std::io::Cursor::new(bytes), &name, &mut |_| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    name
}

/// The sessions of `path` as they leave the flow table (none rendered at
/// its reset), and the name their reports carry.
#[allow(dead_code)]
pub fn departed_sessions(path: &Path) -> (String, Vec<Retired>) {
    let mut a = analyzer().in_departure_order();
    let name = read_into(&mut a, path);
    let sessions = a
        .take_retired()
        .into_ordered()
        .map(|d| match d {
            Departed::Session(r) => r,
            Departed::Rendered(_) => panic!("{name}: a session rendered without rendering_resets"),
        })
        .collect();
    (name, sessions)
}
