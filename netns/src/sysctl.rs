//! Per-namespace `net.*` sysctls, written through `/proc/sys` from a thread inside the
//! namespace.
//!
//! Which namespace's value a file under `/proc/sys/net` holds is fixed when the file is
//! opened, by the network namespace of the opening thread. So the file is opened on a
//! thread that has entered the namespace, and the writer's own namespace is never touched.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use crate::{Error, Namespace};

/// Sets a `net.*` sysctl in `namespace`, like `ip netns exec NS sysctl -w KEY=VALUE`.
///
/// Only keys under `net.` are accepted, because the others (`kernel.*`, `vm.*`, …) are
/// global and would change the host. A link name inside a key is written with '/' in
/// place of '.', as `sysctl` does: `net.ipv4.conf.eth0/90.forwarding`.
pub fn set_sysctl(namespace: &Namespace, key: &str, value: &str) -> Result<(), Error> {
    let path = sysctl_path(key)?;

    let write = || {
        OpenOptions::new()
            .write(true)
            .open(&path)?
            .write_all(value.as_bytes())
    };
    namespace
        .run(write)?
        .map_err(|source| sysctl_failure(namespace, key, "write", source))
}

/// Reads a `net.*` sysctl in `namespace`, without the trailing newline, like
/// `ip netns exec NS sysctl -n KEY`.
pub fn read_sysctl(namespace: &Namespace, key: &str) -> Result<String, Error> {
    let path = sysctl_path(key)?;

    let value = namespace
        .run(|| fs::read_to_string(&path))?
        .map_err(|source| sysctl_failure(namespace, key, "read", source))?;
    Ok(value.trim_end_matches('\n').to_owned())
}

/// Maps a dotted key to its file under `/proc/sys`, rejecting keys that would leave
/// `/proc/sys/net`.
fn sysctl_path(key: &str) -> Result<PathBuf, Error> {
    let invalid = |reason| Error::InvalidSysctlKey {
        key: key.to_owned(),
        reason,
    };
    let mut components = key.split('.');

    if components.next() != Some("net") {
        return Err(invalid("only net.* keys are per network namespace"));
    }

    let mut path = PathBuf::from("/proc/sys/net");
    let mut depth = 0;
    for component in components {
        let component = component.replace('/', ".");
        if component.is_empty() || component == "." || component == ".." {
            return Err(invalid("a component is empty, '.' or '..'"));
        }
        if component.chars().any(|c| c == '\0' || c.is_whitespace()) {
            return Err(invalid("a component contains whitespace or NUL"));
        }
        path.push(component);
        depth += 1;
    }

    if depth == 0 {
        return Err(invalid("it names the net folder, not a sysctl"));
    }
    Ok(path)
}

fn sysctl_failure(
    namespace: &Namespace,
    key: &str,
    action: &'static str,
    source: io::Error,
) -> Error {
    let namespace = namespace.name().to_owned();
    let key = key.to_owned();
    match source.kind() {
        io::ErrorKind::NotFound => Error::SysctlNotFound { namespace, key },
        _ => Error::Sysctl {
            namespace,
            key,
            action,
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_path_maps_dots_to_folders() {
        let path = sysctl_path("net.ipv4.ip_forward").unwrap();

        assert_eq!(path, PathBuf::from("/proc/sys/net/ipv4/ip_forward"));
    }

    #[test]
    fn sysctl_path_maps_slash_to_dot_in_link_names() {
        let path = sysctl_path("net.ipv4.conf.eth0/90.forwarding").unwrap();

        assert_eq!(
            path,
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.90/forwarding")
        );
    }

    #[test]
    fn sysctl_path_rejects_keys_outside_net() {
        for key in ["kernel.hostname", "vm.swappiness", "network.x", "", "net"] {
            let error = sysctl_path(key).expect_err(key);
            assert!(
                matches!(error, Error::InvalidSysctlKey { .. }),
                "{key:?} gave {error}"
            );
        }
    }

    #[test]
    fn sysctl_path_rejects_traversal_and_empty_components() {
        let cases = [
            "net..ipv4",
            "net.ipv4.",
            "net./.kernel",
            "net.//.kernel",
            "net.ipv4.ip forward",
            "net.ipv4.nul\0",
        ];
        for key in cases {
            let error = sysctl_path(key).expect_err(key);
            assert!(
                matches!(error, Error::InvalidSysctlKey { .. }),
                "{key:?} gave {error}"
            );
        }
    }
}
