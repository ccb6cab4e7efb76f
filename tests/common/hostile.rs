//! Builders for hostile captures: TCP connections written packet by packet,
//! PostgreSQL and TLS messages built from their layouts, broken capture
//! files, and a runner that executes the `pgtls` binary with a timeout and
//! measures its peak memory.
//!
//! Used by `tests/hostile.rs` (which also regenerates `tests/data/hostile/`,
//! see `scripts/make-hostile-captures.sh`) and the property tests, as
//! `#[path = "common/hostile.rs"] mod hostile;` next to `mod common;`.
#![allow(dead_code)]

use crate::common::packet::{TcpPacket, ETHERTYPE_IPV4, LINKTYPE_RAW, TCP_FIN, TCP_PSH, TCP_RST};
use crate::common::pcapw::{Capture, Record};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A directory of this test process's own for the files a test writes.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pgtls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub const TCP_SYN: u8 = 0x02;
pub const TCP_ACK: u8 = 0x10;

/// One TCP connection to port 5432 over raw IPv4, written packet by packet
/// with correct sequence numbers. Timestamps advance 1 ms per packet.
pub struct Conn {
    pub client: [u8; 4],
    pub client_port: u16,
    pub server: [u8; 4],
    pub server_port: u16,
    /// Next sequence number of each side.
    pub client_seq: u32,
    pub server_seq: u32,
    pub ts_us: u64,
    pub records: Vec<Record>,
}

impl Conn {
    pub fn new(client_port: u16) -> Self {
        Conn {
            client: [10, 0, 0, 1],
            client_port,
            server: [10, 0, 0, 2],
            server_port: 5432,
            client_seq: 0x1000_0000,
            server_seq: 0x7fff_ff00,
            ts_us: 1_700_000_000_000_000,
            records: Vec::new(),
        }
    }

    /// A segment with any sequence number and flags; sequence state untouched.
    pub fn raw(&mut self, from_client: bool, seq: u32, flags: u8, payload: &[u8]) {
        let frame = tcp_ipv4(
            if from_client {
                (self.client, self.client_port, self.server, self.server_port)
            } else {
                (self.server, self.server_port, self.client, self.client_port)
            },
            seq,
            if from_client {
                self.server_seq
            } else {
                self.client_seq
            },
            flags,
            payload,
        );
        self.ts_us += 1000;
        self.records.push(Record {
            ts_sec: (self.ts_us / 1_000_000) as u32,
            ts_frac: (self.ts_us % 1_000_000) as u32,
            orig_len: frame.len() as u32,
            data: frame,
        });
    }

    /// SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self) -> &mut Self {
        self.raw(true, self.client_seq, TCP_SYN, &[]);
        self.client_seq = self.client_seq.wrapping_add(1);
        self.raw(false, self.server_seq, TCP_SYN | TCP_ACK, &[]);
        self.server_seq = self.server_seq.wrapping_add(1);
        self.raw(true, self.client_seq, TCP_ACK, &[]);
        self
    }

    /// Client bytes in one segment.
    pub fn client(&mut self, payload: &[u8]) -> &mut Self {
        self.raw(true, self.client_seq, TCP_ACK | TCP_PSH, payload);
        self.client_seq = self.client_seq.wrapping_add(payload.len() as u32);
        self
    }

    /// Server bytes in one segment.
    pub fn server(&mut self, payload: &[u8]) -> &mut Self {
        self.raw(false, self.server_seq, TCP_ACK | TCP_PSH, payload);
        self.server_seq = self.server_seq.wrapping_add(payload.len() as u32);
        self
    }

    /// Client bytes cut into segments of at most `mss` bytes.
    pub fn client_segments(&mut self, payload: &[u8], mss: usize) -> &mut Self {
        for c in payload.chunks(mss) {
            self.client(c);
        }
        self
    }

    /// Server bytes cut into segments of at most `mss` bytes.
    pub fn server_segments(&mut self, payload: &[u8], mss: usize) -> &mut Self {
        for c in payload.chunks(mss) {
            self.server(c);
        }
        self
    }

    /// FIN from both sides, client first.
    pub fn close(&mut self) -> &mut Self {
        self.raw(true, self.client_seq, TCP_FIN | TCP_ACK, &[]);
        self.client_seq = self.client_seq.wrapping_add(1);
        self.raw(false, self.server_seq, TCP_FIN | TCP_ACK, &[]);
        self.server_seq = self.server_seq.wrapping_add(1);
        self
    }

    /// RST from the server.
    pub fn server_reset(&mut self) -> &mut Self {
        self.raw(false, self.server_seq, TCP_RST, &[]);
        self
    }

    pub fn capture(&self) -> Capture {
        capture_of(self.records.clone())
    }
}

