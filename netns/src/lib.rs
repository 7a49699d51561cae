//! Network namespace and link plumbing for vprolab, done in-process over netlink.
//!
//! This crate knows nothing about DNS, DHCP or AMT. It creates named namespaces the way
//! `ip netns` does and runs code inside them.

mod namespace;

pub use namespace::{NETNS_RUN_DIR, Namespace};

/// Failures of namespace and link operations, each naming the object involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid namespace name {name:?}: it must be a non-empty file name without '/'")]
    InvalidName { name: String },

    #[error("network namespace {name:?} already exists: remove it first (ip netns del {name})")]
    NamespaceExists { name: String },

    #[error("network namespace {name:?} not found under /run/netns")]
    NamespaceNotFound { name: String },

    #[error("{context}: {errno}")]
    Sys { context: String, errno: nix::Error },

    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}
