//! Command-line flags, turned into a validated configuration before anything runs.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
    after_help = "Exit status: 0 success, 2 an input could not be read or a flag is wrong."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read pcap/pcapng files and give every PostgreSQL session a verdict.
    Read(ReadArgs),
}

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

    /// Sessions tracked at once; past it the longest-idle sessions are
    /// judged on what they showed and closed, with a warning.
    #[arg(long, value_name = "N", default_value_t = crate::analyze::DEFAULT_MAX_FLOWS,
          value_parser = clap::value_parser!(usize))]
    pub max_flows: usize,
}

/// A validated `read` configuration.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    pub files: Vec<PathBuf>,
    pub ports: Vec<u16>,
    pub format: Format,
    pub max_flows: usize,
}

impl ReadArgs {
    pub fn validate(self) -> Result<ReadConfig, String> {
        if self.ports.contains(&0) {
            return Err("--port 0 is not a TCP port a server listens on".into());
        }
        if self.max_flows == 0 {
            return Err("--max-flows must be at least 1".into());
        }
        Ok(ReadConfig {
            files: self.files,
            ports: self.ports,
            format: self.format,
            max_flows: self.max_flows,
        })
    }
}
