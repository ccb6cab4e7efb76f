//! Command-line flags, turned into a validated configuration before anything runs.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "pgtls",
    version,
    about = "Tells whether PostgreSQL connections were really encrypted",
    long_about = "pgtls follows every TCP session to a PostgreSQL port through the startup \
phase (SSLRequest, GSSENCRequest, StartupMessage, the server's S/N answer) and the TLS \
handshake, and gives each session a verdict: encrypted, plaintext, rejected-tls-version, \
rejected-plaintext, tls-failed, ssl-refused, gss-encrypted, cancel-request, not-postgresql \
or incomplete.",
    after_help = "Exit status: 0 success (for sniff also: stopped by Ctrl-C, --duration or --count; \
for audit: the policy holds), 1 audit only: the policy is violated, 2 an input could not be read, \
a capture could not be opened or written, or a flag is wrong."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read pcap/pcapng files and give every PostgreSQL session a verdict.
    Read(ReadArgs),
    /// Capture live from an interface and print each session as its verdict is
    /// reached (needs the `live` build feature and capture permission).
    #[command(
        after_help = "Sessions are printed the moment their verdict is final. On Ctrl-C, at the \
end of --duration or after --count sessions, sessions still open are reported with what is \
known, then a summary with libpcap's counts of packets received and dropped (on stderr for \
table and jsonl, in the document for json).\n\nCapturing needs root, or once: \
sudo setcap cap_net_raw,cap_net_admin=eip $(which pgtls)"
    )]
    Sniff(SniffArgs),
    /// List the interfaces libpcap can capture on (needs the `live` build feature).
    Interfaces,
    /// Check that every session meets a policy (default: TLS required, at
    /// least TLS 1.2), per server and per client, and list what crossed in
    /// clear. Reads files, or captures live with --interface.
    #[command(after_help = AUDIT_AFTER_HELP)]
    Audit(AuditArgs),
}

/// `pgtls audit --help`: the rules, the findings and the exit status.
pub const AUDIT_AFTER_HELP: &str = "\
Per server (address:port), three rules, each holds (the capture shows it enforced), \
violated, not exercised (no session proves it either way) or waived (--allow-plaintext):
  tls-offered        the server answers S to SSLRequest (an N is a violation)
  plaintext-refused  a StartupMessage in clear is refused (SQLSTATE 28000): require_secure_transport=on / hostssl only
  min-tls-version    no version below --min-tls is chosen; older ClientHellos are refused (protocol_version)
Per client address: sessions, verdicts, user and application_name seen in clear, TLS versions, SNI, ALPN, \
libraries by JA4, and what breaks under the policy (sends plaintext, offers at most an old TLS version, \
falls back to plaintext after a failed TLS attempt).
Findings: high: password in clear (AuthenticationCleartextPassword answered in clear), MD5 challenge and \
answer in clear, bytes injected after SSLRequest or after S, a NULL/anonymous/export/RC4/DES cipher, a \
version below --min-tls; medium: SCRAM in clear, query text in clear, CancelRequest in clear, 3DES. \
Passwords are never shown; query texts only with --show-queries (cut, password literals masked).

Exit status:
  0  the policy holds for every session seen (also when no PostgreSQL session was found)
  1  a violation: plaintext accepted or TLS refused with N (unless --allow-plaintext), a TLS version
     below --min-tls chosen by a server, or a finding of high severity
  2  an error: a capture that cannot be read, a wrong flag, a live capture that failed

Live: pgtls audit -i eth0 --duration 300 (Ctrl-C ends it early; needs the `live` build feature and \
capture permission).";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table of sessions and a summary of counts per verdict.
    Table,
    /// One JSON document with `sessions` and `summary`.
    Json,
    /// One JSON object per session per line, in order of session start.
    Jsonl,
}

#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// Capture files (pcap or pcapng; "-" reads standard input).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Server port to follow (repeatable).
    #[arg(short, long = "port", value_name = "PORT", default_values_t = [5432u16])]
    pub ports: Vec<u16>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Sessions tracked at once; past it the sessions that started first
    /// are judged on what they showed and closed, with a warning. With
    /// several workers each holds its share of N, so which sessions close
    /// early can differ from a single-threaded run.
    #[arg(long, value_name = "N", default_value_t = crate::analyze::DEFAULT_MAX_FLOWS,
          value_parser = clap::value_parser!(usize))]
    pub max_flows: usize,

    /// Worker threads (0: one per core; default: one per core, at most
    /// 4). Sessions are sharded by flow and the output is exactly that of a
    /// single-threaded run (unless --max-flows closes sessions early). The
    /// workers share the reading of a file, piece by piece; a capture of a
    /// few long sessions gains least (one worker per session at most).
    /// Inputs that are not regular files (standard input, pipes) are read
    /// by one thread.
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,

    /// Also follow connections on any other TCP port whose client starts like
    /// PostgreSQL (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage,
    /// or a ClientHello offering ALPN "postgresql"); needs the SYN in the capture.
    #[arg(long)]
    pub any_port: bool,
}

