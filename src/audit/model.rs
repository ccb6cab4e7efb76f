//! What an audit says, as data: the JSON document (`--format json`) and the
//! source of the table. Field names are stable.

use super::policy::Severity;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where something was seen: a frame of a file, in one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrameRef {
    pub file: String,
    /// 1-based, as Wireshark counts.
    pub frame: u64,
    /// The session: its client (address:port), its server and its first frame.
    pub client: String,
    pub server: String,
    pub session_first_frame: u64,
    /// Order of the session in the input, to keep the earliest.
    #[serde(skip)]
    pub seq: u64,
}

impl FrameRef {
    /// "frame 9 of samples/x.pcap"
    pub fn phrase(&self) -> String {
        format!("frame {} of {}", self.frame, self.file)
    }
}

/// One statement about a server or a client, with the sessions behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// Stable key of the statement (e.g. `plaintext-refused`, `ssl-refused`).
    pub kind: &'static str,
    /// Does this statement break the policy?
    pub violation: bool,
    pub sessions: u64,
    pub first: Option<FrameRef>,
    /// The sentence, ready to paste into a report.
    pub text: String,
}

/// The state of one rule on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleStatus {
    /// The capture shows the server enforcing it.
    Holds,
    /// A session broke it.
    Violated,
    /// No session in the capture proves it either way.
    NotExercised,
    /// The policy does not ask for it (`--allow-plaintext`), yet the capture
    /// shows it not enforced.
    Waived,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Holds => "holds",
            RuleStatus::Violated => "violated",
            RuleStatus::NotExercised => "not exercised",
            RuleStatus::Waived => "waived",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleAudit {
    /// `tls-offered`, `plaintext-refused` or `min-tls-version`.
    pub rule: &'static str,
    /// What the rule means, with the server setting it stands for.
    pub title: String,
    pub status: RuleStatus,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionCount {
    pub version: String,
    pub sessions: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerAudit {
    /// address:port
    pub server: String,
    /// `holds` or `violated`: a rule violated or a high-severity finding.
    pub status: &'static str,
    pub sessions: u64,
    /// Sessions per verdict (verdicts seen only).
    pub verdicts: BTreeMap<&'static str, u64>,
    /// TLS versions of the handshakes that completed, newest first.
    pub tls_negotiated: Vec<VersionCount>,
    pub rules: Vec<RuleAudit>,
    /// Findings on this server's sessions, per severity.
    pub findings: BTreeMap<&'static str, u64>,
}

/// A TLS library, as its JA4 fingerprint groups them.
#[derive(Debug, Clone, Serialize)]
pub struct Library {
    pub ja4: String,
    pub sessions: u64,
    pub highest_offered: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClientAudit {
    /// The client's address (ports change per connection).
    pub client: String,
    /// Under the policy: `breaks`, `works` (TLS at or above the minimum
    /// seen, nothing breaks) or `unknown` (nothing shows either).
    pub outlook: &'static str,
    pub sessions: u64,
    pub verdicts: BTreeMap<&'static str, u64>,
    pub servers: Vec<String>,
    /// Startup parameters that crossed in clear.
    pub users: Vec<String>,
    pub application_names: Vec<String>,
    pub highest_tls_offered: Option<String>,
    pub tls_negotiated: Vec<VersionCount>,
    pub sni: Vec<String>,
    pub alpn: Vec<String>,
    pub libraries: Vec<Library>,
    /// What stops working under the policy.
    pub breaks: Vec<Evidence>,
    /// What a reviewer should know that does not break.
    pub notes: Vec<Evidence>,
}

/// A query text shown with `--show-queries`.
#[derive(Debug, Clone, Serialize)]
pub struct QueryShown {
    pub file: String,
    pub frame: u64,
    /// Cut to 200 characters; password literals masked.
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable key: `password-in-clear`, `md5-in-clear`, `scram-in-clear`,
    /// `password-message-in-clear`, `query-in-clear`, `cancel-in-clear`,
    /// `bytes-after-request`, `bytes-after-answer`, `weak-cipher`,
    /// `tls-below-minimum`.
    pub kind: &'static str,
    pub title: String,
    /// The sentence, ready to paste into a report.
    pub text: String,
    pub server: String,
    /// The client's address.
    pub client: String,
    pub sessions: u64,
    /// Events counted (queries, password messages…), at least `sessions`.
    pub occurrences: u64,
    pub first: FrameRef,
    /// The first sessions (at most 10), each at the frame that shows it.
    pub refs: Vec<FrameRef>,
    /// Query texts, only with `--show-queries`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queries: Option<Vec<QueryShown>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub tls_required: bool,
    pub min_tls: String,
    /// The server settings the policy stands for.
    pub settings: String,
    pub show_queries: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditResult {
    /// `holds` or `violated`.
    pub status: &'static str,
    /// 0 the policy holds for every session seen, 1 a violation.
    pub exit_code: u8,
    /// Why it is violated, one line each.
    pub violations: Vec<String>,
}

/// The `--format json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub policy: PolicyReport,
    pub inputs: Vec<String>,
    pub sessions: u64,
    /// Sessions per verdict, every verdict listed.
    pub verdicts: BTreeMap<&'static str, u64>,
    pub servers: Vec<ServerAudit>,
    pub clients: Vec<ClientAudit>,
    /// Most severe first.
    pub findings: Vec<Finding>,
    pub result: AuditResult,
}
