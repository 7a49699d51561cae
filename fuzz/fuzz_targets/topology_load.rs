//! Loads arbitrary bytes as a topology file. libFuzzer catches panics, and with its
//! `-timeout` and `-rss_limit_mb` options hangs and memory exhaustion; the target adds a
//! panic when the typed pass rejects a tree the schema check passed.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vprolab::topology::{self, LoadError};

fuzz_target!(|data: &[u8]| {
    // A folder with no files, so that relative `chain_file` names resolve to nothing.
    let path = Path::new("/nonexistent/fuzz.yaml");

    if let Err(LoadError::SchemaGap { problems, .. }) = topology::parse(path, data) {
        panic!("the typed pass rejected a tree the schema check passed: {:?}", problems.last());
    }
});
