//! `run` and `up`: the commands that build a lab and run its clients.
//!
//! SIGINT and SIGTERM handlers are installed before the state folder is made, so that
//! from then on a signal at any phase tears down everything made so far. SIGKILL cannot
//! be caught: what it leaves is listed in the state file, and `vprolab down` or the next
//! `up` of the same lab removes it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vprolab::lab::{self, CaptureOptions, LabState, LeftoverRemoved, Phase, RunOptions, RunningLab};
use vprolab::report::LabReport;
use vprolab::topology::{self, Lab};

use super::detach::{self, Detached};
use super::{write_stderr, write_stdout};
use vprolab::report::counted;
use super::{CliError, Progress, RunArgs, UpArgs};
use crate::exit;
use crate::sandbox;

/// A lab loaded and ready to build: its model and the options of this run.
struct Prepared {
    lab: Lab,
    options: RunOptions,
}

pub(crate) fn run_lab(args: &RunArgs, progress: Progress) -> Result<u8, CliError> {
    let prepared = prepare(args, None)?;
    with_runtime(|| run_to_report(prepared, args, progress))
}

pub(crate) fn up_lab(args: &UpArgs, progress: Progress) -> Result<u8, CliError> {
    let lab = load(&args.run)?;
    let detached = if args.detach { Some(detach::fork_and_wait()?) } else { None };
    let prepared = prepare(&args.run, Some(lab))?;
    with_runtime(|| keep_up(prepared, &args.run, detached, progress))
}

fn load(args: &RunArgs) -> Result<Lab, CliError> {
    let mut lab = topology::load(&args.file)?;
    if let Some(name) = &args.name {
        lab.name.clone_from(name);
    }
    Ok(lab)
}

/// Loads the topology and enters the sandbox if asked.
///
/// The topology is checked before anything else, so invalid input never touches a
/// namespace. The sandbox is entered before the runtime starts its threads, because a
/// process can only change its mount and user namespaces while it has one thread.
fn prepare(args: &RunArgs, lab: Option<Lab>) -> Result<Prepared, CliError> {
    let lab = match lab {
        Some(lab) => lab,
        None => load(args)?,
    };
    let state_root = lab::state::state_root();

    let sandbox = match args.sandbox {
        true => Some(sandbox::enter(&state_root).map_err(|error| CliError::Environment(error.to_string()))?),
        false if !nix::unistd::geteuid().is_root() => {
            return Err(CliError::Environment("building a lab outside the sandbox needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN): add --sandbox to run it in an unprivileged user namespace".into()));
        }
        false => None,
    };

    let capture = args.capture.as_ref().map(|dir| CaptureOptions { dir: dir.clone(), per_node: args.capture_nodes });
    let options = RunOptions { state_root, state_dir: args.state_dir.clone(), timeout: args.timeout, topology: args.file.clone(), sandbox, capture };
    Ok(Prepared { lab, options })
}

fn with_runtime<F, Fut>(body: F) -> Result<u8, CliError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<u8, CliError>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| CliError::Environment(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(body())
}

