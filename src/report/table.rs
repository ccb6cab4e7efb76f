//! The human table: one row per session, then counts per verdict.

use super::{time, SessionReport, Summary};
use crate::session::{Judgement, Session, Verdict};
use crate::tls::TlsVersion;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

/// Makes a string from the wire safe for a terminal: control characters and
/// escape sequences are shown escaped, never interpreted.
pub fn sanitize(s: &str) -> String {
    // Printable ASCII, the usual case, needs nothing.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if is_unsafe_for_terminal(ch) {
            out.extend(ch.escape_unicode());
        } else {
            out.push(ch);
        }
    }
    out
}

/// Characters a terminal may act on or that reorder what a reader sees:
/// C0, DEL and C1 controls (ESC, CSI …) and the bidirectional and
/// zero-width format characters (Trojan-Source style).
pub fn is_unsafe_for_terminal(ch: char) -> bool {
    ch.is_control()
        || matches!(
            ch,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Rewrites, inside serialized JSON, the characters of
/// [`is_unsafe_for_terminal`] that JSON allows raw (DEL, C1, bidi and
/// zero-width format characters) as `\uXXXX` escapes. They can only occur
/// inside strings, so the document stays valid and decodes to the same text.
pub fn escape_json_for_terminal(json: &mut Vec<u8>) {
    // Pure ASCII without DEL (the usual case) needs nothing; both checks
    // run a word or more at a time.
    if json.is_ascii() && !json.contains(&0x7f) {
        return;
    }
    let Ok(text) = std::str::from_utf8(json) else {
        return;
    };
    // C0 controls are already escaped by the serializer inside strings;
    // outside them only structural whitespace occurs, which must stay.
    let raw_unsafe = |ch: char| u32::from(ch) >= 0x7f && is_unsafe_for_terminal(ch);
    if !text.chars().any(raw_unsafe) {
        return;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        if raw_unsafe(ch) {
            out.push_str(&format!("\\u{:04x}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    *json = out.into_bytes();
}

/// Sessions drawn as a bordered table; past this many, `read` streams rows
/// as plain aligned lines (the table's columns need every row, and holding a
/// million rows would hold their memory).
pub const TABLE_MAX_ROWS: usize = 10_000;

/// The table's cells of one session: start, client, server, verdict, TLS
/// version (the client's maximum in parentheses when no server answered),
/// reason.
pub type Cells = [String; 6];

pub fn table_cells(r: &SessionReport) -> Cells {
    let tls = r
        .tls
        .server_version
        .clone()
        .or_else(|| r.tls.client_max_version.as_ref().map(|v| format!("({v})")));
    cells(
        r.start_ns,
        r.client.clone(),
        r.server.clone(),
        r.verdict,
        tls,
        &r.reason,
    )
}

/// The cells of [`table_cells`] straight from a judged session, without
/// building its report: `read`'s table of a million sessions.
pub fn session_cells(s: &Session, judgement: &Judgement) -> Cells {
    let c = s.conv();
    let t = &c.tls;
    let tls = match (t.server_hello.as_deref(), t.client_hello.as_deref()) {
        (Some(sh), _) => Some(TlsVersion(sh.selected_version).name()),
        (None, Some(ch)) => Some(format!("({})", ch.max_version().name())),
        (None, None) => None,
    };
    cells(
        s.start_ns,
        s.key.client.to_string(),
        s.key.server.to_string(),
        judgement.verdict,
        tls,
        &judgement.reason,
    )
}

fn cells(
    start_ns: i64,
    client: String,
    server: String,
    verdict: Verdict,
    tls: Option<String>,
    reason: &str,
) -> Cells {
    [
        time::table_time(start_ns),
        client,
        server,
        verdict.as_str().to_string(),
        tls.unwrap_or_else(|| "-".into()),
        sanitize(reason),
    ]
}

const HEADER: [&str; 6] = ["start", "client", "server", "verdict", "tls", "reason"];

pub fn render_table(rows: &[Cells], width: Option<u16>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(w) = width {
        t.set_width(w);
    }
    t.set_header(HEADER.to_vec());
    for r in rows {
        t.add_row(r.to_vec());
    }
    t.to_string()
}

/// Widths of the plain columns (all but the reason, which ends the line):
/// room for a timestamp, an IPv4 address with port, the longest verdict.
const PLAIN_WIDTHS: [usize; 5] = [26, 22, 22, 20, 9];

/// The header line of the plain streaming form (`sniff`, long `read` tables).
pub fn plain_header() -> String {
    plain_row(&HEADER.map(String::from))
}

/// One session as one aligned line; a longer cell (an IPv6 address) pushes
/// the rest of its line right rather than being cut.
pub fn plain_row(cells: &Cells) -> String {
    let mut s = String::with_capacity(128 + cells[5].len());
    for (cell, w) in cells.iter().zip(PLAIN_WIDTHS) {
        // Padding by characters, as `{:<w$}` does.
        s.push_str(cell);
        let n = cell.chars().count();
        s.extend(std::iter::repeat_n(' ', w.saturating_sub(n) + 1));
    }
    s.push_str(&cells[5]);
    s
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_rows_pad_like_format() {
        let cells: Cells = [
            "2026-11-28 20:55:38.654946".into(),
            "[2001:db8::1]:50000".into(),
            "[2001:db8:1234:5678:9abc:def0:1234:5678]:5432".into(),
            "rejected-tls-version".into(),
            "(TLSv1.1)".into(),
            "reasón".into(),
        ];
        let mut want = String::new();
        for (cell, w) in cells.iter().zip(PLAIN_WIDTHS) {
            want.push_str(&format!("{cell:<w$} "));
        }
        want.push_str(&cells[5]);
        assert_eq!(plain_row(&cells), want);
        assert!(plain_header().starts_with("start                      client "));
    }

    #[test]
    fn terminal_controls_and_bidi_are_escaped() {
        let s = sanitize("a\u{1b}[31mred\u{202e}cba\u{9b}x\u{7f}");
        assert!(!s.chars().any(is_unsafe_for_terminal), "{s}");
        assert!(s.contains("\\u{1b}") && s.contains("\\u{202e}"), "{s}");
    }

    #[test]
    fn json_escaping_keeps_the_string() {
        let wire = "x\u{7f}\u{9b}31m\u{202e}y\u{1b}é";
        let mut json = serde_json::to_vec_pretty(&serde_json::json!({ "s": wire })).unwrap();
        escape_json_for_terminal(&mut json);
        let text = String::from_utf8(json.clone()).unwrap();
        // Only the document's own line breaks stay raw.
        assert!(
            !text.chars().any(|c| c != '\n' && is_unsafe_for_terminal(c)),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(back["s"], wire);
    }
}
