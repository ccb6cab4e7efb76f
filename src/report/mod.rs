//! Reports: one record per session, and the outputs built from them (table,
//! JSON document, JSON Lines).

mod table;
pub mod time;

pub use table::{render_summary, render_table};

use crate::flow::Direction;
use crate::session::{Session, Verdict};
use crate::tls::{alert_name, TlsVersion};
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything pgtls says about one session. Field names are stable.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    pub file: String,
    #[serde(skip)]
    pub index: u64,
    /// Already printed when its verdict became final (live capture).
    #[serde(skip)]
    pub reported_early: bool,
    pub verdict: Verdict,
    pub reason: String,
    pub client: String,
    pub server: String,
    pub start: String,
    pub end: String,
    #[serde(skip)]
    pub start_ns: i64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub packets: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub midstream: bool,
    pub ssl_request: bool,
    pub gss_request: bool,
    /// The server's answers to SSLRequest/GSSENCRequest in order, e.g. "N", "S".
    pub ssl_response: Option<String>,
    pub negotiation: Option<&'static str>,
    pub tls: TlsReport,
    pub pg: PgReport,
    pub evidence: Vec<EvidenceReport>,
    pub anomalies: Vec<EvidenceReport>,
    pub gaps: GapReport,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct TlsReport {
    pub client_versions: Vec<String>,
    pub client_max_version: Option<String>,
    pub server_version: Option<String>,
    pub cipher: Option<String>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub alpn_selected: Option<String>,
    pub hello_retry_request: bool,
    pub sslv2_hello: bool,
    pub alert: Option<AlertReport>,
    pub encrypted_alerts: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertReport {
    pub from: &'static str,
    pub level: &'static str,
    pub description: String,
    pub code: u8,
    pub frame: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct PgReport {
    pub protocol: Option<String>,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application_name: Option<String>,
    pub auth: Vec<String>,
    pub server_version: Option<String>,
    pub error: Option<ErrorReport>,
    pub password_messages: u32,
    pub queries: u32,
    pub cancel_pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub severity: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub frame: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvidenceReport {
    pub frame: u64,
    pub what: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct GapReport {
    pub count: u32,
    pub bytes: u64,
}

impl SessionReport {
    pub fn from_session(s: &Session, file: &str) -> Self {
        let judgement = s.judge();
        let c = &s.conv;
        let t = &c.tls;
        let ch = t.client_hello.as_deref();
        let sh = t.server_hello.as_deref();
        let tls = TlsReport {
            client_versions: ch
                .map(|h| h.offered_versions().iter().map(|v| v.name()).collect())
                .unwrap_or_default(),
            client_max_version: ch.map(|h| h.max_version().name()),
            server_version: sh.map(|h| TlsVersion(h.selected_version).name()),
            cipher: sh.map(|h| cipher_name(h.cipher)),
            sni: ch.and_then(|h| h.sni.clone()),
            alpn: ch.map(|h| h.alpn.clone()).unwrap_or_default(),
            alpn_selected: sh.and_then(|h| h.alpn.clone()),
            hello_retry_request: t.hello_retry,
            sslv2_hello: ch.is_some_and(|h| h.sslv2_format),
            alert: t.alert.map(|a| AlertReport {
                from: match a.from {
                    Direction::ToServer => "client",
                    Direction::ToClient => "server",
                },
                level: match a.alert.level {
                    1 => "warning",
                    2 => "fatal",
                    _ => "unknown",
                },
                description: alert_name(a.alert.description)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("unknown_{}", a.alert.description)),
                code: a.alert.description,
                frame: a.frame,
            }),
            encrypted_alerts: t.encrypted_alerts,
        };
        let p = &c.pg;
        let pg = PgReport {
            protocol: p.protocol.map(|v| v.to_string()),
            user: p.user.clone(),
            database: p.database.clone(),
            application_name: p.application_name.clone(),
            auth: p
                .auth_codes
                .iter()
                .map(|a| {
                    a.name()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("code_{}", a.0))
                })
                .collect(),
            server_version: p.server_version.clone(),
            error: p.error.as_ref().map(|e| ErrorReport {
                severity: e.severity.clone(),
                code: e.code.clone(),
                message: e.message.clone(),
                frame: e.frame,
            }),
            password_messages: p.password_messages,
            queries: p.queries,
            cancel_pid: p.cancel_pid,
        };
        let (gaps, gap_bytes) = s.gaps();
        SessionReport {
            file: file.to_string(),
            index: s.index,
            reported_early: false,
            verdict: judgement.verdict,
            reason: judgement.reason,
            client: s.key.client.to_string(),
            server: s.key.server.to_string(),
            start: time::rfc3339(s.start_ns),
            end: time::rfc3339(s.end_ns),
            start_ns: s.start_ns,
            first_frame: s.first_frame,
            last_frame: s.last_frame,
            packets: s.packets,
            bytes_to_server: s.bytes_to_server,
            bytes_to_client: s.bytes_to_client,
            midstream: s.midstream(),
            ssl_request: c.ssl_request_frame.is_some(),
            gss_request: c.gss_request_frame.is_some(),
            ssl_response: if c.answers.is_empty() {
                None
            } else {
                Some(c.answers.iter().map(|(_, a, _)| *a as char).collect())
            },
            negotiation: t.negotiation.map(|n| n.as_str()),
            tls,
            pg,
            evidence: c
                .evidence
                .iter()
                .map(|e| EvidenceReport {
                    frame: e.frame,
                    what: e.what.clone(),
                })
                .collect(),
            anomalies: c
                .anomalies
                .iter()
                .map(|a| EvidenceReport {
                    frame: a.frame,
                    what: a.what.clone(),
                })
                .collect(),
            gaps: GapReport {
                count: gaps,
                bytes: gap_bytes,
            },
        }
    }
}

/// IANA name of a cipher suite, or its hex code.
pub fn cipher_name(id: u16) -> String {
    tls_parser::TlsCipherSuite::from_id(id)
        .map(|c| c.name.to_string())
        .unwrap_or_else(|| format!("0x{id:04x}"))
}

/// Counts per verdict, every verdict listed.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub sessions: u64,
    pub verdicts: BTreeMap<&'static str, u64>,
}

impl Summary {
    pub fn of(reports: &[SessionReport]) -> Self {
        let mut verdicts: BTreeMap<&'static str, u64> =
            Verdict::ALL.iter().map(|v| (v.as_str(), 0)).collect();
        for r in reports {
            *verdicts.entry(r.verdict.as_str()).or_default() += 1;
        }
        Summary {
            sessions: reports.len() as u64,
            verdicts,
        }
    }
}

/// The `--format json` document.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    pub sessions: &'a [SessionReport],
    pub summary: Summary,
}