/// Workers `read` starts by default: each reads the whole input, so past a
/// few the reading they repeat outweighs the sessions they share (and each
/// adds its own buffers to peak memory: 4 workers peak at 34 MB on a
/// million short sessions, one at 20 MB).
pub const DEFAULT_MAX_THREADS: usize = 4;

/// A validated `read` configuration.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    pub files: Vec<PathBuf>,
    pub ports: Vec<u16>,
    pub format: Format,
    pub max_flows: usize,
    /// Worker threads, at least 1.
    pub threads: usize,
    /// Recognise PostgreSQL on any port.
    pub any_port: bool,
    /// Bytes per piece when several threads read one file
    /// ([`crate::relay::PIECE`]; smaller in tests).
    pub piece_bytes: usize,
}

impl ReadArgs {
    pub fn validate(self) -> Result<ReadConfig, String> {
        check_ports_and_flows(&self.ports, self.max_flows)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = match self.threads {
            None => cores.min(DEFAULT_MAX_THREADS),
            Some(0) => cores,
            Some(n) => n,
        };
        Ok(ReadConfig {
            files: self.files,
            ports: self.ports,
            format: self.format,
            max_flows: self.max_flows,
            threads,
            any_port: self.any_port,
            piece_bytes: crate::relay::PIECE,
        })
    }
}

/// The oldest TLS version the policy accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MinTls {
    #[value(name = "1.0", aliases = ["TLSv1.0", "TLSv1"])]
    V1_0,
    #[value(name = "1.1", alias = "TLSv1.1")]
    V1_1,
    #[value(name = "1.2", alias = "TLSv1.2")]
    V1_2,
    #[value(name = "1.3", alias = "TLSv1.3")]
    V1_3,
}

impl MinTls {
    pub fn version(self) -> crate::tls::TlsVersion {
        use crate::tls::TlsVersion;
        match self {
            MinTls::V1_0 => TlsVersion::TLS_1_0,
            MinTls::V1_1 => TlsVersion::TLS_1_1,
            MinTls::V1_2 => TlsVersion::TLS_1_2,
            MinTls::V1_3 => TlsVersion::TLS_1_3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// A block per server and per client, the findings and the result.
    Table,
    /// One JSON document with the same content.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Capture files (pcap or pcapng; "-" reads standard input).
    #[arg(
        value_name = "FILE",
        required_unless_present = "interface",
        conflicts_with = "interface"
    )]
    pub files: Vec<PathBuf>,

    /// Capture live on this interface instead of reading files.
    #[arg(short, long, value_name = "NAME")]
    pub interface: Option<String>,

    /// With --interface: stop after this many seconds (otherwise at Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,

    /// Server port to follow (repeatable).
    #[arg(short, long = "port", value_name = "PORT", default_values_t = [5432u16])]
    pub ports: Vec<u16>,

    /// Oldest TLS version a server may negotiate (TLSv1.2 style names work too).
    #[arg(long, value_enum, value_name = "VERSION", default_value_t = MinTls::V1_2)]
    pub min_tls: MinTls,

    /// Drop the TLS requirement: plaintext sessions and N answers are not
    /// violations (findings such as passwords in clear still are).
    #[arg(long)]
    pub allow_plaintext: bool,

    /// Show the text of the first queries that crossed in clear (cut to 200
    /// characters, password literals masked).
    #[arg(long)]
    pub show_queries: bool,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = AuditFormat::Table)]
    pub format: AuditFormat,

    /// Sessions tracked at once; past it the sessions that started first
    /// are judged on what they showed and closed, with a warning.
    #[arg(long, value_name = "N", default_value_t = crate::analyze::DEFAULT_MAX_FLOWS,
          value_parser = clap::value_parser!(usize))]
    pub max_flows: usize,
}

/// A validated `audit` configuration.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub files: Vec<PathBuf>,
    /// Set for a live audit (`--interface`).
    pub live: Option<SniffConfig>,
    pub ports: Vec<u16>,
    pub max_flows: usize,
    pub format: AuditFormat,
    pub policy: crate::audit::Policy,
}

