//! Errors of loading a topology file: every problem found, each with its place in the file.

use std::fmt;
use std::path::PathBuf;

use super::tree::{Location, Spanned};

/// One thing wrong in a topology file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column of the value; 0 only on a placeholder of the schema
    /// check, whose problems the resolver drops.
    pub line: u64,
    pub column: u64,
    /// YAML path of the value, such as `servers.dc1.address`.
    pub path: String,
    pub message: String,
    /// How to fix it, where one fix is likely.
    pub help: Option<String>,
}

impl Problem {
    pub fn at(location: &Location, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            line: location.line(),
            column: location.column(),
            path: shortened(path.into()),
            message: shortened(message.into()),
            help: None,
        }
    }

    pub fn on<T>(value: &Spanned<T>, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::at(&value.referenced, path, message)
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(shortened(help.into()));
        self
    }

    /// Checks whether the problem sits on a placeholder of the schema check.
    pub(super) fn on_placeholder(&self) -> bool {
        self.line == Location::PLACEHOLDER.line() && self.column == Location::PLACEHOLDER.column()
    }
}

/// Maximum length of a message, path or help kept, in bytes: messages quote the
/// offending value, which in a hostile file can be megabytes long.
const MAX_TEXT_LEN: usize = 300;

fn shortened(text: String) -> String {
    if text.len() <= MAX_TEXT_LEN {
        return text;
    }
    let mut end = MAX_TEXT_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more bytes)", &text[..end], text.len() - end)
}

/// Why a topology file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read topology {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },

    #[error("topology {path} is larger than {max} bytes: is it the right file?")]
    TooLarge { path: PathBuf, max: u64 },

    #[error("{path}: not a topology: the file is not UTF-8 text (invalid byte at offset {offset})")]
    NotText { path: PathBuf, offset: usize },

    #[error("{path}:{line}:{column}: invalid YAML: {message}")]
    Syntax { path: PathBuf, line: u64, column: u64, message: String },

    #[error("{}", Invalid { path, problems })]
    Invalid { path: PathBuf, problems: Vec<Problem> },

    /// The typed pass rejected a tree that the schema check passed: a gap between the
    /// schema and the raw types, never a mistake of the file's author. The last problem
    /// is the typed pass's, after those found before it.
    #[error("{}\n  (the schema check missed the last problem: please report it)", Invalid { path, problems })]
    SchemaGap { path: PathBuf, problems: Vec<Problem> },
}

/// Maximum number of problems printed: a file with thousands of problems is not a
/// topology someone wrote by hand, and its first problems show what went wrong.
const MAX_PROBLEMS_SHOWN: usize = 200;

/// Display helper for the list of problems.
struct Invalid<'a> {
    path: &'a PathBuf,
    problems: &'a [Problem],
}

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(f, "{}: {count} problem{} in the topology", self.path.display(), if count == 1 { "" } else { "s" })?;

        for problem in self.problems.iter().take(MAX_PROBLEMS_SHOWN) {
            write!(f, "\n  {}:{}:{}: ", self.path.display(), problem.line, problem.column)?;
            if !problem.path.is_empty() {
                write!(f, "{}: ", problem.path)?;
            }
            f.write_str(&problem.message)?;
            if let Some(help) = &problem.help {
                write!(f, "\n    help: {help}")?;
            }
        }
        if count > MAX_PROBLEMS_SHOWN {
            write!(f, "\n  ... and {} more problems", count - MAX_PROBLEMS_SHOWN)?;
        }
        Ok(())
    }
}
