//! One emulated ME, from power-on to a verdict: DHCP lease, discovery of the setup server
//! in DNS, hellos, the TLS connection the setup server opens back, the certificate
//! checks, and the WS-Management exchange that ends in ACM.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ipnetwork::Ipv4Network;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::discovery::Discovery;
use super::tls::{self as me_tls, ChainJudge, server_config};
use super::wsman_server::{AmtState, WsManEndpoint, WsManEvent, serve_connection};
use crate::amt::wsman::{ControlMode, ProvisioningState};
use crate::amt::checks::{ChainReport, check_chain};
use crate::amt::hello::{CertHash, HashAlgorithm, Hello, HelloKind};
use crate::amt::profile::FirmwareProfile;
use crate::amt::schedule::{HelloSchedule, HelloTimer};
use crate::amt::verdict::Reason;
use crate::dhcp::{self, ClientConfig, Lease};
use crate::net::NodeNet;
use crate::timeline::{Step, SuffixSource, Timeline, Verdict};
use crate::topology::{DomainName, NODE_INTERFACE, SetupServerAddress};

/// TCP port of the ME's TLS endpoint, where the setup server connects back.
pub const AMT_TLS_PORT: u16 = 16993;
/// TCP port the ME sends hellos to.
pub const HELLO_PORT: u16 = 9971;

const DHCP_CLIENT_PORT: u16 = 68;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// A key pair made before the ME needed it, or the reason it could not be made.
pub type ReadyKey = futures::future::Shared<futures::future::BoxFuture<'static, Result<Arc<rcgen::KeyPair>, String>>>;

/// The source of the ME's TLS key pair.
#[derive(Clone)]
pub enum MeKey {
    /// The ME generates a new RSA 2048 key pair when it starts, as real firmware does.
    Generate,
    /// A key pair generated ahead: the ME's own, made while the lab was built, or one of
    /// a pool shared by the PCs of a fleet.
    Ready(ReadyKey),
}

/// Called with the leased address once the ME has applied its lease, before it sends
/// anything from that address.
pub type LeaseHook = Arc<dyn Fn(Ipv4Addr) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Everything one ME needs to run.
pub struct MeConfig {
    pub name: String,
    pub namespace: Arc<netns::Namespace>,
    pub mac: [u8; 6],
    pub uuid: Uuid,
    /// The key pair behind the ME's self-signed TLS certificate.
    pub key: MeKey,
    pub profile: FirmwareProfile,
    /// Hashes added in MEBx or by a USB setup file, trusted beside the profile's defaults.
    pub custom_hashes: Vec<CertHash>,
    /// PKI DNS suffix set in MEBx, tried before option 15.
    pub pki_dns_suffix: Option<DomainName>,
    /// Setup server set in MEBx, used in place of the provisionserver lookup.
    pub setup_server: Option<SetupServerAddress>,
    /// When hellos are repeated: the firmware's schedule, or a faster one for labs.
    pub hello_schedule: HelloSchedule,
    /// Permanent neighbour (ARP) entries, address and MAC, set with the lease in place
    /// of ARP resolution. Empty for a real ME's behaviour.
    pub neighbours: Vec<(Ipv4Addr, [u8; 6])>,
    /// Run once the lease is applied, so that the lab can set its own entries for it.
    pub on_lease: Option<LeaseHook>,
    /// Common time origin of every client's timeline.
    pub origin: Instant,
    /// When the ME gives up, whatever it is doing.
    pub deadline: tokio::time::Instant,
    /// Ends the WS-Management endpoint, which a provisioned ME keeps serving after its
    /// verdict; the lab cancels it at teardown.
    pub shutdown: CancellationToken,
}

/// Final report of one ME.
pub struct MeOutcome {
    pub timeline: Timeline,
    pub verdict: Verdict,
}

/// Runs one ME to its verdict.
pub async fn run(config: MeConfig) -> MeOutcome {
    // An entered span guard held across awaits would tag whatever else runs on the same
    // worker thread, such as another ME, with this ME's node; instrument follows the task.
    let span = tracing::info_span!("me", node = %config.name);
    let mut me = Emulator { net: NodeNet::in_namespace(config.namespace.clone()), timeline: Timeline::new(config.origin), config };

    let verdict = match tracing::Instrument::instrument(me.provision(), span.clone()).await {
        Ok(verdict) => verdict,
        Err(reason) => {
            span.in_scope(|| tracing::info!(code = reason.code(), %reason, "ME stopped without provisioning"));
            Verdict::refused(reason)
        }
    };
    MeOutcome { timeline: me.timeline, verdict }
}

