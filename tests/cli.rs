//! The command line as a user meets it: errors, exit codes, output formats.

use std::process::{Command, Output};

fn pgtls(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgtls"))
        .args(args)
        .output()
        .expect("run pgtls")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_file_is_one_line_naming_it_with_exit_2() {
    let o = pgtls(&["read", "does/not/exist.pcap"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("does/not/exist.pcap"), "{e}");
    assert!(e.to_lowercase().contains("no such file"), "{e}");
    assert!(o.stdout.is_empty());
}

#[test]
fn a_file_that_is_not_a_capture_is_refused_with_exit_2() {
    let o = pgtls(&["read", "README.md"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("README.md") && e.contains("not a pcap or pcapng capture"),
        "{e}"
    );
}

#[test]
fn an_empty_file_is_refused_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("pgtls-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let o = pgtls(&["read", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
}

#[test]
fn a_truncated_capture_reports_what_was_read_and_warns() {
    let bytes = std::fs::read("samples/multi.pcap").unwrap();
    let dir = std::env::temp_dir().join(format!("pgtls-cli-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let o = pgtls(&["read", cut.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(out.lines().count(), 8);
    assert!(
        stderr(&o).contains("ends in the middle of a packet"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn jsonl_is_one_object_per_session_and_nothing_else() {
    let o = pgtls(&["read", "samples/multi.pcap", "--format", "jsonl"]);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    let mut starts = Vec::new();
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        for field in [
            "file",
            "verdict",
            "reason",
            "client",
            "server",
            "start",
            "end",
            "packets",
            "bytes_to_server",
            "bytes_to_client",
            "ssl_request",
            "ssl_response",
            "tls",
            "pg",
        ] {
            assert!(v.get(field).is_some(), "missing {field} in {line}");
        }
        for field in [
            "client_versions",
            "client_max_version",
            "server_version",
            "cipher",
            "sni",
            "alpn",
            "alert",
        ] {
            assert!(v["tls"].get(field).is_some(), "missing tls.{field}");
        }
        for field in ["protocol", "user", "database", "application_name", "error"] {
            assert!(v["pg"].get(field).is_some(), "missing pg.{field}");
        }
        starts.push((
            v["first_frame"].as_u64().unwrap(),
            v["last_frame"].as_u64().unwrap(),
        ));
    }
    assert_eq!(starts.len(), 8);
    // Streamed as sessions leave (each closed with a final ACK, its last
    // frame): the CancelRequest (frames 103-110) before the session it
    // cancelled (frames 90-118), which started first.
    let lasts: Vec<u64> = starts.iter().map(|s| s.1).collect();
    let mut sorted = lasts.clone();
    sorted.sort();
    assert_eq!(lasts, sorted, "sessions must come as they leave");
    let cancel = starts.iter().position(|s| s.0 == 103).unwrap();
    let cancelled = starts.iter().position(|s| s.0 == 90).unwrap();
    assert!(cancel < cancelled, "{starts:?}");
}

#[test]
fn table_lists_sessions_in_order_of_start() {
    let o = pgtls(&["read", "samples/multi.pcap", "samples/tls12.pcap"]);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    let starts: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("│ 20"))
        .map(|l| l.split('┆').next().unwrap())
        .collect();
    assert_eq!(starts.len(), 9, "{out}");
    // multi.pcap in order of start, then tls12.pcap (which starts earlier
    // in time but is the second input).
    let mut sorted = starts[..8].to_vec();
    sorted.sort();
    assert_eq!(starts[..8], sorted[..], "{out}");
    assert!(starts[8] < starts[7], "{out}");
}

#[test]
fn json_document_has_sessions_and_a_summary_that_adds_up() {
    let o = pgtls(&[
        "read",
        "samples/multi.pcap",
        "samples/tls12.pcap",
        "--format",
        "json",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 9);
    assert_eq!(v["summary"]["sessions"], 9);
    let total: u64 = v["summary"]["verdicts"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(total, 9);
    assert_eq!(v["summary"]["verdicts"]["encrypted"], 3);
    assert_eq!(sessions[8]["file"], "samples/tls12.pcap");
}

#[test]
fn table_lists_sessions_and_the_summary() {
    let o = pgtls(&["read", "samples/multi.pcap"]);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("rejected-tls-version"));
    assert!(out.contains("(TLSv1.1)"));
    assert!(out
        .lines()
        .last()
        .unwrap()
        .starts_with("8 sessions: cancel-request: 1, encrypted: 2, plaintext: 3"));
}

#[test]
fn port_flag_selects_the_server_port() {
    let file = "tests/data/public/zeek__psql-aws-ssl-require-15432.pcap";
    let none = pgtls(&["read", file, "--format", "jsonl"]);
    assert!(none.stdout.is_empty());
    let some = pgtls(&["read", file, "--port", "15432", "--format", "jsonl"]);
    let out = String::from_utf8(some.stdout).unwrap();
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains("\"server\":\"52.200.36.167:15432\""));
}

#[test]
fn port_zero_is_a_usage_error() {
    let o = pgtls(&["read", "samples/multi.pcap", "--port", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn sharded_run_prints_exactly_what_a_single_thread_prints() {
    let files = [
        "samples/multi.pcap",
        "samples/scanner-nmap.pcap",
        "samples/tls13.pcapng",
        "tests/data/public/zeek__psql-login-no-sslrequest.pcap",
    ];
    for format in ["jsonl", "json", "table"] {
        let mut one = vec!["read", "--format", format, "-j", "1"];
        one.extend(files);
        let mut three = vec!["read", "--format", format, "-j", "3"];
        three.extend(files);
        let (a, b) = (pgtls(&one), pgtls(&three));
        assert!(a.status.success() && b.status.success());
        assert!(!a.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&a.stdout),
            String::from_utf8_lossy(&b.stdout),
            "{format}"
        );
    }
}

/// A pipe can be read once: with several workers each opening it, each
/// would get only part of the packets.
#[test]
fn a_pipe_read_with_threads_gives_every_session() {
    let file = pgtls(&["read", "--format", "jsonl", "-j", "1", "samples/multi.pcap"]);
    let piped = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} read --format jsonl -j 2 <(cat samples/multi.pcap)",
            env!("CARGO_BIN_EXE_pgtls")
        ))
        .output()
        .expect("run bash");
    assert!(piped.status.success(), "{}", stderr(&piped));
    let sessions = |o: &Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} {} {}", v["client"], v["first_frame"], v["verdict"])
            })
            .collect()
    };
    assert_eq!(sessions(&file).len(), 8);
    assert_eq!(sessions(&piped), sessions(&file));
}

#[test]
fn sharded_run_reports_a_missing_file_like_a_single_thread() {
    let o = pgtls(&["read", "samples/multi.pcap", "missing.pcap", "-j", "2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.pcap"), "{}", stderr(&o));
}

#[test]
fn any_port_recognises_postgresql_by_its_first_bytes() {
    // PostgreSQL on 15432 and 5432, read with a port list that names neither.
    for (file, server) in [
        (
            "tests/data/public/zeek__psql-aws-ssl-require-15432.pcap",
            "52.200.36.167:15432",
        ),
        (
            "tests/data/public/zeek__psql-aws-ssl-disable-15432.pcap",
            "52.200.36.167:15432",
        ),
        ("samples/tls12.pcap", "127.0.0.1:5432"),
    ] {
        let o = pgtls(&[
            "read",
            file,
            "--port",
            "1",
            "--any-port",
            "--format",
            "jsonl",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        let v: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v.len(), 1, "{file}: {out}");
        assert_eq!(v[0]["server"], server, "{file}");
        // Same verdict as when the port is named.
        let named = pgtls(&[
            "read",
            file,
            "--port",
            server.rsplit(':').next().unwrap(),
            "--format",
            "jsonl",
        ]);
        let named: serde_json::Value =
            serde_json::from_str(String::from_utf8(named.stdout).unwrap().trim()).unwrap();
        assert_eq!(v[0]["verdict"], named["verdict"], "{file}");
        assert_eq!(v[0]["packets"], named["packets"], "{file}");
    }
    // HTTP and MySQL on 5432 are not taken for PostgreSQL when the port is not named.
    for file in [
        "tests/data/public/zeek__http-on-port-5432.pcap",
        "tests/data/public/zeek__mysql-on-port-5432.pcap",
    ] {
        let o = pgtls(&[
            "read",
            file,
            "--port",
            "1",
            "--any-port",
            "--format",
            "jsonl",
        ]);
        assert!(o.status.success());
        assert!(
            o.stdout.is_empty(),
            "{file}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

/// Written to a pipe, the table gives each session one line, however long
/// its reason (a terminal wraps it to its width instead).
#[test]
fn a_piped_table_gives_each_session_one_line() {
    let o = pgtls(&["read", "samples/multi.pcap"]);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    let body: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with('╞'))
        .skip(1)
        .take_while(|l| !l.starts_with('└'))
        .collect();
    assert_eq!(body.len(), 8, "{out}");
    assert!(body.iter().all(|l| l.starts_with("│ 20")), "{out}");
    assert!(body.iter().any(|l| l.chars().count() > 200), "{out}");
}