/// A raw-IP capture of these records.
pub fn capture_of(records: Vec<Record>) -> Capture {
    Capture {
        link: LINKTYPE_RAW,
        nanos: false,
        snaplen: 262_144,
        records,
    }
}

/// A TCP/IPv4 packet (raw IP, no link header) with valid checksums.
pub fn tcp_ipv4(
    (src, sport, dst, dport): ([u8; 4], u16, [u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let mut tcp = Vec::with_capacity(20);
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.push(0x50);
    tcp.push(flags);
    tcp.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    // A payload larger than an IP packet can hold would not fit its length field.
    assert!(
        payload.len() <= 65_495,
        "payload too large for one IPv4 packet"
    );
    TcpPacket {
        link_hdr: Vec::new(),
        ethertype: ETHERTYPE_IPV4,
        ip,
        tcp,
        payload: payload.to_vec(),
    }
    .encode()
}

// ---------------------------------------------------------------- PostgreSQL

/// SSLRequest: length 8, code 80877103.
pub const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A protocol 3.0 StartupMessage with these parameters.
pub fn startup_message(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&body);
    m
}

/// A typed message: tag, int32 length (counting itself), body.
pub fn pg_message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// An ErrorResponse (or NoticeResponse with tag `N`) with these fields.
pub fn error_response(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.push(*k);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    pg_message(b'E', &body)
}

/// AuthenticationCleartextPassword, AuthenticationOk, ParameterStatus
/// server_version, ReadyForQuery: a server that took a cleartext password.
pub fn server_auth_cleartext_request() -> Vec<u8> {
    pg_message(b'R', &3u32.to_be_bytes())
}

pub fn server_auth_ok_ready(server_version: &str) -> Vec<u8> {
    let mut m = pg_message(b'R', &0u32.to_be_bytes());
    let mut ps = b"server_version\0".to_vec();
    ps.extend_from_slice(server_version.as_bytes());
    ps.push(0);
    m.extend(pg_message(b'S', &ps));
    m.extend(pg_message(b'K', &[0, 0, 0x30, 0x39, 1, 2, 3, 4]));
    m.extend(pg_message(b'Z', b"I"));
    m
}

/// A PasswordMessage carrying `password` in clear.
pub fn password_message(password: &str) -> Vec<u8> {
    let mut body = password.as_bytes().to_vec();
    body.push(0);
    pg_message(b'p', &body)
}

// ---------------------------------------------------------------- TLS

pub const TLS_HANDSHAKE: u8 = 22;
pub const TLS_APPLICATION_DATA: u8 = 23;
pub const TLS_ALERT: u8 = 21;

/// One TLS record (any length up to 65535; the caller decides whether it
/// breaks the limits).
pub fn tls_record(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    assert!(body.len() <= 0xffff);
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// `bytes` as records of at most `max` bytes each.
pub fn tls_records(content_type: u8, bytes: &[u8], max: usize) -> Vec<u8> {
    bytes
        .chunks(max)
        .flat_map(|c| tls_record(content_type, 0x0303, c))
        .collect()
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut m = vec![msg_type, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    m
}

fn extension(ext_type: u16, data: &[u8]) -> Vec<u8> {
    let mut e = ext_type.to_be_bytes().to_vec();
    e.extend_from_slice(&(data.len() as u16).to_be_bytes());
    e.extend_from_slice(data);
    e
}

/// A TLS 1.3 ClientHello handshake message naming `sni`, padded with a
/// padding extension (21) of `padding` bytes.
pub fn client_hello(sni: &[u8], padding: usize) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x11; 32]); // random
    body.push(32);
    body.extend_from_slice(&[0x22; 32]); // legacy_session_id
    let ciphers: [u16; 3] = [0x1301, 0x1302, 0x1303];
    body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
    for c in ciphers {
        body.extend_from_slice(&c.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut exts = Vec::new();
    let mut name = vec![0u8]; // host_name
    name.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    name.extend_from_slice(sni);
    let mut list = (name.len() as u16).to_be_bytes().to_vec();
    list.extend_from_slice(&name);
    exts.extend(extension(0, &list));
    exts.extend(extension(43, &[4, 0x03, 0x04, 0x03, 0x03]));
    exts.extend(extension(10, &[0, 2, 0, 0x1d]));
    let mut ks = vec![0, 36, 0, 0x1d, 0, 32];
    ks.extend_from_slice(&[0x33; 32]);
    exts.extend(extension(51, &ks));
    exts.extend(extension(13, &[0, 4, 0x04, 0x03, 0x08, 0x04]));
    if padding > 0 {
        exts.extend(extension(21, &vec![0; padding]));
    }
    assert!(exts.len() <= 0xffff, "extensions block over 65535 bytes");
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    handshake(1, &body)
}

/// The largest padding that keeps `client_hello(sni, padding)`'s extensions
/// within their 16-bit length.
pub fn max_client_hello_padding(sni: &[u8]) -> usize {
    let without = client_hello(sni, 0).len();
    let base_exts = without - (4 + 2 + 32 + 1 + 32 + 2 + 6 + 2 + 2);
    0xffff - base_exts - 4
}

/// A TLS 1.3 ServerHello (TLS_AES_256_GCM_SHA384, x25519).
pub fn server_hello_tls13() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[0x44; 32]);
    body.push(32);
    body.extend_from_slice(&[0x22; 32]);
    body.extend_from_slice(&0x1302u16.to_be_bytes());
    body.push(0);
    let mut exts = extension(43, &[0x03, 0x04]);
    let mut ks = vec![0, 0x1d, 0, 32];
    ks.extend_from_slice(&[0x55; 32]);
    exts.extend(extension(51, &ks));
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    handshake(2, &body)
}

