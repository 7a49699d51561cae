//! MeshCentral, a setup server nobody here wrote, activates the emulated ME in ACM.
//!
//! `make interop-meshcentral` installs MeshCentral from npm and runs this test with
//! MESHCENTRAL_DIR naming the install. The lab of `topologies/examples/meshcentral.yaml`
//! runs MeshCentral's bare-metal setup server in the `scs` node. The test passes only when
//! the ME reaches ACM, MeshCentral's own log and activation log say it activated the ME,
//! and the ME, asked afterwards over WS-Management with the administrator password
//! MeshCentral set, returns an audit record that names the setup server's certificate and
//! the root hash that matched. It prints the evidence.

mod peers;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use peers::{OPENSSL, PeerLab, Tool, isolated};
use vprolab::amt::hello::{CertHash, HashAlgorithm};
use vprolab::amt::wsman::{Envelope, ProvisioningAuditRecord, ReturnValue, method_input, uri};
use vprolab::timeline::Verdict;

const TOPOLOGY: &str = "topologies/examples/meshcentral.yaml";
const NODE: Tool = Tool { program: "node", package: "nodejs" };
const CURL: Tool = Tool { program: "curl", package: "curl" };

/// The administrator password the topology gives MeshCentral's device group.
const ADMIN_PASSWORD: &str = "Lab-Admin1!";

/// How long MeshCentral gets after CommitChanges: it waits 5 s before it reports the
/// activation complete.
const ACTIVATION_LOG_TIMEOUT: Duration = Duration::from_secs(40);

/// The line MeshCentral 1.1.55 logs once a bare-metal activation is complete.
const ACTIVATION_COMPLETED: &str = "Intel AMT ACM activation completed.";

#[test]
#[ignore = "needs Node.js and MeshCentral from npm: run by make interop-meshcentral"]
fn meshcentral_activates_me_in_acm() {
    peers::require(NODE);
    peers::require(CURL);
    peers::require(OPENSSL);
    let install = std::env::var("MESHCENTRAL_DIR").expect("MESHCENTRAL_DIR is not set: run `make interop-meshcentral`, which installs MeshCentral and sets it");
    assert!(Path::new(&install).join("node_modules/meshcentral/meshcentral.js").is_file(), "no MeshCentral in {install}: run `make interop-meshcentral`");

    isolated(|| async {
        let mut lab = PeerLab::start(TOPOLOGY).await;
        let report = lab.run_clients(Duration::from_secs(90)).await;
        let state = lab.dir.path().join("state");
        let meshcentral_log = state.join("scs-node.log");

        let pc90 = report.clients.iter().find(|client| client.name == "pc90").expect("pc90 in the report");
        let Verdict::Provisioned { control_mode, matched_hash, domain } = &pc90.verdict else {
            panic!("pc90 was not provisioned: {:?}\nMeshCentral's log:\n{}", pc90.verdict, read(&meshcentral_log));
        };
        assert_eq!(control_mode, "ACM");
        assert_eq!(domain, "jcert.info");
        let root_sha256 = lab.running.chain.root_hash(HashAlgorithm::Sha256).expect("the lab chain has a root");
        assert_eq!(matched_hash, &root_sha256.to_string(), "the ME matched the lab root");

        let log = wait_for_line(&meshcentral_log, ACTIVATION_COMPLETED).await;
        let activation = activation_record(&state.join("meshcentral-data/amtactivation.log"));
        print_evidence(&log, &activation);
        assert_eq!(activation["action"], "acmactivate-bare-metal");
        assert_eq!(activation["amtUuid"].as_str().map(str::to_lowercase), Some(pc90.uuid.to_lowercase()));
        assert_eq!(activation["host"], "pc90.jcert.info", "MeshCentral found the ME's name by reverse DNS");
        assert_eq!(activation["pass"], ADMIN_PASSWORD);

        let pc90_address = pc90.address.expect("pc90 has a lease").to_string();
        let scs = lab.node("scs");
        let audit = audit_record(&scs, &lab, &pc90_address).await;
        println!("ME audit record, read with curl as admin after the activation: {audit:?}");
        assert_eq!(audit.return_value, ReturnValue::SUCCESS);
        assert_eq!(audit.provisioning_tls_mode, 1, "PKI");
        assert_eq!(audit.prov_server_fqdn, "scs.jcert.info", "the CN of the certificate MeshCentral presented");
        assert_eq!(audit.prov_server_ip, "192.168.90.20");
        assert_eq!(audit.selected_hash_type, 2, "SHA-256");
        assert_eq!(decode(&audit.selected_hash_data), root_sha256.digest());
        assert_eq!(audit.ca_certificate_serials, chain_ca_serials(&lab.pki_dir()), "the CA serials of the lab chain");
        assert!(!audit.is_oem_default);

        let tls_sha1 = served_certificate_sha1(&scs, &pc90_address).await;
        assert_eq!(Some(tls_sha1.as_str()), activation["tlshash"].as_str(), "after setup the ME presents the TLS certificate MeshCentral added");

        lab.stop().await;
    });
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| format!("(cannot read {}: {error})", path.display()))
}

