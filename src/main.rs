//! The `fedtrail` binary: parse flags, run, map the result to an exit code
//! (0 clean, 1 some inputs unreadable, 2 could not run).

use std::process::ExitCode;

fn main() -> ExitCode {
    match fedtrail::run(std::env::args_os()) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("fedtrail: {err:#}");
            ExitCode::from(2)
        }
    }
}