pub(super) struct Emulator {
    pub(super) config: MeConfig,
    pub(super) net: NodeNet,
    pub(super) timeline: Timeline,
}

impl Emulator {
    async fn provision(&mut self) -> Result<Verdict, Reason> {
        let identity = tokio::spawn(identity(self.config.uuid, self.config.key.clone()));

        let lease = self.lease().await?;
        let discovery = self.discover(&lease).await?;

        let listener = self.net.tcp_listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, AMT_TLS_PORT))).map_err(|error| Reason::SetupFailed { step: "listen on 16993".into(), detail: error.to_string() })?;
        let (cert, key) = identity.await.expect("identity task").map_err(|detail| Reason::SetupFailed { step: "ME key generation".into(), detail })?;

        let judge = Arc::new(MeJudge::new(&self.config, &discovery.suffix));
        let identity = Identity { certificate: cert.clone(), key: key.clone_key() };
        let config = server_config(cert, key, judge.clone()).map_err(|error| Reason::SetupFailed { step: "TLS configuration".into(), detail: error.to_string() })?;
        let setup = SetupTls { config, judge, identity };

        let first = self.hello_until_connected(&listener, &discovery).await?;
        self.session(first, &setup, listener, &discovery).await
    }

    /// Acquires a lease and configures the interface with it.
    async fn lease(&mut self) -> Result<Lease, Reason> {
        let socket = self.net.udp_bind_broadcast(DHCP_CLIENT_PORT, NODE_INTERFACE).map_err(|error| Reason::SetupFailed { step: "DHCP socket".into(), detail: error.to_string() })?;
        if let Err(error) = accept_only_chaddr(&socket, self.config.mac) {
            tracing::warn!(%error, "cannot filter the DHCP socket by chaddr; every broadcast reply on the VLAN reaches this ME");
        }
        let client = ClientConfig { hostname: Some(self.config.name.clone()), ..ClientConfig::new(self.config.mac) };
        let attempts = client.attempts;
        let lease = self.before_deadline("DHCP", dhcp::acquire(&client, &socket)).await?.map_err(|error| {
            tracing::info!(%error, "no DHCP lease");
            Reason::NoLease { attempts }
        })?;

        self.timeline.record(Step::Lease {
            address: lease.address,
            prefix_len: lease.prefix_len,
            router: lease.router,
            dns_servers: lease.dns_servers.clone(),
            option15: lease.domain.as_deref().map(dhcp::escape_option15),
            relay: lease.relay,
            server: Some(lease.server_id),
            lease_secs: Some(lease.lease_time.as_secs() as u32),
        });
        self.apply(&lease).await?;
        Ok(lease)
    }

    /// Puts the leased address and default route on the interface. The real ME has its
    /// own IP stack beside the host's; here the namespace's stack stands for it.
    async fn apply(&self, lease: &Lease) -> Result<(), Reason> {
        let failed = |error: netns::Error| Reason::SetupFailed { step: "apply the lease".into(), detail: error.to_string() };
        let link = netns::Netlink::connect(&self.config.namespace).map_err(failed)?;
        let network = Ipv4Network::new(lease.address, lease.prefix_len).map_err(|error| Reason::SetupFailed { step: "apply the lease".into(), detail: error.to_string() })?;

        link.add_address(NODE_INTERFACE, network).await.map_err(failed)?;
        if let Some(router) = lease.router {
            link.add_default_route(router).await.map_err(failed)?;
        }
        for (address, mac) in &self.config.neighbours {
            link.add_neighbour(NODE_INTERFACE, *address, netns::MacAddr::new(*mac)).await.map_err(failed)?;
        }

        if let Some(hook) = &self.config.on_lease {
            hook(lease.address).await;
        }
        Ok(())
    }

    /// Sends hellos on the schedule until the setup server connects back, and returns that
    /// connection. Gives up when the schedule's window closes or the deadline passes.
    async fn hello_until_connected(&mut self, listener: &TcpListener, discovery: &Discovery) -> Result<(TcpStream, SocketAddr), Reason> {
        let target = SocketAddr::V4(SocketAddrV4::new(discovery.server, HELLO_PORT));
        let deadline = self.config.deadline;
        let mut timer = HelloTimer::start(self.config.hello_schedule);
        let mut last_hello = tokio::time::Instant::now();

        while timer.next_due().is_some_and(|due| due <= deadline) {
            let retry_count = timer.tick().await.expect("a hello is due");
            self.send_hello(target, retry_count).await?;
            last_hello = tokio::time::Instant::now();

            let wait_until = timer.next_due().map_or(deadline, |due| due.min(deadline));
            if let Ok(Ok(accepted)) = tokio::time::timeout_at(wait_until, listener.accept()).await {
                return Ok(accepted);
            }
        }

        tokio::time::sleep_until(deadline).await;
        Err(Reason::NoConnectBack { waited_ms: last_hello.elapsed().as_millis() as u64 })
    }

    async fn send_hello(&mut self, target: SocketAddr, retry_count: u32) -> Result<(), Reason> {
        let hashes = self.trusted_hashes();
        let hello = Hello { admin_credentials_set: false, retry_count, uuid: self.config.uuid, kind: HelloKind::Pki { hashes } };
        let mut bytes = Vec::with_capacity(hello.buffer_len());
        hello.emit(&mut bytes).map_err(|error| Reason::SetupFailed { step: "hello".into(), detail: error.to_string() })?;

        let failed = |error: std::io::Error| Reason::HelloFailed { addr: target, error: error.to_string() };
        let mut stream = self.net.tcp_connect(target).await.map_err(failed)?;
        stream.write_all(&bytes).await.map_err(failed)?;
        stream.shutdown().await.map_err(failed)?;

        self.timeline.record(Step::Hello { to: target, retry_count, hashes: hello.hashes().len() });
        Ok(())
    }

    fn trusted_hashes(&self) -> Vec<CertHash> {
        let mut hashes = self.config.profile.default_hashes();
        hashes.extend(self.config.custom_hashes.iter().cloned());
        hashes
    }

    /// Serves the setup server until CommitChanges: checks the chain of each connection
    /// it opens in the TLS handshake, and serves each on a task of its own, because a
    /// client may hold several connections at once. Once the ME is provisioned, the
    /// endpoint goes on serving in the background until the lab shuts down.
    async fn session(&mut self, first: (TcpStream, SocketAddr), setup: &SetupTls, listener: TcpListener, discovery: &Discovery) -> Result<Verdict, Reason> {
        let version = self.config.profile.version.to_string();
        let endpoint = WsManEndpoint::new(AmtState::new(version, self.config.uuid, self.config.name.clone(), discovery.suffix.to_string()));
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<WsManEvent>();
        let mut pending = Some(first);

        loop {
            let (stream, peer) = match pending.take() {
                Some(accepted) => accepted,
                None => tokio::select! {
                    accepted = listener.accept() => accepted.map_err(|error| Reason::SetupFailed { step: "accept".into(), detail: error.to_string() })?,
                    Some(event) = events.recv() => {
                        let committed = event.committed;
                        self.timeline.record(Step::WsMan { action: event.action, detail: event.detail });
                        if !committed {
                            continue;
                        }
                        if let Some(verdict) = self.finish_if_provisioned(&endpoint, discovery, setup) {
                            spawn_after_setup(listener, endpoint, &setup.identity, self.config.shutdown.clone());
                            return Ok(verdict);
                        }
                        continue;
                    }
                    () = tokio::time::sleep_until(self.config.deadline) => return Err(Reason::Timeout { phase: "WS-Management".into() }),
                },
            };

            let tls = self.setup_handshake(stream, peer, setup).await?;
            fill_audit(&endpoint.state, &setup.judge, peer, &tls, discovery, &self.config.profile);
            spawn_connection(tls, endpoint.clone(), events_tx.clone(), self.config.shutdown.clone());
        }
    }

    /// Runs the TLS handshake of setup mode, in which the ME checks the setup server's
    /// chain, and records the checks and the session.
    async fn setup_handshake(&mut self, stream: TcpStream, peer: SocketAddr, setup: &SetupTls) -> Result<TlsStream, Reason> {
        // Without TCP_NODELAY every WS-Management response waits for a delayed ACK.
        let _ = stream.set_nodelay(true);
        let tls = me_tls::accept(setup.config.clone(), stream, TLS_HANDSHAKE_TIMEOUT).await;
        self.record_checks(&setup.judge);
        let tls = tls.map_err(|error| setup.judge.refusal().unwrap_or(Reason::TlsFailed { error: error.to_string() }))?;
        self.record_tls(peer, &tls);
        Ok(tls)
    }

    /// Returns the verdict once CommitChanges provisioned the ME, and logs the audit
    /// record.
    fn finish_if_provisioned(&mut self, endpoint: &WsManEndpoint, discovery: &Discovery, setup: &SetupTls) -> Option<Verdict> {
        let accepted = setup.judge.accepted_hash()?;
        let verdict = provisioned(&endpoint.state, discovery, &accepted)?;
        let state = endpoint.state.lock().expect("AMT state lock");
        let control_mode = state.control_mode.short_name().to_owned();
        log_audit(&state.audit);
        drop(state);

        self.timeline.record(Step::Provisioned { control_mode, provisioning_state: "post".into() });
        Some(verdict)
    }

    fn record_checks(&mut self, judge: &MeJudge) {
        for check in judge.take_checks() {
            self.timeline.record(Step::Check { rule: check.rule.to_owned(), passed: check.passed, evidence: check.evidence });
        }
    }

    fn record_tls(&mut self, peer: SocketAddr, tls: &TlsStream) {
        let connection = tls.get_ref().1;
        let protocol = connection.protocol_version().map_or("unknown".into(), |version| format!("{version:?}"));
        let client_chain = connection.peer_certificates().unwrap_or_default().iter().map(|der| me_tls::certificate_dns_name(der).unwrap_or_else(|| "(no name)".into())).collect();
        self.timeline.record(Step::Tls { peer, protocol, client_chain });
    }

    /// Awaits `future` unless the ME's deadline comes first.
    pub(super) async fn before_deadline<F: std::future::Future>(&self, phase: &str, future: F) -> Result<F::Output, Reason> {
        tokio::time::timeout_at(self.config.deadline, future).await.map_err(|_| Reason::Timeout { phase: phase.to_owned() })
    }
}

