//! `pgtls read`: files in, one report per session out.

use crate::analyze::{Analyzer, AnalyzerConfig};
use crate::capture::file::CaptureReader;
use crate::cli::{Format, ReadConfig};
use crate::flow::PortSet;
use crate::report::{self, Document, SessionReport, Summary};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// A failure of the tool itself, with the exit status it maps to.
#[derive(Debug)]
pub struct RunError {
    pub message: String,
    pub exit_code: u8,
}

impl RunError {
    fn input(path: &Path, cause: impl std::fmt::Display) -> Self {
        RunError {
            message: format!("{}: {cause}", path.display()),
            exit_code: 2,
        }
    }
}

/// Reads one capture into the analyzer; warnings about the file go to `warn`.
pub fn read_capture<R: Read>(
    analyzer: &mut Analyzer,
    reader: R,
    name: &str,
    warn: &mut dyn FnMut(String),
) -> Result<(), crate::capture::file::CaptureError> {
    let mut cap = CaptureReader::new(reader)?;
    analyzer.set_source(name);
    while let Some(p) = cap.next_packet()? {
        analyzer.packet(&p);
    }
    for w in cap.take_warnings() {
        warn(format!("{name}: {w}"));
    }
    analyzer.end_source();
    Ok(())
}

/// Analyzes every file of the configuration and returns the reports.
pub fn analyze_files(
    cfg: &ReadConfig,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<SessionReport>, RunError> {
    let mut analyzer = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(cfg.ports.clone()),
        max_flows: cfg.max_flows,
        report_early: false,
    });
    for path in &cfg.files {
        let name = path.display().to_string();
        let result = if name == "-" {
            read_capture(&mut analyzer, io::stdin().lock(), &name, warn)
        } else {
            let f = File::open(path).map_err(|e| RunError::input(path, e))?;
            read_capture(&mut analyzer, f, &name, warn)
        };
        result.map_err(|e| RunError::input(path, e))?;
    }
    let skipped: u64 = analyzer.stats.skipped.values().sum();
    if skipped > 0 {
        let mut kinds: Vec<_> = analyzer.stats.skipped.iter().collect();
        kinds.sort();
        let list: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        warn(format!("packets not decoded: {}", list.join(", ")));
    }
    if analyzer.stats.evicted_flows > 0 {
        warn(format!(
            "{} sessions were closed early to stay within --max-flows {}",
            analyzer.stats.evicted_flows, cfg.max_flows
        ));
    }
    Ok(analyzer.take_reports())
}

/// Writes the reports in the chosen format.
pub fn write_reports(
    out: &mut dyn Write,
    reports: &[SessionReport],
    format: Format,
    width: Option<u16>,
) -> io::Result<()> {
    match format {
        Format::Table => {
            if reports.is_empty() {
                writeln!(out, "no PostgreSQL sessions found")?;
            } else {
                writeln!(out, "{}", report::render_table(reports, width))?;
            }
            writeln!(out, "{}", report::render_summary(&Summary::of(reports)))?;
        }
        Format::Json => {
            let doc = Document {
                sessions: reports,
                summary: Summary::of(reports),
            };
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for r in reports {
                serde_json::to_writer(&mut *out, r)?;
                writeln!(out)?;
            }
        }
    }
    out.flush()
}
