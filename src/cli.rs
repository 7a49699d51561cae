//! Command-line arguments and the commands they run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand};
use vprolab::amt::hello::Hello;
use vprolab::lab::{self, LabError, LabState, RunOptions};
use vprolab::report::LabReport;
use vprolab::topology::{self, Lab, LoadError};

use crate::exit;
use crate::sandbox;

/// Largest hello file `hello decode` reads.
const MAX_HELLO_FILE: u64 = 64 * 1024;

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
}

#[derive(Debug, ClapArgs)]
struct RunArgs {
    /// Topology file (YAML)
    file: PathBuf,

    /// Print the report as JSON on stdout
    #[arg(long)]
    json: bool,

    /// State folder for the lab's certificates and state file [default: /run/vprolab/LAB]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    /// How long to wait for every client's verdict, such as 30s; replaces the topology's timeout
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,

    /// Run the whole lab inside a new, empty network namespace and a private mount
    /// namespace, so that nothing it does can reach this machine's network
    #[arg(long)]
    sandbox: bool,
}

#[derive(Debug, ClapArgs)]
struct DownArgs {
    /// Lab name, as in the topology's `lab:` key
    lab: String,

    /// State folder the lab was started with [default: /run/vprolab/LAB]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
struct ValidateArgs {
    /// Topology file (YAML)
    file: PathBuf,

    /// Print the checked model as JSON
    #[arg(long)]
    json: bool,
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
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let progress = Progress { quiet: args.quiet };
    match args.command {
        Command::Run(run) => with_runtime(&run, |lab| run_lab(lab, &run, progress)),
        Command::Up(up) => with_runtime(&up, |lab| up_lab(lab, &up, progress)),
        Command::Down(down) => down_lab(&down, progress),
        Command::Validate(validate) => validate_file(&validate),
        Command::Hello(HelloCommand::Decode { file, json }) => decode_hello(&file, json),
    }
}

/// Progress lines on stderr, silenced by `--quiet`.
#[derive(Clone, Copy)]
struct Progress {
    quiet: bool,
}

impl Progress {
    fn say(self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("vprolab: {}", message.as_ref());
        }
    }
}

