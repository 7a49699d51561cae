//! The one error type of the crate.

use std::io;
use std::path::PathBuf;

use ipnetwork::Ipv4Network;
use nix::errno::Errno;

/// Failures of namespace, link and sysctl operations, each naming the namespace and the
/// link or value involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "invalid network namespace name {name:?}: use 1 to 255 bytes without '/' or NUL, \
         other than '.' and '..'"
    )]
    InvalidName { name: String },

    #[error("network namespace {name:?} already exists: delete it first (ip netns del {name})")]
    NamespaceExists { name: String },

    #[error("network namespace {name:?} not found under /run/netns: create it first")]
    NamespaceNotFound { name: String },

    #[error(
        "/run/netns/{name} exists but is not a mounted network namespace: \
         remove the stale file (ip netns del {name})"
    )]
    NotANamespace { name: String },

    #[error("failed to {action} {}: {source}", path.display())]
    RunDir {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("`{command}` failed: {errno}")]
    Mount { command: String, errno: Errno },

    #[error("unshare({flags}) failed: {errno}: it needs root (CAP_SYS_ADMIN)")]
    Unshare { flags: &'static str, errno: Errno },

    #[error("failed to enter network namespace {namespace:?} (setns): {errno}")]
    Setns { namespace: String, errno: Errno },

    #[error("failed to start a thread for network namespace {namespace:?}: {source}")]
    Thread {
        namespace: String,
        source: io::Error,
    },

    #[error(
        "no tokio runtime is running: call Netlink::connect from async code or inside Runtime::enter"
    )]
    NoRuntime,

    #[error("failed to build a tokio runtime to set up the sandbox's loopback: {source}")]
    SandboxRuntime { source: io::Error },

    #[error("failed to open a netlink socket in network namespace {namespace:?}: {source}")]
    Connect {
        namespace: String,
        source: io::Error,
    },

    #[error(
        "invalid link name {name:?}: use 1 to 15 bytes without '/', ':' or whitespace, \
         other than '.' and '..'"
    )]
    InvalidLinkName { name: String },

    #[error(
        "invalid MAC address {text:?}: write six hex bytes separated by ':', such as 02:00:00:00:00:01"
    )]
    InvalidMac { text: String },

    #[error("link {link:?} not found in network namespace {namespace:?}")]
    LinkNotFound { namespace: String, link: String },

    #[error("links {links:?} in network namespace {namespace:?} were not up and forwarding after {waited_ms} ms")]
    LinksNotReady { namespace: String, links: Vec<String>, waited_ms: u64 },

    #[error(
        "link {link:?} already exists in network namespace {namespace:?}: \
         delete it first (ip -n {namespace} link del {link})"
    )]
    LinkExists { namespace: String, link: String },

    #[error(
        "cannot add veth {link:?} in network namespace {namespace:?} with peer {peer:?} in \
         {peer_namespace:?}: a link with one of these names already exists there"
    )]
    VethExists {
        namespace: String,
        link: String,
        peer_namespace: String,
        peer: String,
    },

    #[error("address {address} already exists on link {link:?} in network namespace {namespace:?}")]
    AddressExists {
        namespace: String,
        link: String,
        address: Ipv4Network,
    },

    #[error("a route to {destination} already exists in network namespace {namespace:?}")]
    RouteExists {
        namespace: String,
        destination: Ipv4Network,
    },

    #[error("route destination {destination} has host bits set: did you mean {network}?")]
    HostBitsSet {
        destination: Ipv4Network,
        network: Ipv4Network,
    },

    #[error("`{command}` failed in network namespace {namespace:?}: {errno}")]
    Netlink {
        namespace: String,
        command: String,
        errno: Errno,
    },

    #[error("`{command}` failed in network namespace {namespace:?}: {source}")]
    NetlinkProtocol {
        namespace: String,
        command: String,
        source: rtnetlink::Error,
    },

    #[error("invalid sysctl key {key:?}: {reason}")]
    InvalidSysctlKey { key: String, reason: &'static str },

    #[error(
        "sysctl {key} not found in network namespace {namespace:?}: check the key and that the link it names exists"
    )]
    SysctlNotFound { namespace: String, key: String },

    #[error("failed to {action} sysctl {key} in network namespace {namespace:?}: {source}")]
    Sysctl {
        namespace: String,
        key: String,
        action: &'static str,
        source: io::Error,
    },
}
