//! The scenario catalogue: every file of topologies/scenarios ends with the outcome it
//! names, each run in a sandbox of its own.

mod common;

use std::path::PathBuf;

use common::{repo_path, sandboxed};

/// Smallest catalogue the project promises.
const MIN_SCENARIOS: usize = 20;

fn scenario_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path("topologies/scenarios")).unwrap().map(|entry| entry.unwrap().path()).filter(|path| path.extension().is_some_and(|ext| ext == "yaml")).collect();
    files.sort();
    files
}

#[test]
fn every_scenario_ends_as_expected() {
    let files = scenario_files();
    assert!(files.len() >= MIN_SCENARIOS, "only {} scenarios", files.len());

    let mut failures = Vec::new();
    for file in &files {
        let run = sandboxed(&["-q", "run", "--json", file.to_str().unwrap()]);
        run.assert_nothing_left();
        if run.exit_code != 0 {
            failures.push(format!("{}: exit {}: {}{}", file.display(), run.exit_code, run.stdout, run.stderr));
            continue;
        }

        for client in run.json()["clients"].as_array().unwrap() {
            let expected = &client["expected"]["outcome"];
            let got = client["verdict"]["code"].as_str().unwrap_or("provisioned");
            assert_eq!(client["as_expected"], true, "{}: {}", file.display(), client["verdict"]);
            assert_eq!(expected, got, "{}: {}", file.display(), client["name"]);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_scenario_explains_its_mistake() {
    for file in scenario_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let comment_lines = text.lines().take_while(|line| line.starts_with('#')).count();

        assert!(comment_lines >= 2, "{}: the file should open with a comment on the mistake it reproduces", file.display());
        assert!(text.contains("outcome:"), "{}: no expect.outcome", file.display());
    }
}

#[test]
fn scenarios_command_prints_table_and_fails_on_surprise() {
    let dir = tempfile::tempdir().unwrap();
    let expired = std::fs::read_to_string(repo_path("topologies/scenarios/expired-leaf.yaml")).unwrap();
    std::fs::write(dir.path().join("a-expired.yaml"), &expired).unwrap();
    let wrong = expired.replace("outcome: expired", "outcome: provisioned").replace("lab: expired-leaf", "lab: wrong-expect");
    std::fs::write(dir.path().join("b-wrong-expectation.yaml"), wrong).unwrap();

    let output = common::vprolab(&["-q", "scenarios", dir.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert_eq!(output.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("scenario "), "{stdout}");
    let expired_row = stdout.lines().find(|line| line.starts_with("a-expired")).unwrap();
    assert!(expired_row.contains("expired"), "{stdout}");
    assert!(!expired_row.contains("NOT AS EXPECTED"), "{stdout}");
    let wrong_row = stdout.lines().find(|line| line.starts_with("b-wrong-expectation")).unwrap();
    assert!(wrong_row.contains("provisioned"), "{stdout}");
    assert!(wrong_row.contains("NOT AS EXPECTED"), "{stdout}");
    assert!(stdout.contains("1 of 2 clients in 2 scenarios ended as expected"), "{stdout}");
}

#[test]
fn scenarios_command_rejects_empty_folder() {
    let dir = tempfile::tempdir().unwrap();

    let output = common::vprolab(&["scenarios", dir.path().to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no .yaml scenario"));
}
