//! A session's JSON record written straight from the session: what
//! [`json::write_compact`] writes of its [`super::SessionReport`], byte for byte
//! (`tests/json_records.rs` checks every session of every bundled capture),
//! without building the report. `read --format jsonl` of a million TLS
//! sessions spent half its instructions building reports and serializing
//! them field by field through serde.
//!
//! The server's certificates, a third of a TLS session's record, are written
//! once for the sessions that show one chain in one second under one name
//! ([`CertificatesCache`]); everything else is written as it is read.

use super::json::{self, write_integer, write_str};
use super::{
    alert_report, auth_name, certificates, cipher_name, client_fingerprints,
    client_key_share_groups, error_report, key_exchange, resumed, resumption_offered,
};
use crate::session::{negotiated_version, Conversation, Judgement, PgFacts, Session};
use crate::tls::cert::CertChain;
use crate::tls::{fingerprint, group_label, ClientHelloInfo, ServerHelloInfo, TlsVersion};
use std::borrow::Cow;
use std::cell::RefCell;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

/// Appends the compact JSON of `s`'s report, `s` judged `judgement` and
/// read from `file`: [`json::write_compact`] of
/// [`super::SessionReport::from_judged`], made without the report. Returns
/// where in `out` its counters lie ([`write_counters`]).
pub fn write_session(
    out: &mut Vec<u8>,
    s: &Session,
    judgement: &Judgement,
    file: &str,
) -> Result<Range<usize>, json::Error> {
    let c = s.conv();
    out.reserve(2048);
    str_field(out, b"{\"file\":", file);
    str_field(out, b",\"verdict\":", judgement.verdict.as_str());
    str_field(out, b",\"reason\":", &judgement.reason);
    // Addresses and times are ASCII digits and separators: nothing to escape.
    out.extend_from_slice(b",\"client\":\"");
    s.key.client.push_to(out);
    out.extend_from_slice(b"\",\"server\":\"");
    s.key.server.push_to(out);
    out.extend_from_slice(b"\",\"start\":\"");
    super::time::push_rfc3339(s.start_ns, out);
    out.extend_from_slice(b"\",");
    let counters = out.len();
    write_counters(out, s);
    let counters = counters..out.len();
    bool_field(out, b",\"midstream\":", s.midstream());
    bool_field(out, b",\"ssl_request\":", c.ssl_request_frame.is_some());
    bool_field(out, b",\"gss_request\":", c.gss_request_frame.is_some());
    out.extend_from_slice(b",\"ssl_response\":");
    if c.answers.is_empty() {
        out.extend_from_slice(b"null");
    } else if c.answers.iter().all(|(_, a, _)| a.is_ascii_alphanumeric()) {
        // `S`, `N`, `G`, `E`: as they are.
        out.push(b'"');
        out.extend(c.answers.iter().map(|(_, a, _)| *a));
        out.push(b'"');
    } else {
        let answers: String = c.answers.iter().map(|(_, a, _)| *a as char).collect();
        write_str(out, &answers);
    }
    opt_str_field(
        out,
        b",\"negotiation\":",
        c.tls.negotiation.map(|n| n.as_str()),
    );
    out.extend_from_slice(b",\"tls\":");
    write_tls(out, s, &c)?;
    out.extend_from_slice(b",\"pg\":");
    write_pg(out, &c.pg)?;
    out.extend_from_slice(b",\"evidence\":");
    write_evidence(out, c.evidence.iter().map(|e| (e.frame, &*e.what)));
    out.extend_from_slice(b",\"anomalies\":");
    write_evidence(out, c.anomalies.iter().map(|a| (a.frame, &*a.what)));
    let (count, bytes) = s.gaps();
    int_field(out, b",\"gaps\":{\"count\":", count);
    int_field(out, b",\"bytes\":", bytes);
    out.extend_from_slice(b"}}");
    Ok(counters)
}

/// The counters of `s`'s record, from the `end` key to the value of
/// `bytes_to_client`: what a late segment changes in a record rendered
/// early ([`super::Prerendered`]).
pub(super) fn write_counters(out: &mut Vec<u8>, s: &Session) {
    // A time is ASCII digits and separators: nothing to escape.
    out.extend_from_slice(b"\"end\":\"");
    super::time::push_rfc3339(s.end_ns, out);
    int_field(out, b"\",\"first_frame\":", s.first_frame);
    int_field(out, b",\"last_frame\":", s.last_frame);
    int_field(out, b",\"packets\":", s.packets);
    int_field(out, b",\"bytes_to_server\":", s.bytes_to_server);
    int_field(out, b",\"bytes_to_client\":", s.bytes_to_client);
}

