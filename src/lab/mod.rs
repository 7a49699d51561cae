//! Builds a lab from its model, runs its services and clients, and tears it down.

mod build;
mod chain;
mod clients;
mod exec;
mod services;
pub mod state;
mod zones;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use chain::ProvisioningChain;
pub use state::{LabState, StateRecord};

use crate::report::{ClientReport, LabReport, SessionReport};
use crate::timeline::Step;
use crate::topology::Lab;

/// How long to wait for the setup server's last session report after the clients end.
const SESSION_GRACE: Duration = Duration::from_secs(1);

/// Settings of one run that do not come from the topology.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// State folder; the default is `/run/vprolab/<lab>`, removed at teardown.
    pub state_dir: Option<PathBuf>,
    /// Replaces the topology's timeout.
    pub timeout: Option<Duration>,
}

/// Failure to build or run a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("lab {lab} is already running (pid {pid}): stop it with `vprolab down {lab}`")]
    AlreadyRunning { lab: String, pid: u32 },

    #[error("an earlier run of this lab died and left {} namespaces recorded in {}", record.namespaces.len(), dir.display())]
    Leftover { dir: PathBuf, record: StateRecord },

    #[error("state file {path}: {source}")]
    State { path: PathBuf, source: std::io::Error },

    #[error(transparent)]
    Netns(netns::Error),

    #[error("cannot start {service}: {source}")]
    Service { service: String, source: std::io::Error },

    #[error("cannot make the lab certificates: {0}")]
    Pki(#[source] crate::pki::PkiError),
}

/// A lab whose namespaces exist and whose services run.
pub struct RunningLab {
    pub lab: Lab,
    pub state: LabState,
    pub built: build::Built,
    pub chain: ProvisioningChain,
    pub services: services::Services,
    pub cancel: CancellationToken,
    pub build_time: Duration,
}

/// Opens the lab's state, removing what an earlier run that died left behind.
pub fn open_state(lab: &Lab, options: &RunOptions) -> Result<LabState, LabError> {
    let (dir, owned) = match &options.state_dir {
        Some(dir) => (dir.clone(), false),
        None => (LabState::default_dir(&lab.name), true),
    };

    match LabState::create(&dir, &lab.name, owned) {
        Err(LabError::Leftover { dir, record }) => {
            eprintln!("vprolab: removing {} namespaces left by an earlier run of lab {} (pid {})", record.namespaces.len(), lab.name, record.pid);
            remove_leftover(&dir, &record)?;
            LabState::create(&dir, &lab.name, owned)
        }
        other => other,
    }
}

fn remove_leftover(dir: &Path, record: &StateRecord) -> Result<(), LabError> {
    if let Some((name, error)) = state::remove_namespaces(&record.namespaces).into_iter().next() {
        tracing::error!(namespace = %name, %error, "cannot remove a leftover namespace");
        return Err(LabError::Netns(error));
    }
    std::fs::remove_file(dir.join("state.json")).map_err(|source| LabError::State { path: dir.join("state.json"), source })
}

/// Builds the namespaces and links, issues the certificates and starts the services.
///
/// On failure, what was built stays recorded in `state`; the caller tears it down.
pub async fn start(lab: &Lab, state: &LabState) -> Result<RunningLab, LabError> {
    let started = Instant::now();

    // Key generation runs on the blocking pool, which cannot be cancelled; the files are
    // written here, so that an interrupted start writes nothing after its teardown.
    let certificate = lab.setup_server.certificate.clone();
    let prepared = tokio::task::spawn_blocking(move || ProvisioningChain::prepare(&certificate)).await.expect("certificate task")?;
    let chain = prepared.write(state.dir())?;

    let built = build::build(lab, state).await?;
    let cancel = CancellationToken::new();
    let services = services::start(lab, &built, &chain, &cancel, state.dir()).await?;

    Ok(RunningLab { lab: lab.clone(), state: state.clone(), built, chain, services, cancel, build_time: started.elapsed() })
}

impl RunningLab {
    /// Runs every client until it reaches a verdict or the timeout passes.
    pub async fn run_clients(&mut self, timeout: Duration, topology: &Path) -> LabReport {
        let started = Instant::now();
        let clients = clients::run_all(&self.lab, &self.built, &self.chain, timeout).await;
        let setup_sessions = self.collect_sessions(&clients).await;

        LabReport {
            lab: self.lab.name.clone(),
            topology: topology.display().to_string(),
            build_ms: self.build_time,
            total_ms: self.build_time + started.elapsed(),
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

    /// Stops the services and removes every namespace.
    pub async fn stop(self) -> Vec<(String, netns::Error)> {
        self.cancel.cancel();
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
