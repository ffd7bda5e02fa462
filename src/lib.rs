//! fedtrail: why did SAML federation into AWS fail? A batch pipeline over
//! CloudTrail logs:
//!
//! ```text
//! source (list objects) -> decode (gunzip + JSON records)
//!   -> classify (record -> federation event | config change | ignore)
//!   -> aggregate (merged once) -> sinks (Parquet, run.json, summary.md)
//! ```
//!
//! `pipeline` wires the stages; `cli` and `config` turn flags into a
//! configuration; `generate` writes synthetic corpora with known outages.

pub mod aggregate;
pub mod analyze;
pub mod classify;
pub mod cli;
pub mod config;
pub mod decode;
pub mod explain;
pub mod fetch;
pub mod filter;
pub mod generate;
pub mod model;
pub mod pipeline;
pub mod sinks;
pub mod source;
pub mod time;

use std::ffi::OsString;
use std::io::Write;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command};

/// Runs the command line; returns the exit code for a run that finished.
pub fn run(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<u8> {
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Scan(args) => {
            let now = chrono::Utc::now().timestamp_micros();
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let cfg = config::scan_config(&args, now, cores)?;
            let outcome = pipeline::scan(&cfg)?;
            if !args.quiet {
                print_stdout(&outcome.summary)?;
            }
            Ok(u8::try_from(outcome.exit_code).unwrap_or(2))
        }
        Command::Explain(args) => explain_command(&args),
        Command::Report(args) => {
            let written = sinks::rerender(&args.dir)?;
            print_stdout(&written)?;
            Ok(0)
        }
        Command::Generate(args) => {
            let spec = generate::Spec::try_from(&args)?;
            let written = generate::write_corpus(&args.out, &spec)
                .with_context(|| format!("cannot write the corpus to {}", args.out.display()))?;
            print_stdout(&format!(
                "wrote {} records in {} objects ({} bytes) to {}\n",
                written.records,
                written.objects,
                written.bytes,
                args.out.display()
            ))?;
            Ok(0)
        }
    }
}

fn explain_command(args: &cli::ExplainArgs) -> anyhow::Result<u8> {
    if args.list {
        print_stdout(&explain::list())?;
        return Ok(0);
    }
    let query = args.query.as_deref().unwrap_or_default();
    let found = explain::explain(query);
    let json = args.format == cli::ExplainFormat::Json;
    let text = match (&found, json) {
        (Some(e), false) => explain::render_text(e),
        (None, false) => explain::not_recognised(query),
        (Some(e), true) => {
            let mut v = serde_json::to_value(e).context("cannot serialise the explanation")?;
            v["recognised"] = true.into();
            format!("{v:#}\n")
        }
        (None, true) => format!(
            "{:#}\n",
            serde_json::json!({
                "query": query,
                "recognised": false,
                "message": explain::not_recognised(query).trim_end(),
            })
        ),
    };
    print_stdout(&text)?;
    Ok(if found.is_some() { 0 } else { 1 })
}

/// Writes to stdout; a closed pipe (`fedtrail scan | head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
