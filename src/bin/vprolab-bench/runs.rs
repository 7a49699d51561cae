//! `vprolab run` end to end: the single-domain lab by phase, and fleets from nothing to
//! ACM, each in a sandbox of its own.

use std::fs::{self, File};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::table::{Table, ms};
use crate::{Plan, builds, sandbox, say};

/// Runs of lab-single; the table shows the median.
const SINGLE_RUNS: usize = 5;

/// Goals the table states as met or missed.
const SINGLE_GOAL_MS: f64 = 500.0;
const FLEET_1000_GOAL_MS: f64 = 15_000.0;
const MEMORY_GOAL_KB: f64 = 2048.0;

/// The report of one `vprolab run --json`, with its wall time and peak memory.
struct Run {
    report: Value,
    wall_ms: f64,
    /// Peak resident memory of the vprolab process, from wait4(2).
    max_rss_kb: f64,
    /// Largest drop of MemAvailable (/proc/meminfo) during the run, in kB: the whole
    /// machine's, so other work on it counts too.
    memory_drop_kb: f64,
}

/// Runs `topologies/single.yaml` [`SINGLE_RUNS`] times and adds its median wall time and
/// the phases of the median run.
pub fn lab_single(vprolab: &Path, work: &Path, table: &mut Table) -> Result<(), String> {
    let topology = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/single.yaml");
    say(&format!("running lab-single {SINGLE_RUNS} times"));
    let mut runs = Vec::new();
    for _ in 0..SINGLE_RUNS {
        runs.push(run_lab(vprolab, &topology, work)?);
    }
    runs.sort_by(|a, b| a.wall_ms.total_cmp(&b.wall_ms));
    let run = &runs[runs.len() / 2];

    let verdict = if run.wall_ms < SINGLE_GOAL_MS { "goal < 500 ms: met" } else { "goal < 500 ms: missed" };
    table.push("lab-single", "end to end (process start to exit)", ms(run.wall_ms), "-", verdict);
    for (phase, value) in single_phases(run)? {
        table.push("lab-single", phase, ms(value), "-", "-");
    }
    Ok(())
}

/// Splits a lab-single run into its phases from the report's timeline.
fn single_phases(run: &Run) -> Result<Vec<(&'static str, f64)>, String> {
    let build = run.report["build_ms"].as_f64().ok_or("no build_ms in the report")?;
    let client = &run.report["clients"][0];
    let at = |step: &str| client["timeline"].as_array().and_then(|events| events.iter().find(|event| event["step"] == step)).and_then(|event| event["at_ms"].as_f64());
    let (Some(lease), Some(dns), Some(hello), Some(tls), Some(acm)) = (at("lease"), at("dns"), at("hello"), at("tls"), at("provisioned")) else {
        return Err(format!("lab-single did not reach ACM: {}", client["verdict"]));
    };

    Ok(vec![
        ("build: certificates, namespaces, links, services", build),
        ("DHCP: clients start to lease", lease),
        ("DNS: lease to provisionserver answer", dns - lease),
        ("hello: DNS answer to hello sent", hello - dns),
        ("TLS: hello to handshake done", tls - hello),
        ("WS-Man: handshake to CommitChanges", acm - tls),
        ("teardown, report and exit", run.wall_ms - build - acm),
    ])
}

/// Runs each fleet from nothing to ACM and adds its time, rate and memory per PC.
pub fn fleets(plan: &Plan, vprolab: &Path, work: &Path, table: &mut Table) -> Result<(), String> {
    for &pcs in plan.fleet_sizes() {
        let topology = builds::write_topology(work, &format!("fleet{pcs}"), pcs + 1)?;
        say(&format!("running a fleet of {pcs} PCs"));
        let run = run_lab(vprolab, &topology, work)?;
        add_fleet_rows(pcs, &run, table)?;
    }
    table.note("fleets: one server (DNS, DHCP, setup server) and N PCs on one VLAN. Nothing to ACM is the lab's build time plus the time from the clients' start to the last PC's CommitChanges. Provisionings per second count PCs in ACM over the time from the clients' start to the last one. Memory per PC: the vprolab process's peak resident memory (wait4) over N, and the largest drop of the machine's MemAvailable during the run over N, which adds the kernel's namespaces, links and sockets but also whatever else the machine did meanwhile.");
    table.note("setup server provisionings per second: sessions that ended in ACM over the time from the fleet's first hello to its last CommitChanges, in the fleet run of that size; the MEs run in the same process on the same cores.");
    Ok(())
}