/// Offset of chaddr in a UDP datagram as a socket filter sees it: the 8-byte UDP header,
/// then op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr and giaddr
/// (RFC 2131 section 2).
const CHADDR_OFFSET: u32 = 8 + 28;

/// Attaches a classic BPF filter that keeps only datagrams whose chaddr starts with
/// `mac`, so that the kernel drops the replies broadcast to the other PCs of the VLAN.
///
/// The ME sets the broadcast flag, so every DHCPOFFER and DHCPACK reaches every PC on
/// the VLAN; in a fleet of N PCs each PC would otherwise wake up and parse N of them.
/// The client still checks xid and chaddr itself.
fn accept_only_chaddr(socket: &tokio::net::UdpSocket, mac: [u8; 6]) -> std::io::Result<()> {
    use socket2::SockFilter;
    const LOAD_WORD: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const LOAD_HALF: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const JUMP_IF_EQUAL: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RETURN: u16 = 0x06; // BPF_RET | BPF_K

    let first = u32::from_be_bytes([mac[0], mac[1], mac[2], mac[3]]);
    let last = u32::from(u16::from_be_bytes([mac[4], mac[5]]));
    let program = [
        SockFilter::new(LOAD_WORD, 0, 0, CHADDR_OFFSET),
        SockFilter::new(JUMP_IF_EQUAL, 0, 3, first),
        SockFilter::new(LOAD_HALF, 0, 0, CHADDR_OFFSET + 4),
        SockFilter::new(JUMP_IF_EQUAL, 0, 1, last),
        SockFilter::new(RETURN, 0, 0, u32::MAX),
        SockFilter::new(RETURN, 0, 0, 0),
    ];
    socket2::SockRef::from(socket).attach_filter(&program)
}

