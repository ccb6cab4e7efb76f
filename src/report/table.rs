//! The human table: one row per session, then counts per verdict.

use super::{SessionReport, Summary};
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

/// Makes a string from the wire safe for a terminal: control characters and
/// escape sequences are shown escaped, never interpreted.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_control() {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

pub fn render_table(reports: &[SessionReport], width: Option<u16>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = width {
        t.set_width(w);
    }
    t.set_header(vec![
        "start", "client", "server", "verdict", "tls", "reason",
    ]);
    for r in reports {
        t.add_row(vec![
            r.start.replace('T', " ").trim_end_matches('Z').to_string(),
            r.client.clone(),
            r.server.clone(),
            r.verdict.to_string(),
            r.tls.server_version.clone().unwrap_or_else(|| {
                r.tls
                    .client_max_version
                    .as_ref()
                    .map(|v| format!("({v})"))
                    .unwrap_or_else(|| "-".into())
            }),
            sanitize(&r.reason),
        ]);
    }
    t.to_string()
}

pub fn render_summary(summary: &Summary) -> String {
    let mut out = format!("{} sessions", summary.sessions);
    let parts: Vec<String> = summary
        .verdicts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(v, n)| format!("{v}: {n}"))
        .collect();
    if !parts.is_empty() {
        out.push_str(": ");
        out.push_str(&parts.join(", "));
    }
    out
}