fn add_fleet_rows(pcs: usize, run: &Run, table: &mut Table) -> Result<(), String> {
    let build = run.report["build_ms"].as_f64().ok_or("no build_ms in the report")?;
    let fleet = &run.report["fleets"][0];
    let provisioned = fleet["provisioned"].as_u64().unwrap_or(0) as f64;
    let last_acm = fleet["time_to_acm"]["max_ms"].as_f64().unwrap_or(f64::NAN);
    let to_acm = build + last_acm;

    let goal = if pcs == 1000 { if to_acm < FLEET_1000_GOAL_MS { "goal < 15 s: met" } else { "goal < 15 s: missed" } } else { "-" };
    table.push("fleet", format!("{pcs} PCs: nothing to ACM ({provisioned} in ACM)"), ms(to_acm), format!("build {}, clients {}", ms(build), ms(last_acm)), goal);
    table.push("fleet", format!("{pcs} PCs: provisionings per second"), format!("{:.0}/s", provisioned / (last_acm / 1000.0)), "-", "-");

    let user = run.max_rss_kb / pcs as f64;
    let machine = run.memory_drop_kb / pcs as f64;
    let memory_goal = if user.max(machine) < MEMORY_GOAL_KB { "goal < 2 MB: met" } else { "goal < 2 MB: missed" };
    table.push("fleet", format!("{pcs} PCs: memory per PC"), format!("{user:.0} kB process"), format!("{machine:.0} kB machine-wide"), memory_goal);

    let (activated, span) = setup_server_span(&run.report)?;
    table.push("setup server", format!("provisionings per second, fleet of {pcs}"), format!("{:.0}/s", activated / (span / 1000.0)), "-", format!("{activated} in {}", ms(span)));
    Ok(())
}

/// Counts the PCs in ACM and the time from the first hello to the last CommitChanges.
fn setup_server_span(report: &Value) -> Result<(f64, f64), String> {
    let clients = report["clients"].as_array().ok_or("no clients in the report")?;
    let times = |step: &str| -> Vec<f64> { clients.iter().filter_map(|client| client["timeline"].as_array()?.iter().find(|event| event["step"] == step)?["at_ms"].as_f64()).collect() };
    let hellos = times("hello");
    let commits = times("provisioned");
    let first = hellos.iter().copied().fold(f64::INFINITY, f64::min);
    let last = commits.iter().copied().fold(0.0, f64::max);
    Ok((commits.len() as f64, last - first))
}

/// Runs `vprolab -q run --json TOPOLOGY` in a sandbox of its own and returns its report,
/// wall time and memory.
fn run_lab(vprolab: &Path, topology: &Path, work: &Path) -> Result<Run, String> {
    let out_path = work.join("report.json");
    let out = File::create(&out_path).map_err(|error| error.to_string())?;
    let available_before = mem_available_kb();

    let baseline = sandbox::live_namespaces().unwrap_or(0);
    let started = Instant::now();
    let mut command = sandbox::child("exec \"$1\" -q run --json \"$2\"");
    let child = command.arg(vprolab).arg(topology).stdout(Stdio::from(out)).spawn().map_err(|error| format!("cannot run unshare: {error}"))?;
    let (status, max_rss_kb, lowest_available) = wait_sampling_memory(child.id())?;
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    sandbox::settle(baseline);

    let text = fs::read_to_string(&out_path).map_err(|error| error.to_string())?;
    let report: Value = serde_json::from_str(&text).map_err(|error| format!("vprolab exited with {status} and no JSON report: {error}"))?;
    let memory_drop_kb = (available_before - lowest_available).max(0.0);
    Ok(Run { report, wall_ms, max_rss_kb, memory_drop_kb })
}

/// Waits for the process `pid` while sampling MemAvailable every 50 ms. Returns its wait
/// status, its peak resident memory in kB, and the lowest MemAvailable seen.
fn wait_sampling_memory(pid: u32) -> Result<(i32, f64, f64), String> {
    use nix::libc;

    let mut lowest = mem_available_kb();
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value, and wait4 writes both out-arguments
        // only for the lifetime of this call.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut usage) };
        if reaped < 0 {
            return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
        }
        if reaped > 0 {
            return Ok((status, usage.ru_maxrss as f64, lowest));
        }
        lowest = lowest.min(mem_available_kb());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn mem_available_kb() -> f64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines().find_map(|line| line.strip_prefix("MemAvailable:")).and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0.0)
}