/// SSLRequest, 'S', ClientHello (as given, already in records), ServerHello,
/// then an encrypted record each way and a close: an encrypted session.
pub fn tls13_session(port: u16, client_hello_records: &[u8], mss: usize) -> Conn {
    let mut c = Conn::new(port);
    c.handshake().client(&SSL_REQUEST).server(b"S");
    c.client_segments(client_hello_records, mss);
    let mut flight = tls_record(TLS_HANDSHAKE, 0x0303, &server_hello_tls13());
    flight.extend(tls_record(20, 0x0303, &[1]));
    flight.extend(tls_record(TLS_APPLICATION_DATA, 0x0303, &[0x99; 300]));
    c.server(&flight);
    c.client(&tls_record(TLS_APPLICATION_DATA, 0x0303, &[0x98; 64]));
    c.server(&tls_record(TLS_APPLICATION_DATA, 0x0303, &[0x97; 64]));
    c.close();
    c
}

// ---------------------------------------------------------------- files

/// A pcap file written record by record, so that large captures never sit
/// in memory. Raw IPv4, microseconds, little-endian.
pub struct PcapStream<W: Write> {
    out: W,
}

impl<W: Write> PcapStream<W> {
    pub fn new(mut out: W, snaplen: u32) -> std::io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&snaplen.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapStream { out })
    }

    pub fn record(&mut self, ts_us: u64, data: &[u8]) -> std::io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `n` SYNs to 10.x.y.z:5432, each from its own source address and
/// port, never answered: one would-be session each. Checksums are left as
/// the template had them (pgtls does not verify them), so this is fast even
/// in a debug build. Returns the file size.
pub fn write_syn_flood(path: &Path, n: u32) -> std::io::Result<u64> {
    let f = std::fs::File::create(path)?;
    let mut w = PcapStream::new(std::io::BufWriter::with_capacity(1 << 20, f), 65_535)?;
    let template = tcp_ipv4(
        ([172, 16, 0, 0], 1024, [10, 9, 9, 9], 5432),
        0,
        0,
        TCP_SYN,
        &[],
    );
    let mut p = template.clone();
    for i in 0..n {
        // 60,000 ports per source address.
        let (host, port) = (i / 60_000, 1024 + (i % 60_000) as u16);
        p[12..16].copy_from_slice(&[172, 16, (host >> 8) as u8, host as u8]);
        p[20..22].copy_from_slice(&port.to_be_bytes());
        p[24..28].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
        w.record(1_700_000_000_000_000 + u64::from(i), &p)?;
    }
    let out = w.finish()?;
    let size = out.get_ref().metadata()?.len();
    Ok(size)
}