/// Loads the topology, enters the sandbox if asked, and runs `body` on a tokio runtime.
///
/// The topology is checked before anything else, so invalid input never touches a
/// namespace. The sandbox is entered before the runtime starts its threads, because a
/// process can only change its mount namespace while it has one thread.
fn with_runtime<F, Fut>(args: &RunArgs, body: F) -> Result<u8, CliError>
where
    F: FnOnce(Lab) -> Fut,
    Fut: std::future::Future<Output = Result<u8, CliError>>,
{
    let lab = topology::load(&args.file)?;
    if args.sandbox {
        sandbox::enter().map_err(|error| CliError::Environment(error.to_string()))?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| CliError::Environment(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(body(lab))
}

async fn run_lab(lab: Lab, args: &RunArgs, progress: Progress) -> Result<u8, CliError> {
    let options = RunOptions { state_dir: args.state_dir.clone(), timeout: args.timeout };
    let timeout = options.timeout.unwrap_or(lab.timeout);
    let state = lab::open_state(&lab, &options)?;

    progress.say(format!("building lab {}: {} namespaces, {} VLANs", lab.name, 1 + lab.servers.len() + lab.clients.len(), lab.switch.vlans.len()));
    let outcome = tokio::select! {
        outcome = start_and_run(&lab, &state, timeout, &args.file, progress) => Some(outcome),
        signal = shutdown_signal() => {
            progress.say(format!("{signal} received: tearing the lab down"));
            None
        }
    };

    let failures = match &outcome {
        Some(Ok(_)) => Vec::new(),
        _ => state.teardown(),
    };
    report_teardown(&failures, progress);

    let Some(outcome) = outcome else { return Ok(exit::INTERRUPTED) };
    let report = outcome?;
    print_report(&report, args.json);
    Ok(if report.all_as_expected() { exit::OK } else { exit::UNEXPECTED })
}

async fn start_and_run(lab: &Lab, state: &LabState, timeout: Duration, file: &Path, progress: Progress) -> Result<LabReport, CliError> {
    let mut running = lab::start(lab, state).await?;

    progress.say(format!("lab built in {} ms; waiting up to {} s for {} clients", running.build_time.as_millis(), timeout.as_secs(), lab.clients.len()));
    let report = running.run_clients(timeout, file).await;

    progress.say("tearing the lab down");
    let failures = running.stop().await;
    report_teardown(&failures, progress);
    Ok(report)
}

async fn up_lab(lab: Lab, args: &RunArgs, progress: Progress) -> Result<u8, CliError> {
    let options = RunOptions { state_dir: args.state_dir.clone(), timeout: args.timeout };
    let timeout = options.timeout.unwrap_or(lab.timeout);
    let state = lab::open_state(&lab, &options)?;

    progress.say(format!("building lab {}", lab.name));
    let started = tokio::select! {
        started = lab::start(&lab, &state) => Some(started),
        _ = shutdown_signal() => None,
    };
    let mut running = match started {
        Some(Ok(running)) => running,
        Some(Err(error)) => {
            report_teardown(&state.teardown(), progress);
            return Err(error.into());
        }
        None => {
            report_teardown(&state.teardown(), progress);
            return Ok(exit::INTERRUPTED);
        }
    };

    let report = tokio::select! {
        report = running.run_clients(timeout, &args.file) => Some(report),
        _ = shutdown_signal() => None,
    };
    if let Some(report) = &report {
        print_report(report, args.json);
        progress.say(format!("lab {} is up; try `ip netns exec {} ip addr`; Ctrl-C or `vprolab down {}` stops it", lab.name, lab.namespace_of(&lab.clients[0].name), lab.name));
        let signal = shutdown_signal().await;
        progress.say(format!("{signal} received: tearing the lab down"));
    }

    report_teardown(&running.stop().await, progress);
    Ok(match report {
        Some(report) if report.all_as_expected() => exit::OK,
        Some(_) => exit::UNEXPECTED,
        None => exit::INTERRUPTED,
    })
}

fn down_lab(args: &DownArgs, progress: Progress) -> Result<u8, CliError> {
    let dir = args.state_dir.clone().unwrap_or_else(|| LabState::default_dir(&args.lab));
    let Some(record) = lab::state::read_record(&dir)? else {
        return Err(CliError::Input(format!("no running lab {:?}: {} has no state file", args.lab, dir.display())));
    };

    if record.pid != std::process::id() && lab::state::process_alive(record.pid) {
        progress.say(format!("stopping the vprolab process {} that runs lab {}", record.pid, args.lab));
        stop_process(record.pid);
    }

    let failures = lab::state::remove_namespaces(&record.namespaces);
    if !failures.is_empty() {
        report_teardown(&failures, progress);
        return Err(CliError::Environment(format!("{} namespaces of lab {} could not be removed", failures.len(), args.lab)));
    }

    let _ = std::fs::remove_dir_all(&dir);
    progress.say(format!("lab {} is down ({} namespaces removed)", args.lab, record.namespaces.len()));
    Ok(exit::OK)
}

/// Sends SIGTERM and waits up to five seconds for the process to tear its lab down.
fn stop_process(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), nix::sys::signal::Signal::SIGTERM);

    for _ in 0..50 {
        if !lab::state::process_alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn validate_file(args: &ValidateArgs) -> Result<u8, CliError> {
    let lab = topology::load(&args.file)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lab).expect("model serializes"));
    } else {
        print!("{}", describe_lab(&lab));
    }
    Ok(exit::OK)
}

