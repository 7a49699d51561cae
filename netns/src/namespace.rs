//! Named network namespaces under `/run/netns`, the layout `ip netns` uses.
//!
//! rtnetlink has `NetworkNamespace::add`, but it forks a child process per namespace.
//! Here a short-lived thread unshares its own network namespace and bind-mounts it, which
//! costs a thread spawn instead of a fork and leaves the calling thread where it is.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use crate::Error;

/// Folder where named namespaces are bind-mounted, as `ip netns add` does.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Longest file name Linux accepts (NAME_MAX).
const MAX_NAME_LEN: usize = 255;

/// Serializes the check-then-mount in [`prepare_run_dir`], so that two threads creating
/// namespaces at once do not stack two bind mounts on `/run/netns`.
static RUN_DIR_LOCK: Mutex<()> = Mutex::new(());

/// A named network namespace, kept open so that any thread can enter it.
///
/// The open handle keeps the namespace alive: after [`Namespace::delete`], the kernel
/// frees it, and every link inside, only once all handles, sockets and threads that
/// refer to it are gone.
#[derive(Debug)]
pub struct Namespace {
    name: String,
    file: File,
}

impl Namespace {
    /// Creates the namespace `name`, like `ip netns add NAME`, with `lo` down as the
    /// kernel makes it.
    ///
    /// Fails with [`Error::NamespaceExists`] when `/run/netns/NAME` is already there, so
    /// that a lab never adopts a namespace it did not make.
    pub fn create(name: &str) -> Result<Self, Error> {
        Self::create_with(name, false)
    }

    /// Creates the namespace `name` like [`Namespace::create`], then brings its `lo` up:
    /// `ip netns add NAME` and `ip -n NAME link set lo up`.
    ///
    /// `lo` is brought up by an ioctl on the thread that made the namespace, which saves
    /// the thread and the netlink socket a separate [`crate::Netlink`] would cost.
    pub fn create_with_loopback_up(name: &str) -> Result<Self, Error> {
        Self::create_with(name, true)
    }

    /// Creates the namespace `name` with `lo` up, like
    /// [`Namespace::create_with_loopback_up`], and IPv6 off for every link made in it
    /// afterwards (`net.ipv6.conf.default.disable_ipv6=1`, and `all` too).
    ///
    /// Without it each new link joins IPv6 multicast groups and sends MLD reports and
    /// router solicitations. On a bridge of a thousand ports every one of them floods to
    /// every port, which costs more than all of an IPv4-only lab's traffic.
    pub fn create_ipv4_only(name: &str) -> Result<Self, Error> {
        let namespace = Self::create_with(name, true)?;
        for key in ["net.ipv6.conf.default.disable_ipv6", "net.ipv6.conf.all.disable_ipv6"] {
            crate::set_sysctl(&namespace, key, "1")?;
        }
        Ok(namespace)
    }

    fn create_with(name: &str, loopback_up: bool) -> Result<Self, Error> {
        check_name(name)?;
        prepare_run_dir()?;

        let path = path_of(name);
        create_mount_point(&path, name)?;

        if let Err(error) = bind_new_namespace(&path, name, loopback_up) {
            let _ = fs::remove_file(&path);
            return Err(error);
        }

        Self::open(name)
    }

    /// Opens the existing namespace `name`.
    ///
    /// Fails with [`Error::NotANamespace`] when `/run/netns/NAME` is a plain file, which
    /// happens when a namespace was unmounted by hand or a creation was interrupted.
    pub fn open(name: &str) -> Result<Self, Error> {
        check_name(name)?;
        let path = path_of(name);

        let file = File::open(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => Error::NamespaceNotFound {
                name: name.to_owned(),
            },
            _ => Error::RunDir {
                action: "open",
                path: path.clone(),
                source,
            },
        })?;