/// The `tls` object of `s`, whose conversation is `c`:
/// [`super::TlsReport`] as `from_judged` makes it.
fn write_tls(out: &mut Vec<u8>, s: &Session, c: &Conversation) -> Result<(), json::Error> {
    let t = &c.tls;
    let ch = t.client_hello.as_deref();
    let sh = t.server_hello.as_deref();
    out.extend_from_slice(b"{\"client_versions\":");
    write_list(
        out,
        ch.map(ClientHelloInfo::offered_versions)
            .unwrap_or_default()
            .into_iter()
            .map(TlsVersion::name),
    );
    opt_str_field(
        out,
        b",\"client_max_version\":",
        ch.map(|h| h.max_version().name()).as_deref(),
    );
    out.extend_from_slice(b",\"server_version\":");
    write_opt_str(
        out,
        sh.map(|h| TlsVersion(h.selected_version).name()).as_deref(),
    );
    opt_str_field(
        out,
        b",\"cipher\":",
        sh.map(|h| cipher_name(h.cipher)).as_deref(),
    );
    opt_str_field(out, b",\"sni\":", ch.and_then(|h| h.sni.as_deref()));
    out.extend_from_slice(b",\"alpn\":");
    write_list(out, ch.iter().flat_map(|h| h.alpn.iter()));
    opt_str_field(
        out,
        b",\"alpn_selected\":",
        sh.and_then(|h| h.alpn.as_deref()),
    );
    bool_field(out, b",\"hello_retry_request\":", t.hello_retry);
    bool_field(
        out,
        b",\"sslv2_hello\":",
        ch.is_some_and(|h| h.sslv2_format),
    );
    out.extend_from_slice(b",\"alert\":");
    match &t.alert {
        Some(a) => json::write_compact(out, &alert_report(a))?,
        None => out.extend_from_slice(b"null"),
    }
    int_field(out, b",\"encrypted_alerts\":", t.encrypted_alerts);
    let (ja3, ja4, note) = client_fingerprints(ch);
    opt_str_field(out, b",\"ja3\":", ja3);
    opt_str_field(out, b",\"ja4\":", ja4);
    opt_str_field(out, b",\"fingerprint_note\":", note);
    opt_str_field(out, b",\"ja3s\":", sh.map(fingerprint::ja3s));
    out.extend_from_slice(b",\"client_key_shares\":");
    write_list(
        out,
        ch.into_iter()
            .flat_map(client_key_share_groups)
            .map(group_label),
    );
    out.extend_from_slice(b",\"key_exchange\":");
    write_opt_str(
        out,
        sh.and_then(|h| key_exchange(h, t.server_key_exchange.as_deref()))
            .as_deref(),
    );
    out.extend_from_slice(b",\"resumption_offered\":");
    write_list(
        out,
        ch.map(|h| resumption_offered(h, &t.client_session_id))
            .unwrap_or_default(),
    );
    opt_str_field(out, b",\"resumed\":", sh.and_then(|h| resumed(ch, h, c)));
    out.extend_from_slice(b",\"certificates\":");
    match (sh, &t.certificates) {
        (None, _) => out.extend_from_slice(b"null"),
        (Some(h), Some(chain)) => write_certificates(out, s, c, ch, h, chain)?,
        (Some(h), None) => json::write_compact(out, &certificates(s, c, ch, h))?,
    }
    out.push(b'}');
    Ok(())
}

/// The `pg` object: [`super::PgReport`] as `from_judged` makes it.
fn write_pg(out: &mut Vec<u8>, p: &PgFacts) -> Result<(), json::Error> {
    opt_str_field(
        out,
        b"{\"protocol\":",
        p.protocol.map(|v| v.to_string()).as_deref(),
    );
    opt_str_field(out, b",\"user\":", p.user.as_deref());
    opt_str_field(out, b",\"database\":", p.database.as_deref());
    opt_str_field(
        out,
        b",\"application_name\":",
        p.application_name.as_deref(),
    );
    out.extend_from_slice(b",\"auth\":");
    write_list(out, p.auth_codes.iter().map(|a| auth_name(*a)));
    opt_str_field(out, b",\"server_version\":", p.server_version.as_deref());
    out.extend_from_slice(b",\"error\":");
    match &p.error {
        Some(e) => json::write_compact(out, &error_report(e))?,
        None => out.extend_from_slice(b"null"),
    }
    int_field(out, b",\"password_messages\":", p.password_messages);
    int_field(out, b",\"queries\":", p.queries);
    opt_int_field(out, b",\"cancel_pid\":", p.cancel_pid);
    out.extend_from_slice(b",\"negotiated_protocol\":");
    write_opt_str(
        out,
        p.negotiate_protocol
            .map(|(v, _)| negotiated_version(v).to_string())
            .as_deref(),
    );
    opt_int_field(
        out,
        b",\"unrecognized_options\":",
        p.negotiate_protocol.map(|(_, n)| n),
    );
    opt_int_field(
        out,
        b",\"backend_key_bytes\":",
        p.backend_pid.map(|_| p.backend_key_len),
    );
    opt_int_field(
        out,
        b",\"cancel_key_bytes\":",
        p.cancel_pid.map(|_| p.cancel_key_len),
    );
    out.push(b'}');
    Ok(())
}

