//! The setup server (SCS): it listens for hellos, connects back to each ME on its TLS
//! port with the provisioning certificate, and configures the ME over WS-Management.

mod client;
mod session;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::amt::hello::{Hello, MAX_HELLO_LEN};
use crate::amt::wsman::{ControlMode, Fault, ProvisioningState, ReturnValue, WsManError};
use crate::net::NodeNet;

/// The TLS port of AMT, where the ME waits for the setup server.
pub const AMT_TLS_PORT: u16 = 16993;

/// How long a hello connection may take to deliver its bytes and close.
const HELLO_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed accept, so a persistent error (out of file descriptors) does not
/// spin the loop.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Settings of the setup server: the certificate it presents, the passwords it sets, and
/// its limits.
pub struct ScsConfig {
    /// Provisioning certificate chain, leaf to root, root included: sent whole as the TLS
    /// client certificate.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// A key to sign the handshake with in place of `key`, for a chain whose leaf key the
    /// TLS library cannot use (aws-lc-rs signs with RSA keys of 2048 bits or more only).
    /// The ME judges the chain before it checks that signature, so a chain it rejects is
    /// rejected for the same reason. A chain it accepts then fails the handshake.
    pub stand_in_key: Option<PrivateKeyDer<'static>>,
    /// The ME's TLS port, 16993 on real firmware.
    pub amt_port: u16,
    pub mebx_password: String,
    /// The administrator password set on the ME.
    pub admin_password: String,
    /// Limit for the TCP connect and for the TLS handshake, each.
    pub connect_timeout: Duration,
    /// Limit for each WS-Management request and its response.
    pub request_timeout: Duration,
    /// Whether to set the ME clock with AMT_TimeSynchronizationService.
    pub sync_clock: bool,
}

/// One provisioning attempt, from hello to result.
#[derive(Debug)]
pub struct ScsSession {
    /// Source address of the hello.
    pub peer: SocketAddr,
    pub uuid: Uuid,
    pub hello_version: u16,
    pub retry_count: u32,
    /// SHA-256 of the ME's self-signed TLS certificate, once the handshake got that far.
    pub me_certificate_sha256: Option<String>,
    /// Steps taken, each with its offset from the hello's arrival.
    pub steps: Vec<(Duration, String)>,
    pub result: Result<Activation, ScsError>,
}

/// Result of a successful session, as read back from the ME.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activation {
    pub amt_version: String,
    pub realm: String,
    pub control_mode: ControlMode,
}

/// Failure of a session that did not leave the ME provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ScsError {
    #[error("invalid setup server configuration: {reason}")]
    Config { reason: String },

    #[error("the ME at {addr} refused the connection: nothing listens on its TLS port")]
    ConnectRefused { addr: SocketAddr },

    #[error("connecting to the ME at {addr} failed: {error}")]
    Connect { addr: SocketAddr, error: String },

    #[error("the ME ended TLS with alert {description}: it rejected the provisioning certificate chain")]
    TlsAlert { description: String },

    #[error("TLS with the ME failed: {error}")]
    Tls { error: String },

    #[error("{step}: HTTP connection to the ME failed: {error}")]
    Http { step: String, error: String },

    #[error("{step}: the ME answered HTTP status {status}")]
    HttpStatus { step: String, status: u16 },

    #[error("{step}: the ME returned SOAP fault {fault}")]
    SoapFault { step: String, fault: Box<Fault> },

    #[error("{step}: the ME returned ReturnValue {value}")]
    BadReturnValue { step: String, value: ReturnValue },

    #[error("{step}: unreadable response from the ME: {error}")]
    BadResponse { step: String, error: WsManError },

    #[error("after CommitChanges the ME reports ProvisioningState {state:?}, not post")]
    NotProvisioned { state: ProvisioningState },

    #[error("{step} timed out after {} ms", .after.as_millis())]
    Timeout { step: String, after: Duration },

    #[error("the setup server shut down during the session")]
    Cancelled,
}

impl ScsConfig {
    /// Creates a configuration with the firmware's port, a 5 s connect and handshake
    /// limit, a 10 s request limit and clock synchronization on.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        mebx_password: &str,
        admin_password: &str,
    ) -> Self {
        Self {
            chain,
            key,
            stand_in_key: None,
            amt_port: AMT_TLS_PORT,
            mebx_password: mebx_password.into(),
            admin_password: admin_password.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            sync_clock: true,
        }
    }
}

impl std::fmt::Debug for ScsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScsConfig")
            .field("chain_len", &self.chain.len())
            .field("amt_port", &self.amt_port)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("sync_clock", &self.sync_clock)
            .finish_non_exhaustive()
    }
}

