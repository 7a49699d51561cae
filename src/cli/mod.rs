//! Command-line arguments and the commands they run.

mod admin;
mod cert;
mod detach;
mod exec;
mod graph;
mod hello;
mod lab_commands;
mod logs;
mod scenarios;
mod schema;
mod validate;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args as ClapArgs, Parser, Subcommand};
use vprolab::lab::LabError;
use vprolab::topology::LoadError;

use crate::exit;

#[derive(Debug, Parser)]
#[command(name = "vprolab", version, about = "Rebuild Intel vPro (AMT) remote-provisioning networks in network namespaces and provision emulated MEs in them")]
pub struct Args {
    /// More log output on stderr (-v info, -vv debug, -vvv trace; RUST_LOG overrides), and
    /// with -v the report lists every PC of a fleet
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
    /// Build a lab, run its clients, and keep it running until Ctrl-C, SIGTERM or `vprolab down`
    Up(UpArgs),
    /// Remove a lab's processes, namespaces and state, also after its process was killed
    Down(DownArgs),
    /// List running labs with their nodes and addresses
    Status(StatusArgs),
    /// Run a command inside a node's network namespace, with the node's DNS settings
    Exec(ExecArgs),
    /// Check a topology file and print what it describes
    Validate(ValidateArgs),
    /// Print the JSON Schema of topology files, for editors
    Schema,
    /// Draw a topology: VLANs, switch, servers, zones, relays and clients
    Graph(GraphArgs),
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

    /// Lab name, which prefixes its namespaces (`NAME-NODE`) [default: the topology's `lab:` key]
    #[arg(long, value_parser = parse_lab_name, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// Print the report as JSON on stdout
    #[arg(long)]
    pub(crate) json: bool,

    /// State folder for the lab's certificates and state file [default: /run/vprolab/LAB as root, else $XDG_RUNTIME_DIR/vprolab/LAB or /tmp/vprolab-UID/LAB]
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,

    /// How long to wait for every client's verdict, such as 30s; replaces the topology's timeout
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    pub(crate) timeout: Option<Duration>,

    /// Run the whole lab inside a new, empty network namespace and a private mount
    /// namespace, so that nothing it does can reach this machine's network; as a user
    /// other than root, inside an unprivileged user namespace
    #[arg(long)]
    pub(crate) sandbox: bool,

    /// Write one pcap file per VLAN into DIR (created if missing), captured on the switch
    #[arg(long, value_name = "DIR")]
    pub(crate) capture: Option<PathBuf>,

    /// With --capture, also write one pcap file per node, captured on its switch port
    #[arg(long, requires = "capture")]
    pub(crate) capture_nodes: bool,

