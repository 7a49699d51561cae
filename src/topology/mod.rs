//! Topology files: YAML -> located tree -> schema check -> raw types -> the checked lab
//! model.
//!
//! Every problem in a file, structural (unknown, missing or repeated keys, wrong types)
//! and semantic (host bits, unknown references, overlaps, ...), is reported at once,
//! each with its line, column and YAML path, before any namespace is touched.

mod de;
mod error;
mod graph;
pub mod model;
mod raw;
mod resolve;
mod schema;
mod tree;

use std::path::Path;

use crate::files::ReadError;

pub use error::{LoadError, Problem};
pub use model::*;
pub use resolve::TIMEOUT_RANGE;
pub use graph::{to_dot, to_mermaid};
pub use schema::json_schema;

/// Largest topology file read. Real topologies are a few kilobytes; the limit keeps a
/// wrong path (a disk image, a log) from being read whole.
pub const MAX_FILE_LEN: u64 = 4 * 1024 * 1024;

/// Reads, parses and checks a topology file.
pub fn load(path: &Path) -> Result<Lab, LoadError> {
    let bytes = crate::files::read_limited(path, MAX_FILE_LEN).map_err(|error| match error {
        ReadError::Io(source) => LoadError::Read { path: path.to_owned(), source },
        ReadError::TooLarge { max } => LoadError::TooLarge { path: path.to_owned(), max },
    })?;
    parse(path, &bytes)
}

/// Parses and checks topology text; `path` names the file in messages, and relative file
/// names in the topology start from its folder.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Lab, LoadError> {
    let text = std::str::from_utf8(bytes).map_err(|error| LoadError::NotText { path: path.to_owned(), offset: error.valid_up_to() })?;
    let tree = tree::parse(text).map_err(|error| LoadError::Syntax {
        path: path.to_owned(),
        line: error.at.line(),
        column: error.at.column(),
        message: error.message,
    })?;

    let (tree, mut problems) = schema::check(tree);
    let raw: raw::RawLab = match de::from_tree(&tree) {
        Ok(raw) => raw,
        Err(error) => return Err(schema_gap(path, problems, error)),
    };

    let base = path.parent().unwrap_or(Path::new("."));
    match resolve::resolve(&raw, base) {
        Ok(lab) if problems.is_empty() => Ok(lab),
        Ok(_) => Err(invalid(path, problems)),
        Err(found) => {
            problems.extend(found);
            Err(invalid(path, problems))
        }
    }
}

/// Collects the problems in file order.
fn invalid(path: &Path, mut problems: Vec<Problem>) -> LoadError {
    problems.sort_by_key(|problem| (problem.line, problem.column));
    LoadError::Invalid { path: path.to_owned(), problems }
}

/// Reports a typed-pass error, which means the schema let through what the raw types
/// reject, after the structural problems found before it.
fn schema_gap(path: &Path, mut problems: Vec<Problem>, error: de::TypedError) -> LoadError {
    problems.sort_by_key(|problem| (problem.line, problem.column));
    let at = error.at.unwrap_or(tree::Location::new(1, 1));
    problems.push(Problem::at(&at, "", error.message));
    LoadError::SchemaGap { path: path.to_owned(), problems }
}

#[cfg(test)]
mod tests;
