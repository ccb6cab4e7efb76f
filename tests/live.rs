//! Issue 3: `pgtls sniff` on a real interface.
//!
//! Compiled only with `--features live`. The loopback test with real
//! PostgreSQL servers and clients runs `scripts/live-test.sh` and needs root
//! and PostgreSQL 15; it runs only with `PGTLS_LIVE_TEST=1` (CI sets it) and
//! says why it skipped otherwise. The error-path tests need no server: as root
//! they check each message exactly; otherwise they check that the permission
//! message comes first.
#![cfg(feature = "live")]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pgtls");

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn pgtls(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run pgtls")
}

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgtls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// One-line error, exit status 2.
fn assert_one_line_error(o: &Output) -> String {
    let err = stderr_of(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(o.stdout.is_empty(), "nothing on stdout");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("pgtls: "), "{err}");
    err
}

fn assert_permission_message(err: &str) {
    assert!(
        err.contains("no permission") && err.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{err}"
    );
}

#[test]
fn no_such_interface_is_one_line_naming_pgtls_interfaces() {
    let o = pgtls(&["sniff", "-i", "nosuchif0"]);
    let err = assert_one_line_error(&o);
    if is_root() {
        assert!(err.contains("no such interface: nosuchif0"), "{err}");
        assert!(err.contains("`pgtls interfaces`"), "{err}");
    } else {
        assert_permission_message(&err);
    }
}

#[test]
fn bad_filter_echoes_libpcaps_message() {
    let o = pgtls(&["sniff", "-i", "lo", "--filter", "((("]);
    let err = assert_one_line_error(&o);
    if is_root() {
        assert!(err.contains("bad --filter `(((`"), "{err}");
        assert!(err.contains("syntax error"), "libpcap's own words: {err}");
    } else {
        assert_permission_message(&err);
    }
}

#[test]
fn without_capture_permission_the_message_says_how_to_get_it() {
    if !is_root() {
        let o = pgtls(&["sniff", "-i", "lo"]);
        assert_permission_message(&assert_one_line_error(&o));
        return;
    }
    // As root: run a copy of the binary as the unprivileged user "nobody".
    let has_nobody = Command::new("id")
        .arg("nobody")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_runuser = Command::new("runuser").arg("--help").output().is_ok();
    if !has_nobody || !has_runuser {
        eprintln!("skipped: needs runuser and a user nobody");
        return;
    }
    let dir = temp_dir("perm");
    let copy = dir.join("pgtls");
    std::fs::copy(BIN, &copy).expect("copy binary");
    let _ = Command::new("chmod")
        .args(["755", dir.to_str().unwrap(), copy.to_str().unwrap()])
        .status();
    let o = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            copy.to_str().unwrap(),
            "sniff",
            "-i",
            "lo",
        ])
        .output()
        .expect("runuser");
    let _ = std::fs::remove_dir_all(&dir);
    let err = assert_one_line_error(&o);
    assert_permission_message(&err);
}

#[test]
fn bad_flags_are_refused_before_capturing() {
    for args in [
        &["sniff", "--port", "0"][..],
        &["sniff", "--count", "0"],
        &["sniff", "--duration", "0"],
        &["sniff", "--snaplen", "0"],
        &["sniff", "--idle-timeout", "0"],
    ] {
        let o = pgtls(args);
        let err = assert_one_line_error(&o);
        assert!(err.contains("--"), "names the flag: {err}");
    }
}