/// `run`: build, run every client, tear down, report.
async fn run_to_report(prepared: Prepared, args: &RunArgs, progress: Progress) -> Result<u8, CliError> {
    let shutdown = Shutdown::install()?;
    let state = open_state(&prepared, progress)?;
    let timeout = prepared.options.timeout.unwrap_or(prepared.lab.timeout);

    let outcome = tokio::select! {
        outcome = build_run_and_stop(&prepared, &state, timeout, args, progress) => Some(outcome),
        signal = shutdown.wait() => {
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
    print_report(&report, args.json, progress);
    Ok(if report.all_as_expected() { exit::OK } else { exit::UNEXPECTED })
}

async fn build_run_and_stop(prepared: &Prepared, state: &LabState, timeout: Duration, args: &RunArgs, progress: Progress) -> Result<LabReport, CliError> {
    let lab = &prepared.lab;
    let mut running = build(prepared, state, progress).await?;

    let clients = counted(lab.clients.len(), "client");
    progress.say(format!("lab built in {} ms; waiting up to {} for {clients}", running.build_time.as_millis(), humantime::format_duration(timeout)));
    let report = running.run_clients(timeout, &args.file).await;

    progress.say("tearing the lab down");
    report_teardown(&running.stop().await, progress);
    Ok(report)
}

/// `up`: build, run every client, report, then keep the lab until a signal.
async fn keep_up(prepared: Prepared, args: &RunArgs, detached: Option<Detached>, progress: Progress) -> Result<u8, CliError> {
    let shutdown = Shutdown::install()?;
    let state = open_state(&prepared, progress)?;
    let lab = &prepared.lab;
    let timeout = prepared.options.timeout.unwrap_or(lab.timeout);

    let started = tokio::select! {
        started = build(&prepared, &state, progress) => Some(started),
        _ = shutdown.wait() => None,
    };
    let mut running = match started {
        Some(Ok(running)) => running,
        Some(Err(error)) => {
            report_teardown(&state.teardown(), progress);
            return Err(error);
        }
        None => {
            report_teardown(&state.teardown(), progress);
            return Ok(exit::INTERRUPTED);
        }
    };

    let report = tokio::select! {
        report = running.run_clients(timeout, &args.file) => Some(report),
        _ = shutdown.wait() => None,
    };
    if let Some(report) = &report {
        stay_up(&running, report, args, detached, progress);
        let signal = shutdown.wait().await;
        progress.say(format!("{signal} received: tearing the lab down"));
    }

    report_teardown(&running.stop().await, progress);
    Ok(match report {
        Some(report) => report_code(&report),
        None => exit::INTERRUPTED,
    })
}

/// Prints the report, records that the lab is up and prints how to use it. A detached
/// process then hands its exit code to the waiting parent and leaves the terminal.
fn stay_up(running: &RunningLab, report: &LabReport, args: &RunArgs, detached: Option<Detached>, progress: Progress) {
    print_report(report, args.json, progress);
    if let Err(error) = running.state.set_phase(Phase::Up) {
        tracing::warn!(%error, "cannot record that the lab is up");
    }

    let name = &running.lab.name;
    let client = &running.lab.clients[0].name;
    progress.say(format!("lab {name} is up (pid {}); try `vprolab exec {name} {client} -- ip addr` or `vprolab status`; stop it with `vprolab down {name}`{}", std::process::id(), if detached.is_some() { "" } else { " or Ctrl-C" }));
    if let Some(detached) = detached {
        detached.ready(report_code(report));
    }
}

fn report_code(report: &LabReport) -> u8 {
    if report.all_as_expected() { exit::OK } else { exit::UNEXPECTED }
}

fn open_state(prepared: &Prepared, progress: Progress) -> Result<LabState, CliError> {
    let (state, leftover) = lab::open_state(&prepared.lab, &prepared.options)?;
    if let Some(leftover) = leftover {
        say_leftover(&prepared.lab.name, &leftover, progress);
    }
    Ok(state)
}

fn say_leftover(lab: &str, leftover: &LeftoverRemoved, progress: Progress) {
    let where_ = if leftover.record.sandbox.is_some() { " (in its sandbox)" } else { "" };
    progress.say(format!(
        "an earlier run of lab {lab} (pid {}) died without tearing down: removed {} namespaces and stopped {} processes it left{where_}",
        leftover.record.owner.pid, leftover.namespaces, leftover.processes
    ));
}

async fn build(prepared: &Prepared, state: &LabState, progress: Progress) -> Result<RunningLab, CliError> {
    let lab = &prepared.lab;
    let namespaces = counted(1 + lab.servers.len() + lab.clients.len(), "namespace");
    progress.say(format!("building lab {}: {namespaces}, {}", lab.name, counted(lab.switch.vlans.len(), "VLAN")));
    let say = |line: &str| progress.step(line);
    Ok(lab::start(lab, state, &prepared.options, &say).await?)
}

/// Prints the report; with `-v` the text lists every PC of a fleet, as JSON always does.
fn print_report(report: &LabReport, json: bool, progress: Progress) {
    if json {
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(report).expect("report serializes")));
    } else if progress.verbose {
        write_stdout(&report.to_text_listing_fleets());
    } else {
        write_stdout(&report.to_text());
    }
}

pub(crate) fn report_teardown(failures: &[(String, netns::Error)], progress: Progress) {
    for (namespace, error) in failures {
        write_stderr(&format!("vprolab: cannot remove namespace {namespace}: {error}\n"));
    }
    if !failures.is_empty() {
        progress.say("run `vprolab down LAB` to retry the teardown");
    }
}

/// SIGINT and SIGTERM, caught from the moment [`Shutdown::install`] returns.
///
/// The handlers stay installed for the whole run, so a signal that arrives between two
/// phases is kept and seen by the next [`Shutdown::wait`].
struct Shutdown {
    token: CancellationToken,
    signal: Arc<OnceLock<&'static str>>,
}

impl Shutdown {
    fn install() -> Result<Self, CliError> {
        use tokio::signal::unix::{SignalKind, signal};
        let handler = |kind| signal(kind).map_err(|error| CliError::Environment(format!("cannot install a signal handler: {error}")));
        let mut terminate = handler(SignalKind::terminate())?;
        let mut interrupt = handler(SignalKind::interrupt())?;

        let (token, received) = (CancellationToken::new(), Arc::new(OnceLock::new()));
        let (cancel, name) = (token.clone(), received.clone());
        tokio::spawn(async move {
            let signal = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            let _ = name.set(signal);
            cancel.cancel();
        });
        Ok(Self { token, signal: received })
    }

    /// Waits for SIGINT or SIGTERM and names the one that came.
    async fn wait(&self) -> &'static str {
        self.token.cancelled().await;
        self.signal.get().copied().unwrap_or("signal")
    }
}