/// A plaintext session: a cleartext password, two queries and their
/// answers, then a close.
pub fn plaintext_session(port: u16) -> Conn {
    let mut c = Conn::new(port);
    c.handshake()
        .client(&startup_message(&[("user", "app"), ("database", "shop")]))
        .server(&server_auth_cleartext_request())
        .client(&password_message("hunter2"))
        .server(&server_auth_ok_ready("15.8"));
    for query in [&b"SELECT 1\0"[..], b"SELECT 2\0"] {
        c.client(&pg_message(b'Q', query));
        let mut answer = pg_message(b'T', &[0, 0]);
        answer.extend(pg_message(b'C', b"SELECT 0\0"));
        answer.extend(pg_message(b'Z', b"I"));
        c.server(&answer);
    }
    c.close();
    c
}

/// Writes `n` encrypted sessions that stay open: each is [`tls13_session`]
/// from its own client address and port, without its FINs, written one
/// after the other, so that all `n` are in pgtls's table at the end.
/// Returns the file size.
pub fn write_open_tls_sessions(path: &Path, n: u32) -> std::io::Result<u64> {
    let hello = tls_record(TLS_HANDSHAKE, 0x0301, &client_hello(b"db.example", 0));
    write_open_copies(path, n, &tls13_session(5432, &hello, 1460))
}

/// `n` encrypted sessions one after the other, each ending as libpq's do:
/// the client's RST instead of the FINs. Returns the file size.
pub fn write_reset_tls_sessions(path: &Path, n: u32) -> std::io::Result<u64> {
    let hello = tls_record(TLS_HANDSHAKE, 0x0301, &client_hello(b"db.example", 0));
    let mut session = tls13_session(5432, &hello, 1460);
    session
        .records
        .retain(|r| r.data[33] & (TCP_FIN | TCP_RST) == 0);
    session.raw(true, session.client_seq, TCP_RST, &[]);
    write_copies(path, n, &session.records)
}

/// [`write_open_tls_sessions`] with [`plaintext_session`]s.
pub fn write_open_plaintext_sessions(path: &Path, n: u32) -> std::io::Result<u64> {
    write_open_copies(path, n, &plaintext_session(5432))
}

/// `n` connections that open one after the other (handshake only), then
/// close in the reverse order, each with FIN, FIN and the last ACK: the
/// last to start is the first to leave. Returns the file size.
pub fn write_closing_in_reverse(path: &Path, n: u32) -> std::io::Result<u64> {
    let conns: Vec<Conn> = (0..n)
        .map(|i| {
            let mut c = Conn::new(1024 + (i % 60_000) as u16);
            let host = i / 60_000;
            c.client = [172, 16, (host >> 8) as u8, host as u8];
            c.handshake();
            c
        })
        .collect();
    let f = std::fs::File::create(path)?;
    let mut w = PcapStream::new(std::io::BufWriter::with_capacity(1 << 20, f), 65_535)?;
    let mut ts = 1_700_000_000_000_000u64;
    for c in &conns {
        for r in &c.records {
            ts += 10;
            w.record(ts, &r.data)?;
        }
    }
    for mut c in conns.into_iter().rev() {
        let opened = c.records.len();
        c.close();
        c.raw(true, c.client_seq, TCP_ACK, &[]);
        for r in &c.records[opened..] {
            ts += 10;
            w.record(ts, &r.data)?;
        }
    }
    let out = w.finish()?;
    let size = out.get_ref().metadata()?.len();
    Ok(size)
}

/// `n` copies of `session` from distinct client addresses and ports,
/// without FIN or RST.
fn write_open_copies(path: &Path, n: u32, session: &Conn) -> std::io::Result<u64> {
    let open: Vec<Record> = session
        .records
        .iter()
        // Raw IPv4: flags at 20 + 13.
        .filter(|r| r.data[33] & (TCP_FIN | TCP_RST) == 0)
        .cloned()
        .collect();
    write_copies(path, n, &open)
}

