//! Both reference setups, end to end, each in a sandbox of its own.

mod common;

use common::sandboxed;
use serde_json::Value;

fn client<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["clients"].as_array().unwrap().iter().find(|client| client["name"] == name).unwrap_or_else(|| panic!("no client {name} in {report}"))
}

fn steps<'a>(client: &'a Value, step: &str) -> Vec<&'a Value> {
    client["timeline"].as_array().unwrap().iter().filter(|event| event["step"] == step).collect()
}

fn check<'a>(client: &'a Value, rule: &str) -> &'a Value {
    steps(client, "check").into_iter().find(|check| check["rule"] == rule).unwrap_or_else(|| panic!("no check {rule} for {}", client["name"]))
}

/// Asserts what every client of both labs must show: provisioned in ACM in `domain`, with
/// option 15 seen, the CNAME followed, the lab root's hash matched and the commit done.
fn assert_provisioned(client: &Value, domain: &str, subnet_prefix: &str) {
    let name = &client["name"];
    assert_eq!(client["verdict"]["outcome"], "provisioned", "{name}: {}", client["verdict"]);
    assert_eq!(client["verdict"]["control_mode"], "ACM", "{name}");
    assert_eq!(client["verdict"]["domain"], domain, "{name}");
    assert_eq!(client["domain"], domain, "{name}");
    assert_eq!(client["as_expected"], true, "{name}");
    assert!(client["address"].as_str().unwrap().starts_with(subnet_prefix), "{name}: {}", client["address"]);

    let lease = steps(client, "lease")[0];
    assert_eq!(lease["option15"], domain, "{name}: option 15");

    let dns = steps(client, "dns")[0];
    assert_eq!(dns["qname"], format!("provisionserver.{domain}"), "{name}");
    assert_eq!(dns["cnames"], serde_json::json!(["scs.jcert.info"]), "{name}: CNAME followed");
    assert_eq!(dns["address"], "192.168.90.20", "{name}: setup server address");

    assert!(!steps(client, "hello").is_empty(), "{name}: hello sent");
    assert_eq!(check(client, "trusted-root")["passed"], true, "{name}: hash matched");
    assert_eq!(check(client, "domain")["passed"], true, "{name}: domain rule");
    assert_eq!(steps(client, "provisioned").len(), 1, "{name}: committed");

    // Every request of the setup server is in the timeline, not only those the ME
    // happened to record before it saw the commit.
    let requests: Vec<&str> = steps(client, "ws_man").iter().map(|event| event["action"].as_str().unwrap()).collect();
    for action in ["Get AMT_GeneralSettings", "AMT_SetupAndConfigurationService.SetMEBxPassword", "AMT_AuthorizationService.SetAdminAclEntryEx"] {
        assert!(requests.contains(&action), "{name}: no {action} in {requests:?}");
    }
    assert_eq!(requests.last(), Some(&"AMT_SetupAndConfigurationService.CommitChanges"), "{name}: CommitChanges last");
}

#[test]
fn single_lab_provisions_its_client() {
    let run = sandboxed(&["-q", "run", "--json", "topologies/single.yaml"]);
    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);
    let report = run.json();

    assert_eq!(report["clients"].as_array().unwrap().len(), 1);
    let pc90 = client(&report, "pc90");
    assert_provisioned(pc90, "jcert.info", "192.168.90.");
    assert_eq!(steps(pc90, "lease")[0]["relay"], Value::Null, "pc90 leased on its own segment");
    run.assert_nothing_left();
}

#[test]
fn wildcard_lab_provisions_both_clients() {
    let run = sandboxed(&["-q", "run", "--json", "topologies/wildcard.yaml"]);
    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);
    let report = run.json();

    assert_provisioned(client(&report, "pc90"), "jcert.info", "192.168.90.");
    let pc91 = client(&report, "pc91");
    assert_provisioned(pc91, "mtkg.jcert.info", "192.168.91.");

    let lease = steps(pc91, "lease")[0];
    assert_eq!(lease["relay"], "192.168.91.10", "pc91 leased through the relay on dc2");
    assert_eq!(lease["server"], "192.168.90.10", "pc91 leased from dc1");
    let domain = check(pc91, "domain")["evidence"].as_str().unwrap();
    assert!(domain.contains("second-level"), "pc91 accepted *.jcert.info by the second-level rule: {domain}");
    run.assert_nothing_left();
}

