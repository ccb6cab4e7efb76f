use clap::Parser;
use pgtls::cli::{Cli, Command};
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

/// Sessions allocate and free many small strings and vectors (reports,
/// evidence, hello fields): mimalloc cuts the allocator's share of a
/// million-session read from a fifth of the time (README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Read(args) => {
            let cfg = match args.validate() {
                Ok(c) => c,
                Err(e) => return fail(&e, 2),
            };
            let mut warn = |w: String| eprintln!("pgtls: warning: {w}");
            let stdout = io::stdout();
            // A terminal's width wraps the table; a file or a pipe gets
            // one line per session.
            let width = if stdout.is_terminal() {
                pgtls::report::terminal_width()
            } else {
                None
            };
            let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
            match pgtls::read::run(&cfg, &mut out, width, &mut warn) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.message, e.exit_code),
            }
        }
        Command::Sniff(args) => {
            let cfg = match args.validate() {
                Ok(c) => c,
                Err(e) => return fail(&e, 2),
            };
            sniff(&cfg)
        }
        Command::Interfaces => interfaces(),
        Command::Audit(args) => {
            let cfg = match args.validate() {
                Ok(c) => c,
                Err(e) => return fail(&e, 2),
            };
            let mut warn = |w: String| eprintln!("pgtls: warning: {w}");
            let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
            match pgtls::audit::run(&cfg, &mut out, &mut warn) {
                Ok(code) => ExitCode::from(code),
                Err(e) => fail(&e.message, e.exit_code),
            }
        }
    }
}

#[cfg(feature = "live")]
fn sniff(cfg: &pgtls::cli::SniffConfig) -> ExitCode {
    match pgtls::sniff::sniff(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.message, e.exit_code),
    }
}

#[cfg(feature = "live")]
fn interfaces() -> ExitCode {
    match pgtls::sniff::interfaces(&mut io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.message, e.exit_code),
    }
}

#[cfg(not(feature = "live"))]
fn sniff(_cfg: &pgtls::cli::SniffConfig) -> ExitCode {
    fail(pgtls::sniff::LIVE_MISSING, 2)
}

#[cfg(not(feature = "live"))]
fn interfaces() -> ExitCode {
    fail(pgtls::sniff::LIVE_MISSING, 2)
}

fn fail(msg: &str, code: u8) -> ExitCode {
    let _ = writeln!(io::stderr(), "pgtls: {msg}");
    ExitCode::from(code)
}
