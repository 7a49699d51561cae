//! `schema`: print the JSON Schema of topology files.

use super::CliError;
use super::write_stdout;
use crate::exit;

pub(crate) fn print_schema() -> Result<u8, CliError> {
    let schema = vprolab::topology::json_schema();
    write_stdout(&format!("{}\n", serde_json::to_string_pretty(&schema).expect("a JSON value serializes")));
    Ok(exit::OK)
}
