//! The human table: one row per session, then counts per verdict.

use super::{time, SessionReport, Summary};
use crate::session::{Judgement, Session, Verdict};
use crate::tls::TlsVersion;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

/// Makes a string from the wire safe for a terminal: control characters and
/// escape sequences are shown escaped, never interpreted.
pub fn sanitize(s: &str) -> String {
    // Printable ASCII, the usual case, needs nothing.
    if every_byte(s.as_bytes(), printable_ascii) {
        return s.to_owned();
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

/// [`sanitize`], appending its UTF-8 to `out` (a table row's bytes).
fn push_sanitized(s: &str, out: &mut Vec<u8>) {
    if every_byte(s.as_bytes(), printable_ascii) {
        out.extend_from_slice(s.as_bytes());
    } else {
        out.extend_from_slice(sanitize(s).as_bytes());
    }
}

/// Whether `ok` holds for every byte, checked a block at a time without
/// stopping early, which the compiler turns into vector code: the common
/// case of a wire string (all plain) in a few instructions per 16 bytes.
#[inline]
pub(crate) fn every_byte(bytes: &[u8], ok: impl Fn(u8) -> bool + Copy) -> bool {
    bytes
        .chunks(32)
        .all(|block| block.iter().fold(true, |all, &b| all & ok(b)))
}

/// A byte of printable ASCII: space to `~`.
#[inline]
pub(crate) fn printable_ascii(b: u8) -> bool {
    b.wrapping_sub(0x20) < 0x5f
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
/// reason; kept in one buffer as the session's plain line (each cell but
/// the last padded to its column, [`PLAIN_WIDTHS`]) with its newline, so
/// that a row costs one buffer (which `read` reuses) rather than six, and
/// the writer of a long table copies the line whole (padding it there, a
/// cell at a time, was 4% of the writer's thread on a million sessions).
///
/// The line is kept as bytes: UTF-8 by construction (each cell is a
/// string's bytes or ASCII that pgtls wrote: digits and separators appended
/// without a UTF-8 check, which was three checks a row), read back as text
/// only for the bordered table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cells {
    text: Vec<u8>,
    /// Where each cell begins and ends in `text` (32 bits each: a row is
    /// moved from the worker that made it to the writer four times, and
    /// words of 64 bits made it 144 bytes instead of 96).
    spans: [(u32, u32); 6],
}

/// Text of bytes a row was built from (UTF-8, see [`Cells`]).
fn text_of(bytes: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl Cells {
    pub fn new(cells: [&str; 6]) -> Cells {
        let mut row = CellWriter::new(Vec::new());
        for c in cells {
            row.text.extend_from_slice(c.as_bytes());
            row.end_cell();
        }
        row.done()
    }

    pub fn get(&self, i: usize) -> &str {
        let (start, end) = self.spans[i];
        text_of(
            self.text
                .get(start as usize..end as usize)
                .unwrap_or_default(),
        )
    }

    /// Cell `i`'s bytes (UTF-8, see [`Cells`]), read without a check.
    fn bytes(&self, i: usize) -> &[u8] {
        let (start, end) = self.spans[i];
        self.text
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..6).map(|i| self.get(i))
    }

    /// The session as one aligned line, without its newline; a longer cell
    /// (an IPv6 address) pushes the rest of its line right rather than
    /// being cut.
    pub fn plain(&self) -> &str {
        text_of(&self.text[..self.text.len() - 1])
    }

    /// The row's storage: its plain line and newline, for the output, and
    /// then for the next row.
    pub fn into_buffer(self) -> Vec<u8> {
        self.text
    }
}

/// Cells appended one after the other.
struct CellWriter {
    text: Vec<u8>,
    spans: [(u32, u32); 6],
    /// Cells ended so far, and where the next begins.
    n: usize,
    start: usize,
}

impl CellWriter {
    /// A row written into `buf`'s storage (its contents are dropped).
    fn new(mut buf: Vec<u8>) -> CellWriter {
        buf.clear();
        // A row's usual length, so that it is allocated once.
        buf.reserve(ROW_CAPACITY);
        CellWriter {
            text: buf,
            spans: [(0, 0); 6],
            n: 0,
            start: 0,
        }
    }

    /// Ends the cell written since the last, and pads it to its column
    /// (by characters, as `{:<w$}` does) unless it is the last.
    fn end_cell(&mut self) {
        self.end(|cell| {
            if cell.is_ascii() {
                cell.len()
            } else {
                text_of(cell).chars().count()
            }
        });
    }

    /// [`Self::end_cell`] of a cell pgtls wrote itself (a time, an
    /// endpoint, a verdict, a version): ASCII, so its characters are its
    /// bytes. Its text is not read again: the row's storage comes back from
    /// the writer's thread, and a load of what was just written there
    /// waited for the lines to come back (1.7% of the two threads' samples
    /// on the million TLS sessions).
    fn end_ascii_cell(&mut self) {
        debug_assert!(self.text[self.start..].is_ascii());
        self.end(<[u8]>::len);
    }

    /// Ends the cell written since the last; `chars` counts its characters,
    /// asked only of a cell that is padded (the reason, last, is not).
    fn end(&mut self, chars: impl FnOnce(&[u8]) -> usize) {
        // A row's text is far shorter than 4 GB: a cell's reason is a few
        // of pgtls's sentences and a server's error message cut to its
        // fields' bounds.
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.spans[self.n] = (at(self.start), at(self.text.len()));
        if let Some(&w) = PLAIN_WIDTHS.get(self.n) {
            let mut pad = w.saturating_sub(chars(&self.text[self.start..])) + 1;
            while pad > 0 {
                let k = pad.min(SPACES.len());
                self.text.extend_from_slice(&SPACES.as_bytes()[..k]);
                pad -= k;
            }
        }
        self.start = self.text.len();
        self.n += 1;
    }

    /// An endpoint's cell.
    fn cell(&mut self, v: &dyn CellText) {
        v.push_to(&mut self.text);
        self.end_ascii_cell();
    }

    fn done(mut self) -> Cells {
        debug_assert_eq!(self.n, 6);
        self.text.push(b'\n');
        Cells {
            text: self.text,
            spans: self.spans,
        }
    }
}

/// What an endpoint cell is written from: the report's text, or the
/// session's own endpoint.
trait CellText {
    fn push_to(&self, out: &mut Vec<u8>);
}

impl CellText for String {
    fn push_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl CellText for crate::flow::Endpoint {
    fn push_to(&self, out: &mut Vec<u8>) {
        crate::flow::Endpoint::push_to(self, out);
    }
}

pub fn table_cells(r: &SessionReport) -> Cells {
    cells(
        Vec::new(),
        r.start_ns,
        &r.client,
        &r.server,
        r.verdict,
        r.tls.server_version.as_deref(),
        r.tls.client_max_version.as_deref(),
        &r.reason,
    )
}

/// The cells of [`table_cells`] straight from a judged session, without
/// building its report (`read`'s table of a million sessions), written in
/// `buf`'s storage.
pub fn session_cells(s: &Session, judgement: &Judgement, buf: Vec<u8>) -> Cells {
    let c = s.conv();
    let t = &c.tls;
    let server = t
        .server_hello
        .as_deref()
        .map(|h| TlsVersion(h.selected_version).name());
    let client_max = t.client_hello.as_deref().map(|h| h.max_version().name());
    cells(
        buf,
        s.start_ns,
        &s.key.client,
        &s.key.server,
        judgement.verdict,
        server.as_deref(),
        client_max.as_deref(),
        &judgement.reason,
    )
}

#[allow(clippy::too_many_arguments)]
fn cells(
    buf: Vec<u8>,
    start_ns: i64,
    client: &dyn CellText,
    server: &dyn CellText,
    verdict: Verdict,
    server_version: Option<&str>,
    client_max_version: Option<&str>,
    reason: &str,
) -> Cells {
    let mut row = CellWriter::new(buf);
    time::push_table_time(start_ns, &mut row.text);
    row.end_ascii_cell();
    row.cell(client);
    row.cell(server);
    row.text.extend_from_slice(verdict.as_str().as_bytes());
    row.end_ascii_cell();
    match (server_version, client_max_version) {
        (Some(v), _) => row.text.extend_from_slice(v.as_bytes()),
        (None, Some(v)) => {
            row.text.push(b'(');
            row.text.extend_from_slice(v.as_bytes());
            row.text.push(b')');
        }
        (None, None) => row.text.push(b'-'),
    }
    row.end_ascii_cell();
    push_sanitized(reason, &mut row.text);
    row.end_cell();
    row.done()
}

/// Columns of the terminal on standard output, if it is one.
pub fn terminal_width() -> Option<u16> {
    Table::new().width()
}

const HEADER: [&str; 6] = ["start", "client", "server", "verdict", "tls", "reason"];

/// The bordered table of `rows`, wrapped to `width` columns, or with one
/// line per session when `None` (output to a file or a pipe, where grep
/// and awk see each session whole; wrapping also cost ~10 µs a row).
///
/// A table that fits the terminal's width has nothing to wrap: comfy-table
/// would draw the same text as without a width (tested), so pgtls writes
/// it itself. Under a terminal of 200 columns that took the 4,610
/// sessions of a bulk pgbench capture from 106 to 87 ms (into a pipe: 94
/// ms in the same rounds).
pub fn render_table(rows: &[Cells], width: Option<u16>) -> String {
    bordered_lines(rows, width.map(usize::from)).unwrap_or_else(|| drawn_table(rows, width))
}

/// The table drawn by comfy-table, which wraps cells to a terminal's width.
fn drawn_table(rows: &[Cells], width: Option<u16>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    match width {
        Some(w) => {
            t.set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(w);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header(HEADER.to_vec());
    for r in rows {
        t.add_row(r.iter().collect::<Vec<_>>());
    }
    t.to_string()
}

/// The unwrapped table, one line per session, written straight from the
/// rows: the same text as [`drawn_table`] without a width (tested), which
/// builds a few strings per cell and measured each cell's width three
/// times. Drawn that way, the 4,700 sessions of a bulk pgbench capture took
/// 137M instructions, 11% of the whole run's, and all of it after the
/// workers were done. `None` for what only comfy-table draws: a cell of
/// several lines, a column wider than its widths go (65,535), a table
/// wider than `fit` columns (a terminal's, where it wraps).
fn bordered_lines(rows: &[Cells], fit: Option<usize>) -> Option<String> {
    let header = Cells::new(HEADER);
    let lines: Vec<&Cells> = std::iter::once(&header).chain(rows).collect();
    // Each cell measured once; a column at least one wide.
    let mut cell_widths = Vec::with_capacity(lines.len());
    let mut widths = [1usize; 6];
    for cells in &lines {
        let mut row = [0; 6];
        for (i, w) in row.iter_mut().enumerate() {
            *w = cell_width(cells.bytes(i))?;
            widths[i] = widths[i].max(*w);
        }
        cell_widths.push(row);
    }
    if widths.iter().any(|&w| w > usize::from(u16::MAX)) {
        return None;
    }
    // Each column padded by a space either side, and seven borders.
    let table_width = widths.iter().sum::<usize>() + 2 * widths.len() + widths.len() + 1;
    if fit.is_some_and(|fit| table_width > fit) {
        return None;
    }
    let border = |left: char, fill: char, between: char, right: char| {
        let mut line = String::from(left);
        for (i, &w) in widths.iter().enumerate() {
            if i > 0 {
                line.push(between);
            }
            line.extend(std::iter::repeat_n(fill, w + 2));
        }
        line.push(right);
        line
    };
    let bottom = border('└', '─', '┴', '┘');
    let line_bytes = bottom.len() + widths.iter().sum::<usize>();
    // Written as bytes and checked as UTF-8 once, whole: read back as text
    // one by one, the cells took 1,400 instructions a row in checks.
    let mut out = Vec::with_capacity((rows.len() + 4) * line_bytes);
    out.extend_from_slice(border('┌', '─', '┬', '┐').as_bytes());
    out.push(b'\n');
    let line = |out: &mut Vec<u8>, cells: &Cells, own: &[usize; 6]| {
        out.extend_from_slice("│".as_bytes());
        for (i, &w) in widths.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice("┆".as_bytes());
            }
            out.push(b' ');
            out.extend_from_slice(cells.bytes(i));
            let mut pad = w - own[i] + 1;
            while pad > 0 {
                let k = pad.min(SPACES.len());
                out.extend_from_slice(&SPACES.as_bytes()[..k]);
                pad -= k;
            }
        }
        out.extend_from_slice("│\n".as_bytes());
    };
    line(&mut out, &header, &cell_widths[0]);
    out.extend_from_slice(border('╞', '═', '╪', '╡').as_bytes());
    out.push(b'\n');
    for (cells, own) in lines.iter().zip(&cell_widths).skip(1) {
        line(&mut out, cells, own);
    }
    out.extend_from_slice(bottom.as_bytes());
    String::from_utf8(out).ok()
}

/// A cell's width in a terminal's columns, as comfy-table measures it;
/// `None` for a cell of several lines.
#[inline]
fn cell_width(cell: &[u8]) -> Option<usize> {
    if every_byte(cell, printable_ascii) {
        Some(cell.len())
    } else if cell.contains(&b'\n') {
        None
    } else {
        Some(unicode_width::UnicodeWidthStr::width(text_of(cell)))
    }
}

/// Widths of the plain columns (all but the reason, which ends the line):
/// room for a timestamp, an IPv4 address with port, the longest verdict.
const PLAIN_WIDTHS: [usize; 5] = [26, 22, 22, 20, 9];
/// Bytes reserved for a row's line: the fixed columns padded (104 bytes),
/// a reason of some 120 characters and the newline.
const ROW_CAPACITY: usize = 256;
/// Padding of plain rows, copied a slice at a time.
const SPACES: &str = "                                ";

/// The header line of the plain streaming form (`sniff`, long `read` tables).
pub fn plain_header() -> String {
    plain_row(&Cells::new(HEADER))
}

/// One session as one aligned line ([`Cells::plain`]).
pub fn plain_row(cells: &Cells) -> String {
    cells.plain().to_owned()
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
        let parts = [
            "2026-11-28 20:55:38.654946",
            "[2001:db8::1]:50000",
            "[2001:db8:1234:5678:9abc:def0:1234:5678]:5432",
            "rejected-tls-version",
            "(TLSv1.1)",
            "reasón",
        ];
        let cells = Cells::new(parts);
        assert_eq!(cells.iter().collect::<Vec<_>>(), parts);
        let mut want = String::new();
        for (cell, w) in parts.iter().zip(PLAIN_WIDTHS) {
            want.push_str(&format!("{cell:<w$} "));
        }
        want.push_str(parts[5]);
        assert_eq!(plain_row(&cells), want);
        assert!(plain_header().starts_with("start                      client "));
    }

    /// Without a width, the table written from the rows is the table
    /// comfy-table draws: cells empty, short and long, accented, wide
    /// (CJK, emoji), with combining marks, escaped controls; one row or
    /// many. A cell of two lines is left to comfy-table.
    #[test]
    fn unwrapped_table_is_the_drawn_table() {
        let long = "x".repeat(300);
        let words = [
            "",
            "a",
            "2026-11-28 20:55:38.654946",
            "[2001:db8:1234:5678:9abc:def0:1234:5678]:5432",
            "encrypted",
            "(TLSv1.1)",
            "reasón",
            "漢字のサーバー名",
            "e\u{301}te\u{301}",
            "🔒 sealed",
            "\\u{1b}[31m",
            "tab\\u{9}",
            long.as_str(),
        ];
        let mut rng = crate::testutil::XorShift(11);
        let mut pick = || words[(rng.next() % words.len() as u64) as usize];
        for n in [1, 2, 7, 60] {
            let rows: Vec<Cells> = (0..n)
                .map(|_| Cells::new([pick(), pick(), pick(), pick(), pick(), pick()]))
                .collect();
            let drawn = drawn_table(&rows, None);
            assert_eq!(
                bordered_lines(&rows, None).as_deref(),
                Some(drawn.as_str()),
                "{n} rows"
            );
            assert_eq!(render_table(&rows, None), drawn, "{n} rows");
            // On a terminal: a table as wide as the terminal or narrower
            // is what comfy-table draws there too; a wider one is wrapped
            // by comfy-table.
            let natural = unicode_width::UnicodeWidthStr::width(drawn.lines().next().unwrap());
            for w in [natural, natural + 1, natural + 37] {
                assert_eq!(bordered_lines(&rows, Some(w)).as_ref(), Some(&drawn));
                let w = u16::try_from(w).unwrap();
                assert_eq!(drawn_table(&rows, Some(w)), drawn, "{n} rows, {w} columns");
                assert_eq!(render_table(&rows, Some(w)), drawn, "{n} rows, {w} columns");
            }
            for w in [natural - 1, 80] {
                if w < natural {
                    assert_eq!(bordered_lines(&rows, Some(w)), None, "{n} rows, {w}");
                    let w = u16::try_from(w).unwrap();
                    let wrapped = drawn_table(&rows, Some(w));
                    assert_ne!(wrapped, drawn, "{n} rows, {w} columns");
                    assert_eq!(
                        render_table(&rows, Some(w)),
                        wrapped,
                        "{n} rows, {w} columns"
                    );
                }
            }
        }
        // comfy-table draws a cell of two lines, and a column past 65,535
        // characters (its widths are 16-bit).
        let wide = "w".repeat(70_000);
        for odd in [
            Cells::new(["a", "b\nc", "d", "e", "f", "g"]),
            Cells::new(["a", "b", "c", "d", "e", wide.as_str()]),
        ] {
            let odd = vec![odd];
            assert_eq!(bordered_lines(&odd, None), None);
            assert_eq!(render_table(&odd, None), drawn_table(&odd, None));
        }
    }

    /// The bytes form of the escaping appends what the string form does.
    #[test]
    fn sanitized_bytes_are_the_sanitized_text() {
        for s in ["plain text", "a\x1b[31mred", "bidi \u{202e}x", "reasón", ""] {
            let mut out = b"x".to_vec();
            push_sanitized(s, &mut out);
            assert_eq!(out, format!("x{}", sanitize(s)).into_bytes(), "{s:?}");
        }
    }

    #[test]
    fn terminal_controls_and_bidi_are_escaped() {
        let s = sanitize("a\u{1b}[31mred\u{202e}cba\u{9b}x\u{7f}");
        assert!(!s.chars().any(is_unsafe_for_terminal), "{s}");
        assert!(s.contains("\\u{1b}") && s.contains("\\u{202e}"), "{s}");
    }

    /// The printable-ASCII check runs over 32-byte blocks: a control at any
    /// place in or between blocks is still found, and text without one is
    /// copied unchanged.
    #[test]
    fn controls_are_found_wherever_they_sit() {
        for len in 0..100 {
            let plain: String = (0..len)
                .map(|i| char::from(b' ' + (i % 95) as u8))
                .collect();
            assert_eq!(sanitize(&plain), plain);
            for at in 0..=len {
                for bad in ['\u{1f}', '\u{7f}', '\u{0}', '\u{9b}', '\u{202e}'] {
                    let mut s = plain.clone();
                    s.insert(at, bad);
                    let out = sanitize(&s);
                    assert!(!out.chars().any(is_unsafe_for_terminal), "{out:?}");
                    assert_eq!(
                        out.len(),
                        s.len() - bad.len_utf8() + bad.escape_unicode().count()
                    );
                }
            }
        }
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