    /// Write one log file per node service into DIR (created if missing), at debug level
    #[arg(long, value_name = "DIR")]
    pub(crate) log_dir: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct UpArgs {
    #[command(flatten)]
    pub(crate) run: RunArgs,

    /// Return once every client has its verdict and leave the lab running in the
    /// background; stop it with `vprolab down LAB`
    #[arg(long)]
    pub(crate) detach: bool,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct DownArgs {
    /// Lab name, as given to --name or in the topology's `lab:` key
    #[arg(value_parser = parse_lab_name)]
    pub(crate) lab: String,

    /// State folder the lab was started with [default: the default state folder of LAB]
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct StatusArgs {
    /// Only this lab
    #[arg(value_parser = parse_lab_name)]
    pub(crate) lab: Option<String>,

    /// Print the state records as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ExecArgs {
    /// Lab name
    #[arg(value_parser = parse_lab_name)]
    pub(crate) lab: String,

    /// Node name, as in the topology (a server, a client or the switch)
    pub(crate) node: String,

    /// State folder the lab was started with [default: the default state folder of LAB]
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,

    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<std::ffi::OsString>,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ValidateArgs {
    /// Topology file (YAML)
    pub(crate) file: PathBuf,

    /// Print the checked model as JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct GraphArgs {
    /// Topology file (YAML)
    pub(crate) file: PathBuf,

    /// Output format: Graphviz DOT, a Mermaid flowchart, or an SVG picture drawn by
    /// Graphviz's `dot` (Debian package graphviz)
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub(crate) format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    Dot,
    Mermaid,
    Svg,
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

use vprolab::topology::MAX_LAB_NAME_LEN;

/// Parses `--name`: lowercase letters, digits and '-', not first, as topology names are.
fn parse_lab_name(text: &str) -> Result<String, String> {
    let valid_chars = text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if text.is_empty() || text.len() > MAX_LAB_NAME_LEN || !valid_chars || text.starts_with('-') {
        return Err(format!("invalid lab name {text:?}: use 1 to {MAX_LAB_NAME_LEN} lowercase letters, digits and '-', not '-' first"));
    }
    Ok(text.to_owned())
}

/// Writes `text` to standard output. A reader that has gone away, such as `head` after
/// its lines, is no failure of the command, so a broken pipe ends the output quietly
/// where `print!` would panic.
pub(crate) fn write_stdout(text: &str) {
    use std::io::Write as _;

    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
    if let Err(error) = written
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        write_stderr(&format!("vprolab: cannot write to standard output: {error}\n"));
    }
}

/// Writes `text` to standard error, ignoring a failure: there is nowhere left to report
/// it, and `eprint!` would panic on a closed pipe.
pub(crate) fn write_stderr(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
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

/// Sets up logging on stderr at the level of `-v`/`-q`, and, for `run` and `up` with
/// `--log-dir`, one file per node service.
pub fn init_logging(args: &Args) -> Result<(), CliError> {
    // hickory logs every DNS request at info; one line per query is only wanted with -vvv.
    let default = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,hickory_server=warn,hickory_proto=warn",
        (false, 2) => "debug,hickory_server=warn,hickory_proto=warn",
        (false, _) => "trace",
    };
    let log_dir = match &args.command {
        Command::Run(run) | Command::Up(UpArgs { run, .. }) => run.log_dir.as_deref(),
        _ => None,
    };
    logs::init(default, log_dir)
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let progress = Progress { quiet: args.quiet, verbose: args.verbose > 0, started: Instant::now() };
    match args.command {
        Command::Run(run) => lab_commands::run_lab(&run, progress),
        Command::Up(up) => lab_commands::up_lab(&up, progress),
        Command::Down(down) => admin::down_lab(&down, progress),
        Command::Status(status) => admin::status(&status),
        Command::Exec(exec) => exec::exec_in_node(&exec),
        Command::Validate(validate) => validate::validate_file(&validate),
        Command::Schema => schema::print_schema(),
        Command::Graph(graph) => graph::draw(&graph),
        Command::Hello(HelloCommand::Decode { file, json }) => hello::decode_hello(&file, json),
        Command::Cert(cert) => cert::run(&cert),
        Command::Scenarios(scenarios) => scenarios::run_scenarios(&scenarios, progress),
    }
}

/// Progress lines on stderr, silenced by `--quiet`.
#[derive(Clone, Copy)]
pub(crate) struct Progress {
    quiet: bool,
    verbose: bool,
    started: Instant,
}

/// Build steps are shown once the command has run this long, or always with `-v`, so
/// that a long build shows where it is and a short one stays quiet.
const SHOW_STEPS_AFTER: Duration = Duration::from_secs(1);

impl Progress {
    pub(crate) fn say(self, message: impl AsRef<str>) {
        if !self.quiet {
            write_stderr(&format!("vprolab: {}\n", message.as_ref()));
        }
    }

    /// Prints one step of a build, such as one namespace of many.
    pub(crate) fn step(self, message: &str) {
        if self.verbose || self.started.elapsed() >= SHOW_STEPS_AFTER {
            self.say(message);
        }
    }
}