impl AuditArgs {
    pub fn validate(self) -> Result<AuditConfig, String> {
        check_ports_and_flows(&self.ports, self.max_flows)?;
        if self.duration == Some(0) {
            return Err("--duration must be at least 1 second".into());
        }
        if self.duration.is_some() && self.interface.is_none() {
            return Err("--duration is for a live audit: add --interface NAME".into());
        }
        let mut ports = self.ports;
        ports.sort_unstable();
        ports.dedup();
        let live = match self.interface {
            Some(i) if i.is_empty() => {
                return Err("--interface is empty; `pgtls interfaces` lists the names".into())
            }
            Some(i) => Some(SniffConfig {
                interface: Some(i),
                ports: ports.clone(),
                filter: None,
                duration: self.duration.map(Duration::from_secs),
                count: None,
                snaplen: 65535,
                write: None,
                format: Format::Json,
                idle_timeout: Duration::from_secs(300),
                max_flows: self.max_flows,
            }),
            None => None,
        };
        Ok(AuditConfig {
            files: self.files,
            live,
            ports,
            max_flows: self.max_flows,
            format: self.format,
            policy: crate::audit::Policy {
                tls_required: !self.allow_plaintext,
                min_tls: self.min_tls.version(),
                show_queries: self.show_queries,
            },
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct SniffArgs {
    /// Interface to capture on (default: libpcap's default device; "any" for all on Linux).
    #[arg(short, long, value_name = "NAME")]
    pub interface: Option<String>,

    /// Server port to follow (repeatable).
    #[arg(short, long = "port", value_name = "PORT", default_values_t = [5432u16])]
    pub ports: Vec<u16>,

    /// A BPF expression (tcpdump syntax) to narrow the capture further; it is
    /// combined with the port filter as `(tcp port P or ...) and (EXPR)`.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,

    /// Stop once this many sessions have been reported (sessions still open
    /// then are reported too).
    #[arg(short, long, value_name = "N")]
    pub count: Option<u64>,

    /// Bytes kept of each packet.
    #[arg(short, long, value_name = "BYTES", default_value_t = 65535)]
    pub snaplen: u32,

    /// Also write the raw packets seen to FILE (pcap), for a later `pgtls read`;
    /// frame numbers in the reports are the frame numbers in FILE.
    #[arg(short, long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// Output format. table and jsonl print each session as it is judged
    /// (jsonl: one line, flushed) and keep nothing; json prints one document
    /// at the end and so keeps every session until then.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Close and report sessions with no packet for this long (packet time).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub idle_timeout: u64,

    /// Sessions tracked at once; past it the sessions that started first
    /// are judged on what they showed and closed, with a warning.
    #[arg(long, value_name = "N", default_value_t = crate::analyze::DEFAULT_MAX_FLOWS,
          value_parser = clap::value_parser!(usize))]
    pub max_flows: usize,
}

/// Largest snapshot length libpcap accepts.
pub const MAX_SNAPLEN: u32 = 262_144;

/// A validated `sniff` configuration.
#[derive(Debug, Clone)]
pub struct SniffConfig {
    pub interface: Option<String>,
    pub ports: Vec<u16>,
    pub filter: Option<String>,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub snaplen: u32,
    pub write: Option<PathBuf>,
    pub format: Format,
    pub idle_timeout: Duration,
    pub max_flows: usize,
}

impl SniffArgs {
    pub fn validate(self) -> Result<SniffConfig, String> {
        check_ports_and_flows(&self.ports, self.max_flows)?;
        if self.duration == Some(0) {
            return Err("--duration must be at least 1 second".into());
        }
        if self.count == Some(0) {
            return Err("--count must be at least 1".into());
        }
        if self.idle_timeout == 0 {
            return Err("--idle-timeout must be at least 1 second".into());
        }
        if !(1..=MAX_SNAPLEN).contains(&self.snaplen) {
            return Err(format!("--snaplen must be 1 to {MAX_SNAPLEN}"));
        }
        if let Some(i) = &self.interface {
            if i.is_empty() {
                return Err("--interface is empty; `pgtls interfaces` lists the names".into());
            }
        }
        let filter = match self.filter {
            Some(f) if f.trim().is_empty() => None,
            Some(f) => Some(f),
            None => None,
        };
        let mut ports = self.ports;
        ports.sort_unstable();
        ports.dedup();
        Ok(SniffConfig {
            interface: self.interface,
            ports,
            filter,
            duration: self.duration.map(Duration::from_secs),
            count: self.count,
            snaplen: self.snaplen,
            write: self.write,
            format: self.format,
            idle_timeout: Duration::from_secs(self.idle_timeout),
            max_flows: self.max_flows,
        })
    }
}

/// The checks `read`, `sniff` and `audit` share.
fn check_ports_and_flows(ports: &[u16], max_flows: usize) -> Result<(), String> {
    if ports.contains(&0) {
        return Err("--port 0 is not a TCP port a server listens on".into());
    }
    if max_flows == 0 {
        return Err("--max-flows must be at least 1".into());
    }
    Ok(())
}