/// Makes the ME's self-signed TLS certificate and its key, generating the key pair here
/// unless it was made ahead. Signing and generating run on the blocking pool.
async fn identity(uuid: Uuid, key: MeKey) -> Result<(CertificateDer<'static>, rustls_pki_types::PrivateKeyDer<'static>), String> {
    let made = match key {
        MeKey::Generate => tokio::task::spawn_blocking(move || crate::pki::me_identity(uuid)).await,
        MeKey::Ready(ready) => {
            let key = ready.await?;
            tokio::task::spawn_blocking(move || crate::pki::me_certificate(uuid, &key)).await
        }
    };
    made.map_err(|error| error.to_string())?.map_err(|error| error.to_string())
}

/// The ME's TLS server of setup mode, the judge of the setup server's chain, and the
/// self-signed identity it presents.
struct SetupTls {
    config: Arc<rustls::ServerConfig>,
    judge: Arc<MeJudge>,
    identity: Identity,
}

/// A certificate and its private key.
struct Identity {
    certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

/// Serves one connection on a task of its own, until the client closes it or the lab
/// shuts down.
fn spawn_connection(tls: TlsStream, endpoint: Arc<WsManEndpoint>, events: UnboundedSender<WsManEvent>, shutdown: CancellationToken) {
    let task = async move {
        tokio::select! {
            result = serve_connection(tls, endpoint, events) => {
                if let Err(error) = result {
                    tracing::info!(%error, "WS-Management connection ended with an error");
                }
            }
            () = shutdown.cancelled() => {}
        }
    };
    tokio::spawn(tracing::Instrument::in_current_span(task));
}

/// Keeps serving WS-Management after setup, as a provisioned ME does, with the
/// administrator the setup server set. TLS presents the certificate of the credential
/// context when the setup server turned TLS on, and the self-signed one otherwise. No
/// client certificate is requested any more.
// NOTE: real firmware without TLS configured serves port 16992 without TLS after setup;
// the emulator stays on 16993 with its self-signed certificate.
fn spawn_after_setup(listener: TcpListener, endpoint: Arc<WsManEndpoint>, setup_identity: &Identity, shutdown: CancellationToken) {
    let config = match after_setup_tls(&endpoint, setup_identity) {
        Ok(config) => config,
        Err(error) => {
            tracing::warn!(%error, "no TLS server after setup: the configured certificate cannot be used");
            return;
        }
    };
    // The timeline ends with the verdict, so these events are dropped. The log at debug
    // level still lists each request.
    let (events, _) = tokio::sync::mpsc::unbounded_channel();

    let task = async move {
        tracing::info!(port = AMT_TLS_PORT, "serving WS-Management after setup");
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accepting a WS-Management connection failed");
                        continue;
                    }
                },
                () = shutdown.cancelled() => break,
            };
            let _ = stream.set_nodelay(true);
            match me_tls::accept(config.clone(), stream, TLS_HANDSHAKE_TIMEOUT).await {
                Ok(tls) => spawn_connection(tls, endpoint.clone(), events.clone(), shutdown.clone()),
                Err(error) => tracing::info!(%peer, %error, "TLS handshake after setup failed"),
            }
        }
    };
    tokio::spawn(tracing::Instrument::in_current_span(task));
}

