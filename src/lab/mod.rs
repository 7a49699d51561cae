//! Builds a lab from its model, runs its services and clients, and tears it down.

mod build;
pub mod capture;
mod chain;
pub mod cleanup;
mod clients;
mod dynamic_dns;
mod exec;
mod me_keys;
mod nodes;
mod services;
pub mod state;
mod zones;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use capture::CaptureOptions;
pub use build::Built;
pub use chain::ProvisioningChain;
pub use zones::zones_for;
pub use me_keys::{FLEET_KEY_POOL, MeKeys};
pub use nodes::resolv_conf;
pub use state::{LabState, Phase, ProcessId, SandboxRecord, StateRecord};

use crate::report::{ClientReport, LabReport, SessionReport};
use crate::timeline::Step;
use crate::topology::Lab;

/// How long to wait for the setup server's last session report after the clients end.
const SESSION_GRACE: Duration = Duration::from_secs(1);

/// Settings of one run that do not come from the topology.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Parent of the default state folders (see [`state::STATE_ROOT`]).
    pub state_root: PathBuf,
    /// State folder; the default is `<state_root>/<lab>`, removed at teardown.
    pub state_dir: Option<PathBuf>,
    /// Replaces the topology's timeout.
    pub timeout: Option<Duration>,
    /// The topology file, recorded for `status`.
    pub topology: PathBuf,
    /// The sandbox this process runs in, if any.
    pub sandbox: Option<SandboxRecord>,
    /// `--capture`: pcap files of the lab's traffic.
    pub capture: Option<CaptureOptions>,
}

/// Failure to build or run a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("lab {lab} is already running (pid {pid}): stop it with `vprolab down {lab}`, or pick another name with --name")]
    AlreadyRunning { lab: String, pid: u32 },

    #[error("cannot remove namespace {namespace} left by an earlier run: {source}; run `vprolab down {lab}` to retry")]
    Leftover { lab: String, namespace: String, source: Box<netns::Error> },

    #[error("state file {path}: {source}")]
    State { path: PathBuf, source: std::io::Error },

    #[error(transparent)]
    Netns(netns::Error),

    #[error("cannot start {service}: {source}")]
    Service { service: String, source: std::io::Error },

    #[error("cannot make the lab certificates: {0}")]
    Pki(#[source] crate::pki::PkiError),

    #[error("cannot capture into {}: {source}", dir.display())]
    Capture { dir: PathBuf, source: std::io::Error },
}

/// A lab whose namespaces exist and whose services run.
pub struct RunningLab {
    pub lab: Lab,
    pub state: LabState,
    pub built: build::Built,
    pub chain: ProvisioningChain,
    pub services: services::Services,
    pub cancel: CancellationToken,
    pub capture: Option<capture::Capture>,
    pub build_time: Duration,
    /// The clients' ME key pairs, generated while the lab was built.
    pub me_keys: MeKeys,
}

/// The record an earlier run left when it died, and the counts of what was removed.
#[derive(Debug)]
pub struct LeftoverRemoved {
    pub record: StateRecord,
    pub processes: usize,
    pub namespaces: usize,
}

/// Opens and locks the lab's state, removing first what an earlier run that died left.
pub fn open_state(lab: &Lab, options: &RunOptions) -> Result<(LabState, Option<LeftoverRemoved>), LabError> {
    let (dir, owned) = match &options.state_dir {
        Some(dir) => (dir.clone(), false),
        None => (LabState::default_dir(&options.state_root, &lab.name), true),
    };
    let record = StateRecord { lab: lab.name.clone(), topology: options.topology.clone(), owner: ProcessId::current(), sandbox: options.sandbox, ..StateRecord::default() };

    let opened = LabState::create(&dir, record, owned)?;
    let removed = match opened.leftover {
        Some(leftover) => Some(remove_leftover(&lab.name, leftover)?),
        None => None,
    };
    opened.state.save()?;
    Ok((opened.state, removed))
}

fn remove_leftover(lab: &str, record: StateRecord) -> Result<LeftoverRemoved, LabError> {
    let removed = cleanup::remove_recorded(&record);
    if let Some((namespace, source)) = removed.failures.into_iter().next() {
        tracing::error!(%namespace, %source, "cannot remove a leftover namespace");
        return Err(LabError::Leftover { lab: lab.to_owned(), namespace, source: Box::new(source) });
    }
    Ok(LeftoverRemoved { record, processes: removed.processes, namespaces: removed.namespaces })
}

