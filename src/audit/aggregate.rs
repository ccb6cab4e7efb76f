//! From session reports to an [`Audit`]: per server (the rules), per client
//! (what breaks under the policy) and the findings.
//!
//! Reports are taken one at a time in order of session start and dropped:
//! memory grows with servers, clients and findings (each bounded in what it
//! keeps), not with sessions.

use super::model::*;
use super::policy::{weak_cipher, Policy, Severity};
use crate::pg::AuthCode;
use crate::report::SessionReport;
use crate::session::Verdict;
use crate::tls::TlsVersion;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;

/// A plaintext attempt that starts within this time of the end of a failed
/// TLS attempt (or the reverse, for `sslmode=allow`) from the same client
/// address to the same server is one client's retry: libpq reconnects at
/// once, so the new SYN follows the last packet of the failed session by
/// about one round trip (it came 3 ms before it on loopback). Kept short:
/// on a busy host several clients share the address, and an unrelated
/// session must rarely pass for a retry.
pub const RETRY_WINDOW_NS: i64 = 500_000_000;
/// References kept per finding.
pub const MAX_REFS: usize = 10;
/// Values kept per list of a client (users, SNI, libraries…).
pub const MAX_LISTED: usize = 32;
/// Attempts remembered per (client address, server) for retry detection.
const MAX_RECENT: usize = 64;