fn after_setup_tls(endpoint: &WsManEndpoint, setup_identity: &Identity) -> Result<Arc<rustls::ServerConfig>, me_tls::TlsError> {
    let state = endpoint.state.lock().expect("AMT state lock");
    // NOTE: with MutualAuthentication on, firmware requires client certificates issued by
    // its trusted roots; the emulator has no such list after setup and only warns.
    let mutual = state.store.remote_mutual_authentication();
    if mutual {
        tracing::warn!("the TLS settings require client certificates, which the emulator does not check after setup");
    }
    match state.store.remote_tls_identity() {
        Some(configured) => me_tls::server_config_without_client_auth(configured.certificate, configured.key),
        None => me_tls::server_config_without_client_auth(setup_identity.certificate.clone(), setup_identity.key.clone_key()),
    }
}

/// Fills the audit record a real ME keeps of its setup. It names the hash that matched
/// and whether it is a default one, the setup server's address, and its FQDN and CA
/// serial numbers from the chain it presented. It also says where the DNS suffix came
/// from and when TLS started.
fn fill_audit(state: &Mutex<AmtState>, judge: &MeJudge, peer: SocketAddr, tls: &TlsStream, discovery: &Discovery, profile: &FirmwareProfile) {
    let Some(matched) = judge.accepted_hash() else { return };
    let chain = tls.get_ref().1.peer_certificates().unwrap_or_default();
    let leaf = chain.first();
    let mut state = state.lock().expect("AMT state lock");

    state.audit.matched_default_hash = profile.default_hashes().contains(&matched);
    state.audit.matched_root_hash = Some(matched);
    state.audit.setup_server_ip = Some(peer.ip());
    state.audit.setup_server_fqdn = leaf.and_then(me_tls::certificate_dns_name);
    state.audit.setup_server_certificate_sha256 = leaf.map(|der| CertHash::of_der(HashAlgorithm::Sha256, der).to_hex());
    state.audit.ca_certificate_serials = chain.iter().skip(1).filter_map(serial_hex).collect();
    state.audit.dns_suffix_from_mebx = discovery.source == SuffixSource::Mebx;
    state.audit.tls_start_time = Some(state.now());
}