#[test]
fn text_report_names_verdicts() {
    let run = sandboxed(&["-q", "run", "topologies/wildcard.yaml"]);
    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);

    assert!(run.stdout.contains("through relay 192.168.91.10 (giaddr)"), "{}", run.stdout);
    assert!(run.stdout.contains("option 15 \"mtkg.jcert.info\""), "{}", run.stdout);
    assert!(run.stdout.contains("PROVISIONED in ACM"), "{}", run.stdout);
    assert!(run.stdout.contains("2 of 2 clients ended as expected"), "{}", run.stdout);
    run.assert_nothing_left();
}

#[test]
fn unexpected_outcome_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::repo_path("topologies/single.yaml")).unwrap();
    let changed = text.replace("      domain: jcert.info            # option 15\n", "");
    assert_ne!(changed, text, "option 15 line not found in single.yaml");
    let path = dir.path().join("no-option15.yaml");
    std::fs::write(&path, changed).unwrap();

    let run = sandboxed(&["-q", "run", "--json", path.to_str().unwrap()]);

    assert_eq!(run.exit_code, 1, "stderr: {}", run.stderr);
    let pc90 = client(&run.json(), "pc90").clone();
    assert_eq!(pc90["verdict"]["outcome"], "refused");
    assert_eq!(pc90["verdict"]["code"], "no-dns-suffix");
    assert_eq!(pc90["as_expected"], false);
    run.assert_nothing_left();
}

#[test]
fn refusal_meets_its_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::repo_path("topologies/single.yaml")).unwrap();
    let changed = text.replace("cn: scs.jcert.info", "cn: scs.example.com").replace("      outcome: provisioned\n      domain: jcert.info\n", "      outcome: domain-mismatch\n");
    let path = dir.path().join("other-domain.yaml");
    std::fs::write(&path, changed).unwrap();

    let run = sandboxed(&["-q", "run", "--json", path.to_str().unwrap()]);

    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);
    let pc90 = client(&run.json(), "pc90").clone();
    assert_eq!(pc90["verdict"]["code"], "domain-mismatch", "{}", pc90["verdict"]);
    assert_eq!(check(&pc90, "domain")["passed"], false);
    assert!(steps(&pc90, "provisioned").is_empty());
    run.assert_nothing_left();
}

#[test]
fn log_lines_name_their_own_me() {
    let run = sandboxed(&["-v", "run", "topologies/wildcard.yaml"]);
    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);

    // The log is colored even when it is not a terminal; the checks read plain text.
    let plain = strip_ansi(&run.stderr);
    let leases: Vec<&str> = plain.lines().filter(|line| line.contains("DHCP lease obtained")).collect();
    let chains: Vec<&str> = plain.lines().filter(|line| line.contains("certificate chain accepted")).collect();
    assert_eq!(leases.len(), 2, "{plain}");
    assert_eq!(chains.len(), 2, "{plain}");

    for line in leases {
        let node = if line.contains("address=192.168.91.") { "pc91" } else { "pc90" };
        assert!(line.contains(&format!("me{{node={node}}}")), "lease logged under another ME: {line}");
    }
    for line in chains {
        let node = if line.contains("suffix=\"mtkg.jcert.info\"") { "pc91" } else { "pc90" };
        assert!(line.contains(&format!("me{{node={node}}}")), "check logged under another ME: {line}");
    }
    run.assert_nothing_left();
}

/// Removes the ANSI color sequences (`ESC [ ... m`) of a log.
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(character) = chars.next() {
        if character == '\u{1b}' {
            chars.by_ref().find(|next| *next == 'm');
        } else {
            plain.push(character);
        }
    }
    plain
}

/// A `--state-dir` folder outlives the lab with its certificates only.
#[test]
fn state_dir_keeps_only_pki() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let run = sandboxed(&["-q", "run", "--state-dir", state.to_str().unwrap(), "topologies/single.yaml"]);
    assert_eq!(run.exit_code, 0, "stderr: {}", run.stderr);

    let mut left: Vec<String> = std::fs::read_dir(&state).unwrap().map(|entry| entry.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, ["pki"], "left in the state folder");
    run.assert_nothing_left();
}