/// Sessions behind one statement: how many, the earliest, and a breakdown.
#[derive(Debug, Clone, Default)]
struct Tally {
    sessions: u64,
    first: Option<FrameRef>,
    detail: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, at: FrameRef) {
        self.sessions += 1;
        if self.first.as_ref().is_none_or(|f| at.seq < f.seq) {
            self.first = Some(at);
        }
    }

    fn add_detail(&mut self, at: FrameRef, detail: impl Into<String>) {
        self.add(at);
        *self.detail.entry(detail.into()).or_default() += 1;
    }

    fn is_empty(&self) -> bool {
        self.sessions == 0
    }

    /// "N sessions, first at frame F of FILE"
    fn count_first(&self) -> String {
        format!(
            "{}{}",
            plural(self.sessions, "session"),
            self.first_phrase()
        )
    }

    fn first_phrase(&self) -> String {
        self.first
            .as_ref()
            .map(|f| format!(", first at {}", f.phrase()))
            .unwrap_or_default()
    }

    /// "a: 2, b: 1", most frequent first.
    fn breakdown(&self) -> String {
        let mut d: Vec<_> = self.detail.iter().collect();
        d.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        d.iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn evidence(&self, kind: &'static str, violation: bool, text: String) -> Evidence {
        Evidence {
            kind,
            violation,
            sessions: self.sessions,
            first: self.first.clone(),
            text,
        }
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Versions counted, kept in version order.
#[derive(Debug, Clone, Default)]
struct Versions(BTreeMap<u32, (TlsVersion, u64)>);

impl Versions {
    fn add(&mut self, v: TlsVersion) {
        self.0.entry(v.rank()).or_insert((v, 0)).1 += 1;
    }

    /// Newest first.
    fn counts(&self) -> Vec<VersionCount> {
        self.0
            .values()
            .rev()
            .map(|(v, n)| VersionCount {
                version: v.name().into_owned(),
                sessions: *n,
            })
            .collect()
    }
}

#[derive(Debug, Default)]
struct ServerState {
    sessions: u64,
    verdicts: BTreeMap<&'static str, u64>,
    negotiated: Versions,
    tls_accepted: Tally,
    direct_accepted: Tally,
    midstream_tls: Tally,
    ssl_refused: Tally,
    ssl_error: Tally,
    gss: Tally,
    plain_refused: Tally,
    plain_refused_other: Tally,
    plain_accepted: Tally,
    /// Handshakes refused for their version, the client offering less than the minimum.
    version_refused: Tally,
    version_refused_offers: Tally,
    /// Refused for its version though the client offered the minimum or newer.
    refused_above: Tally,
    /// A version below the minimum chosen by the server, per version.
    below: BTreeMap<u32, (TlsVersion, Tally, Tally)>,
}

#[derive(Debug, Default)]
struct ClientState {
    sessions: u64,
    verdicts: BTreeMap<&'static str, u64>,
    servers: BTreeSet<String>,
    users: BTreeSet<String>,
    apps: BTreeSet<String>,
    sni: BTreeSet<String>,
    alpn: BTreeSet<String>,
    highest_offered: Option<TlsVersion>,
    negotiated: Versions,
    libraries: BTreeMap<String, (u64, Option<TlsVersion>)>,
    tls_ok: u64,
    plaintext: Tally,
    old_tls: Tally,
    fallback: Tally,
    fallback_after_n: Tally,
    plaintext_first: Tally,
    ssl_refused: Tally,
    tls_failed: Tally,
    cancel: Tally,
    gss: Tally,
}

/// A session remembered for retry detection.
#[derive(Debug, Clone)]
struct Attempt {
    start_ns: i64,
    end_ns: i64,
    at: FrameRef,
    verdict: Verdict,
}

/// Recent attempts of one client address to one server.
#[derive(Debug, Default)]
struct Recent {
    /// TLS attempts that failed or were refused (a plaintext retry may follow).
    failed_tls: VecDeque<Attempt>,
    /// Plaintext attempts refused, not yet counted: a TLS retry within the
    /// window makes them `sslmode=allow`, otherwise they count as plaintext.
    refused_plain: VecDeque<Attempt>,
}

#[derive(Debug)]
struct FindingState {
    severity: Severity,
    title: String,
    sessions: u64,
    occurrences: u64,
    first: FrameRef,
    refs: Vec<FrameRef>,
    queries: Vec<QueryShown>,
}

/// Key of a finding: kind, variant (a cipher, a version), server, client address.
type FindingKey = (&'static str, String, String, String);

/// Collects reports; [`Auditor::finish`] gives the audit.
pub struct Auditor {
    policy: Policy,
    inputs: Vec<String>,
    seq: u64,
    sessions: u64,
    verdicts: BTreeMap<&'static str, u64>,
    servers: HashMap<String, ServerState>,
    clients: HashMap<String, ClientState>,
    recent: HashMap<(String, String), Recent>,
    findings: HashMap<FindingKey, FindingState>,
}

/// What one session contributes to findings.
struct Found {
    kind: &'static str,
    variant: String,
    severity: Severity,
    title: String,
    frame: u64,
    occurrences: u64,
}

impl Auditor {
    pub fn new(policy: Policy) -> Self {
        Auditor {
            policy,
            inputs: Vec::new(),
            seq: 0,
            sessions: 0,
            verdicts: Verdict::ALL.iter().map(|v| (v.as_str(), 0)).collect(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            recent: HashMap::new(),
            findings: HashMap::new(),
        }
    }

    /// Names an input (a file, an interface) for the document.
    pub fn input(&mut self, name: &str) {
        self.inputs.push(name.to_string());
    }

    /// Takes one session, in order of session start.
    pub fn add(&mut self, r: &SessionReport) {
        self.seq += 1;
        self.sessions += 1;
        *self.verdicts.entry(r.verdict.as_str()).or_default() += 1;
        let client_ip = client_address(&r.client);
        let seq = self.seq;
        let at = |frame: u64| FrameRef {
            file: r.file.clone(),
            frame,
            client: r.client.clone(),
            server: r.server.clone(),
            session_first_frame: r.first_frame,
            seq,
        };
        self.add_server(r, &at);
        self.add_client(r, &client_ip, &at);
        for f in self.findings_of(r) {
            let key = (f.kind, f.variant, r.server.clone(), client_ip.clone());
            let here = at(f.frame);
            let e = self.findings.entry(key).or_insert_with(|| FindingState {
                severity: f.severity,
                title: f.title,
                sessions: 0,
                occurrences: 0,
                first: here.clone(),
                refs: Vec::new(),
                queries: Vec::new(),
            });
            e.sessions += 1;
            e.occurrences += f.occurrences;
            if here.seq < e.first.seq {
                e.first = here.clone();
            }
            if e.refs.len() < MAX_REFS {
                e.refs.push(here);
            }
            if f.kind == "query-in-clear" && self.policy.show_queries {
                for (frame, text) in &r.audit.query_texts {
                    if e.queries.len() < MAX_REFS {
                        e.queries.push(QueryShown {
                            file: r.file.clone(),
                            frame: *frame,
                            text: text.clone(),
                        });
                    }
                }
            }
        }
    }

    fn add_server(&mut self, r: &SessionReport, at: &dyn Fn(u64) -> FrameRef) {
        let policy = self.policy.clone();
        let s = self.servers.entry(r.server.clone()).or_default();
        let a = &r.audit;
        s.sessions += 1;
        *s.verdicts.entry(r.verdict.as_str()).or_default() += 1;

        if let Some(&(_, f)) = a.ssl_answers.iter().find(|(b, _)| *b == b'S') {
            s.tls_accepted.add(at(f));
        }
        if let Some(&(_, f)) = a.ssl_answers.iter().find(|(b, _)| *b == b'N') {
            s.ssl_refused.add(at(f));
        }
        if let Some(&(_, f)) = a.ssl_answers.iter().find(|(b, _)| *b == b'E') {
            s.ssl_error.add(at(f));
        }
        if r.negotiation == Some("direct") {
            if let Some(f) = a.server_hello_frame {
                s.direct_accepted.add(at(f));
            }
        }
        if r.negotiation == Some("midstream") && r.verdict == Verdict::Encrypted {
            s.midstream_tls.add(at(r.first_frame));
        }

        match r.verdict {
            Verdict::Plaintext => {
                let frame = a
                    .first_server_message
                    .map(|(_, f)| f)
                    .unwrap_or(r.first_frame);
                s.plain_accepted.add_detail(at(frame), auth_label(r));
            }
            Verdict::RejectedPlaintext => {
                let e = r.pg.error.as_ref();
                let frame = e.map(|e| e.frame).unwrap_or(r.last_frame);
                let code = e.and_then(|e| e.code.clone()).unwrap_or_else(|| "?".into());
                let hba = e
                    .and_then(|e| e.message.as_deref())
                    .is_none_or(|m| m.contains("pg_hba.conf"));
                if code == "28000" && hba {
                    s.plain_refused
                        .add_detail(at(frame), format!("SQLSTATE {code}"));
                } else {
                    s.plain_refused_other
                        .add_detail(at(frame), format!("SQLSTATE {code}"));
                }
            }
            Verdict::GssEncrypted => s.gss.add(at(r.first_frame)),
            _ => {}
        }

        if let Some(v) = a.server_version {
            if r.verdict == Verdict::Encrypted {
                s.negotiated.add(v);
            }
            if policy.below_min(v) {
                let frame = a.server_hello_frame.unwrap_or(r.first_frame);
                let e = s
                    .below
                    .entry(v.rank())
                    .or_insert_with(|| (v, Tally::default(), Tally::default()));
                if r.verdict == Verdict::Encrypted {
                    e.1.add(at(frame));
                } else {
                    e.2.add(at(frame));
                }
            }
        } else if r.verdict == Verdict::RejectedTlsVersion {
            let (how, frame) = match &r.tls.alert {
                Some(al) => (format!("{} alert", al.description), al.frame),
                None => ("close without a ServerHello".to_string(), r.last_frame),
            };
            match a.client_max_version {
                Some(max) if policy.below_min(max) => {
                    s.version_refused.add_detail(at(frame), how);
                    s.version_refused_offers
                        .add_detail(at(frame), format!("at most {}", max.name()));
                }
                Some(max) => s.refused_above.add_detail(at(frame), max.name()),
                None => s.refused_above.add_detail(at(frame), "unknown version"),
            }
        }
    }

    fn add_client(&mut self, r: &SessionReport, ip: &str, at: &dyn Fn(u64) -> FrameRef) {
        let policy = self.policy.clone();
        let a = &r.audit;
        let c = self.clients.entry(ip.to_string()).or_default();
        c.sessions += 1;
        *c.verdicts.entry(r.verdict.as_str()).or_default() += 1;
        insert_capped(&mut c.servers, &r.server);
        if let Some(u) = &r.pg.user {
            insert_capped(&mut c.users, u);
        }
        if let Some(n) = &r.pg.application_name {
            insert_capped(&mut c.apps, n);
        }
        if let Some(s) = &r.tls.sni {
            insert_capped(&mut c.sni, s);
        }
        for p in &r.tls.alpn {
            insert_capped(&mut c.alpn, p);
        }
        if let Some(max) = a.client_max_version {
            if c.highest_offered.is_none_or(|h| max.rank() > h.rank()) {
                c.highest_offered = Some(max);
            }
            if policy.below_min(max) {
                let frame = r
                    .evidence
                    .iter()
                    .find(|e| e.what.starts_with("ClientHello"))
                    .map(|e| e.frame)
                    .unwrap_or(r.first_frame);
                c.old_tls.add_detail(at(frame), max.name());
            }
        }
        if let Some(ja4) = &r.tls.ja4 {
            if c.libraries.contains_key(ja4) || c.libraries.len() < MAX_LISTED {
                let e = c.libraries.entry(ja4.clone()).or_insert((0, None));
                e.0 += 1;
                if let Some(max) = a.client_max_version {
                    if e.1.is_none_or(|h| max.rank() > h.rank()) {
                        e.1 = Some(max);
                    }
                }
            }
        }
        if let (Some(v), Verdict::Encrypted) = (a.server_version, r.verdict) {
            c.negotiated.add(v);
            if !policy.below_min(v) {
                c.tls_ok += 1;
            }
        }
        match r.verdict {
            Verdict::SslRefused => c.ssl_refused.add(at(r.first_frame)),
            Verdict::TlsFailed => c.tls_failed.add_detail(at(r.first_frame), short_reason(r)),
            Verdict::CancelRequest => c.cancel.add(at(a.cancel_frame.unwrap_or(r.first_frame))),
            Verdict::GssEncrypted => c.gss.add(at(r.first_frame)),
            _ => {}
        }

        // Retries: failed TLS then plaintext (sslmode=prefer), refused
        // plaintext then TLS (sslmode=allow).
        let key = (ip.to_string(), r.server.clone());
        let recent = self.recent.entry(key).or_default();
        let c = self.clients.get_mut(ip).expect("client entry");
        // Forget what is too old to be retried now; refused plaintext
        // attempts nobody retried count as plaintext.
        while recent
            .failed_tls
            .front()
            .is_some_and(|p| r.start_ns.saturating_sub(p.end_ns) > RETRY_WINDOW_NS)
        {
            recent.failed_tls.pop_front();
        }
        while let Some(p) = recent.refused_plain.front() {
            if r.start_ns.saturating_sub(p.end_ns) <= RETRY_WINDOW_NS {
                break;
            }
            let p = recent.refused_plain.pop_front().expect("front");
            c.plaintext.add(p.at);
        }

        let this = |frame: u64| Attempt {
            start_ns: r.start_ns,
            end_ns: r.start_ns.max(r.audit.end_ns),
            at: at(frame),
            verdict: r.verdict,
        };
        let tls_attempt = r.ssl_request || r.negotiation == Some("direct");
        let refused_ssl = a.ssl_answers.iter().any(|(b, _)| *b == b'N' || *b == b'E');
        let plaintext_attempt = match a.startup_frame {
            Some(_) => true,
            None => r.verdict == Verdict::Plaintext,
        };
        if plaintext_attempt {
            let frame = a.startup_frame.unwrap_or(r.first_frame);
            if refused_ssl {
                c.fallback_after_n.add(at(frame));
            } else if let Some(i) = recent
                .failed_tls
                .iter()
                .rposition(|p| p.start_ns <= r.start_ns)
            {
                let failed = recent.failed_tls.remove(i).expect("index");
                c.fallback.add_detail(at(frame), failed.verdict.as_str());
            } else if r.verdict == Verdict::RejectedPlaintext && !r.ssl_request {
                if recent.refused_plain.len() >= MAX_RECENT {
                    if let Some(p) = recent.refused_plain.pop_front() {
                        c.plaintext.add(p.at);
                    }
                }
                recent.refused_plain.push_back(this(frame));
            } else {
                c.plaintext.add(at(frame));
            }
        } else if tls_attempt {
            if let Some(p) = recent.refused_plain.pop_front() {
                c.plaintext_first.add(p.at);
            }
            let failed = matches!(
                r.verdict,
                Verdict::TlsFailed | Verdict::RejectedTlsVersion | Verdict::SslRefused
            );
            if failed {
                if recent.failed_tls.len() >= MAX_RECENT {
                    recent.failed_tls.pop_front();
                }
                recent.failed_tls.push_back(this(r.first_frame));
            }
        }
    }

    fn findings_of(&self, r: &SessionReport) -> Vec<Found> {
        let a = &r.audit;
        let mut out = Vec::new();
        let mut found = |kind, variant: String, severity, title: String, frame, occurrences| {
            out.push(Found {
                kind,
                variant,
                severity,
                title,
                frame,
                occurrences,
            })
        };
        // Passwords: one finding per kind of request answered, with the
        // frame of the first answer.
        let answers = |codes: &[AuthCode]| -> Option<(u64, u64)> {
            let frames: Vec<u64> = a
                .password_answers
                .iter()
                .filter(|(c, _)| c.is_some_and(|c| codes.contains(&c)))
                .map(|(_, f)| *f)
                .collect();
            frames.first().map(|f| (*f, frames.len() as u64))
        };
        if let Some((frame, n)) = answers(&[AuthCode::CLEARTEXT_PASSWORD]) {
            found(
                "password-in-clear",
                String::new(),
                Severity::High,
                "password sent in clear (AuthenticationCleartextPassword answered in clear; the password is not shown)".into(),
                frame,
                n,
            );
        }
        if let Some((frame, n)) = answers(&[AuthCode::MD5_PASSWORD]) {
            found(
                "md5-in-clear",
                String::new(),
                Severity::High,
                "MD5 challenge and answer in clear (the salt and hash allow an offline attack on the password)".into(),
                frame,
                n,
            );
        }
        if let Some((frame, n)) = answers(&[AuthCode::SASL, AuthCode::SASL_CONTINUE]) {
            let mech = a.sasl_mechanism.as_deref().unwrap_or("SASL");
            found(
                "scram-in-clear",
                String::new(),
                Severity::Medium,
                format!("{mech} exchange in clear (no password crosses, but the exchange allows an offline dictionary attack, and nothing binds it to a channel)"),
                frame,
                n,
            );
        }
        let unknown: Vec<u64> = a
            .password_answers
            .iter()
            .filter(|(c, _)| c.is_none())
            .map(|(_, f)| *f)
            .collect();
        if let Some(frame) = unknown.first() {
            found(
                "password-message-in-clear",
                String::new(),
                Severity::Medium,
                "password message in clear (the authentication request it answered was not captured)".into(),
                *frame,
                unknown.len() as u64,
            );
        }
        if r.pg.queries > 0 {
            found(
                "query-in-clear",
                String::new(),
                Severity::Medium,
                "query text in clear".into(),
                a.first_query_frame.unwrap_or(r.first_frame),
                u64::from(r.pg.queries),
            );
        }
        if r.verdict == Verdict::CancelRequest {
            found(
                "cancel-in-clear",
                String::new(),
                Severity::Medium,
                "CancelRequest in clear (its secret key lets anyone who saw it cancel that backend's queries)".into(),
                a.cancel_frame.unwrap_or(r.first_frame),
                1,
            );
        }
        for i in &a.injections {
            let (kind, title) = if i.from == "client" {
                (
                    "bytes-after-request",
                    format!(
                        "bytes from the client after {} before the server answered (CVE-2021-23214 style injection)",
                        i.after
                    ),
                )
            } else {
                (
                    "bytes-after-answer",
                    format!(
                        "bytes from the server after {} in the same segment, before the handshake (CVE-2021-23222 style injection)",
                        i.after
                    ),
                )
            };
            found(kind, i.after.to_string(), Severity::High, title, i.frame, 1);
        }
        if let (Some(v), Some(frame)) = (a.server_version, a.server_hello_frame) {
            if let Some(id) = a.cipher {
                if let Some((sev, why)) = weak_cipher(id) {
                    let name = crate::report::cipher_name(id);
                    found(
                        "weak-cipher",
                        name.to_string(),
                        sev,
                        format!("weak cipher negotiated: {name} ({why})"),
                        frame,
                        1,
                    );
                }
            }
            if self.policy.below_min(v) {
                found(
                    "tls-below-minimum",
                    v.name().into_owned(),
                    Severity::High,
                    format!(
                        "{} chosen by the server, below the minimum {}",
                        v.name(),
                        self.policy.min_name()
                    ),
                    frame,
                    1,
                );
            }
        }
        out
    }

    /// The audit of everything taken.
    pub fn finish(mut self) -> Audit {
        // Refused plaintext attempts that no TLS retry followed.
        for ((ip, _), recent) in std::mem::take(&mut self.recent) {
            if let Some(c) = self.clients.get_mut(&ip) {
                for p in recent.refused_plain {
                    c.plaintext.add(p.at);
                }
            }
        }

        let mut findings: Vec<Finding> = self
            .findings
            .drain()
            .map(|((kind, _, server, client), f)| finding(kind, server, client, f))
            .collect();
        findings.sort_by(|a, b| {
            (a.severity, a.kind, &a.server, &a.client, a.first.seq).cmp(&(
                b.severity,
                b.kind,
                &b.server,
                &b.client,
                b.first.seq,
            ))
        });

        let mut servers: Vec<ServerAudit> = self
            .servers
            .iter()
            .map(|(name, s)| server_audit(&self.policy, name, s, &findings))
            .collect();
        servers.sort_by_key(|s| address_order(&s.server));

        let mut clients: Vec<ClientAudit> = self
            .clients
            .iter()
            .map(|(ip, c)| client_audit(&self.policy, ip, c))
            .collect();
        clients.sort_by_key(|c| address_order(&c.client));

        let mut violations = Vec::new();
        for s in &servers {
            for rule in &s.rules {
                for e in rule.evidence.iter().filter(|e| e.violation) {
                    violations.push(format!("{}: {}", s.server, e.text));
                }
            }
        }
        let high: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.severity == Severity::High)
            .collect();
        for f in &high {
            if f.kind != "tls-below-minimum" {
                violations.push(format!("high-severity finding: {}", f.text));
            }
        }
        let violated = !violations.is_empty();
        Audit {
            policy: PolicyReport {
                tls_required: self.policy.tls_required,
                min_tls: self.policy.min_name(),
                settings: self.policy.settings(),
                show_queries: self.policy.show_queries,
            },
            inputs: self.inputs,
            sessions: self.sessions,
            verdicts: self.verdicts,
            servers,
            clients,
            findings,
            result: AuditResult {
                status: if violated { "violated" } else { "holds" },
                exit_code: u8::from(violated),
                violations,
            },
        }
    }
}

fn insert_capped(set: &mut BTreeSet<String>, v: &str) {
    if set.len() < MAX_LISTED || set.contains(v) {
        set.insert(v.to_string());
    }
}

/// The client's address without its port.
fn client_address(client: &str) -> String {
    client
        .parse::<SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| client.to_string())
}

/// Sort key: addresses in numeric order, anything else after them.
fn address_order(s: &str) -> (u8, Option<std::net::IpAddr>, u16, String) {
    if let Ok(a) = s.parse::<SocketAddr>() {
        (0, Some(a.ip()), a.port(), String::new())
    } else if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        (0, Some(ip), 0, String::new())
    } else {
        (1, None, 0, s.to_string())
    }
}

/// How a plaintext session authenticated: the first request other than Ok.
fn auth_label(r: &SessionReport) -> String {
    let a = &r.audit;
    if a.startup_frame.is_none() {
        return "first seen mid-stream".into();
    }
    match a.auth_requests.iter().find(|(c, _)| *c != AuthCode::OK) {
        Some((c, _)) => format!(
            "authentication {}",
            c.name()
                .map(str::to_string)
                .unwrap_or_else(|| format!("code {}", c.0))
        ),
        None if a.auth_requests.is_empty() => "no authentication request seen".into(),
        None => "no password asked (trust)".into(),
    }
}

/// The reason of a failed handshake, shortened for a breakdown.
fn short_reason(r: &SessionReport) -> String {
    match &r.tls.alert {
        Some(a) => format!("{} alert {} from the {}", a.level, a.description, a.from),
        None => r.reason.to_string(),
    }
}

fn finding(kind: &'static str, server: String, client: String, f: FindingState) -> Finding {
    let counted = match kind {
        "query-in-clear" => format!(
            "{} in {}",
            plural(f.occurrences, "query").replace("querys", "queries"),
            plural(f.sessions, "session")
        ),
        "password-in-clear" | "md5-in-clear" | "password-message-in-clear"
            if f.occurrences > f.sessions =>
        {
            format!(
                "{} in {}",
                plural(f.occurrences, "password message"),
                plural(f.sessions, "session")
            )
        }
        _ => plural(f.sessions, "session"),
    };
    let text = format!(
        "{}: {counted}, first at {} ({} → {server})",
        f.title,
        f.first.phrase(),
        f.first.client
    );
    Finding {
        severity: f.severity,
        kind,
        title: f.title,
        text,
        server,
        client,
        sessions: f.sessions,
        occurrences: f.occurrences,
        first: f.first,
        refs: f.refs,
        queries: (kind == "query-in-clear" && !f.queries.is_empty()).then_some(f.queries),
    }
}

fn server_audit(policy: &Policy, name: &str, s: &ServerState, findings: &[Finding]) -> ServerAudit {
    let min = policy.min_name();
    let required = policy.tls_required;

    // TLS offered.
    let mut ev = Vec::new();
    if !s.tls_accepted.is_empty() {
        ev.push(s.tls_accepted.evidence(
            "tls-accepted",
            false,
            format!(
                "TLS accepted: 'S' to SSLRequest in {}",
                s.tls_accepted.count_first()
            ),
        ));
    }
    if !s.direct_accepted.is_empty() {
        ev.push(s.direct_accepted.evidence(
            "direct-tls-accepted",
            false,
            format!("direct TLS accepted: {}", s.direct_accepted.count_first()),
        ));
    }
    if !s.midstream_tls.is_empty() {
        ev.push(s.midstream_tls.evidence(
            "tls-midstream",
            false,
            format!(
                "TLS records on sessions first seen mid-stream (handshake not captured): {}",
                s.midstream_tls.count_first()
            ),
        ));
    }
    if !s.ssl_refused.is_empty() {
        ev.push(s.ssl_refused.evidence(
            "ssl-refused",
            required,
            format!(
                "SSL refused with N{}: {}",
                violation_tag(required),
                s.ssl_refused.count_first()
            ),
        ));
    }
    if !s.ssl_error.is_empty() {
        ev.push(s.ssl_error.evidence(
            "ssl-error",
            required,
            format!(
                "SSLRequest answered with an ErrorResponse, a server without TLS support{}: {}",
                violation_tag(required),
                s.ssl_error.count_first()
            ),
        ));
    }
    if !s.gss.is_empty() {
        ev.push(s.gss.evidence(
            "gss-accepted",
            false,
            format!(
                "GSSAPI encryption accepted (encrypted, not TLS): {}",
                s.gss.count_first()
            ),
        ));
    }
    let refused = !s.ssl_refused.is_empty() || !s.ssl_error.is_empty();
    let accepted =
        !s.tls_accepted.is_empty() || !s.direct_accepted.is_empty() || !s.midstream_tls.is_empty();
    let tls_offered = RuleAudit {
        rule: "tls-offered",
        title: "TLS offered (ssl=on)".into(),
        status: match (refused, required, accepted) {
            (true, true, _) => RuleStatus::Violated,
            (true, false, _) => RuleStatus::Waived,
            (false, _, true) => RuleStatus::Holds,
            (false, _, false) => RuleStatus::NotExercised,
        },
        evidence: or_nothing(ev, "no SSLRequest or TLS handshake seen"),
    };

    // Plaintext refused.
    let mut ev = Vec::new();
    if !s.plain_refused.is_empty() {
        ev.push(s.plain_refused.evidence(
            "plaintext-refused",
            false,
            format!(
                "plaintext refused: {}, {}{}",
                plural(s.plain_refused.sessions, "session"),
                s.plain_refused
                    .detail
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                s.plain_refused.first_phrase()
            ),
        ));
    }
    if !s.plain_accepted.is_empty() {
        ev.push(s.plain_accepted.evidence(
            "plaintext-accepted",
            required,
            format!(
                "plaintext accepted{}: {} ({}){}",
                violation_tag(required),
                plural(s.plain_accepted.sessions, "session"),
                s.plain_accepted.breakdown(),
                s.plain_accepted.first_phrase()
            ),
        ));
    }
    if !s.plain_refused_other.is_empty() {
        ev.push(s.plain_refused_other.evidence(
            "plaintext-refused-otherwise",
            false,
            format!(
                "plaintext StartupMessage refused for another reason ({}): {}; this proves nothing about TLS",
                s.plain_refused_other.breakdown(),
                s.plain_refused_other.count_first()
            ),
        ));
    }
    let plaintext_refused = RuleAudit {
        rule: "plaintext-refused",
        title: "plaintext refused (require_secure_transport=on, hostssl only)".into(),
        status: match (
            !s.plain_accepted.is_empty(),
            required,
            !s.plain_refused.is_empty(),
        ) {
            (true, true, _) => RuleStatus::Violated,
            (true, false, _) => RuleStatus::Waived,
            (false, _, true) => RuleStatus::Holds,
            (false, _, false) => RuleStatus::NotExercised,
        },
        evidence: or_nothing(ev, "no StartupMessage in clear seen"),
    };

    // Minimum version.
    let mut ev = Vec::new();
    if !s.version_refused.is_empty() {
        let how = if s.version_refused.detail.len() == 1 {
            let k = s.version_refused.detail.keys().next().expect("one");
            let many = s.version_refused.sessions > 1 && k.ends_with("alert");
            format!(
                "{}{} in {}",
                k,
                if many { "s" } else { "" },
                plural(s.version_refused.sessions, "session")
            )
        } else {
            format!(
                "{} ({})",
                plural(s.version_refused.sessions, "session"),
                s.version_refused.breakdown()
            )
        };
        ev.push(s.version_refused.evidence(
            "version-refused",
            false,
            format!(
                "versions below {min} refused: {how} (clients offering {}){}",
                s.version_refused_offers.breakdown(),
                s.version_refused.first_phrase()
            ),
        ));
    }
    for (v, done, chosen) in s.below.values() {
        if !done.is_empty() {
            ev.push(done.evidence(
                "version-below-minimum",
                true,
                format!(
                    "{} negotiated (violation): {}",
                    v.name(),
                    done.count_first()
                ),
            ));
        }
        if !chosen.is_empty() {
            ev.push(chosen.evidence(
                "version-below-minimum",
                true,
                format!(
                    "{} chosen by the server, the handshake then failed (violation): {}",
                    v.name(),
                    chosen.count_first()
                ),
            ));
        }
    }
    let at_or_above: Vec<VersionCount> = s
        .negotiated
        .0
        .values()
        .rev()
        .filter(|(v, _)| !policy.below_min(*v))
        .map(|(v, n)| VersionCount {
            version: v.name().into_owned(),
            sessions: *n,
        })
        .collect();
    if !at_or_above.is_empty() {
        let total: u64 = at_or_above.iter().map(|v| v.sessions).sum();
        let list = at_or_above
            .iter()
            .map(|v| format!("{} in {}", v.version, plural(v.sessions, "session")))
            .collect::<Vec<_>>()
            .join(", ");
        ev.push(Evidence {
            kind: "versions-negotiated",
            violation: false,
            sessions: total,
            first: None,
            text: format!("{min} or newer negotiated: {list}"),
        });
    }
    if !s.refused_above.is_empty() {
        ev.push(s.refused_above.evidence(
            "version-refused-at-minimum",
            false,
            format!(
                "handshakes refused for their version although the client offered {min} or newer ({}): {}",
                s.refused_above.breakdown(),
                s.refused_above.count_first()
            ),
        ));
    }
    let min_rule = RuleAudit {
        rule: "min-tls-version",
        title: format!("{min} or newer (ssl_min_protocol_version={min})"),
        status: if !s.below.is_empty() {
            RuleStatus::Violated
        } else if !s.version_refused.is_empty() {
            RuleStatus::Holds
        } else {
            RuleStatus::NotExercised
        },
        evidence: or_nothing(
            ev,
            &format!("no TLS handshake seen (no client offered a version below {min})"),
        ),
    };
    let mut min_rule = min_rule;
    if min_rule.status == RuleStatus::NotExercised
        && min_rule
            .evidence
            .iter()
            .any(|e| e.kind == "versions-negotiated")
    {
        min_rule.evidence.push(Evidence {
            kind: "not-exercised",
            violation: false,
            sessions: 0,
            first: None,
            text: format!(
                "no client offered less than {min}, so nothing shows older versions are refused"
            ),
        });
    }

    let rules = vec![tls_offered, plaintext_refused, min_rule];
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.server == name) {
        *counts.entry(f.severity.as_str()).or_default() += 1;
    }
    let violated = rules.iter().any(|r| r.status == RuleStatus::Violated)
        || counts.contains_key(Severity::High.as_str());
    ServerAudit {
        server: name.to_string(),
        status: if violated { "violated" } else { "holds" },
        sessions: s.sessions,
        verdicts: s.verdicts.clone(),
        tls_negotiated: s.negotiated.counts(),
        rules,
        findings: counts,
    }
}

