//! Helpers for tests that feed pgtls rewritten captures.
#![allow(dead_code)]

pub mod packet;
pub mod pcapw;
pub mod shapes;

use pgtls::analyze::{Analyzer, AnalyzerConfig, InputStats};
use pgtls::capture::file::CaptureError;
use pgtls::flow::PortSet;
use pgtls::report::SessionReport;
use std::path::PathBuf;

pub fn sample_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// The bytes of `samples/<name>`; the test fails if the file is missing.
pub fn sample_bytes(name: &str) -> Vec<u8> {
    let p = sample_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `samples/<name>` as records.
pub fn sample_capture(name: &str) -> pcapw::Capture {
    pcapw::read_pcap(&sample_bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What pgtls made of one file.
pub struct Analysis {
    pub reports: Vec<SessionReport>,
    pub warnings: Vec<String>,
    pub stats: InputStats,
}

/// Runs pgtls over a capture held in memory, following port 5432.
pub fn analyze(bytes: &[u8], name: &str) -> Result<Analysis, CaptureError> {
    analyze_freezing_above(bytes, name, pgtls::analyze::FREEZE_ABOVE)
}

/// [`analyze`] with settled sessions frozen once the table holds `n`
/// (0: from the first; see `Session::freeze`).
pub fn analyze_freezing_above(
    bytes: &[u8],
    name: &str,
    n: usize,
) -> Result<Analysis, CaptureError> {
    let mut a = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(vec![5432]),
        max_flows: 100_000,
        report_early: false,
    })
    .with_freeze_above(n);
    let mut warnings = Vec::new();
    pgtls::read::read_capture(&mut a, std::io::Cursor::new(bytes), name, &mut |w| {
        warnings.push(w)
    })?;
    Ok(Analysis {
        reports: a.take_reports(),
        warnings,
        stats: a.stats.clone(),
    })
}

/// `analyze` for inputs that must be readable.
pub fn analyze_ok(bytes: &[u8], name: &str) -> Analysis {
    analyze(bytes, name).unwrap_or_else(|e| panic!("{name}: read_capture failed: {e}"))
}

/// The part of a report that must not depend on the capture's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub verdict: String,
    pub client: String,
    pub server: String,
    pub reason: String,
    pub tls_version: Option<String>,
    pub midstream: bool,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} -> {}{} [{}]{}",
            self.verdict,
            self.client,
            self.server,
            self.tls_version
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            self.reason,
            if self.midstream { " midstream" } else { "" }
        )
    }
}

pub fn rows(reports: &[SessionReport]) -> Vec<Row> {
    reports
        .iter()
        .map(|r| Row {
            verdict: r.verdict.to_string(),
            client: r.client.clone(),
            server: r.server.clone(),
            reason: r.reason.to_string(),
            tls_version: r.tls.server_version.as_deref().map(str::to_string),
            midstream: r.midstream,
        })
        .collect()
}

/// (verdict, client, server) per session.
pub fn verdicts(reports: &[SessionReport]) -> Vec<(String, String, String)> {
    reports
        .iter()
        .map(|r| (r.verdict.to_string(), r.client.clone(), r.server.clone()))
        .collect()
}

pub fn show(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| format!("\n    {r}"))
        .collect::<String>()
}
