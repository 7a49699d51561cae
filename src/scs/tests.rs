//! The setup server against the ME's TLS and WS-Management servers, in one process on
//! loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc::{Receiver, UnboundedReceiver, channel, unbounded_channel};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::*;
use crate::amt::hello::{CertHash, HashAlgorithm, HelloKind};
use crate::amt::wsman::ProvisioningState;
use crate::me::test_chain::TestChain;
use crate::me::tls::{self as me_tls, ChainJudge, TlsError};
use crate::me::wsman_server::{AdminCredentials, AmtState, WsManEndpoint, WsManEvent, serve_connection};

const WAIT: Duration = Duration::from_secs(20);
const MEBX_PASSWORD: &str = "P@ssw0rd1";
const ADMIN_PASSWORD: &str = "Adm1n-Pass!";

#[derive(Debug)]
struct FixedJudge(Option<String>);

impl ChainJudge for FixedJudge {
    fn judge(&self, _chain: &[CertificateDer<'_>], _now: rustls::pki_types::UnixTime) -> Result<(), String> {
        self.0.clone().map_or(Ok(()), Err)
    }
}

/// An emulated ME's TLS and WS-Management side, serving one connection.
struct Me {
    port: u16,
    certificate: CertificateDer<'static>,
    state: Arc<Mutex<AmtState>>,
    events: UnboundedReceiver<WsManEvent>,
    task: JoinHandle<Result<(), TlsError>>,
}

impl Me {
    fn start(refusal: Option<&str>, versions: &[&'static rustls::SupportedProtocolVersion]) -> Self {
        let (certificate, key) = crate::pki::me_identity(uuid::Uuid::nil()).unwrap();
        let judge = Arc::new(FixedJudge(refusal.map(String::from)));
        let config = me_tls::server_config_with_versions(certificate.clone(), key, judge, versions).unwrap();
        let listener = listen();
        let port = listener.local_addr().unwrap().port();
        let endpoint = WsManEndpoint::new(AmtState::new("4.1.1", Uuid::new_v4(), "vpro-1", "jcert.info"));
        let state = Arc::clone(&endpoint.state);
        let (events_sender, events) = unbounded_channel();

        let task = tokio::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            let tls = me_tls::accept(config, stream, WAIT).await?;
            fill_audit(&endpoint.state, peer, tls.get_ref().1.peer_certificates().unwrap_or_default());
            serve_connection(tls, endpoint, events_sender).await.unwrap();
            Ok(())
        });
        Self { port, certificate, state, events, task }
    }

    fn events(&mut self) -> Vec<WsManEvent> {
        std::iter::from_fn(|| self.events.try_recv().ok()).collect()
    }
}

/// Records in the audit what the orchestrator learns from a successful handshake.
fn fill_audit(state: &Mutex<AmtState>, peer: SocketAddr, chain: &[CertificateDer<'_>]) {
    let mut state = state.lock().unwrap();
    state.audit.setup_server_ip = Some(peer.ip());
    state.audit.setup_server_fqdn = chain.first().and_then(me_tls::certificate_dns_name);
    state.audit.matched_root_hash = chain.last().map(|root| CertHash::of_der(HashAlgorithm::Sha256, root));
}

/// A running setup server.
struct Scs {
    hello_addr: SocketAddr,
    sessions: Receiver<ScsSession>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ScsError>>,
}

impl Scs {
    fn start(chain: &TestChain, amt_port: u16, connect_timeout: Duration) -> Self {
        let mut config = ScsConfig::new(chain.chain.clone(), chain.key.clone_key(), MEBX_PASSWORD, ADMIN_PASSWORD);
        config.amt_port = amt_port;
        config.connect_timeout = connect_timeout;
        let listener = listen();
        let hello_addr = listener.local_addr().unwrap();
        let (sender, sessions) = channel(8);
        let shutdown = CancellationToken::new();

        let task = tokio::spawn(serve(Arc::new(config), NodeNet::current(), listener, sender, shutdown.clone()));
        Self { hello_addr, sessions, shutdown, task }
    }

    async fn next_session(&mut self) -> ScsSession {
        tokio::time::timeout(WAIT, self.sessions.recv())
            .await
            .expect("a session within the wait")
            .expect("the server is running")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task).await.expect("serve returns after shutdown").unwrap().unwrap();
    }
}

fn listen() -> TcpListener {
    NodeNet::current().tcp_listen("127.0.0.1:0".parse().unwrap()).unwrap()
}

fn hello_for(chain: &TestChain, uuid: Uuid) -> Vec<u8> {
    let root = CertHash::of_der(HashAlgorithm::Sha256, &chain.chain[2]);
    let hello =
        Hello { admin_credentials_set: false, retry_count: 2, uuid, kind: HelloKind::Pki { hashes: vec![root] } };
    let mut bytes = Vec::new();
    hello.emit(&mut bytes).unwrap();
    bytes
}

/// Sends bytes to the hello port the way an ME does: connect, write, close.
async fn send_hello(addr: SocketAddr, bytes: &[u8]) {
    let mut stream = NodeNet::current().tcp_connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream.shutdown().await.unwrap();
}

