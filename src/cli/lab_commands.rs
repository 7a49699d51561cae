//! `run`, `up` and `down`: the commands that build and remove labs.

use std::path::Path;
use std::time::Duration;

use vprolab::lab::{self, LabState, RunOptions};
use vprolab::report::LabReport;
use vprolab::topology::{self, Lab};

use super::{CliError, DownArgs, Progress, RunArgs};
use crate::exit;
use crate::sandbox;

/// Loads the topology, enters the sandbox if asked, and runs `body` on a tokio runtime.
///
/// The topology is checked before anything else, so invalid input never touches a
/// namespace. The sandbox is entered before the runtime starts its threads, because a
/// process can only change its mount namespace while it has one thread.
pub(crate) fn with_runtime<F, Fut>(args: &RunArgs, body: F) -> Result<u8, CliError>
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

pub(crate) async fn run_lab(lab: Lab, args: &RunArgs, progress: Progress) -> Result<u8, CliError> {
    let options = RunOptions { state_dir: args.state_dir.clone(), timeout: args.timeout };
    let timeout = options.timeout.unwrap_or(lab.timeout);
    let state = lab::open_state(&lab, &options)?;

    let vlans = lab.switch.vlans.len();
    progress.say(format!("building lab {}: {} namespaces, {vlans} VLAN{}", lab.name, 1 + lab.servers.len() + lab.clients.len(), if vlans == 1 { "" } else { "s" }));
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

pub(crate) async fn up_lab(lab: Lab, args: &RunArgs, progress: Progress) -> Result<u8, CliError> {
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

pub(crate) fn down_lab(args: &DownArgs, progress: Progress) -> Result<u8, CliError> {
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