/// Waits until `line` appears in the log at `path`, and returns the log.
async fn wait_for_line(path: &Path, line: &str) -> String {
    let deadline = tokio::time::Instant::now() + ACTIVATION_LOG_TIMEOUT;
    loop {
        let log = read(path);
        if log.contains(line) {
            return log;
        }
        assert!(tokio::time::Instant::now() < deadline, "MeshCentral did not log {line:?} within {ACTIVATION_LOG_TIMEOUT:?}. Its log:\n{log}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Returns the one JSON record MeshCentral appended to its activation log.
fn activation_record(path: &Path) -> serde_json::Value {
    let text = read(path);
    let records: Vec<serde_json::Value> = text.lines().filter(|line| !line.trim().is_empty()).map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{}: {error}: {line}", path.display()))).collect();
    assert_eq!(records.len(), 1, "one activation in {}:\n{text}", path.display());
    records.into_iter().next().expect("one record")
}

/// Prints MeshCentral's setup messages and its activation record, passwords left out.
fn print_evidence(log: &str, activation: &serde_json::Value) {
    println!("MeshCentral's log, its Intel AMT setup lines:");
    for line in log.lines().filter(|line| line.starts_with("AMTSCA:") || line.starts_with("AMT:") || line.contains("chain-order")) {
        println!("  {line}");
    }
    let mut shown = activation.clone();
    for secret in ["pass", "newmebx"] {
        if let Some(value) = shown.get_mut(secret) {
            *value = serde_json::Value::String("(set)".into());
        }
    }
    println!("MeshCentral's amtactivation.log: {shown}");
}

/// Asks the ME for its audit record with curl, as `admin` with the password MeshCentral
/// set, from the setup server's node.
async fn audit_record(scs: &netns::Namespace, lab: &PeerLab, address: &str) -> ProvisioningAuditRecord {
    let method = ProvisioningAuditRecord::METHOD;
    let input = method_input(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, method);
    let request = Envelope::invoke(uri::AMT_SETUP_AND_CONFIGURATION_SERVICE, method, input, "1").to_xml();
    let request_file = peers::write_file(lab.dir.path(), "audit-request.xml", &request, false);
    let url = format!("https://{address}:16993/wsman");
    let credentials = format!("admin:{ADMIN_PASSWORD}");
    let data = format!("@{}", request_file.display());
    let args = ["--silent", "--show-error", "--insecure", "--digest", "--user", &credentials, "--header", "Content-Type: application/soap+xml;charset=UTF-8", "--data-binary", &data, &url];

    let output = peers::output(scs, CURL, &args).await;
    let body = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "curl failed: {}", String::from_utf8_lossy(&output.stderr));
    let envelope = Envelope::parse(&body).unwrap_or_else(|error| panic!("unreadable response {body:?}: {error}"));
    let object = envelope.into_object(&format!("{method}_OUTPUT")).unwrap_or_else(|error| panic!("{error}: {body}"));
    ProvisioningAuditRecord::from_output(&object).unwrap_or_else(|error| panic!("{error}: {body}"))
}

/// Returns the SHA-1 of the certificate the ME's TLS port presents, in lowercase hex.
async fn served_certificate_sha1(scs: &netns::Namespace, address: &str) -> String {
    let connect = format!("{address}:16993");
    let output = peers::output(scs, OPENSSL, &["s_client", "-connect", &connect, "-showcerts"]).await;
    let text = String::from_utf8_lossy(&output.stdout);
    let pem = text.split("-----BEGIN CERTIFICATE-----").nth(1).and_then(|rest| rest.split("-----END CERTIFICATE-----").next()).unwrap_or_else(|| panic!("no certificate from {connect}: {text}"));
    let der = base64::engine::general_purpose::STANDARD.decode(pem.split_whitespace().collect::<String>()).expect("certificate base64");
    CertHash::of_der(HashAlgorithm::Sha1, &der).to_hex()
}

/// Returns the serial numbers of the lab chain's intermediate and root, in hex.
fn chain_ca_serials(pki: &Path) -> Vec<String> {
    ["intermediate.pem", "root.pem"]
        .iter()
        .map(|file| {
            let der = vprolab::pki::load_pem_chain(&pki.join(file)).expect("PEM certificate").remove(0);
            let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).expect("certificate");
            hex::encode(parsed.tbs_certificate.raw_serial())
        })
        .collect()
}

fn decode(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_else(|error| panic!("{text:?}: {error}"))
}