/// Builds the namespaces and links, issues the certificates and starts the services,
/// calling `progress` with a line at each step.
///
/// On failure, what was built stays recorded in `state`; the caller tears it down.
pub async fn start(lab: &Lab, state: &LabState, options: &RunOptions, progress: &dyn Fn(&str)) -> Result<RunningLab, LabError> {
    let started = Instant::now();

    progress("issuing the lab certificates");
    // Key generation runs on the blocking pool while the namespaces are built. It cannot
    // be cancelled, so the files are written here, and an interrupted start writes
    // nothing after its teardown.
    let certificate = lab.setup_server.certificate.clone();
    let issuing = tokio::task::spawn_blocking(move || ProvisioningChain::prepare(&certificate));
    let me_keys = MeKeys::generate(lab);

    let built = build::build(lab, state, progress).await?;
    let chain = issuing.await.expect("certificate task")?.write(state.dir())?;
    let nodes = nodes::records(lab);
    nodes::write_resolver_files(state.dir(), &nodes).map_err(|source| LabError::State { path: state.dir().join(state::RESOLVER_DIR), source })?;
    state.update(|record| record.nodes = nodes)?;
    let capture = start_capture(lab, &built, state, options.capture.as_ref()).await?;

    progress("starting the services");
    let cancel = CancellationToken::new();
    let services = services::start(lab, &built, &chain, &cancel, state.dir()).await?;
    state.set_phase(Phase::Running)?;

    Ok(RunningLab { lab: lab.clone(), state: state.clone(), built, chain, services, cancel, capture, build_time: started.elapsed(), me_keys })
}

/// Builds the lab's namespaces and links alone, without certificates or services, as
/// [`start`] does first; the benchmark compares it with `ip -batch`.
pub async fn build_namespaces(lab: &Lab, state: &LabState, progress: &dyn Fn(&str)) -> Result<Built, LabError> {
    build::build(lab, state, progress).await
}

/// Starts `--capture` before any service runs, so that the files hold the first DHCP
/// exchange, and records the files.
async fn start_capture(lab: &Lab, built: &build::Built, state: &LabState, options: Option<&CaptureOptions>) -> Result<Option<capture::Capture>, LabError> {
    let Some(options) = options else { return Ok(None) };
    let capture = capture::start(lab, built, options).await?;
    state.update(|record| record.captures = capture.files.clone())?;
    Ok(Some(capture))
}

impl RunningLab {
    /// Runs every client until it reaches a verdict or the timeout passes.
    pub async fn run_clients(&mut self, timeout: Duration, topology: &Path) -> LabReport {
        let started = Instant::now();
        let clients = clients::run_all(&self.lab, &self.built, &self.chain, &self.me_keys, timeout, &self.cancel).await;
        let setup_sessions = self.collect_sessions(&clients).await;
        let recorded = self.state.update(|record| nodes::add_leases(&mut record.nodes, &self.lab, &clients));
        if let Err(error) = recorded {
            tracing::warn!(%error, "cannot record the clients' addresses");
        }

        LabReport {
            lab: self.lab.name.clone(),
            topology: topology.display().to_string(),
            build_ms: self.build_time,
            total_ms: self.build_time + started.elapsed(),
            fleets: crate::report::FleetSummary::of_clients(&clients, &self.me_keys.shared_pools, clients::uses_static_neighbours(&self.lab)),
            clients,
            setup_sessions,
        }
    }

    /// Collects the setup server's session reports: at least one per client that sent a
    /// hello. A session reports shortly after its ME has its verdict, once the server has
    /// read the final state back, so this waits a moment for those.
    async fn collect_sessions(&mut self, clients: &[ClientReport]) -> Vec<SessionReport> {
        let expected = clients.iter().filter(|client| client.timeline.events().iter().any(|event| matches!(event.step, Step::Hello { .. }))).count();
        let mut sessions = Vec::new();

        while sessions.len() < expected {
            match tokio::time::timeout(SESSION_GRACE, self.services.sessions.recv()).await {
                Ok(Some(session)) => sessions.push(SessionReport::new(&session)),
                _ => break,
            }
        }
        while let Ok(session) = self.services.sessions.try_recv() {
            sessions.push(SessionReport::new(&session));
        }
        sessions
    }

    /// Stops the services and the capture, and removes every namespace.
    pub async fn stop(self) -> Vec<(String, netns::Error)> {
        self.cancel.cancel();
        if let Some(capture) = self.capture {
            capture.stop();
        }
        let mut tasks = self.services.tasks;
        let drained = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(result) = tasks.join_next().await {
                if let Ok((service, Err(error))) = result {
                    tracing::warn!(%service, %error, "service ended with an error");
                }
            }
        });
        if drained.await.is_err() {
            tasks.abort_all();
        }

        drop(self.built);
        self.state.teardown()
    }
}
