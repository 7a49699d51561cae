//! Named network namespaces under `/run/netns`, the layout `ip netns` uses.
//!
//! rtnetlink has `NetworkNamespace::add`, but it forks a child process per namespace.
//! Here a short-lived thread unshares its own network namespace and bind-mounts it, which
//! costs a thread spawn instead of a fork and keeps the calling process single-image.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::Error;

/// Folder where named namespaces are bind-mounted, as `ip netns add` does.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A named network namespace, kept open so that it can be entered by any thread.
#[derive(Debug)]
pub struct Namespace {
    name: String,
    file: File,
}

impl Namespace {
    /// Creates the namespace `name`, like `ip netns add NAME`.
    ///
    /// Fails with [`Error::NamespaceExists`] when `/run/netns/NAME` is already there, so
    /// that a lab never adopts a namespace it did not make.
    pub fn create(name: &str) -> Result<Self, Error> {
        check_name(name)?;
        prepare_run_dir()?;

        let path = path_of(name);
        create_mount_point(&path, name)?;

        if let Err(error) = bind_new_namespace(&path) {
            let _ = fs::remove_file(&path);
            return Err(error);
        }

        Self::open(name)
    }

    /// Opens the existing namespace `name`.
    pub fn open(name: &str) -> Result<Self, Error> {
        check_name(name)?;
        let path = path_of(name);
        let file = File::open(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => Error::NamespaceNotFound { name: name.to_owned() },
            _ => Error::Io { context: format!("open {}", path.display()), source },
        })?;

        Ok(Self { name: name.to_owned(), file })
    }

    /// Removes the namespace `name`, like `ip netns del NAME`.
    ///
    /// The kernel frees the namespace, and with it every link inside, once the last
    /// process, socket or open handle that refers to it is gone.
    pub fn delete(name: &str) -> Result<(), Error> {
        check_name(name)?;
        let path = path_of(name);

        match umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(errno) => return Err(Error::Sys { context: format!("umount {}", path.display()), errno }),
        }

        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { context: format!("remove {}", path.display()), source }),
        }
    }

    /// Lists the names under `/run/netns` that start with `prefix`.
    pub fn list(prefix: &str) -> Result<Vec<String>, Error> {
        let entries = match fs::read_dir(NETNS_RUN_DIR) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(Error::Io { context: format!("read {NETNS_RUN_DIR}"), source }),
        };

        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with(prefix))
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> PathBuf {
        path_of(&self.name)
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns its result.
    ///
    /// Sockets and netlink connections that `f` creates belong to this namespace for their
    /// whole life, whichever thread uses them later. The calling thread is never moved,
    /// which matters because tokio worker threads must stay where they are.
    pub fn run<F, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                setns(self.file.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|errno| Error::Sys { context: format!("setns {}", self.name), errno })?;
                Ok(f())
            });
            worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

fn path_of(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Rejects names that `ip netns` would reject or that could escape `/run/netns`.
fn check_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\0');

    if valid { Ok(()) } else { Err(Error::InvalidName { name: name.to_owned() }) }
}

/// Makes `/run/netns` a shared mount point, as iproute2 does, so that namespaces mounted
/// by one process are visible to `ip netns exec` in every mount namespace that shares it.
fn prepare_run_dir() -> Result<(), Error> {
    fs::create_dir_all(NETNS_RUN_DIR)
        .map_err(|source| Error::Io { context: format!("create {NETNS_RUN_DIR}"), source })?;

    let make_shared = || mount(None::<&str>, NETNS_RUN_DIR, None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>);
    match make_shared() {
        Ok(()) => Ok(()),
        Err(nix::Error::EINVAL) => {
            // Not a mount point yet: bind it onto itself first, then share it.
            mount(Some(NETNS_RUN_DIR), NETNS_RUN_DIR, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .and_then(|()| make_shared())
                .map_err(|errno| Error::Sys { context: format!("mount --make-shared {NETNS_RUN_DIR}"), errno })
        }
        Err(errno) => Err(Error::Sys { context: format!("mount --make-shared {NETNS_RUN_DIR}"), errno }),
    }
}

fn create_mount_point(path: &Path, name: &str) -> Result<(), Error> {
    OpenOptions::new().write(true).create_new(true).open(path).map(drop).map_err(|source| {
        match source.kind() {
            io::ErrorKind::AlreadyExists => Error::NamespaceExists { name: name.to_owned() },
            _ => Error::Io { context: format!("create {}", path.display()), source },
        }
    })
}

/// Unshares a new network namespace on a throw-away thread and bind-mounts it on `path`.
///
/// The thread ends right after, and the bind mount keeps the namespace alive.
fn bind_new_namespace(path: &Path) -> Result<(), Error> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(|errno| Error::Sys { context: "unshare(CLONE_NEWNET)".into(), errno })?;
                mount(Some("/proc/thread-self/ns/net"), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                    .map_err(|errno| Error::Sys { context: format!("bind mount {}", path.display()), errno })
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
