//! pgtls: tells whether PostgreSQL connections were really encrypted.
//!
//! Packets flow one way: capture → decode → flow → pg/tls parsers →
//! session → report.
#![forbid(unsafe_code)]

pub mod analyze;
pub mod audit;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod flow;
pub mod pg;
pub mod read;
pub mod relay;
pub mod report;
pub mod session;
pub mod sniff;
pub mod text;
pub mod tls;

#[cfg(test)]
pub(crate) mod testutil;
