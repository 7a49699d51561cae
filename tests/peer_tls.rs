//! The ME's TLS port against openssl s_client (Debian package openssl), playing the setup
//! server: the lab's provisioning chain as client certificate must be accepted, and a
//! chain from a root the ME does not trust must be rejected.

mod peers;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use netns::Namespace;
use peers::{OPENSSL, PeerLab, isolated};
use tokio::io::AsyncReadExt;
use vprolab::amt::hello::Hello;
use vprolab::net::NodeNet;
use vprolab::timeline::{Step, Verdict};

/// provisionserver.jcert.info points at this peer node instead of the lab's setup server.
const TOPOLOGY: &str = "tests/fixtures/topologies/single-peer-setup-server.yaml";
const PEER_SETUP_SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 90, 30);
const HELLO_PORT: u16 = 9971;
const AMT_TLS_PORT: u16 = 16993;

/// How long the ME keeps waiting for a connection back.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(25);

/// Takes one hello on port 9971 of `node` and returns the ME's address and the hello.
async fn receive_hello(node: Arc<Namespace>) -> (Ipv4Addr, Hello) {
    let listener = NodeNet::in_namespace(node).tcp_listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, HELLO_PORT))).expect("hello listener");
    let (mut stream, peer) = tokio::time::timeout(CLIENT_TIMEOUT, listener.accept()).await.expect("no hello from the ME").expect("accept");

    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read hello");
    let hello = Hello::parse(&bytes).unwrap_or_else(|error| panic!("invalid hello from {peer}: {error}"));
    let SocketAddr::V4(peer) = peer else { panic!("IPv6 hello from {peer}") };
    (*peer.ip(), hello)
}

/// Makes a chain the ME must reject with openssl itself: a self-signed root no ME trusts
/// and a leaf that passes every other rule (CN in jcert.info, the setup OU, serverAuth
/// and the Intel AMT setup OID). Returns the leaf, its key, and the root.
async fn untrusted_chain(node: &Namespace, dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let extensions = peers::write_file(dir, "leaf.ext", "extendedKeyUsage = serverAuth, 2.16.840.1.113741.1.2.3\n", false);

    let steps: [Vec<String>; 3] = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=Untrusted Root", "-keyout", &path("untrusted-root.key"), "-out", &path("untrusted-root.pem")].map(String::from).to_vec(),
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/OU=Intel(R) Client Setup Certificate/CN=scs.jcert.info", "-keyout", &path("untrusted-leaf.key"), "-out", &path("untrusted-leaf.csr")].map(String::from).to_vec(),
        ["x509", "-req", "-days", "30", "-in", &path("untrusted-leaf.csr"), "-CA", &path("untrusted-root.pem"), "-CAkey", &path("untrusted-root.key"), "-CAcreateserial", "-extfile", extensions.to_str().unwrap(), "-out", &path("untrusted-leaf.pem")].map(String::from).to_vec(),
    ];
    for args in &steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = peers::output(node, OPENSSL, &args).await;
        assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    (dir.join("untrusted-leaf.pem"), dir.join("untrusted-leaf.key"), dir.join("untrusted-root.pem"))
}

/// What one s_client run showed.
#[derive(Debug)]
struct Handshake {
    /// Whether s_client exited 0, which it does only after a complete handshake.
    completed: bool,
    /// stdout and stderr.
    text: String,
}

/// Connects to the ME's TLS port with `leaf` and `key` as client certificate, sending the
/// certificates in `chain` after the leaf, and closes once the handshake is done.
async fn s_client(node: &Namespace, me: Ipv4Addr, version: &str, leaf: &Path, key: &Path, chain: &Path) -> Handshake {
    let connect = format!("{me}:{AMT_TLS_PORT}");
    let args = ["s_client", "-connect", &connect, version, "-cert", leaf.to_str().unwrap(), "-key", key.to_str().unwrap(), "-cert_chain", chain.to_str().unwrap()];
    let Output { status, stdout, stderr } = peers::output(node, OPENSSL, &args).await;
    Handshake { completed: status.success(), text: format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr)) }
}

/// Plays the setup server: takes a hello, then connects back three times. Returns what
/// s_client printed for the lab chain over TLS 1.3 and 1.2, and for the untrusted chain.
async fn play_setup_server(node: Arc<Namespace>, dir: PathBuf, pki: PathBuf) -> (Hello, [Handshake; 3]) {
    let (me, hello) = receive_hello(node.clone()).await;

    let lab_rest = dir.join("lab-rest.pem");
    let rest = [std::fs::read_to_string(pki.join("intermediate.pem")).unwrap(), std::fs::read_to_string(pki.join("root.pem")).unwrap()].concat();
    std::fs::write(&lab_rest, rest).unwrap();
    let (lab_leaf, lab_key) = (pki.join("leaf.pem"), pki.join("leaf.key"));

    let accepted_13 = s_client(&node, me, "-tls1_3", &lab_leaf, &lab_key, &lab_rest).await;
    let accepted_12 = s_client(&node, me, "-tls1_2", &lab_leaf, &lab_key, &lab_rest).await;
    let (leaf, key, root) = untrusted_chain(&node, &dir).await;
    let rejected = s_client(&node, me, "-tls1_2", &leaf, &key, &root).await;
    (hello, [accepted_13, accepted_12, rejected])
}

#[test]
#[ignore = "needs peers from Debian: run by make test-peers"]
fn openssl_client_chain_accepted_or_rejected() {
    isolated(|| async {
        let mut lab = PeerLab::start(TOPOLOGY).await;
        let node = lab.add_peer("scs30", 90, [0x02, 0, 0, 0x0e, 90, 30], Some(PEER_SETUP_SERVER)).await;
        let (dir, pki) = (lab.dir.path().to_owned(), lab.pki_dir());

        let (report, (hello, [accepted_13, accepted_12, rejected])) = tokio::join!(lab.run_clients(CLIENT_TIMEOUT), play_setup_server(node, dir, pki));

        assert_eq!(hello.version(), 3, "PKI hello");
        for (accepted, version) in [(&accepted_13, "TLSv1.3"), (&accepted_12, "TLSv1.2")] {
            assert!(accepted.completed, "lab chain over {version} rejected:\n{}", accepted.text);
            assert!(accepted.text.contains(&format!("New, {version}, Cipher is")), "{version}:\n{}", accepted.text);
            assert!(!accepted.text.contains("alert"), "{version}:\n{}", accepted.text);
        }
        // The ME sends certificate_unknown (46) for every chain its firmware rules reject.
        assert!(!rejected.completed, "untrusted chain accepted:\n{}", rejected.text);
        assert!(rejected.text.contains("alert certificate unknown"), "untrusted chain:\n{}", rejected.text);

        let pc90 = &report.clients[0];
        let chains: Vec<&Vec<String>> = pc90.timeline.events().iter().filter_map(|event| match &event.step { Step::Tls { client_chain, .. } => Some(client_chain), _ => None }).collect();
        assert_eq!(chains.len(), 2, "one TLS session per accepted connection");
        assert_eq!(chains[0], &["scs.jcert.info", "vprolab Lab Issuing CA", "vprolab Lab Root CA"]);
        let Verdict::Refused { code, reason } = &pc90.verdict else { panic!("pc90 was provisioned by a bare s_client") };
        assert_eq!(*code, "untrusted-root", "{reason}");
        assert!(pc90.as_expected);
        lab.stop().await;
    });
}
