//! `vprolab-bench`: measures vprolab against the tools a user would pick instead, every
//! ratio from the same run on the same machine, and prints one table.
//!
//! It first enters a sandbox of its own: a new network namespace with only loopback, and
//! a private mount namespace with its own /run/netns and /run/vprolab. So every lab,
//! server and load generator it starts lives in namespaces it made itself. Each lab
//! build and each `ip -batch` run gets a further fresh sandbox of its own.
//!
//! `BENCH_QUICK=1` runs a reduced set in about a minute; `BENCH_ONLY=dns,dhcp` runs only
//! the named sections (build, single, fleet, dns, dhcp). Needs root, `ip` (iproute2),
//! `unshare` (util-linux), and for the peers `nsd`, `dnsmasq`, `dnsperf`, `kea-dhcp4`
//! and `perfdhcp`; a missing peer leaves its row marked as skipped.

mod builds;
mod dhcp;
mod dns;
mod runs;
mod sandbox;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use table::Table;

/// The sections and sizes to run: the full set, or the reduced one of `BENCH_QUICK=1`.
#[derive(Clone, Debug)]
pub struct Plan {
    pub quick: bool,
    /// `BENCH_ONLY`: the sections to run, such as `dns,dhcp`; all when empty.
    pub only: Vec<String>,
}

impl Plan {
    /// Checks whether `section` (build, single, fleet, dns, dhcp) is to run.
    pub fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|only| only == section)
    }

    /// Lab sizes, in node namespaces beside the switch, built by vprolab and by `ip -batch`.
    pub fn build_sizes(&self) -> &'static [usize] {
        if self.quick { &[2, 50, 200] } else { &[2, 50, 200, 1000] }
    }

    /// Fleet sizes run from nothing to ACM.
    pub fn fleet_sizes(&self) -> &'static [usize] {
        if self.quick { &[200] } else { &[200, 1000] }
    }

    /// Seconds each dnsperf and perfdhcp run lasts.
    pub fn load_seconds(&self) -> u32 {
        if self.quick { 2 } else { 5 }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(builds::CHILD_COMMAND) {
        return builds::child(&args[2..]);
    }

    let only = std::env::var("BENCH_ONLY").unwrap_or_default().split(',').filter(|section| !section.is_empty()).map(str::to_owned).collect();
    let plan = Plan { quick: std::env::var("BENCH_QUICK").is_ok_and(|value| value == "1"), only };
    if let Err(error) = sandbox::enter() {
        eprintln!("vprolab-bench: {error}");
        return ExitCode::from(3);
    }

    match run(&plan) {
        Ok(table) => {
            print!("{}", table.render());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("vprolab-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(plan: &Plan) -> Result<Table, String> {
    let work = tempfile_dir()?;
    let vprolab = sibling_binary("vprolab")?;
    let mut table = Table::default();

    if plan.runs("build") {
        builds::compare(plan, &work, &mut table)?;
    }
    if plan.runs("single") {
        runs::lab_single(&vprolab, &work, &mut table)?;
    }
    if plan.runs("fleet") {
        runs::fleets(plan, &vprolab, &work, &mut table)?;
    }
    if plan.runs("dns") {
        dns::compare(plan, &work, &mut table)?;
    }
    if plan.runs("dhcp") {
        dhcp::compare(plan, &work, &mut table)?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(table)
}

/// Creates the scratch folder under /tmp for topologies, batch files, configurations and
/// reports; the bench removes it when every section has run.
fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("vprolab-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    Ok(dir)
}

/// Finds a binary built beside this one, such as `vprolab` in target/release.
fn sibling_binary(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|error| format!("cannot find this binary: {error}"))?;
    let path = me.with_file_name(name);
    if path.exists() { Ok(path) } else { Err(format!("{} not found: build it with `cargo build --release`", path.display())) }
}

/// Prints a progress line on stderr.
pub fn say(message: &str) {
    eprintln!("vprolab-bench: {message}");
}
