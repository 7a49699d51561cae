//! One provisioning session: connect back to the ME, TLS with the provisioning
//! certificate, and the WS-Management setup sequence.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

use super::client::WsManClient;
use super::tls::{find_tls_error, fingerprint, tls_failure};
use super::{Activation, ScsConfig, ScsError, ScsSession};
use crate::amt::hello::Hello;
use crate::amt::wsman::{
    Envelope, GeneralSettings, HostBasedSetupService, LowAccuracyTime, ProvisioningState, ReturnValue,
    SetAdminAclEntryEx, SetHighAccuracyTimeSynch, SetMebxPassword, SetupAndConfigurationService, SoftwareIdentity,
    method_input, return_value, uri,
};
use crate::me::wsman_server::ADMIN_USERNAME;
use crate::net::NodeNet;

/// Steps of a session with their time since the hello arrived.
struct Steps {
    start: Instant,
    list: Vec<(Duration, String)>,
}

impl Steps {
    fn record(&mut self, step: String) {
        tracing::debug!(step, "SCS session step");
        self.list.push((self.start.elapsed(), step));
    }
}

/// Runs a whole session for `hello`, which came from `peer`.
pub(super) async fn run(
    config: &ScsConfig,
    tls: &Arc<rustls::ClientConfig>,
    net: &NodeNet,
    shutdown: &CancellationToken,
    hello: &Hello,
    peer: SocketAddr,
) -> ScsSession {
    let mut steps = Steps { start: Instant::now(), list: Vec::new() };
    steps.record(format!(
        "hello version {} from {peer}: retry {}, {} trusted root hashes",
        hello.version(),
        hello.retry_count,
        hello.hashes().len()
    ));
    let mut me_certificate_sha256 = None;

    let result = tokio::select! {
        result = provision(config, tls, net, peer, &mut steps, &mut me_certificate_sha256) => result,
        _ = shutdown.cancelled() => Err(ScsError::Cancelled),
    };
    match &result {
        Ok(activation) => steps.record(format!(
            "provisioned in {} with AMT {}",
            activation.control_mode.short_name(),
            activation.amt_version
        )),
        Err(error) => steps.record(format!("failed: {error}")),
    }
    log_result(peer, hello, &result);

    ScsSession {
        peer,
        uuid: hello.uuid,
        hello_version: hello.version(),
        retry_count: hello.retry_count,
        me_certificate_sha256,
        steps: steps.list,
        result,
    }
}

fn log_result(peer: SocketAddr, hello: &Hello, result: &Result<Activation, ScsError>) {
    match result {
        Ok(activation) => {
            tracing::info!(%peer, uuid = %hello.uuid, amt_version = activation.amt_version, "ME provisioned")
        }
        // The report shows every failed session; a lab may expect the failure.
        Err(error) => tracing::info!(%peer, uuid = %hello.uuid, %error, "provisioning failed"),
    }
}

async fn provision(
    config: &ScsConfig,
    tls: &Arc<rustls::ClientConfig>,
    net: &NodeNet,
    peer: SocketAddr,
    steps: &mut Steps,
    me_certificate_sha256: &mut Option<String>,
) -> Result<Activation, ScsError> {
    let addr = SocketAddr::new(peer.ip(), config.amt_port);
    let tcp = connect(net, addr, config.connect_timeout).await?;
    steps.record(format!("connected to {addr}"));

    let stream = handshake(tls, tcp, addr, config.connect_timeout).await?;
    let connection = stream.get_ref().1;
    let protocol = connection.protocol_version().map_or_else(|| "unknown".to_owned(), |version| format!("{version:?}"));
    let certificate = connection.peer_certificates().and_then(|certificates| certificates.first()).map(fingerprint);
    steps.record(format!(
        "TLS {protocol} with the ME, its certificate SHA-256 {}",
        certificate.as_deref().unwrap_or("missing")
    ));
    *me_certificate_sha256 = certificate;

    let mut client = WsManClient::start(stream, addr.to_string(), ADMIN_USERNAME, "", config.request_timeout).await?;
    let result = configure(&mut client, config, steps).await;
    client.close().await;
    result
}

async fn connect(net: &NodeNet, addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ScsError> {
    match tokio::time::timeout(timeout, net.tcp_connect(addr)).await {
        Err(_) => Err(ScsError::Timeout { step: format!("connect to {addr}"), after: timeout }),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(ScsError::ConnectRefused { addr })
        }
        Ok(Err(error)) => Err(ScsError::Connect { addr, error: error.to_string() }),
    }
}

async fn handshake(
    tls: &Arc<rustls::ClientConfig>,
    tcp: TcpStream,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, ScsError> {
    let server_name = ServerName::IpAddress(addr.ip().into());
    let connecting = TlsConnector::from(Arc::clone(tls)).connect(server_name, tcp);

    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(ScsError::Timeout { step: "TLS handshake".into(), after: timeout }),
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) => {
            Err(find_tls_error(&error).map_or_else(|| ScsError::Tls { error: error.to_string() }, tls_failure))
        }
    }
}