fn violation_tag(violation: bool) -> &'static str {
    if violation {
        " (violation)"
    } else {
        ""
    }
}

fn or_nothing(ev: Vec<Evidence>, nothing: &str) -> Vec<Evidence> {
    if ev.is_empty() {
        vec![Evidence {
            kind: "nothing-seen",
            violation: false,
            sessions: 0,
            first: None,
            text: nothing.to_string(),
        }]
    } else {
        ev
    }
}

fn client_audit(policy: &Policy, ip: &str, c: &ClientState) -> ClientAudit {
    let min = policy.min_name();
    let mut breaks = Vec::new();
    let mut notes = Vec::new();
    if !c.plaintext.is_empty() {
        let (list, text) = if policy.tls_required {
            (
                &mut breaks,
                "sends plaintext (no SSLRequest: sslmode=disable): breaks with require_secure_transport",
            )
        } else {
            (
                &mut notes,
                "sends plaintext (no SSLRequest: sslmode=disable): allowed by --allow-plaintext",
            )
        };
        list.push(c.plaintext.evidence(
            "sends-plaintext",
            policy.tls_required,
            format!("{text}: {}", c.plaintext.count_first()),
        ));
    }
    if !c.old_tls.is_empty() {
        let highest = c
            .old_tls
            .detail
            .keys()
            .max_by_key(|v| version_rank(v))
            .cloned()
            .unwrap_or_default();
        breaks.push(c.old_tls.evidence(
            "old-tls",
            true,
            format!(
                "offers at most {highest}: breaks with ssl_min_protocol_version={min}: {} ({}){}",
                plural(c.old_tls.sessions, "session"),
                c.old_tls.breakdown(),
                c.old_tls.first_phrase()
            ),
        ));
    }
    if !c.fallback.is_empty() {
        let text = format!(
            "falls back to plaintext after a failed TLS attempt (sslmode=prefer/allow){}: {} (after {}){}",
            if policy.tls_required {
                ": breaks with require_secure_transport while its TLS attempts fail"
            } else {
                ""
            },
            plural(c.fallback.sessions, "time"),
            c.fallback.breakdown(),
            c.fallback.first_phrase()
        );
        let list = if policy.tls_required {
            &mut breaks
        } else {
            &mut notes
        };
        list.push(c.fallback.evidence("fallback", policy.tls_required, text));
    }
    if !c.fallback_after_n.is_empty() {
        notes.push(c.fallback_after_n.evidence(
            "fallback-after-n",
            false,
            format!(
                "falls back to plaintext after the server refused TLS with N (sslmode=prefer/allow): uses TLS once the server offers it: {}",
                c.fallback_after_n.count_first()
            ),
        ));
    }
    if !c.plaintext_first.is_empty() {
        notes.push(c.plaintext_first.evidence(
            "plaintext-first",
            false,
            format!(
                "tries plaintext first, then TLS once refused (sslmode=allow): works under the policy, but its user and database cross in clear: {}",
                c.plaintext_first.count_first()
            ),
        ));
    }
    if !c.ssl_refused.is_empty() {
        notes.push(c.ssl_refused.evidence(
            "requires-tls",
            false,
            format!(
                "requires TLS and gave up when the server answered N (sslmode=require or stricter): {}",
                c.ssl_refused.count_first()
            ),
        ));
    }
    if !c.tls_failed.is_empty() {
        notes.push(c.tls_failed.evidence(
            "tls-failed",
            false,
            format!(
                "TLS handshake failed for another reason than its version ({}): {}",
                c.tls_failed.breakdown(),
                c.tls_failed.count_first()
            ),
        ));
    }
    if !c.cancel.is_empty() {
        notes.push(c.cancel.evidence(
            "cancel-in-clear",
            false,
            format!(
                "sends CancelRequest in clear (libpq before 18 always does, even beside TLS): {}",
                c.cancel.count_first()
            ),
        ));
    }
    if !c.gss.is_empty() {
        notes.push(c.gss.evidence(
            "gss-encrypted",
            false,
            format!("uses GSSAPI encryption: {}", c.gss.count_first()),
        ));
    }
    let outlook = if !breaks.is_empty() {
        "breaks"
    } else if c.tls_ok > 0 {
        "works"
    } else {
        "unknown"
    };
    ClientAudit {
        client: ip.to_string(),
        outlook,
        sessions: c.sessions,
        verdicts: c.verdicts.clone(),
        servers: sorted_addresses(&c.servers),
        users: c.users.iter().cloned().collect(),
        application_names: c.apps.iter().cloned().collect(),
        highest_tls_offered: c.highest_offered.map(|v| v.name().into_owned()),
        tls_negotiated: c.negotiated.counts(),
        sni: c.sni.iter().cloned().collect(),
        alpn: c.alpn.iter().cloned().collect(),
        libraries: c
            .libraries
            .iter()
            .map(|(ja4, (n, max))| Library {
                ja4: ja4.clone(),
                sessions: *n,
                highest_offered: max.map(|v| v.name().into_owned()),
            })
            .collect(),
        breaks,
        notes,
    }
}