fn serial_hex(der: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(hex::encode(parsed.tbs_certificate.raw_serial()))
}

/// Logs the audit record once the ME is provisioned, so the lab's log shows which
/// certificate and root hash the setup used.
fn log_audit(audit: &crate::me::wsman_server::AuditRecord) {
    tracing::info!(
        setup_server_fqdn = audit.setup_server_fqdn.as_deref().unwrap_or("-"),
        setup_server_ip = ?audit.setup_server_ip,
        setup_server_certificate_sha256 = audit.setup_server_certificate_sha256.as_deref().unwrap_or("-"),
        matched_root_hash = %audit.matched_root_hash.as_ref().map(ToString::to_string).unwrap_or_default(),
        default_hash = audit.matched_default_hash,
        ca_serials = ?audit.ca_certificate_serials,
        dns_suffix_from_mebx = audit.dns_suffix_from_mebx,
        "provisioning audit record"
    );
}

fn provisioned(state: &Mutex<AmtState>, discovery: &Discovery, matched: &CertHash) -> Option<Verdict> {
    let state = state.lock().expect("AMT state lock");
    let provisioned = state.provisioning_state == ProvisioningState::Post && state.control_mode == ControlMode::Admin;
    provisioned.then(|| Verdict::Provisioned { domain: discovery.suffix.to_string(), control_mode: state.control_mode.short_name().into(), matched_hash: matched.to_string() })
}

/// The ME's side of the TLS handshake: applies the firmware's certificate rules to the
/// chain the setup server presents, and keeps the result for the timeline.
#[derive(Debug)]
struct MeJudge {
    profile: FirmwareProfile,
    trusted: Vec<CertHash>,
    suffix: String,
    last: Mutex<Option<ChainReport>>,
}

impl MeJudge {
    fn new(config: &MeConfig, suffix: &DomainName) -> Self {
        let mut trusted = config.profile.default_hashes();
        trusted.extend(config.custom_hashes.iter().cloned());
        Self { profile: config.profile.clone(), trusted, suffix: suffix.to_string(), last: Mutex::new(None) }
    }

    fn take_checks(&self) -> Vec<crate::amt::checks::CheckResult> {
        let mut last = self.last.lock().expect("judge lock");
        last.as_mut().map(|report| std::mem::take(&mut report.checks)).unwrap_or_default()
    }

    fn refusal(&self) -> Option<Reason> {
        let last = self.last.lock().expect("judge lock");
        last.as_ref().and_then(|report| report.result.as_ref().err()).map(|refusal| Reason::Certificate(refusal.clone()))
    }

    fn accepted_hash(&self) -> Option<CertHash> {
        let last = self.last.lock().expect("judge lock");
        last.as_ref().and_then(|report| report.result.as_ref().ok()).map(|accepted| accepted.matched.clone())
    }
}

impl ChainJudge for MeJudge {
    fn judge(&self, chain: &[CertificateDer<'_>], now: UnixTime) -> Result<(), String> {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now.as_secs());
        let report = check_chain(&self.profile, &self.trusted, &self.suffix, chain, now);
        let result = report.result.as_ref().map(|_| ()).map_err(ToString::to_string);

        *self.last.lock().expect("judge lock") = Some(report);
        result
    }
}