        match fstatfs(&file) {
            Ok(stat) if stat.filesystem_type() == NSFS_MAGIC => Ok(Self {
                name: name.to_owned(),
                file,
            }),
            Ok(_) => Err(Error::NotANamespace {
                name: name.to_owned(),
            }),
            Err(errno) => Err(Error::RunDir {
                action: "statfs",
                path,
                source: errno.into(),
            }),
        }
    }

    /// Removes the namespace `name`, like `ip netns del NAME`.
    ///
    /// Only the name goes at once. The kernel frees the namespace, and with it every link
    /// inside, once the last process, socket or open [`Namespace`] that refers to it is
    /// gone. Also removes a stale file that is not a mounted namespace.
    pub fn delete(name: &str) -> Result<(), Error> {
        check_name(name)?;
        let path = path_of(name);

        match umount2(&path, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point, so a stale file that only needs removing.
            Ok(()) | Err(nix::Error::EINVAL) => {}
            Err(nix::Error::ENOENT) => {
                return Err(Error::NamespaceNotFound {
                    name: name.to_owned(),
                });
            }
            Err(errno) => {
                let command = format!("umount --lazy {}", path.display());
                return Err(Error::Mount { command, errno });
            }
        }

        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::RunDir {
                action: "remove",
                path,
                source,
            }),
        }
    }

    /// Lists, sorted, the names under `/run/netns` that start with `prefix`, stale files
    /// included so that a teardown can delete them too.
    pub fn list(prefix: &str) -> Result<Vec<String>, Error> {
        let entries = match fs::read_dir(NETNS_RUN_DIR) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::RunDir {
                    action: "read",
                    path: NETNS_RUN_DIR.into(),
                    source,
                });
            }
        };

        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(prefix))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Brings a link of this namespace up, like `ip -n NAME link set LINK up`, with an
    /// ioctl on a thread inside the namespace: cheaper than a [`crate::Netlink`] when
    /// that is the only request for the namespace.
    pub fn set_link_up(&self, link: &str) -> Result<(), Error> {
        crate::link::check_link_name(link)?;
        let failed = |errno| Error::Netlink { namespace: self.name.clone(), command: format!("ip link set {link} up"), errno };
        self.run(|| ioctl_socket().and_then(|socket| set_link_up(&socket, link)))?.map_err(failed)
    }

    /// Turns GRO on for a link of this namespace and brings it up, like `ip netns exec
    /// NAME ethtool -K LINK gro on` followed by `ip -n NAME link set LINK up`.
    ///
    /// A veth with GRO on receives through NAPI into a ring of its own. Without it, a
    /// frame sent into the veth waits in the receiving core's backlog, which every device
    /// shares and which takes `net.core.netdev_max_backlog` (1000) frames. A bridge
    /// floods each broadcast to all its ports at once, so on a VLAN of more than about a
    /// thousand nodes the backlog overflows and the ports flooded last lose every
    /// broadcast. The sending end must have TSO off as well (see
    /// [`Namespace::turn_off_tso`]) for the kernel to take the NAPI path.
    pub fn set_link_up_with_gro(&self, link: &str) -> Result<(), Error> {
        crate::link::check_link_name(link)?;
        let gro = |errno| Error::Netlink { namespace: self.name.clone(), command: format!("ethtool -K {link} gro on"), errno };
        let up = |errno| Error::Netlink { namespace: self.name.clone(), command: format!("ip link set {link} up"), errno };
        self.run(|| {
            let socket = ioctl_socket().map_err(gro)?;
            set_feature(&socket, link, ETHTOOL_SGRO, true).map_err(gro)?;
            set_link_up(&socket, link).map_err(up)
        })?
    }

    /// Turns TSO off for links of this namespace, like `ethtool -K LINK tso off` for each,
    /// on one thread inside the namespace. See [`Namespace::set_link_up_with_gro`].
    pub fn turn_off_tso(&self, links: &[&str]) -> Result<(), Error> {
        if links.is_empty() {
            return Ok(());
        }
        for link in links {
            crate::link::check_link_name(link)?;
        }
        let failed = |link: &str, errno| Error::Netlink { namespace: self.name.clone(), command: format!("ethtool -K {link} tso off"), errno };
        self.run(|| {
            let socket = ioctl_socket().map_err(|errno| failed(links[0], errno))?;
            links.iter().try_for_each(|link| set_feature(&socket, link, ETHTOOL_STSO, false).map_err(|errno| failed(link, errno)))
        })?
    }

    /// The name under `/run/netns`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind mount that `ip netns exec NAME` enters.
    pub fn path(&self) -> PathBuf {
        path_of(&self.name)
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns its result.
    ///
    /// Sockets and netlink connections that `f` creates belong to this namespace for their
    /// whole life, whichever thread uses them later. The calling thread never changes
    /// namespace, which matters because tokio worker threads must stay where they are.
    /// Only the network namespace changes: the thread keeps the caller's mount namespace.
    /// A panic in `f` resumes on the calling thread.
    pub fn run<F, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let enter_and_run = || {
            setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|errno| Error::Setns {
                namespace: self.name.clone(),
                errno,
            })?;
            Ok(f())
        };
        run_on_thread(&self.name, enter_and_run)?
    }
}

