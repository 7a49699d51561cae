use std::process::Stdio;
use std::sync::Mutex;

use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio_rustls::TlsConnector;

use super::*;
use crate::me::test_chain::TestChain;
use crate::net::NodeNet;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A judge that records every chain it is shown and returns a fixed verdict.
#[derive(Debug)]
struct RecordingJudge {
    refusal: Option<String>,
    seen: Mutex<Vec<Vec<CertificateDer<'static>>>>,
}

impl RecordingJudge {
    fn new(refusal: Option<&str>) -> Arc<Self> {
        Arc::new(Self { refusal: refusal.map(String::from), seen: Mutex::default() })
    }
}

impl ChainJudge for RecordingJudge {
    fn judge(&self, chain: &[CertificateDer<'_>], _now: UnixTime) -> Result<(), String> {
        self.seen.lock().unwrap().push(chain.iter().map(|cert| cert.clone().into_owned()).collect());
        self.refusal.clone().map_or(Ok(()), Err)
    }
}

fn listen() -> TcpListener {
    NodeNet::current().tcp_listen("127.0.0.1:0".parse().unwrap()).unwrap()
}

/// Accepts one connection on `listener` and runs the ME's handshake on it.
fn spawn_me(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> tokio::task::JoinHandle<Result<TlsStream<TcpStream>, TlsError>> {
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        accept(config, stream, HANDSHAKE_TIMEOUT).await
    })
}

fn client_config(chain: &TestChain) -> Arc<rustls::ClientConfig> {
    // The setup server's own configuration, so these tests meet the real client.
    let config = crate::scs::ScsConfig::new(chain.chain.clone(), chain.key.clone_key(), "P@ssw0rd1", "x");
    crate::scs::test_client_config(&config)
}

#[tokio::test]
async fn handshake_passes_whole_chain_to_judge() {
    let chain = TestChain::new("scs.jcert.info");
    let (cert, key) = crate::pki::me_identity(uuid::Uuid::nil()).unwrap();
    let judge = RecordingJudge::new(None);
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let me = spawn_me(listener, server_config(cert.clone(), key, judge.clone()).unwrap());

    let tcp = NodeNet::current().tcp_connect(addr).await.unwrap();
    let mut client =
        TlsConnector::from(client_config(&chain)).connect(ServerName::IpAddress(addr.ip().into()), tcp).await.unwrap();
    client.write_all(b"x").await.unwrap();
    let server = me.await.unwrap().unwrap();

    assert_eq!(*judge.seen.lock().unwrap(), vec![chain.chain.clone()]);
    assert_eq!(server.get_ref().1.peer_certificates().unwrap().len(), 3);
    assert_eq!(client.get_ref().1.peer_certificates().unwrap()[0], cert);
}

#[tokio::test]
async fn refused_chain_sends_certificate_unknown_over_tls12() {
    let chain = TestChain::new("scs.jcert.info");
    let (cert, key) = crate::pki::me_identity(uuid::Uuid::nil()).unwrap();
    let judge = RecordingJudge::new(Some("root hash not in the trusted list"));
    let config = server_config_with_versions(cert, key, judge, &[&rustls::version::TLS12]).unwrap();
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let me = spawn_me(listener, config);

    let tcp = NodeNet::current().tcp_connect(addr).await.unwrap();
    let client = TlsConnector::from(client_config(&chain)).connect(ServerName::IpAddress(addr.ip().into()), tcp).await;
    let server = me.await.unwrap();

    let error = client.unwrap_err();
    let alert = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).cloned();
    assert_eq!(alert, Some(rustls::Error::AlertReceived(rustls::AlertDescription::CertificateUnknown)));
    assert!(
        matches!(server, Err(TlsError::ChainRejected { ref reason }) if reason == "root hash not in the trusted list")
    );
}

#[test]
fn certificate_dns_name_prefers_common_name() {
    let chain = TestChain::new("scs.jcert.info");
    let (me_cert, _) = crate::pki::me_identity(uuid::Uuid::nil()).unwrap();

    assert_eq!(certificate_dns_name(&chain.chain[0]).as_deref(), Some("scs.jcert.info"));
    assert_eq!(certificate_dns_name(&me_cert).as_deref(), Some("AMT 00000000-0000-0000-0000-000000000000"));
    assert_eq!(certificate_dns_name(&CertificateDer::from(vec![0x30, 0x00])), None);
}

#[test]
fn generated_identity_is_rsa_2048_self_signed() {
    let (cert, _) = crate::pki::me_identity(uuid::Uuid::nil()).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();

    assert_eq!(parsed.subject(), parsed.issuer());
    assert_eq!(parsed.public_key().parsed().unwrap().key_size(), 2048);
}

/// Runs `openssl s_client` against a fresh ME TLS server and returns the server's
/// handshake result and the client's exit status and output.
async fn s_client(
    protocol_flag: &str,
    with_chain: bool,
    judge: Arc<RecordingJudge>,
) -> (Result<TlsStream<TcpStream>, TlsError>, std::process::Output) {
    let chain = TestChain::new("scs.jcert.info");
    let dir = tempfile::tempdir().unwrap();
    let (leaf, others, key_file) = chain.write_pem(dir.path());
    let (cert, key) = crate::pki::me_identity(uuid::Uuid::nil()).unwrap();
    let listener = listen();
    let addr = listener.local_addr().unwrap();
    let me = spawn_me(listener, server_config(cert, key, judge).unwrap());

    let mut command = tokio::process::Command::new("openssl");
    command.args(["s_client", "-connect", &addr.to_string(), protocol_flag, "-brief"]);
    if with_chain {
        command.arg("-cert").arg(&leaf).arg("-key").arg(&key_file).arg("-cert_chain").arg(&others);
    }
    let output = command.stdin(Stdio::null()).output().await.expect("openssl is installed");
    (me.await.unwrap(), output)
}

#[tokio::test]
async fn openssl_client_with_chain_is_accepted() {
    for protocol in ["-tls1_2", "-tls1_3"] {
        let judge = RecordingJudge::new(None);

        let (server, output) = s_client(protocol, true, judge.clone()).await;

        let stderr = String::from_utf8_lossy(&output.stderr);
        let server = server.unwrap_or_else(|error| panic!("{protocol}: {error}; openssl said {stderr}"));
        assert_eq!(server.get_ref().1.peer_certificates().unwrap().len(), 3, "{protocol}");
        assert_eq!(judge.seen.lock().unwrap()[0].len(), 3, "{protocol}");
        assert!(stderr.contains("CONNECTION ESTABLISHED"), "{protocol}: {stderr}");
    }
}

#[tokio::test]
async fn openssl_client_without_chain_is_refused() {
    for protocol in ["-tls1_2", "-tls1_3"] {
        let judge = RecordingJudge::new(None);

        let (server, output) = s_client(protocol, false, judge.clone()).await;

        let error = server.err().unwrap_or_else(|| panic!("{protocol}: handshake without client certificate accepted"));
        assert!(matches!(error, TlsError::Handshake(rustls::Error::NoCertificatesPresented)), "{protocol}: {error}");
        assert!(judge.seen.lock().unwrap().is_empty(), "{protocol}");
        if protocol == "-tls1_2" {
            // TLS 1.2 fails inside the handshake, so the client sees it; TLS 1.3 clients
            // finish first and only see the alert if they read afterwards.
            assert!(!output.status.success(), "{protocol}: {}", String::from_utf8_lossy(&output.stderr));
        }
    }
}
