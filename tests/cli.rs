//! Commands that build no lab: validate, hello decode, help, and input errors.

mod common;

use common::{repo_path, sandboxed, vprolab};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn validate_accepts_reference_labs() {
    for file in ["topologies/single.yaml", "topologies/wildcard.yaml"] {
        let output = vprolab(&["validate", file]);

        assert!(output.status.success(), "{file}: {}", stderr(&output));
        assert!(stdout(&output).contains("valid"), "{file}: {}", stdout(&output));
    }
}

#[test]
fn validate_json_describes_relay() {
    let output = vprolab(&["validate", "--json", "topologies/wildcard.yaml"]);
    let model: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(model["relays"][0]["giaddr"], "192.168.91.10");
    assert_eq!(model["relays"][0]["dhcp_server_address"], "192.168.90.10");
}

#[test]
fn validate_reports_every_problem_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_path("topologies/single.yaml")).unwrap();
    let broken = text.replace("subnet: 192.168.90.0/24", "subnet: 192.168.90.1/24").replace("roles: [setup-server]", "roles: [setup-srever]");
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, broken).unwrap();

    let output = vprolab(&["validate", path.to_str().unwrap()]);
    let message = stderr(&output);

    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("2 problems"), "{message}");
    assert!(message.contains("broken.yaml:13:"), "{message}");
    assert!(message.contains("did you mean 192.168.90.0/24?"), "{message}");
    assert!(message.contains("did you mean \"setup-server\"?"), "{message}");
}

#[test]
fn invalid_topology_touches_no_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.yaml");
    std::fs::write(&path, b"\xff\xfe\x00garbage").unwrap();

    let run = sandboxed(&["run", path.to_str().unwrap()]);

    assert_eq!(run.exit_code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not UTF-8"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.assert_nothing_left();
}

#[test]
fn missing_file_is_input_error() {
    let output = vprolab(&["run", "no-such-topology.yaml"]);

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read topology no-such-topology.yaml"), "{}", stderr(&output));
}

#[test]
fn hello_decode_names_roots() {
    let output = vprolab(&["hello", "decode", "tests/fixtures/hello/pki-v3-24-hashes-retry1.bin"]);
    let text = stdout(&output);

    assert!(output.status.success(), "{}", stderr(&output));
    assert!(text.contains("hello version 3 (PKI)"), "{text}");
    assert!(text.contains("retry count: 1"), "{text}");
    assert!(text.contains("UUID: d2ffc23e-9dd1-412d-860a-54b2039b72ff"), "{text}");
    assert!(text.contains("trusted root hashes: 24"), "{text}");
    assert!(text.contains("1465fa205397b876faa6f0a9958e5590e40fcc7faa4fb7c2c8677521fb5fb658  Starfield Class 2"), "{text}");
}

#[test]
fn hello_decode_json() {
    let output = vprolab(&["hello", "decode", "--json", "tests/fixtures/hello/pki-v3-23-hashes.bin"]);
    let hello: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(hello["version"], 3);
    assert_eq!(hello["retry_count"], 0);
    assert_eq!(hello["hashes"].as_array().unwrap().len(), 23);
    assert_eq!(hello["hashes"][3]["algorithm"], "sha256");
}

#[test]
fn hello_decode_rejects_other_bytes() {
    let output = vprolab(&["hello", "decode", "topologies/single.yaml"]);

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("is not a hello"), "{}", stderr(&output));
}

/// A lab name becomes a folder under the state root, which `down` removes whole: a name
/// such as `..` would point it at the state root's parent.
#[test]
fn lab_commands_reject_path_names() {
    for name in ["..", ".", "", "../..", "a/b", "Single"] {
        for command in [vec!["down", name], vec!["status", name], vec!["exec", name, "pc90", "--", "true"]] {
            let output = vprolab(&command);
            assert_eq!(output.status.code(), Some(2), "{command:?}: {}", stderr(&output));
            assert!(stderr(&output).contains("invalid lab name"), "{command:?}: {}", stderr(&output));
        }
    }
}

#[test]
fn down_without_state_is_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = vprolab(&["down", "nolab", "--state-dir", dir.path().join("nolab").to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no running lab \"nolab\""), "{}", stderr(&output));
}

#[test]
fn help_lists_commands() {
    let output = vprolab(&["--help"]);
    let text = stdout(&output);

    for command in ["run", "up", "down", "validate", "hello"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
}

#[test]
fn schema_matches_committed_file() {
    let output = vprolab(&["schema"]);
    let committed = std::fs::read_to_string(repo_path("docs/topology.schema.json")).unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output) == committed, "docs/topology.schema.json is stale: run `vprolab schema > docs/topology.schema.json`");
}

#[test]
fn schema_is_draft07_with_top_level_keys() {
    let output = vprolab(&["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().filter_map(|key| key.as_str()).collect();
    assert_eq!(required, ["lab", "switch", "servers", "dhcp", "setup_server", "clients"]);
    assert_eq!(schema["additionalProperties"], false);
}

/// `vprolab schema | head -1`: the reader is gone before the output is written.
#[test]
fn closed_stdout_is_no_failure() {
    let cases = [(&["schema"][..], 0), (&["graph", "topologies/wildcard.yaml"], 0), (&["validate", "tests/errors/fleet-shares-mac.yaml"], 2)];
    for (args, expected) in cases {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(common::VPROLAB)
            .args(args)
            .current_dir(repo_path("."))
            .stdout(writer.try_clone().unwrap())
            .stderr(writer)
            .output()
            .unwrap();

        assert_eq!(output.status.code(), Some(expected), "{args:?} into a closed pipe");
    }
}
