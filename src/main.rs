//! The `vprolab` command.

mod cli;
mod sandbox;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes, fixed so that scripts can tell failures apart.
pub mod exit {
    /// Every client ended as its topology expects (or the command succeeded).
    pub const OK: u8 = 0;
    /// The lab ran, but a client did not end as expected.
    pub const UNEXPECTED: u8 = 1;
    /// Invalid input: a topology with problems, a bad file, a bad argument.
    pub const INVALID_INPUT: u8 = 2;
    /// The lab could not be built or run on this machine.
    pub const ENVIRONMENT: u8 = 3;
    /// Interrupted by SIGINT or SIGTERM; the lab was torn down.
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let Err(error) = cli::init_logging(&args) {
        cli::write_stderr(&format!("vprolab: {error:#}\n"));
        return ExitCode::from(error.exit_code());
    }

    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            cli::write_stderr(&format!("vprolab: {error:#}\n"));
            ExitCode::from(error.exit_code())
        }
    }
}