/// The `certificates` object of session `s`, whose conversation is `c`,
/// when its server sent `chain`.
fn write_certificates(
    out: &mut Vec<u8>,
    s: &Session,
    c: &Conversation,
    ch: Option<&ClientHelloInfo>,
    sh: &ServerHelloInfo,
    chain: &Arc<CertChain>,
) -> Result<(), json::Error> {
    let head = out.len();
    out.extend_from_slice(b"{\"hidden\":null,\"frame\":");
    write_integer(out, c.tls.certificate_frame);
    let now = s.start_ns.div_euclid(1_000_000_000);
    let name = match ch.and_then(|h| h.sni.as_deref()) {
        Some(sni) => Name::Sni(Cow::Borrowed(sni)),
        None => Name::Address(s.key.server.ip()),
    };
    CERTIFICATES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(tail) = cache.find(chain, now, &name) {
            out.extend_from_slice(tail);
            return Ok(());
        }
        let mut whole = Vec::new();
        json::write_compact(&mut whole, &certificates(s, c, ch, sh))?;
        // The object as `certificates` makes it begins as written above.
        match whole.strip_prefix(&out[head..]) {
            Some(tail) => {
                out.extend_from_slice(tail);
                cache.keep(
                    CertificatesKey {
                        chain: chain.clone(),
                        now,
                        name: name.into_owned(),
                    },
                    tail.to_vec(),
                );
            }
            None => {
                out.truncate(head);
                out.extend_from_slice(&whole);
            }
        }
        Ok(())
    })
}

/// What a `certificates` object with a chain depends on besides its frame
/// (see [`certificates`]): the chain, the capture's second (each
/// certificate's validity and days left), and the name a client checks.
struct CertificatesKey {
    chain: Arc<CertChain>,
    now: i64,
    name: Name<'static>,
}

/// The name a client checks: the SNI, or without one the server's address.
#[derive(PartialEq)]
enum Name<'a> {
    Sni(Cow<'a, str>),
    Address(IpAddr),
}

impl Name<'_> {
    fn into_owned(self) -> Name<'static> {
        match self {
            Name::Sni(sni) => Name::Sni(Cow::Owned(sni.into_owned())),
            Name::Address(ip) => Name::Address(ip),
        }
    }
}

impl CertificatesKey {
    fn is(&self, chain: &Arc<CertChain>, now: i64, name: &Name) -> bool {
        Arc::ptr_eq(&self.chain, chain) && self.now == now && self.name == *name
    }
}

/// The last few `certificates` objects written by this thread, from their
/// frame's end. Each entry holds its chain, so the chain's address is not
/// reused while the entry is kept.
#[derive(Default)]
struct CertificatesCache {
    entries: Vec<(CertificatesKey, Vec<u8>)>,
    next: usize,
}

/// Entries kept: a capture's sessions show a few chains at a time.
const CERTIFICATES_KEPT: usize = 8;

impl CertificatesCache {
    fn find(&self, chain: &Arc<CertChain>, now: i64, name: &Name) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(k, _)| k.is(chain, now, name))
            .map(|(_, tail)| &tail[..])
    }

    fn keep(&mut self, key: CertificatesKey, tail: Vec<u8>) {
        if self.entries.len() < CERTIFICATES_KEPT {
            self.entries.push((key, tail));
        } else {
            self.entries[self.next] = (key, tail);
            self.next = (self.next + 1) % CERTIFICATES_KEPT;
        }
    }
}

thread_local! {
    static CERTIFICATES: RefCell<CertificatesCache> = RefCell::default();
}

/// A field: `key` is its name with the punctuation around it (`,"name":`),
/// written whole, then its value.
fn int_field(out: &mut Vec<u8>, key: &[u8], v: impl itoa::Integer) {
    out.extend_from_slice(key);
    write_integer(out, v);
}

fn opt_int_field(out: &mut Vec<u8>, key: &[u8], v: Option<impl itoa::Integer>) {
    out.extend_from_slice(key);
    write_opt_integer(out, v);
}

fn str_field(out: &mut Vec<u8>, key: &[u8], v: &str) {
    out.extend_from_slice(key);
    write_str(out, v);
}

fn opt_str_field(out: &mut Vec<u8>, key: &[u8], v: Option<&str>) {
    out.extend_from_slice(key);
    write_opt_str(out, v);
}

fn bool_field(out: &mut Vec<u8>, key: &[u8], v: bool) {
    out.extend_from_slice(key);
    write_bool(out, v);
}

fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

fn write_opt_str(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(v) => write_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn write_opt_integer(out: &mut Vec<u8>, v: Option<impl itoa::Integer>) {
    match v {
        Some(v) => write_integer(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// A list of strings.
fn write_list<S: AsRef<str>>(out: &mut Vec<u8>, items: impl IntoIterator<Item = S>) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, item.as_ref());
    }
    out.push(b']');
}

/// A list of [`super::EvidenceReport`]s.
fn write_evidence<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = (u64, &'a str)>) {
    out.push(b'[');
    for (i, (frame, what)) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        int_field(out, b"{\"frame\":", frame);
        str_field(out, b",\"what\":", what);
        out.push(b'}');
    }
    out.push(b']');
}
