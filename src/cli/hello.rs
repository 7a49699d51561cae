//! `hello decode`: print a captured hello message.

use std::path::Path;

use vprolab::amt::hello::{Hello, MAX_HELLO_LEN};
use vprolab::files::{ReadError, read_limited};

use super::CliError;
use super::write_stdout;
use crate::exit;

pub(crate) fn decode_hello(file: &Path, json: bool) -> Result<u8, CliError> {
    let bytes = read_limited(file, MAX_HELLO_LEN as u64).map_err(|error| match error {
        ReadError::TooLarge { max } => CliError::Input(format!("{} is not a hello: larger than {max} bytes, the size of the largest hello", file.display())),
        ReadError::Io(error) => CliError::Input(format!("cannot read {}: {error}", file.display())),
    })?;
    let hello = Hello::parse(&bytes).map_err(|error| CliError::Input(format!("{} is not a hello: {error}", file.display())))?;

    if json {
        write_stdout(&format!("{}\n", serde_json::to_string_pretty(&hello_json(&hello)).expect("hello serializes")));
    } else {
        write_stdout(&describe_hello(&hello));
    }
    Ok(exit::OK)
}

fn hello_json(hello: &Hello) -> serde_json::Value {
    let hashes: Vec<serde_json::Value> = hello
        .hashes()
        .iter()
        .map(|hash| serde_json::json!({ "algorithm": hash.algorithm(), "hash": hash.to_hex(), "root": vprolab::amt::roots::find(hash).map(|root| root.name) }))
        .collect();
    serde_json::json!({
        "version": hello.version(),
        "admin_credentials_set": hello.admin_credentials_set,
        "retry_count": hello.retry_count,
        "uuid": hello.uuid.to_string(),
        "hashes": hashes,
    })
}

fn describe_hello(hello: &Hello) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let kind = if hello.version() == 3 { "PKI" } else { "PSK" };

    let _ = writeln!(out, "hello version {} ({kind})", hello.version());
    let _ = writeln!(out, "admin credentials set: {}", if hello.admin_credentials_set { "yes" } else { "no" });
    let _ = writeln!(out, "retry count: {}", hello.retry_count);
    let _ = writeln!(out, "UUID: {}", hello.uuid);
    let _ = writeln!(out, "trusted root hashes: {}", hello.hashes().len());
    for (index, hash) in hello.hashes().iter().enumerate() {
        let name = vprolab::amt::roots::find(hash).map_or("(not in the default lists)", |root| root.name);
        let _ = writeln!(out, "  {:>2}  {:<7} {}  {name}", index + 1, hash.algorithm().name(), hash.to_hex());
    }
    out
}