/// State shared by every connection task.
struct Shared {
    config: Arc<ScsConfig>,
    tls: Arc<rustls::ClientConfig>,
    net: NodeNet,
    sessions: Sender<ScsSession>,
    shutdown: CancellationToken,
    /// UUIDs of MEs with a session running, whose repeated hellos are ignored.
    active: Mutex<HashSet<Uuid>>,
}

/// Accepts hellos on `listener` and runs one session per ME until `shutdown` fires, then
/// cancels the running sessions and returns once they have reported.
///
/// Fails only when the configuration cannot make a TLS client, before anything runs.
pub async fn serve(
    config: Arc<ScsConfig>,
    net: NodeNet,
    listener: TcpListener,
    sessions: Sender<ScsSession>,
    shutdown: CancellationToken,
) -> Result<(), ScsError> {
    let tls = tls::client_config(&config)?;
    let shared = Arc::new(Shared { config, tls, net, sessions, shutdown: shutdown.clone(), active: Mutex::default() });
    let tasks = TaskTracker::new();
    tracing::info!(addr = ?listener.local_addr().ok(), "setup server listening for hellos");

    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // In the listener's span, so that `--log-dir` files the session's events with it.
                    tasks.spawn(tracing::Instrument::in_current_span(handle_hello(Arc::clone(&shared), stream, peer)));
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a hello connection failed");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            },
        }
    }

    tasks.close();
    tasks.wait().await;
    tracing::info!("setup server stopped");
    Ok(())
}

async fn handle_hello(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let hello = tokio::select! {
        hello = read_hello(stream) => hello,
        _ = shared.shutdown.cancelled() => return,
    };
    let hello = match hello {
        Ok(hello) => hello,
        Err(reason) => {
            tracing::warn!(%peer, %reason, "hello dropped");
            return;
        }
    };

    let Some(_guard) = ActiveSession::claim(&shared, hello.uuid) else {
        tracing::info!(%peer, uuid = %hello.uuid, retry_count = hello.retry_count, "repeated hello ignored: a session with this ME is running");
        return;
    };
    tracing::info!(%peer, uuid = %hello.uuid, version = hello.version(), retry_count = hello.retry_count, "hello received");

    let session = session::run(&shared.config, &shared.tls, &shared.net, &shared.shutdown, &hello, peer).await;
    deliver(&shared, session).await;
}

/// Hands a session to the receiver, waiting for room in the channel unless the server is
/// shutting down, when a full channel drops the session so that shutdown cannot hang.
async fn deliver(shared: &Shared, session: ScsSession) {
    let (peer, uuid) = (session.peer, session.uuid);
    let delivered = tokio::select! {
        permit = shared.sessions.reserve() => permit.map(|permit| permit.send(session)).is_ok(),
        _ = shared.shutdown.cancelled() => shared.sessions.try_send(session).is_ok(),
    };
    if !delivered {
        tracing::warn!(%peer, %uuid, "session result dropped: the session channel is closed or full at shutdown");
    }
}

/// Reads one hello: the ME writes it and closes the connection.
async fn read_hello(stream: TcpStream) -> Result<Hello, String> {
    // One byte more than the largest hello, to tell a hello of maximum size from a longer
    // stream.
    let mut bytes = Vec::with_capacity(MAX_HELLO_LEN + 1);
    let mut limited = stream.take(MAX_HELLO_LEN as u64 + 1);
    let read = limited.read_to_end(&mut bytes);

    match tokio::time::timeout(HELLO_READ_TIMEOUT, read).await {
        Err(_) => {
            return Err(format!(
                "no complete hello within {} s: the peer did not close the connection",
                HELLO_READ_TIMEOUT.as_secs()
            ));
        }
        Ok(Err(error)) => return Err(format!("reading the hello failed: {error}")),
        Ok(Ok(_)) => {}
    }
    if bytes.len() > MAX_HELLO_LEN {
        return Err(format!("more than {MAX_HELLO_LEN} bytes, longer than any hello"));
    }
    Hello::parse(&bytes).map_err(|error| format!("malformed hello of {} bytes: {error}", bytes.len()))
}

/// Marks an ME as having a running session until dropped.
struct ActiveSession<'a> {
    shared: &'a Shared,
    uuid: Uuid,
}

impl<'a> ActiveSession<'a> {
    fn claim(shared: &'a Shared, uuid: Uuid) -> Option<Self> {
        let inserted = shared.active.lock().unwrap_or_else(PoisonError::into_inner).insert(uuid);
        inserted.then_some(Self { shared, uuid })
    }
}

impl Drop for ActiveSession<'_> {
    fn drop(&mut self) {
        self.shared.active.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.uuid);
    }
}

/// Builds the connect-back TLS client configuration, for tests of the ME's TLS server.
#[cfg(test)]
pub(crate) fn test_client_config(config: &ScsConfig) -> Arc<rustls::ClientConfig> {
    tls::client_config(config).unwrap()
}