#[test]
fn interfaces_lists_loopback() {
    let o = pgtls(&["interfaces"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr_of(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("lo ") && l.contains("loopback")),
        "{out}"
    );
    assert_eq!(out.matches("[default]").count(), 1, "{out}");
}

#[test]
fn duration_ends_a_quiet_capture_with_the_summary() {
    if !is_root() {
        eprintln!("skipped: capturing on lo needs root");
        return;
    }
    let started = Instant::now();
    // Port 9 (discard): nothing talks there, so no packet ever arrives.
    let o = pgtls(&[
        "sniff",
        "-i",
        "lo",
        "--port",
        "9",
        "--duration",
        "1",
        "--format",
        "jsonl",
    ]);
    let took = started.elapsed();
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(o.stdout.is_empty(), "no sessions, so no stdout lines");
    assert!(
        took < Duration::from_secs(5),
        "stopped on time with no packets: {took:?}"
    );
    let last: Value = serde_json::from_str(err.lines().last().expect("a trailer")).expect("JSON");
    assert_eq!(last["capture"]["stopped"], "duration");
    assert_eq!(last["capture"]["interface"], "lo");
    assert_eq!(last["capture"]["filter"], "tcp port 9");
    assert_eq!(last["summary"]["sessions"], 0);
    assert!(last["capture"]["pcap"]["dropped"].is_u64(), "{last}");
}

#[test]
fn write_to_an_unwritable_place_is_one_line() {
    if !is_root() {
        eprintln!("skipped: capturing on lo needs root");
        return;
    }
    let o = pgtls(&[
        "sniff",
        "-i",
        "lo",
        "--duration",
        "1",
        "--write",
        "/nonexistent-dir/x.pcap",
    ]);
    let err = assert_one_line_error(&o);
    assert!(err.contains("--write /nonexistent-dir/x.pcap"), "{err}");
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// (verdict, negotiated TLS version or "-") of each session, sorted.
fn verdicts(sessions: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = sessions
        .iter()
        .map(|s| {
            (
                s["verdict"].as_str().unwrap_or("?").to_string(),
                s["tls"]["server_version"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// client → (verdict, TLS version).
fn by_client(sessions: &[Value]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = sessions
        .iter()
        .map(|s| {
            (
                s["client"].as_str().unwrap_or("?").to_string(),
                s["verdict"].as_str().unwrap_or("?").to_string(),
                s["tls"]["server_version"]
                    .as_str()
                    .unwrap_or("-")
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn loopback_sessions_with_real_servers_and_clients() {
    if std::env::var("PGTLS_LIVE_TEST").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set PGTLS_LIVE_TEST=1 to run scripts/live-test.sh (needs root and \
             PostgreSQL 15; .ci/run does)"
        );
        return;
    }
    let out = temp_dir("live");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/live-test.sh");
    let o = Command::new("bash")
        .arg(&script)
        .env("PGTLS_BIN", BIN)
        .env("OUT_DIR", &out)
        .output()
        .expect("run scripts/live-test.sh");
    let log = stderr_of(&o);
    assert!(
        o.status.success(),
        "scripts/live-test.sh failed ({:?}):\n{log}",
        o.status
    );
    assert!(log.contains("PASS"), "{log}");

    // The script checked with grep; check again here with a JSON parser.
    let sniffed = read_jsonl(&out.join("sniff.jsonl"));
    let want: Vec<(String, String)> = [
        ("encrypted", "TLSv1.2"),
        ("encrypted", "TLSv1.3"),
        ("plaintext", "-"),
        ("rejected-plaintext", "-"),
        ("rejected-tls-version", "-"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(verdicts(&sniffed), want, "sniff: {sniffed:#?}");
    for s in &sniffed {
        assert_eq!(s["file"], "lo");
        assert!(!s["evidence"].as_array().unwrap().is_empty(), "{s}");
    }
    let old = sniffed
        .iter()
        .find(|s| s["verdict"] == "rejected-tls-version")
        .unwrap();
    assert_eq!(old["tls"]["client_max_version"], "TLSv1.1", "{old}");
    assert_eq!(old["tls"]["alert"]["code"], 70, "{old}");
    let refused = sniffed
        .iter()
        .find(|s| s["verdict"] == "rejected-plaintext")
        .unwrap();
    assert_eq!(refused["pg"]["error"]["code"], "28000", "{refused}");
    // The plaintext session is the only one on the lax server's port.
    let plain = sniffed
        .iter()
        .find(|s| s["verdict"] == "plaintext")
        .unwrap();
    let strict_server = old["server"].as_str().unwrap();
    assert_ne!(plain["server"].as_str().unwrap(), strict_server);
    assert_eq!(
        sniffed
            .iter()
            .filter(|s| s["server"] == strict_server)
            .count(),
        4
    );

    // stderr: the listening line first, the JSON summary last.
    let err = std::fs::read_to_string(out.join("sniff.err")).unwrap();
    assert!(
        err.lines().next().unwrap().contains("listening on lo"),
        "{err}"
    );
    let trailer: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(trailer["summary"]["sessions"], 5);
    assert_eq!(trailer["summary"]["verdicts"]["encrypted"], 2);
    assert_eq!(trailer["capture"]["stopped"], "interrupted");
    assert_eq!(trailer["capture"]["pcap"]["dropped"], 0);
    assert_eq!(
        trailer["capture"]["written"], trailer["capture"]["packets"],
        "every packet seen was written"
    );

    // `read` of the --write capture: the same sessions, the same verdicts.
    let read = read_jsonl(&out.join("read.jsonl"));
    assert_eq!(by_client(&read), by_client(&sniffed));

    let counted = read_jsonl(&out.join("count.jsonl"));
    assert_eq!(
        verdicts(&counted),
        vec![("encrypted".into(), "TLSv1.3".into())]
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn disk_full_on_write_stops_with_a_clear_message() {
    if !is_root() || !Path::new("/dev/full").exists() {
        eprintln!("skipped: capturing on lo needs root; /dev/full plays the full disk");
        return;
    }
    let started = Instant::now();
    let o = pgtls(&[
        "sniff",
        "-i",
        "lo",
        "--port",
        "9",
        "--duration",
        "20",
        "--format",
        "jsonl",
        "--write",
        "/dev/full",
    ]);
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped at the first failed write"
    );
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("pgtls: --write /dev/full: No space left on device"),
        "{err}"
    );
    // The summary still came before the error.
    assert!(err.contains("\"stopped\":\"write-error\""), "{err}");
}

/// An interface that disappears mid-capture (a veth pair deleted under
/// pgtls) ends the capture with a clear message, the summary, exit 2.
#[test]
fn an_interface_that_goes_away_ends_with_a_clear_message() {
    if !is_root() {
        eprintln!("skipped: needs root to create a veth pair");
        return;
    }
    let name = format!("pgt{}", std::process::id() % 100_000);
    let peer = format!("{name}p");
    let made = Command::new("ip")
        .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot create a veth pair here");
        return;
    }
    for n in [&name, &peer] {
        let _ = Command::new("ip").args(["link", "set", n, "up"]).status();
    }
    let child = Command::new(BIN)
        .args([
            "sniff",
            "-i",
            &name,
            "--format",
            "jsonl",
            "--duration",
            "30",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sniff");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let _ = Command::new("ip").args(["link", "del", &name]).status();
    let o = child.wait_with_output().expect("sniff ends");
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&name) && err.contains("capture stopped"),
        "{err}"
    );
    assert!(err.contains("\"stopped\":\"capture-error\""), "{err}");
}
