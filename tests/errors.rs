//! Every topology in tests/errors/ has one mistake (or, for five-independent-mistakes.yaml,
//! five) and lists the problems the loader must report in its header:
//!
//! ```yaml
//! # expect: 13:15: switch.vlans.90.subnet: subnet 192.168.90.5/24 has host bits set
//! #   help: did you mean 192.168.90.0/24?
//! ```
//!
//! The test loads each file and compares the whole list, in order, with what the loader
//! reports: nothing may be missing, and nothing else may be reported.

use std::path::{Path, PathBuf};

use vprolab::topology::{self, LoadError};

const EXPECT: &str = "# expect: ";
const HELP: &str = "#   help: ";

fn error_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).filter(|path| path.extension().is_some_and(|ext| ext == "yaml")).collect();
    files.sort();
    files
}

/// Returns the expected lines of a file's header, help lines included.
fn expected_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix(EXPECT).map(str::to_owned).or_else(|| line.strip_prefix(HELP).map(|help| format!("  help: {help}"))))
        .collect()
}

/// Renders what the loader reports: one line per problem and one per help, without the
/// file name.
fn reported_lines(error: &LoadError) -> Vec<String> {
    match error {
        LoadError::Invalid { problems, .. } => {
            let mut lines = Vec::new();
            for problem in problems {
                let path = if problem.path.is_empty() { String::new() } else { format!("{}: ", problem.path) };
                lines.push(format!("{}:{}: {path}{}", problem.line, problem.column, problem.message));
                lines.extend(problem.help.iter().map(|help| format!("  help: {help}")));
            }
            lines
        }
        LoadError::Syntax { line, column, message, .. } => vec![format!("{line}:{column}: invalid YAML: {message}")],
        other => vec![other.to_string()],
    }
}

#[test]
fn error_files_report_expected_problems() {
    let files = error_files();
    let mut failures = Vec::new();

    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let expected = expected_lines(&text);
        let reported = match topology::load(path) {
            Ok(_) => vec!["(loaded without problems)".to_owned()],
            Err(error) => reported_lines(&error),
        };

        if expected.is_empty() || reported != expected {
            let name = path.file_name().unwrap().to_string_lossy();
            failures.push(format!("{name}\n  expected:\n    {}\n  reported:\n    {}", expected.join("\n    "), reported.join("\n    ")));
        }
    }

    assert!(failures.is_empty(), "{} of {} files differ:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn error_files_cover_forty_mistakes() {
    assert!(error_files().len() >= 40, "tests/errors/ holds {} files", error_files().len());
}

#[test]
fn five_independent_mistakes_all_reported() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors/five-independent-mistakes.yaml");

    let Err(LoadError::Invalid { problems, .. }) = topology::load(&path) else { panic!("expected problems") };

    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn error_messages_name_the_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors/subnet-host-bits.yaml");

    let message = topology::load(&path).unwrap_err().to_string();

    assert!(message.contains("subnet-host-bits.yaml:"), "{message}");
    assert!(!message.contains("<input>"), "{message}");
}
