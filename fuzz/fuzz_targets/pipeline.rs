//! The whole `pgtls read` path from raw capture bytes: the pcap/pcapng
//! reader, decoding, the flow table (with a small --max-flows so eviction
//! runs), sessions, verdicts in either report order, and the table and
//! JSON outputs. Run twice, freezing settled sessions from the first one
//! and never: the reports must be the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgtls::analyze::{Analyzer, AnalyzerConfig};
use pgtls::cli::Format;
use pgtls::flow::PortSet;
use pgtls::read::{Rendered, ReportWriter};
use pgtls::report::SessionReport;

fn analyze(
    data: &[u8],
    freeze_above: usize,
    report_early: bool,
) -> Option<(Vec<SessionReport>, Vec<String>)> {
    let mut a = Analyzer::new(AnalyzerConfig {
        ports: PortSet::new(vec![5432, 6432]),
        max_flows: 1 + data.len() % 8,
        report_early,
    })
    .with_freeze_above(freeze_above);
    if data.len().is_multiple_of(3) {
        a = a.in_departure_order();
    }
    let mut warnings = Vec::new();
    let read = pgtls::read::read_capture(&mut a, std::io::Cursor::new(data), "fuzz", &mut |w| {
        warnings.push(w)
    });
    read.ok()?;
    let _ = a.take_final();
    Some((a.take_reports(), warnings))
}

fuzz_target!(|data: &[u8]| {
    let early = data.len().is_multiple_of(2);
    let Some((reports, warnings)) = analyze(data, usize::MAX, early) else {
        return;
    };
    // Freezing must not change a report. Early reports go out before a
    // session can freeze, so the two runs compared report at the end.
    let again = |freeze_above| {
        analyze(data, freeze_above, false)
            .expect("the same input reads the same")
            .0
    };
    let open = if early { again(usize::MAX) } else { reports.clone() };
    let frozen = again(0);
    let json = |r: &[SessionReport]| -> Vec<String> {
        r.iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    };
    assert_eq!(json(&open), json(&frozen), "freezing changed a report");
    let write = |format: Format, width: Option<u16>| {
        let mut out = Vec::new();
        let mut w = ReportWriter::new(&mut out, format, width);
        for r in &reports {
            let rendered = Rendered::into_buffer(r, format, Vec::new()).unwrap();
            w.write_rendered(0, rendered).unwrap();
        }
        w.finish().unwrap();
        out
    };
    let table = write(Format::Table, Some(120));
    let table = String::from_utf8(table).expect("the table is UTF-8");
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "control character in the table: {table:?}"
    );
    let json = write(Format::Json, None);
    let doc: serde_json::Value = serde_json::from_slice(&json).expect("JSON reads back");
    assert_eq!(
        doc["sessions"].as_array().map(|s| s.len()),
        Some(reports.len())
    );
    for w in &warnings {
        assert!(
            !w.chars().any(|c| c.is_control()),
            "control character in a warning: {w:?}"
        );
    }
});