fn sorted_addresses(set: &BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.iter().cloned().collect();
    v.sort_by_key(|s| address_order(s));
    v
}

/// Rank of a version name as `TlsVersion::name` writes it.
fn version_rank(name: &str) -> u32 {
    let code = match name {
        "SSLv2" => 0x0002,
        "SSLv3" => 0x0300,
        "TLSv1.0" => 0x0301,
        "TLSv1.1" => 0x0302,
        "TLSv1.2" => 0x0303,
        "TLSv1.3" => 0x0304,
        n => n
            .strip_prefix("TLSv1.3-draft")
            .and_then(|d| d.parse::<u16>().ok())
            .map(|d| 0x7f00 | d)
            .unwrap_or(0),
    };
    TlsVersion(code).rank()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Format, ReadConfig};

    fn reports(name: &str) -> Vec<SessionReport> {
        let cfg = ReadConfig {
            files: vec![format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR")).into()],
            ports: vec![5432],
            format: Format::Jsonl,
            max_flows: 1000,
            threads: 1,
            any_port: false,
            piece_bytes: crate::relay::PIECE,
        };
        crate::read::analyze_files(&cfg, &mut |_| {}).expect("sample")
    }

    fn audit(policy: &Policy, rs: &[SessionReport]) -> Audit {
        let mut a = Auditor::new(policy.clone());
        for r in rs {
            a.add(r);
        }
        a.finish()
    }

    fn kinds(e: &[Evidence]) -> Vec<&'static str> {
        e.iter().map(|e| e.kind).collect()
    }

    fn rule<'a>(a: &'a Audit, rule: &str) -> &'a RuleAudit {
        a.servers[0]
            .rules
            .iter()
            .find(|r| r.rule == rule)
            .expect("rule")
    }

    /// Moves a session later in time by `ns`.
    fn shift(r: &mut SessionReport, ns: i64) {
        r.start_ns += ns;
        r.audit.end_ns += ns;
    }

    #[test]
    fn prefer_fallback_is_a_retry_only_within_the_window() {
        let mut rs = reports("audit-prefer-fallback.pcap");
        let a = audit(&Policy::default(), &rs);
        let c = &a.clients[0];
        assert_eq!(kinds(&c.breaks), ["old-tls", "fallback"]);
        assert!(c.breaks[1].text.contains("after rejected-tls-version: 1"));
        assert_eq!(c.breaks[1].first.as_ref().unwrap().frame, 14);

        shift(&mut rs[1], RETRY_WINDOW_NS + 100_000_000);
        let a = audit(&Policy::default(), &rs);
        assert_eq!(kinds(&a.clients[0].breaks), ["sends-plaintext", "old-tls"]);
    }

    #[test]
    fn allow_pairs_a_refused_plaintext_attempt_with_the_tls_retry() {
        let mut rs = reports("audit-allow-strict.pcap");
        let a = audit(&Policy::default(), &rs);
        let c = &a.clients[0];
        assert!(c.breaks.is_empty(), "{:?}", c.breaks);
        assert_eq!(kinds(&c.notes), ["plaintext-first"]);
        assert_eq!(c.outlook, "works");
        assert_eq!(rule(&a, "plaintext-refused").status, RuleStatus::Holds);
        assert_eq!(a.result.exit_code, 0);

        shift(&mut rs[1], RETRY_WINDOW_NS + 100_000_000);
        let a = audit(&Policy::default(), &rs);
        assert_eq!(kinds(&a.clients[0].breaks), ["sends-plaintext"]);
        assert!(a.clients[0].notes.is_empty());
    }

    #[test]
    fn n_then_plaintext_in_one_session_is_a_fallback_note_and_n_a_violation() {
        let rs = reports("ssl-off-prefer.pcap");
        let a = audit(&Policy::default(), &rs);
        assert_eq!(kinds(&a.clients[0].notes), ["fallback-after-n"]);
        assert_eq!(rule(&a, "tls-offered").status, RuleStatus::Violated);
        assert_eq!(
            rule(&a, "tls-offered").evidence[0].text,
            "SSL refused with N (violation): 1 session, first at frame 6 of ".to_string()
                + &rs[0].file
        );
        assert_eq!(a.result.exit_code, 1);

        let lax = Policy {
            tls_required: false,
            ..Policy::default()
        };
        let a = audit(&lax, &rs);
        assert_eq!(rule(&a, "tls-offered").status, RuleStatus::Waived);
        assert_eq!(rule(&a, "plaintext-refused").status, RuleStatus::Waived);
        assert_eq!(a.result.exit_code, 0, "{:?}", a.result.violations);
    }

    #[test]
    fn min_tls_13_turns_a_tls12_session_into_a_violation() {
        let rs = reports("tls12.pcap");
        assert_eq!(audit(&Policy::default(), &rs).result.exit_code, 0);
        let p = Policy {
            min_tls: TlsVersion::TLS_1_3,
            ..Policy::default()
        };
        let a = audit(&p, &rs);
        let r = rule(&a, "min-tls-version");
        assert_eq!(r.status, RuleStatus::Violated);
        assert!(r.evidence[0]
            .text
            .starts_with("TLSv1.2 negotiated (violation): 1 session, first at frame 9 of"));
        assert_eq!(a.findings[0].kind, "tls-below-minimum");
        assert_eq!(a.findings[0].severity, Severity::High);
        assert_eq!(a.clients[0].breaks[0].kind, "old-tls");
        assert_eq!(a.result.exit_code, 1);
    }

    #[test]
    fn refusals_below_the_minimum_prove_the_rule() {
        let rs = reports("tls11-refused.pcap");
        let a = audit(&Policy::default(), &rs);
        let r = rule(&a, "min-tls-version");
        assert_eq!(r.status, RuleStatus::Holds);
        assert!(
            r.evidence[0].text.starts_with(
                "versions below TLSv1.2 refused: protocol_version alert in 1 session (clients offering at most TLSv1.1: 1), first at frame 9 of"
            ),
            "{}",
            r.evidence[0].text
        );
        // The same refusal says nothing about a minimum of TLS 1.1.
        let p = Policy {
            min_tls: TlsVersion::TLS_1_1,
            ..Policy::default()
        };
        let a = audit(&p, &rs);
        assert_eq!(rule(&a, "min-tls-version").status, RuleStatus::NotExercised);
    }

    #[test]
    fn nothing_seen_is_not_exercised_and_holds() {
        let a = audit(&Policy::default(), &[]);
        assert!(a.servers.is_empty() && a.clients.is_empty() && a.findings.is_empty());
        assert_eq!(a.result.exit_code, 0);
    }

    #[test]
    fn version_names_rank_like_versions() {
        assert!(version_rank("TLSv1.0") < version_rank("TLSv1.1"));
        assert!(version_rank("SSLv2") < version_rank("SSLv3"));
        assert!(version_rank("TLSv1.2") < version_rank("TLSv1.3-draft28"));
        assert!(version_rank("TLSv1.3-draft28") < version_rank("TLSv1.3"));
    }
}
