//! The audit as text for people (`--format table`), or as one JSON document
//! (`--format json`). Strings from the wire are shown with control
//! characters escaped; nothing here ever holds a password.

use super::model::*;
use std::io::{self, Write};

/// Writes the JSON document, pretty-printed, and a newline. Characters
/// that could fool a terminal (DEL, C1, bidi) are escaped as `\u`, as
/// `read` does; the document still decodes to the strings from the wire.
pub fn write_json(out: &mut dyn Write, audit: &Audit) -> io::Result<()> {
    crate::report::json::write_pretty(out, audit)
}

/// Writes the text report: policy, one block per server and per client,
/// the findings, and the result with its exit status.
pub fn write_text(out: &mut dyn Write, audit: &Audit) -> io::Result<()> {
    let p = &audit.policy;
    writeln!(
        out,
        "pgtls audit: {}, {} or newer ({})",
        if p.tls_required {
            "TLS required"
        } else {
            "plaintext allowed"
        },
        p.min_tls,
        p.settings
    )?;
    let inputs = audit
        .inputs
        .iter()
        .map(|s| clean(s))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "{} in {}{}",
        count(audit.sessions, "session"),
        inputs,
        verdicts_inline(&audit.verdicts)
    )?;
    if audit.sessions == 0 {
        writeln!(out, "\nno PostgreSQL sessions found: nothing to audit")?;
    }

    for s in &audit.servers {
        writeln!(out)?;
        writeln!(
            out,
            "SERVER {}: {}",
            clean(&s.server),
            s.status.to_uppercase()
        )?;
        let tls = if s.tls_negotiated.is_empty() {
            "none".to_string()
        } else {
            versions_inline(&s.tls_negotiated)
        };
        writeln!(
            out,
            "  {}{}; TLS negotiated: {tls}",
            count(s.sessions, "session"),
            verdicts_inline(&s.verdicts)
        )?;
        for r in &s.rules {
            writeln!(
                out,
                "  {:<16} {}",
                format!("[{}]", status_label(r.status)),
                r.title
            )?;
            for e in &r.evidence {
                writeln!(out, "                     {}", clean(&e.text))?;
            }
        }
        if !s.findings.is_empty() {
            let f: Vec<String> = ["high", "medium", "low"]
                .iter()
                .filter_map(|k| s.findings.get(k).map(|n| format!("{k} {n}")))
                .collect();
            writeln!(out, "  findings: {}", f.join(", "))?;
        }
    }

    for c in &audit.clients {
        writeln!(out)?;
        writeln!(
            out,
            "CLIENT {}: {}; {}{}",
            clean(&c.client),
            match c.outlook {
                "breaks" => "BREAKS under the policy",
                "works" => "works under the policy",
                _ => "outlook unknown",
            },
            count(c.sessions, "session"),
            verdicts_inline(&c.verdicts)
        )?;
        writeln!(out, "  servers: {}", list(&c.servers))?;
        if !c.users.is_empty() || !c.application_names.is_empty() {
            writeln!(
                out,
                "  in clear: user {}; application_name {}",
                list(&c.users),
                list(&c.application_names)
            )?;
        }
        let mut tls = format!(
            "  TLS: highest offered {}; negotiated {}",
            c.highest_tls_offered.as_deref().unwrap_or("-"),
            if c.tls_negotiated.is_empty() {
                "-".to_string()
            } else {
                versions_inline(&c.tls_negotiated)
            }
        );
        if !c.sni.is_empty() {
            tls.push_str(&format!("; SNI {}", list(&c.sni)));
        }
        if !c.alpn.is_empty() {
            tls.push_str(&format!("; ALPN {}", list(&c.alpn)));
        }
        writeln!(out, "{tls}")?;
        for l in &c.libraries {
            writeln!(
                out,
                "  library (ja4) {}: {}, up to {}",
                clean(&l.ja4),
                count(l.sessions, "session"),
                l.highest_offered.as_deref().unwrap_or("?")
            )?;
        }
        for b in &c.breaks {
            writeln!(out, "  breaks: {}", clean(&b.text))?;
        }
        for n in &c.notes {
            writeln!(out, "  note:   {}", clean(&n.text))?;
        }
    }

    writeln!(out)?;
    if audit.findings.is_empty() {
        writeln!(out, "FINDINGS: none")?;
    } else {
        let mut by: Vec<String> = Vec::new();
        for sev in ["high", "medium", "low"] {
            let n = audit
                .findings
                .iter()
                .filter(|f| f.severity.as_str() == sev)
                .count();
            if n > 0 {
                by.push(format!("{sev} {n}"));
            }
        }
        writeln!(
            out,
            "FINDINGS ({}: {})",
            audit.findings.len(),
            by.join(", ")
        )?;
        for f in &audit.findings {
            writeln!(
                out,
                "  {:<7} {}",
                f.severity.as_str().to_uppercase(),
                clean(&f.text)
            )?;
            if let Some(q) = &f.queries {
                for q in q {
                    writeln!(
                        out,
                        "            frame {} of {}: {}",
                        q.frame,
                        clean(&q.file),
                        clean(&q.text)
                    )?;
                }
            }
        }
    }

    writeln!(out)?;
    let r = &audit.result;
    if r.exit_code == 0 {
        writeln!(
            out,
            "RESULT: the policy holds for every session seen (exit 0)"
        )?;
    } else {
        writeln!(
            out,
            "RESULT: VIOLATED (exit {}): {}",
            r.exit_code,
            count(r.violations.len() as u64, "reason")
        )?;
        for v in &r.violations {
            writeln!(out, "  - {}", clean(v))?;
        }
    }
    out.flush()
}

fn status_label(s: RuleStatus) -> &'static str {
    match s {
        RuleStatus::Holds => "holds",
        RuleStatus::Violated => "VIOLATED",
        RuleStatus::NotExercised => "not exercised",
        RuleStatus::Waived => "waived",
    }
}

fn count(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// " (encrypted 2, plaintext 1)", verdicts with sessions only.
fn verdicts_inline(v: &std::collections::BTreeMap<&'static str, u64>) -> String {
    let seen: Vec<String> = v
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if seen.is_empty() {
        String::new()
    } else {
        format!(" ({})", seen.join(", "))
    }
}

fn versions_inline(v: &[VersionCount]) -> String {
    v.iter()
        .map(|c| format!("{} ×{}", c.version, c.sessions))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.iter().map(|s| clean(s)).collect::<Vec<_>>().join(", ")
    }
}

/// Control characters from the wire are shown escaped, never sent to a terminal.
fn clean(s: &str) -> String {
    crate::report::sanitize(s)
}