/// Runs the setup sequence of a real setup server, then reads the result back.
async fn configure(client: &mut WsManClient, config: &ScsConfig, steps: &mut Steps) -> Result<Activation, ScsError> {
    let settings = get_general_settings(client).await?;
    steps.record(format!("Get AMT_GeneralSettings: DigestRealm {}", settings.digest_realm));

    let identity = get_amt_version(client).await?;
    steps.record(format!("Get CIM_SoftwareIdentity: AMT {}", identity.version_string));

    let mebx = SetMebxPassword { password: config.mebx_password.clone() };
    invoke(
        client,
        uri::AMT_SETUP_AND_CONFIGURATION_SERVICE,
        SetupAndConfigurationService::SET_MEBX_PASSWORD,
        mebx.to_input(),
    )
    .await?;
    steps.record("SetMEBxPassword: PT_STATUS_SUCCESS".into());

    let acl = SetAdminAclEntryEx::new(ADMIN_USERNAME, &settings.digest_realm, &config.admin_password);
    invoke(client, uri::AMT_AUTHORIZATION_SERVICE, SetAdminAclEntryEx::METHOD, acl.to_input()).await?;
    steps.record("SetAdminAclEntryEx: PT_STATUS_SUCCESS".into());

    if config.sync_clock {
        sync_clock(client).await?;
        steps.record("SetHighAccuracyTimeSynch: PT_STATUS_SUCCESS".into());
    }

    let commit = method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, SetupAndConfigurationService::COMMIT_CHANGES);
    invoke(client, uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, SetupAndConfigurationService::COMMIT_CHANGES, commit)
        .await?;
    steps.record("CommitChanges: PT_STATUS_SUCCESS".into());

    // From here on the ME checks the administrator password just set.
    client.set_password(&config.admin_password);
    let activation = read_back(client, settings.digest_realm, identity.version_string).await?;
    steps.record(format!("read back: ProvisioningState post, control mode {}", activation.control_mode.short_name()));
    Ok(activation)
}

async fn get_general_settings(client: &mut WsManClient) -> Result<GeneralSettings, ScsError> {
    const STEP: &str = "Get AMT_GeneralSettings";
    let response = client.exchange(STEP, &Envelope::get(uri::AMT_GENERAL_SETTINGS, &message_id())).await?;
    let object = response.into_object(GeneralSettings::CLASS).map_err(|error| bad_response(STEP, error))?;
    GeneralSettings::from_object(&object).map_err(|error| bad_response(STEP, error))
}

async fn get_amt_version(client: &mut WsManClient) -> Result<SoftwareIdentity, ScsError> {
    const STEP: &str = "Get CIM_SoftwareIdentity";
    let request = Envelope::get(uri::CIM_SOFTWARE_IDENTITY, &message_id())
        .with_selector("InstanceID", SoftwareIdentity::AMT_INSTANCE);
    let response = client.exchange(STEP, &request).await?;
    let object = response.into_object(SoftwareIdentity::CLASS).map_err(|error| bad_response(STEP, error))?;
    SoftwareIdentity::from_object(&object).map_err(|error| bad_response(STEP, error))
}

/// Reads the ME clock and sets it to this host's.
async fn sync_clock(client: &mut WsManClient) -> Result<(), ScsError> {
    let get = method_input(uri::AMT_TIME_SYNCHRONIZATION_SERVICE, SetHighAccuracyTimeSynch::GET_LOW_ACCURACY);
    let output =
        invoke(client, uri::AMT_TIME_SYNCHRONIZATION_SERVICE, SetHighAccuracyTimeSynch::GET_LOW_ACCURACY, get).await?;
    let low = LowAccuracyTime::from_output(&output)
        .map_err(|error| bad_response(SetHighAccuracyTimeSynch::GET_LOW_ACCURACY, error))?;
    let tm1 = unix_now();

    let set = SetHighAccuracyTimeSynch { ta0: low.ta0, tm1, tm2: unix_now() };
    invoke(client, uri::AMT_TIME_SYNCHRONIZATION_SERVICE, SetHighAccuracyTimeSynch::METHOD, set.to_input()).await?;
    Ok(())
}

async fn read_back(client: &mut WsManClient, realm: String, amt_version: String) -> Result<Activation, ScsError> {
    const SETUP_STEP: &str = "Get AMT_SetupAndConfigurationService";
    let response =
        client.exchange(SETUP_STEP, &Envelope::get(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, &message_id())).await?;
    let object =
        response.into_object(SetupAndConfigurationService::CLASS).map_err(|error| bad_response(SETUP_STEP, error))?;
    let setup = SetupAndConfigurationService::from_object(&object).map_err(|error| bad_response(SETUP_STEP, error))?;
    if setup.provisioning_state != ProvisioningState::Post {
        return Err(ScsError::NotProvisioned { state: setup.provisioning_state });
    }

    const MODE_STEP: &str = "Get IPS_HostBasedSetupService";
    let response = client.exchange(MODE_STEP, &Envelope::get(uri::IPS_HOST_BASED_SETUP_SERVICE, &message_id())).await?;
    let object = response.into_object(HostBasedSetupService::CLASS).map_err(|error| bad_response(MODE_STEP, error))?;
    let host_based = HostBasedSetupService::from_object(&object).map_err(|error| bad_response(MODE_STEP, error))?;

    Ok(Activation { amt_version, realm, control_mode: host_based.current_control_mode })
}

/// Invokes a method and checks that its `ReturnValue` is PT_STATUS_SUCCESS.
async fn invoke(
    client: &mut WsManClient,
    resource_uri: &str,
    method: &str,
    input: crate::amt::wsman::CimObject,
) -> Result<crate::amt::wsman::CimObject, ScsError> {
    let response = client.exchange(method, &Envelope::invoke(resource_uri, method, input, &message_id())).await?;
    let output = response.into_object(&format!("{method}_OUTPUT")).map_err(|error| bad_response(method, error))?;
    let value = return_value(&output).map_err(|error| bad_response(method, error))?;
    if value != ReturnValue::SUCCESS {
        return Err(ScsError::BadReturnValue { step: method.into(), value });
    }
    Ok(output)
}

fn bad_response(step: &str, error: crate::amt::wsman::WsManError) -> ScsError {
    ScsError::BadResponse { step: step.into(), error }
}

fn message_id() -> String {
    format!("uuid:{}", uuid::Uuid::new_v4())
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
