//! `scenarios`: run every topology of a folder, each in a sandbox of its own, and print
//! a table of what each client was expected to end with and what it got.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{CliError, Progress, ScenariosArgs};
use super::write_stdout;
use crate::exit;

/// One row of the table: a client of a scenario, or a scenario that did not run.
struct Row {
    scenario: String,
    client: String,
    expected: String,
    got: String,
    as_expected: bool,
}

pub(crate) fn run_scenarios(args: &ScenariosArgs, progress: Progress) -> Result<u8, CliError> {
    let files = scenario_files(&args.dir)?;
    let program = std::env::current_exe().map_err(|error| CliError::Environment(format!("cannot find the vprolab executable: {error}")))?;

    let mut rows = Vec::new();
    for file in &files {
        progress.say(format!("running {}", file.display()));
        rows.extend(run_one(&program, file, args));
    }

    write_stdout(&table(&rows));
    let failed = rows.iter().filter(|row| !row.as_expected).count();
    write_stdout(&format!("\n{} of {} clients in {} scenarios ended as expected\n", rows.len() - failed, rows.len(), files.len()));
    Ok(if failed == 0 { exit::OK } else { exit::UNEXPECTED })
}

/// Lists the folder's `.yaml` files in name order.
fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|error| CliError::Input(format!("cannot read scenario folder {}: {error}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|entry| entry.path()).filter(|path| path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml")).collect();
    files.sort();

    if files.is_empty() {
        return Err(CliError::Input(format!("no .yaml scenario in {}", dir.display())));
    }
    Ok(files)
}

/// Runs one scenario with `vprolab run --sandbox --json` in a child process, because
/// each sandbox is a namespace the process enters once and never leaves.
fn run_one(program: &Path, file: &Path, args: &ScenariosArgs) -> Vec<Row> {
    let scenario = file.file_stem().map_or_else(|| file.display().to_string(), |stem| stem.to_string_lossy().into_owned());
    let mut command = Command::new(program);
    command.args(["-q", "run", "--sandbox", "--json"]).arg(file);
    if let Some(timeout) = &args.timeout {
        command.arg("--timeout").arg(timeout);
    }

    let output = match command.output() {
        Ok(output) => output,
        Err(error) => return vec![failed_row(scenario, format!("cannot run {}: {error}", program.display()))],
    };
    match serde_json::from_slice::<Value>(&output.stdout) {
        Ok(report) => client_rows(&scenario, &report),
        Err(_) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first_line = stderr.lines().next().unwrap_or("no output");
            vec![failed_row(scenario, format!("exit {}: {first_line}", output.status.code().unwrap_or(-1)))]
        }
    }
}

fn failed_row(scenario: String, error: String) -> Row {
    Row { scenario, client: "-".into(), expected: "-".into(), got: error, as_expected: false }
}

fn client_rows(scenario: &str, report: &Value) -> Vec<Row> {
    let clients = report["clients"].as_array().map(Vec::as_slice).unwrap_or_default();
    clients
        .iter()
        .map(|client| Row {
            scenario: scenario.to_owned(),
            client: client["name"].as_str().unwrap_or("?").to_owned(),
            expected: with_domain(&client["expected"]["outcome"], &client["expected"]["domain"]),
            got: with_domain(&client["verdict"]["code"].as_str().map_or(client["verdict"]["outcome"].clone(), Value::from), &client["verdict"]["domain"]),
            as_expected: client["as_expected"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// Writes an outcome code, with the domain when there is one: `provisioned in jcert.info`.
fn with_domain(code: &Value, domain: &Value) -> String {
    let code = code.as_str().unwrap_or("?");
    match domain.as_str() {
        Some(domain) => format!("{code} in {domain}"),
        None => code.to_owned(),
    }
}

fn table(rows: &[Row]) -> String {
    let width = |column: fn(&Row) -> &str, title: &str| rows.iter().map(|row| column(row).len()).max().unwrap_or(0).max(title.len());
    let (scenario_width, client_width, expected_width) = (width(|row| &row.scenario, "scenario"), width(|row| &row.client, "client"), width(|row| &row.expected, "expected"));

    let mut out = String::new();
    let _ = writeln!(out, "{:scenario_width$}  {:client_width$}  {:expected_width$}  got", "scenario", "client", "expected");
    for row in rows {
        let mark = if row.as_expected { "" } else { "   <- NOT AS EXPECTED" };
        let _ = writeln!(out, "{:scenario_width$}  {:client_width$}  {:expected_width$}  {}{mark}", row.scenario, row.client, row.expected, row.got);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_report() {
        let report = serde_json::json!({
            "clients": [
                { "name": "pc90", "expected": { "outcome": "provisioned", "domain": "jcert.info" }, "verdict": { "outcome": "provisioned", "domain": "jcert.info" }, "as_expected": true },
                { "name": "pc16", "expected": { "outcome": "sha1-signature", "domain": null }, "verdict": { "outcome": "refused", "code": "expired" }, "as_expected": false },
            ]
        });

        let rows = client_rows("sha1-chain", &report);

        assert_eq!(rows[0].expected, "provisioned in jcert.info");
        assert_eq!(rows[0].got, "provisioned in jcert.info");
        assert_eq!(rows[1].expected, "sha1-signature");
        assert_eq!(rows[1].got, "expired");
        assert!(!rows[1].as_expected);
    }

    #[test]
    fn table_marks_unexpected_rows() {
        let rows = vec![
            Row { scenario: "a".into(), client: "pc1".into(), expected: "expired".into(), got: "expired".into(), as_expected: true },
            Row { scenario: "bb".into(), client: "pc2".into(), expected: "no-root".into(), got: "provisioned".into(), as_expected: false },
        ];

        let text = table(&rows);

        assert!(text.starts_with("scenario  client  expected  got\n"), "{text}");
        assert!(text.contains("bb        pc2     no-root   provisioned   <- NOT AS EXPECTED"), "{text}");
        assert!(!text.lines().nth(1).unwrap().contains("NOT AS EXPECTED"), "{text}");
    }
}