impl AsFd for Namespace {
    /// The namespace file, for `setns` or for rtnetlink's IFLA_NET_NS_FD.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Runs `f` on a scoped thread and waits for it, resuming its panic if it panics.
pub(crate) fn run_on_thread<F, R>(namespace: &str, f: F) -> Result<R, Error>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    thread::scope(|scope| {
        let worker = thread::Builder::new()
            .name(format!("netns {namespace}"))
            .spawn_scoped(scope, f)
            .map_err(|source| Error::Thread {
                namespace: namespace.to_owned(),
                source,
            })?;
        Ok(worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Rejects the names that `ip netns` rejects, and those that are no file name.
fn check_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0');

    if valid {
        Ok(())
    } else {
        Err(Error::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// Makes `/run/netns` a shared mount point, as iproute2 does, so that namespaces mounted
/// by one process are visible to `ip netns exec` in every mount namespace that shares it.
fn prepare_run_dir() -> Result<(), Error> {
    let _guard = RUN_DIR_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());

    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(NETNS_RUN_DIR)
        .map_err(|source| Error::RunDir {
            action: "create",
            path: NETNS_RUN_DIR.into(),
            source,
        })?;

    let make_shared = || {
        let flags = MsFlags::MS_SHARED | MsFlags::MS_REC;
        mount(
            None::<&str>,
            NETNS_RUN_DIR,
            None::<&str>,
            flags,
            None::<&str>,
        )
    };
    let make_shared_failed = |errno| Error::Mount {
        command: format!("mount --make-rshared {NETNS_RUN_DIR}"),
        errno,
    };

    match make_shared() {
        Ok(()) => Ok(()),
        // EINVAL: not a mount point yet, so bind it onto itself first.
        Err(nix::Error::EINVAL) => {
            let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(
                Some(NETNS_RUN_DIR),
                NETNS_RUN_DIR,
                None::<&str>,
                flags,
                None::<&str>,
            )
            .map_err(|errno| Error::Mount {
                command: format!("mount --rbind {NETNS_RUN_DIR} {NETNS_RUN_DIR}"),
                errno,
            })?;
            make_shared().map_err(make_shared_failed)
        }
        Err(errno) => Err(make_shared_failed(errno)),
    }
}

fn create_mount_point(path: &Path, name: &str) -> Result<(), Error> {
    let created = OpenOptions::new().write(true).create_new(true).open(path);
    created.map(drop).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => Error::NamespaceExists {
            name: name.to_owned(),
        },
        _ => Error::RunDir {
            action: "create",
            path: path.to_owned(),
            source,
        },
    })
}

/// Unshares a new network namespace on a throw-away thread and bind-mounts it on `path`.
///
/// The thread ends right after, and the bind mount keeps the namespace alive. The thread
/// must name its namespace through `/proc/thread-self`: `/proc/self` is the main
/// thread's, which is still in the old namespace.
fn bind_new_namespace(path: &Path, name: &str, loopback_up: bool) -> Result<(), Error> {
    let unshare_and_bind = || {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|errno| Error::Unshare {
            flags: "CLONE_NEWNET",
            errno,
        })?;

        let source = "/proc/thread-self/ns/net";
        mount(
            Some(source),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|errno| Error::Mount {
            command: format!("mount --bind {source} {}", path.display()),
            errno,
        })?;

        if loopback_up {
            ioctl_socket().and_then(|socket| set_link_up(&socket, "lo")).map_err(|errno| Error::Netlink {
                namespace: name.to_owned(),
                command: "ip link set lo up".into(),
                errno,
            })?;
        }
        Ok(())
    };
    run_on_thread(name, unshare_and_bind)?
}

/// ETHTOOL_SGRO and ETHTOOL_STSO from linux/ethtool.h: the legacy requests that set GRO
/// and the whole TSO group (NETIF_F_ALL_TSO) of a device. The libc crate does not define
/// them, and the ethtool netlink family would need a generic netlink client for two flags.
const ETHTOOL_SGRO: u32 = 0x0000_002c;
const ETHTOOL_STSO: u32 = 0x0000_001f;

/// `struct ethtool_value` of linux/ethtool.h.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// Turns one offload feature of `link` on or off with the SIOCETHTOOL ioctl on `socket`
/// (see [`ioctl_socket`]). `link` must be a checked link name.
fn set_feature(socket: &std::os::fd::OwnedFd, link: &str, command: u32, on: bool) -> Result<(), nix::Error> {
    use nix::libc;
    use std::os::fd::AsRawFd;

    let mut value = EthtoolValue { cmd: command, data: u32::from(on) };
    let mut request = ifreq_for(link);
    request.ifr_ifru.ifru_data = std::ptr::addr_of_mut!(value).cast();

    // SAFETY: the ioctl reads the ifreq and the ethtool_value it points to, both of which
    // live for the whole call.
    unsafe { nix::errno::Errno::result(libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &mut request))? };
    Ok(())
}

/// Opens the datagram socket that interface ioctls are sent on. The ioctls act on the
/// links of the namespace the socket was opened in.
fn ioctl_socket() -> Result<std::os::fd::OwnedFd, nix::Error> {
    use nix::libc;
    use std::os::fd::{FromRawFd, OwnedFd};

    // SAFETY: socket(2) takes no pointers; a valid descriptor is owned from here on.
    unsafe {
        let fd = nix::errno::Errno::result(libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Builds an ifreq naming `link`, the rest zero. `link` must be a checked link name, at most
/// 15 bytes, so that the name keeps its NUL terminator.
fn ifreq_for(link: &str) -> nix::libc::ifreq {
    // SAFETY: ifreq is plain old data, for which all zero bytes are a valid value.
    let mut request: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(link.bytes()) {
        *slot = byte as nix::libc::c_char;
    }
    request
}

/// Sets IFF_UP on `link` with the SIOCGIFFLAGS and SIOCSIFFLAGS ioctls on `socket`, as
/// `ifconfig LINK up` does. `link` must be a checked link name, at most 15 bytes.
fn set_link_up(socket: &std::os::fd::OwnedFd, link: &str) -> Result<(), nix::Error> {
    use nix::libc;
    use std::os::fd::AsRawFd;

    let mut request = ifreq_for(link);

    // SAFETY: both ioctls read and write one ifreq, which lives for the whole call.
    unsafe {
        nix::errno::Errno::result(libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request))?;
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        nix::errno::Errno::result(libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_name_accepts_lab_names() {
        for name in [
            "lab-switch",
            "lab-client90",
            "a",
            ".hidden",
            &"n".repeat(MAX_NAME_LEN),
        ] {
            assert!(check_name(name).is_ok(), "{name:?} should be accepted");
        }
    }

    #[test]
    fn check_name_rejects_non_file_names() {
        let too_long = "n".repeat(MAX_NAME_LEN + 1);
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "/abs",
            "../escape",
            "nul\0byte",
            &too_long,
        ] {
            let error = check_name(name).expect_err(name);
            assert!(
                matches!(error, Error::InvalidName { .. }),
                "{name:?} gave {error}"
            );
        }
    }
}
