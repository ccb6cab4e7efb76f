//! `pgtls audit`: does the policy "TLS required, at least TLS 1.2" hold for
//! every session seen, which clients break when it is enforced, and what
//! crossed in clear.
//!
//! Sessions come from `read`'s pipeline (files) or `sniff`'s (live); each
//! report is folded into per-server rules, per-client outlooks and findings
//! ([`aggregate`]), then written as a table or a JSON document ([`render`]).
//! Exit status: 0 the policy holds, 1 a violation, 2 an error.

pub mod aggregate;
pub mod live;
pub mod model;
pub mod policy;
pub mod render;

pub use aggregate::Auditor;
pub use model::Audit;
pub use policy::{Policy, Severity};

use crate::analyze::{Analyzer, AnalyzerConfig};
use crate::cli::{AuditConfig, AuditFormat};
use crate::flow::PortSet;
use crate::read::{input_warnings, read_path_streaming, RunError, StreamError};
use crate::report::SessionReport;
use crate::session::Conversation;
use std::io::{self, Write};

/// Query texts kept per session with `--show-queries`.
pub const QUERY_TEXTS_PER_SESSION: usize = 5;

/// `pgtls audit`: reads the files (or captures live), writes the audit to
/// `out` and returns the exit status it calls for (0 holds, 1 violated).
pub fn run(
    cfg: &AuditConfig,
    out: &mut dyn Write,
    warn: &mut dyn FnMut(String),
) -> Result<u8, RunError> {
    let keep = if cfg.policy.show_queries {
        QUERY_TEXTS_PER_SESSION
    } else {
        0
    };
    let audit = Conversation::with_query_texts(keep, || -> Result<Audit, RunError> {
        let mut auditor = Auditor::new(cfg.policy.clone());
        match &cfg.live {
            Some(live) => {
                auditor.input(live.interface.as_deref().unwrap_or("default interface"));
                live_sessions(live, warn, &mut |r| auditor.add(&r))?;
            }
            None => audit_files(cfg, &mut auditor, warn)?,
        }
        Ok(auditor.finish())
    })?;
    if audit.sessions == 0 {
        let ports: Vec<String> = cfg.ports.iter().map(|p| p.to_string()).collect();
        warn(format!(
            "no PostgreSQL sessions found on port {}: nothing was audited (another --port?)",
            ports.join(", ")
        ));
    }
    let written = match cfg.format {
        AuditFormat::Table => render::write_text(out, &audit),
        AuditFormat::Json => render::write_json(out, &audit),
    };
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(RunError {
            message: format!("writing output: {e}"),
            exit_code: 2,
        }),
        _ => Ok(audit.result.exit_code),
    }
}

/// The audit of reports already made (for tests and other front ends).
pub fn audit_reports<'a>(
    policy: &Policy,
    inputs: &[&str],
    reports: impl IntoIterator<Item = &'a SessionReport>,
) -> Audit {
    let mut a = Auditor::new(policy.clone());
    for i in inputs {
        a.input(i);
    }
    for r in reports {
        a.add(r);
    }
    a.finish()
}

/// Feeds every session of the files to the auditor as its report comes out.
fn audit_files(
    cfg: &AuditConfig,
    auditor: &mut Auditor,
    warn: &mut dyn FnMut(String),
) -> Result<(), RunError> {
    let mut analyzer = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(cfg.ports.clone()),
        max_flows: cfg.max_flows,
        report_early: false,
    });
    for path in &cfg.files {
        let name = path.display().to_string();
        auditor.input(&name);
        let mut emit = |a: &mut Analyzer| {
            for r in a.take_reports() {
                auditor.add(&r);
            }
            Ok(())
        };
        read_path_streaming(&mut analyzer, path, warn, &mut emit).map_err(|e| match e {
            StreamError::Capture(e) => RunError::input(path, e),
            StreamError::Output(e) => RunError::input(path, e),
        })?;
    }
    input_warnings(&analyzer.stats, cfg.max_flows, warn);
    Ok(())
}

#[cfg(feature = "live")]
fn live_sessions(
    cfg: &crate::cli::SniffConfig,
    warn: &mut dyn FnMut(String),
    on_report: &mut dyn FnMut(SessionReport),
) -> Result<(), RunError> {
    live::capture(cfg, warn, on_report)
}

#[cfg(not(feature = "live"))]
fn live_sessions(
    _cfg: &crate::cli::SniffConfig,
    _warn: &mut dyn FnMut(String),
    _on_report: &mut dyn FnMut(SessionReport),
) -> Result<(), RunError> {
    Err(RunError {
        message: crate::sniff::LIVE_MISSING.to_string(),
        exit_code: 2,
    })
}