/// `n` copies of a session's `records`, each from its own client address
/// and port, one after the other, 10 us apart. Returns the file size.
fn write_copies(path: &Path, n: u32, records: &[Record]) -> std::io::Result<u64> {
    let f = std::fs::File::create(path)?;
    let mut w = PcapStream::new(std::io::BufWriter::with_capacity(1 << 20, f), 65_535)?;
    let template: Vec<(bool, &Record)> = records
        .iter()
        .map(|r| (r.data[12..16] == [10, 0, 0, 1], r))
        .collect();
    let mut ts = 1_700_000_000_000_000u64;
    for i in 0..n {
        // 60,000 ports per client address.
        let (host, port) = (i / 60_000, 1024 + (i % 60_000) as u16);
        let addr = [172, 16, (host >> 8) as u8, host as u8];
        for (from_client, r) in &template {
            let mut p = r.data.clone();
            let (ip, tcp_port) = if *from_client { (12, 20) } else { (16, 22) };
            p[ip..ip + 4].copy_from_slice(&addr);
            p[tcp_port..tcp_port + 2].copy_from_slice(&port.to_be_bytes());
            ts += 10;
            w.record(ts, &p)?;
        }
    }
    let out = w.finish()?;
    let size = out.get_ref().metadata()?.len();
    Ok(size)
}

// ---------------------------------------------------------------- running

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident memory in KiB (GNU time's %M), when it could be measured.
    pub peak_kib: Option<u64>,
    pub elapsed: Duration,
}

/// Runs `pgtls read INPUT ARGS...` with its stdout going to the file `out`
/// (a million report lines would not fit a test's memory), with a timeout
/// and its peak memory measured as [`run_pgtls`] does.
pub fn read_to_file(input: &Path, out: &Path, args: &[&str], timeout: Duration) -> Run {
    let mut sh = vec![
        "-c",
        "exec \"$0\" read \"$1\" \"${@:3}\" > \"$2\"",
        env!("CARGO_BIN_EXE_pgtls"),
        input.to_str().unwrap(),
        out.to_str().unwrap(),
    ];
    sh.extend_from_slice(args);
    run_shell(&sh, timeout)
}

/// Runs `pgtls args` with a timeout; kills it and fails the test past the
/// timeout. Peak memory is measured with GNU time when `/usr/bin/time` is
/// there.
pub fn run_pgtls(args: &[&str], timeout: Duration) -> Run {
    run_program(env!("CARGO_BIN_EXE_pgtls"), args, timeout)
}

/// `bash -c args...` under the same watch (for redirections).
pub fn run_shell(args: &[&str], timeout: Duration) -> Run {
    run_program("bash", args, timeout)
}

/// Runs a program with a timeout, measuring its peak memory.
pub fn run_program(bin: &str, args: &[&str], timeout: Duration) -> Run {
    let gnu_time = Path::new("/usr/bin/time").exists()
        && Command::new("/usr/bin/time")
            .args(["-f", "%M", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    // CI sets this: there a memory bound must be measured, not skipped.
    assert!(
        gnu_time || std::env::var_os("PGTLS_REQUIRE_GNU_TIME").is_none(),
        "PGTLS_REQUIRE_GNU_TIME is set but /usr/bin/time (GNU time) does not run"
    );
    let tmp = std::env::temp_dir().join(format!(
        "pgtls-hostile-{}-{:?}.rss",
        std::process::id(),
        std::thread::current().id()
    ));
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&tmp).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("run pgtls");
    // Read the pipes on threads so a large output cannot block the child.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut s).ok();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for pgtls") {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pgtls {args:?} still running after {timeout:?}: killed (a hang)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    let peak_kib = if gnu_time {
        let s = std::fs::read_to_string(&tmp).unwrap_or_default();
        let _ = std::fs::remove_file(&tmp);
        s.lines().last().and_then(|l| l.trim().parse().ok())
    } else {
        None
    };
    Run {
        code: status.code(),
        stdout,
        stderr,
        peak_kib,
        elapsed,
    }
}

// ---------------------------------------------------------------- pcapng

/// One pcapng block in the given byte order; the body is padded to 4 bytes.
pub fn ng_block(big: bool, kind: u32, body: &[u8]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&u32b(kind));
    b.extend_from_slice(&u32b(len));
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&u32b(len));
    b
}

/// An Enhanced Packet Block for interface `if_id`.
pub fn ng_epb(big: bool, if_id: u32, ts_us: u64, data: &[u8]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(if_id));
    body.extend_from_slice(&u32b((ts_us >> 32) as u32));
    body.extend_from_slice(&u32b(ts_us as u32));
    body.extend_from_slice(&u32b(data.len() as u32));
    body.extend_from_slice(&u32b(data.len() as u32));
    body.extend_from_slice(data);
    ng_block(big, 6, &body)
}