fn describe_lab(lab: &Lab) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();

    let _ = writeln!(out, "lab {}: valid", lab.name);
    for vlan in &lab.switch.vlans {
        let _ = writeln!(out, "  VLAN {}: {} gateway {} on switch {}", vlan.id, vlan.subnet, vlan.gateway, lab.switch.name);
    }
    for server in &lab.servers {
        let roles: Vec<String> = server.roles.iter().map(|role| format!("{role:?}")).collect();
        let _ = writeln!(out, "  server {}: VLAN {} {} {} [{}]", server.name, server.vlan, server.address, server.fqdn, roles.join(", "));
    }
    for zone in &lab.zones {
        let _ = writeln!(out, "  zone {}: served by {}, {} records", zone.origin, zone.servers.join(", "), zone.records.len());
    }
    for scope in &lab.scopes {
        let domain = scope.domain.as_ref().map_or("none".into(), ToString::to_string);
        let _ = writeln!(out, "  DHCP scope VLAN {}: {}-{} from {}, option 15 {}", scope.vlan, scope.range.0, scope.range.1, scope.server, domain);
    }
    for relay in &lab.relays {
        let _ = writeln!(out, "  DHCP relay {} on VLAN {} (giaddr {}) -> {} ({})", relay.server, relay.listen_vlan, relay.giaddr, relay.dhcp_server, relay.dhcp_server_address);
    }
    let setup = &lab.setup_server;
    let _ = writeln!(out, "  setup server {} ({}) port {}, certificate CN={}", setup.server, setup.fqdn, setup.port, setup.certificate.cn);
    for client in &lab.clients {
        let _ = writeln!(out, "  client {}: VLAN {} firmware {}, expected {}", client.name, client.vlan, client.firmware, client.expect.outcome);
    }
    out
}

fn decode_hello(file: &Path, json: bool) -> Result<u8, CliError> {
    let len = std::fs::metadata(file).map_err(|error| CliError::Input(format!("cannot read {}: {error}", file.display())))?.len();
    if len > MAX_HELLO_FILE {
        return Err(CliError::Input(format!("{} is {len} bytes; a hello is at most {} bytes", file.display(), vprolab::amt::hello::MAX_HELLO_LEN)));
    }

    let bytes = std::fs::read(file).map_err(|error| CliError::Input(format!("cannot read {}: {error}", file.display())))?;
    let hello = Hello::parse(&bytes).map_err(|error| CliError::Input(format!("{} is not a hello: {error}", file.display())))?;

    if json {
        println!("{}", serde_json::to_string_pretty(&hello_json(&hello)).expect("hello serializes"));
    } else {
        print!("{}", describe_hello(&hello));
    }
    Ok(exit::OK)
}

fn hello_json(hello: &Hello) -> serde_json::Value {
    let hashes: Vec<serde_json::Value> = hello
        .hashes()
        .iter()
        .map(|hash| serde_json::json!({ "algorithm": hash.algorithm(), "hash": hash.to_hex(), "root": vprolab::amt::roots::find(hash).map(|root| root.name) }))
        .collect();
    serde_json::json!({
        "version": hello.version(),
        "admin_credentials_set": hello.admin_credentials_set,
        "retry_count": hello.retry_count,
        "uuid": hello.uuid.to_string(),
        "hashes": hashes,
    })
}

fn describe_hello(hello: &Hello) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let kind = if hello.version() == 3 { "PKI" } else { "PSK" };

    let _ = writeln!(out, "hello version {} ({kind})", hello.version());
    let _ = writeln!(out, "admin credentials set: {}", if hello.admin_credentials_set { "yes" } else { "no" });
    let _ = writeln!(out, "retry count: {}", hello.retry_count);
    let _ = writeln!(out, "UUID: {}", hello.uuid);
    let _ = writeln!(out, "trusted root hashes: {}", hello.hashes().len());
    for (index, hash) in hello.hashes().iter().enumerate() {
        let name = vprolab::amt::roots::find(hash).map_or("(not in the default lists)", |root| root.name);
        let _ = writeln!(out, "  {:>2}  {:<7} {}  {name}", index + 1, hash.algorithm().name(), hash.to_hex());
    }
    out
}

fn print_report(report: &LabReport, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(report).expect("report serializes"));
    } else {
        print!("{}", report.to_text());
    }
}

fn report_teardown(failures: &[(String, netns::Error)], progress: Progress) {
    for (namespace, error) in failures {
        eprintln!("vprolab: cannot remove namespace {namespace}: {error}");
    }
    if !failures.is_empty() {
        progress.say("run `vprolab down LAB` to retry the teardown");
    }
}

/// Waits for SIGINT or SIGTERM and names the one that came.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");

    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
