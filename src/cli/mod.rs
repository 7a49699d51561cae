//! Command-line arguments and the commands they run.

mod cert;
mod hello;
mod lab_commands;
mod scenarios;
mod validate;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand};
use vprolab::lab::LabError;
use vprolab::topology::LoadError;

use crate::exit;

#[derive(Debug, Parser)]
#[command(name = "vprolab", version, about = "Rebuild Intel vPro (AMT) remote-provisioning networks in network namespaces and provision emulated MEs in them")]
pub struct Args {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Only errors on stderr, no progress lines
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a lab, run every client to its verdict, print the report and tear the lab down
    Run(RunArgs),
    /// Build a lab, run its clients, and keep it running until Ctrl-C or SIGTERM
    Up(RunArgs),
    /// Remove a lab's namespaces and state, also after its process was killed
    Down(DownArgs),
    /// Check a topology file and print what it describes
    Validate(ValidateArgs),
    /// Work with captured hello messages
    #[command(subcommand)]
    Hello(HelloCommand),
    /// Check provisioning certificates the way the firmware does
    #[command(subcommand)]
    Cert(cert::CertCommand),
    /// Run every topology of a folder, each in its own sandbox, and print a table of
    /// expected and actual outcomes
    Scenarios(ScenariosArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ScenariosArgs {
    /// Folder of scenario topologies (YAML), such as topologies/scenarios
    pub(crate) dir: PathBuf,

    /// How long to wait for every client's verdict in each scenario, such as 30s;
    /// replaces each topology's timeout
    #[arg(long, value_name = "DURATION")]
    pub(crate) timeout: Option<String>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RunArgs {
    /// Topology file (YAML)
    pub(crate) file: PathBuf,

    /// Print the report as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,

    /// State folder for the lab's certificates and state file [default: /run/vprolab/LAB]
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,

    /// How long to wait for every client's verdict, such as 30s; replaces the topology's timeout
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub(crate) timeout: Option<Duration>,

    /// Run the whole lab inside a new, empty network namespace and a private mount
    /// namespace, so that nothing it does can reach this machine's network
    #[arg(long)]
    pub(crate) sandbox: bool,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DownArgs {
    /// Lab name, as in the topology's `lab:` key
    pub(crate) lab: String,

    /// State folder the lab was started with [default: /run/vprolab/LAB]
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ValidateArgs {
    /// Topology file (YAML)
    pub(crate) file: PathBuf,

    /// Print the checked model as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
enum HelloCommand {
    /// Decode a hello message captured from port 9971 (the raw TCP payload)
    Decode {
        /// File with the raw hello bytes
        file: PathBuf,

        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
}

/// Parses `--timeout`, within the range a topology's `timeout` accepts.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let range = vprolab::topology::TIMEOUT_RANGE;
    let duration = humantime::parse_duration(text).map_err(|error| format!("{error}: write a number and a unit, such as 30s or 2m"))?;

    if range.contains(&duration) {
        Ok(duration)
    } else {
        Err(format!("must be from {} to {}", humantime::format_duration(*range.start()), humantime::format_duration(*range.end())))
    }
}

/// Failures of a command, each with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Topology(#[from] LoadError),

    #[error(transparent)]
    Lab(#[from] LabError),

    #[error("{0}")]
    Input(String),

    #[error("{0}")]
    Environment(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Topology(_) | Self::Input(_) => exit::INVALID_INPUT,
            Self::Lab(_) | Self::Environment(_) => exit::ENVIRONMENT,
        }
    }
}

pub fn init_logging(args: &Args) {
    // hickory logs every DNS request at info; one line per query is only wanted with -vvv.
    let default = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,hickory_server=warn,hickory_proto=warn",
        (false, 2) => "debug,hickory_server=warn,hickory_proto=warn",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).with_target(false).init();
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let progress = Progress { quiet: args.quiet };
    match args.command {
        Command::Run(run) => lab_commands::with_runtime(&run, |lab| lab_commands::run_lab(lab, &run, progress)),
        Command::Up(up) => lab_commands::with_runtime(&up, |lab| lab_commands::up_lab(lab, &up, progress)),
        Command::Down(down) => lab_commands::down_lab(&down, progress),
        Command::Validate(validate) => validate::validate_file(&validate),
        Command::Hello(HelloCommand::Decode { file, json }) => hello::decode_hello(&file, json),
        Command::Cert(cert) => cert::run(&cert),
        Command::Scenarios(scenarios) => scenarios::run_scenarios(&scenarios, progress),
    }
}

/// Progress lines on stderr, silenced by `--quiet`.
#[derive(Clone, Copy)]
pub(crate) struct Progress {
    quiet: bool,
}

impl Progress {
    pub(crate) fn say(self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("vprolab: {}", message.as_ref());
        }
    }
}

