//! fedtrail: why did SAML federation into AWS fail? A batch pipeline over
//! CloudTrail logs:
//!
//! ```text
//! source (list objects) -> decode (gunzip + JSON records)
//!   -> classify (record -> federation event | config change | ignore)
//!   -> aggregate (merged once) -> analyze (incidents, findings)
//!   -> sinks (Parquet, run.json, summary.md, report.html)
//! ```
//!
//! `pipeline` wires the stages; `cli` and `config` turn flags into a
//! configuration; `query` runs SQL over a written dataset; `explain` says
//! what a failure class means; `generate` writes synthetic corpora with
//! known outages.

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
pub mod prescan;
pub mod query;
pub mod redact;
pub mod sinks;
pub mod source;
pub mod spill;
pub mod state;
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
            let mut cfg = config::scan_config(&args, now, cores)?;
            cfg.redact = config::redactor(&args, std::env::var_os("FEDTRAIL_REDACT_KEY"))?;
            let outcome = pipeline::scan(&cfg)?;
            if !args.quiet {
                print_stdout(&outcome.summary)?;
            }
            Ok(u8::try_from(outcome.exit_code).unwrap_or(2))
        }
        Command::Explain(args) => explain_command(&args),
        Command::Query(args) => query_command(&args),
        Command::Report(args) => {
            let written = pipeline::rerender(&args.dir)?;
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

fn query_command(args: &cli::QueryArgs) -> anyhow::Result<u8> {
    use query::{output, saved, Dataset, Source};
    use std::io::IsTerminal;
    if args.list {
        let mut text = String::from("Saved queries (fedtrail query NAME):\n");
        for (name, sql) in saved::SAVED {
            let q = saved::parse(sql).map_err(anyhow::Error::msg)?;
            text.push_str(&format!(
                "\n  {name}\n    {}\n",
                q.question.or(q.title).unwrap_or_default()
            ));
            for p in &q.params {
                text.push_str(&format!(
                    "    --param {}=<{}>  {}\n",
                    p.name,
                    p.kind.as_str(),
                    p.description
                ));
            }
        }
        if let Ok(data) = Dataset::open(&args.data) {
            text.push_str(&format!(
                "\nTables in {}:\n{}\n",
                args.data.display(),
                data.describe()
            ));
        }
        print_stdout(&text)?;
        return Ok(0);
    }
    let source = match (&args.query, &args.execute) {
        (_, Some(sql)) => Source::text("--execute".into(), sql)?,
        (Some(name), None) => Source::resolve(name)?,
        (None, None) => anyhow::bail!("give a saved query's name, a .sql file, -e SQL or --list"),
    };
    let mut data = Dataset::open(&args.data)?;
    let mut df = data.run(&source, &args.params)?;
    let format = args
        .format
        .unwrap_or(if args.out.is_none() && std::io::stdout().is_terminal() {
            output::Format::Table
        } else {
            output::Format::Csv
        });
    match (&args.out, format) {
        (Some(path), output::Format::Parquet) => output::write_parquet(&mut df, path)
            .with_context(|| format!("cannot write {}", path.display()))?,
        (None, output::Format::Parquet) => {
            anyhow::bail!("--format parquet needs --out FILE")
        }
        (Some(path), format) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            );
            output::write(&df, format, &mut file)?;
            file.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        (None, format) => {
            let mut buf = Vec::new();
            output::write(&df, format, &mut buf)?;
            print_stdout(&String::from_utf8_lossy(&buf))?;
        }
    }
    Ok(0)
}

/// Writes to stdout; a closed pipe (`fedtrail scan | head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