/// Captures this thread's log output; the tests run on a current-thread runtime, so
/// the spawned server tasks log here too.
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogCapture {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(self.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn session_with_accepting_judge_provisions_me() {
    let chain = TestChain::new("scs.jcert.info");
    let mut me = Me::start(None, &[&rustls::version::TLS12, &rustls::version::TLS13]);
    let mut scs = Scs::start(&chain, me.port, WAIT);
    let uuid = Uuid::new_v4();

    send_hello(scs.hello_addr, &hello_for(&chain, uuid)).await;
    let session = scs.next_session().await;

    let activation =
        session.result.as_ref().unwrap_or_else(|error| panic!("session failed: {error}; steps {:?}", session.steps));
    let state = me.state.lock().unwrap().clone();
    assert_eq!(
        activation,
        &Activation {
            amt_version: "4.1.1".into(),
            realm: state.digest_realm.clone(),
            control_mode: ControlMode::Admin
        }
    );
    assert_eq!((session.uuid, session.hello_version, session.retry_count), (uuid, 3, 2));
    assert_eq!(session.me_certificate_sha256, Some(super::tls::fingerprint(&me.certificate)));
    assert!(session.steps.iter().any(|(_, step)| step.starts_with("TLS TLSv1_3 with the ME")), "{:?}", session.steps);

    assert_eq!(state.provisioning_state, ProvisioningState::Post);
    assert_eq!(state.control_mode, ControlMode::Admin);
    assert_eq!(state.admin, AdminCredentials::from_password("admin", &state.digest_realm, ADMIN_PASSWORD));
    assert!(state.mebx_password_set);
    assert!(state.clock_offset_secs.abs() <= 2, "clock moved by {} s", state.clock_offset_secs);

    assert_eq!(state.audit.setup_server_ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(state.audit.setup_server_fqdn.as_deref(), Some("scs.jcert.info"));
    assert_eq!(state.audit.matched_root_hash, Some(CertHash::of_der(HashAlgorithm::Sha256, &chain.chain[2])));
    assert!(state.audit.time.is_some());

    let actions: Vec<String> =
        me.events().into_iter().filter(|event| !event.detail.starts_with("401")).map(|event| event.action).collect();
    assert_eq!(
        actions,
        [
            "Get AMT_GeneralSettings",
            "Get CIM_SoftwareIdentity",
            "AMT_SetupAndConfigurationService.SetMEBxPassword",
            "AMT_AuthorizationService.SetAdminAclEntryEx",
            "AMT_TimeSynchronizationService.GetLowAccuracyTimeSynch",
            "AMT_TimeSynchronizationService.SetHighAccuracyTimeSynch",
            "AMT_SetupAndConfigurationService.CommitChanges",
            "Get AMT_SetupAndConfigurationService",
            "Get IPS_HostBasedSetupService",
        ]
    );
    scs.stop().await;
    me.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn session_with_refusing_judge_reports_tls_alert() {
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let chain = TestChain::new("scs.jcert.info");
        let me = Me::start(Some("domain mismatch"), &[version]);
        let mut scs = Scs::start(&chain, me.port, WAIT);

        send_hello(scs.hello_addr, &hello_for(&chain, Uuid::new_v4())).await;
        let session = scs.next_session().await;

        match &session.result {
            Err(ScsError::TlsAlert { description }) => assert_eq!(description, "CertificateUnknown", "{version:?}"),
            other => panic!("{version:?}: expected a TLS alert, got {other:?}; steps {:?}", session.steps),
        }
        assert!(
            matches!(me.task.await.unwrap(), Err(TlsError::ChainRejected { ref reason }) if reason == "domain mismatch"),
            "{version:?}"
        );
        assert_eq!(me.state.lock().unwrap().provisioning_state, ProvisioningState::Pre, "{version:?}");
        scs.stop().await;
    }
}

#[tokio::test]
async fn malformed_hello_is_logged_and_serving_continues() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let chain = TestChain::new("scs.jcert.info");
    let me = Me::start(None, &[&rustls::version::TLS13]);
    let mut scs = Scs::start(&chain, me.port, WAIT);
    let mut bad_version = hello_for(&chain, Uuid::new_v4());
    bad_version[2] = 9;

    send_hello(scs.hello_addr, b"GET / HTTP/1.0\r\n\r\n").await;
    send_hello(scs.hello_addr, &bad_version).await;
    send_hello(scs.hello_addr, &vec![0; MAX_HELLO_LEN + 1]).await;
    send_hello(scs.hello_addr, &hello_for(&chain, Uuid::new_v4())).await;
    let session = scs.next_session().await;

    assert!(session.result.is_ok(), "{:?}", session.result);
    let text = logs.text();
    assert!(text.contains("hello dropped"), "{text}");
    assert!(text.contains("hello truncated: 18 bytes"), "{text}");
    assert!(text.contains("unsupported hello version 9"), "{text}");
    assert!(text.contains("longer than any hello"), "{text}");
    scs.stop().await;
}

#[tokio::test]
async fn repeated_hello_is_ignored_while_session_runs() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let chain = TestChain::new("scs.jcert.info");
    // An ME that accepts TCP but never replies to the TLS handshake keeps the session open.
    let silent = listen();
    let mut scs = Scs::start(&chain, silent.local_addr().unwrap().port(), Duration::from_millis(500));
    let hello = hello_for(&chain, Uuid::new_v4());

    send_hello(scs.hello_addr, &hello).await;
    let (first_tcp, _) = silent.accept().await.unwrap();
    send_hello(scs.hello_addr, &hello).await;
    let first = scs.next_session().await;
    drop(first_tcp);
    send_hello(scs.hello_addr, &hello).await;
    let (_second_tcp, _) = silent.accept().await.unwrap();
    let second = scs.next_session().await;

    assert!(
        matches!(first.result, Err(ScsError::Timeout { ref step, .. }) if step == "TLS handshake"),
        "{:?}",
        first.result
    );
    assert!(matches!(second.result, Err(ScsError::Timeout { .. })), "{:?}", second.result);
    assert!(logs.text().contains("repeated hello ignored"), "{}", logs.text());
    assert!(scs.sessions.try_recv().is_err(), "the repeated hello started a session");
    scs.stop().await;
}

#[tokio::test]
async fn closed_amt_port_is_connect_refused() {
    let chain = TestChain::new("scs.jcert.info");
    let closed_port = listen().local_addr().unwrap().port();
    let mut scs = Scs::start(&chain, closed_port, WAIT);

    send_hello(scs.hello_addr, &hello_for(&chain, Uuid::new_v4())).await;
    let session = scs.next_session().await;

    assert!(
        matches!(session.result, Err(ScsError::ConnectRefused { addr }) if addr.port() == closed_port),
        "{:?}",
        session.result
    );
    assert_eq!(session.me_certificate_sha256, None);
    scs.stop().await;
}

#[tokio::test]
async fn shutdown_cancels_running_session() {
    let chain = TestChain::new("scs.jcert.info");
    let silent = listen();
    let mut scs = Scs::start(&chain, silent.local_addr().unwrap().port(), WAIT);

    send_hello(scs.hello_addr, &hello_for(&chain, Uuid::new_v4())).await;
    let _open_connection = silent.accept().await.unwrap();
    scs.shutdown.cancel();
    let session = scs.next_session().await;

    assert!(matches!(session.result, Err(ScsError::Cancelled)), "{:?}", session.result);
    scs.stop().await;
}

#[tokio::test]
async fn wrong_admin_password_is_http_401() {
    let chain = TestChain::new("scs.jcert.info");
    let me = Me::start(None, &[&rustls::version::TLS13]);
    // An ME already provisioned with another administrator password.
    {
        let mut state = me.state.lock().unwrap();
        let realm = state.digest_realm.clone();
        state.pending_admin = Some(AdminCredentials::from_password("admin", &realm, "Other-Pass1"));
        state.commit();
    }
    let mut scs = Scs::start(&chain, me.port, WAIT);

    send_hello(scs.hello_addr, &hello_for(&chain, Uuid::new_v4())).await;
    let session = scs.next_session().await;

    assert!(
        matches!(session.result, Err(ScsError::HttpStatus { ref step, status: 401 }) if step == "Get AMT_GeneralSettings"),
        "{:?}",
        session.result
    );
    scs.stop().await;
}

#[tokio::test]
async fn weak_mebx_password_is_bad_return_value() {
    let chain = TestChain::new("scs.jcert.info");
    let me = Me::start(None, &[&rustls::version::TLS13]);
    let mut config = ScsConfig::new(chain.chain.clone(), chain.key.clone_key(), "weak", ADMIN_PASSWORD);
    config.amt_port = me.port;
    let listener = listen();
    let hello_addr = listener.local_addr().unwrap();
    let (sender, mut sessions) = channel(1);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(Arc::new(config), NodeNet::current(), listener, sender, shutdown.clone()));

    send_hello(hello_addr, &hello_for(&chain, Uuid::new_v4())).await;
    let session = tokio::time::timeout(WAIT, sessions.recv()).await.unwrap().unwrap();

    assert!(
        matches!(session.result, Err(ScsError::BadReturnValue { ref step, value }) if step == "SetMEBxPassword" && value == ReturnValue::INVALID_PASSWORD),
        "{:?}",
        session.result
    );
    assert_eq!(me.state.lock().unwrap().provisioning_state, ProvisioningState::Pre);
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn mismatched_key_is_config_error() {
    let chain = TestChain::new("scs.jcert.info");
    let other = TestChain::new("other.jcert.info");
    let config = ScsConfig::new(chain.chain.clone(), other.key.clone_key(), MEBX_PASSWORD, ADMIN_PASSWORD);
    let (sender, _sessions) = channel(1);

    let result = serve(Arc::new(config), NodeNet::current(), listen(), sender, CancellationToken::new()).await;

    assert!(matches!(result, Err(ScsError::Config { .. })), "{result:?}");
}
