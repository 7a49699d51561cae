//! Topology files: YAML -> raw types -> the checked lab model.
//!
//! Every problem in a file is reported at once, each with its line, column and YAML path,
//! before any namespace is touched.

mod error;
pub mod model;
mod raw;
mod resolve;

use std::path::Path;

use crate::files::ReadError;

pub use error::{LoadError, Problem};
pub use model::*;
pub use resolve::TIMEOUT_RANGE;

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

/// Parses and checks topology text; `path` is only used in messages.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Lab, LoadError> {
    let text = std::str::from_utf8(bytes).map_err(|error| LoadError::Syntax {
        path: path.to_owned(),
        message: format!("the file is not UTF-8 text (invalid byte at offset {})", error.valid_up_to()),
    })?;

    let raw: raw::RawLab = serde_saphyr::from_str_with_options(text, parse_options())
        .map_err(|error| LoadError::Syntax { path: path.to_owned(), message: error.to_string() })?;

    let base = path.parent().unwrap_or(Path::new("."));
    resolve::resolve(&raw, base).map_err(|problems| LoadError::Invalid { path: path.to_owned(), problems })
}

fn parse_options() -> serde_saphyr::Options {
    serde_saphyr::Options::default()
}

#[cfg(test)]
mod tests;
