//! `--sandbox`: run the lab inside a new, empty network namespace and a private mount
//! namespace, so that even a mistake in the lab cannot reach this machine's network and
//! no mount outlives the process.
//!
//! Root gets the two namespaces directly. Any other user gets them inside a new
//! unprivileged user namespace, in which the user is root: that is the rootless mode, and
//! it works where the kernel allows unprivileged user namespaces.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{Gid, Uid, getegid, geteuid};
use vprolab::lab::SandboxRecord;
use vprolab::lab::state::namespace_inode;

/// Sysctl that caps user namespaces; 0 forbids them to everyone.
const MAX_USER_NAMESPACES: &str = "/proc/sys/user/max_user_namespaces";
/// Debian's and older Ubuntu's switch for unprivileged user namespaces.
const UNPRIVILEGED_USERNS_CLONE: &str = "/proc/sys/kernel/unprivileged_userns_clone";
/// Ubuntu 23.10 and later: AppArmor denies unprivileged user namespaces their capabilities.
const APPARMOR_RESTRICT_USERNS: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("--sandbox cannot create namespaces ({0}): run as root, or with CAP_SYS_ADMIN and CAP_NET_ADMIN")]
    Unshare(Errno),

    #[error("--sandbox as user {uid} needs an unprivileged user namespace, which this kernel refuses ({errno}): {setting}")]
    UserNamespace { uid: u32, errno: Errno, setting: UsernsSetting },

    #[error("--sandbox cannot map user {uid} to root in its user namespace ({file}: {errno})")]
    IdMap { uid: u32, file: &'static str, errno: Errno },

    #[error("--sandbox cannot make the mount tree private: {0}")]
    Private(Errno),

    #[error("--sandbox cannot mount a private {dir}: {error}")]
    Mount { dir: PathBuf, error: String },
}

/// The kernel setting that keeps this user from creating a user namespace, read from
/// /proc/sys, or what else it may be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernsSetting {
    #[error("user.max_user_namespaces is 0; allow them with `sysctl -w user.max_user_namespaces=15000` as root, or run vprolab as root")]
    MaxUserNamespacesZero,

    #[error("the limit user.max_user_namespaces ({0}) is reached; raise it with `sysctl -w user.max_user_namespaces=15000` as root")]
    MaxUserNamespacesReached(u64),

    #[error("kernel.unprivileged_userns_clone is 0; allow them with `sysctl -w kernel.unprivileged_userns_clone=1` as root, or run vprolab as root")]
    UnprivilegedUsernsClone,

    #[error("kernel.apparmor_restrict_unprivileged_userns is 1 (AppArmor on Ubuntu); set it to 0 with `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` as root, or run vprolab as root")]
    AppArmorRestriction,

    #[error("user.max_user_namespaces, kernel.unprivileged_userns_clone and kernel.apparmor_restrict_unprivileged_userns allow it, so a seccomp filter (as in most containers) may forbid unshare(CLONE_NEWUSER); run vprolab as root")]
    Unknown,
}

/// The user-namespace settings as read from /proc/sys; `None` where the file is absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsernsSettings {
    pub max_user_namespaces: Option<u64>,
    pub unprivileged_userns_clone: Option<u64>,
    pub apparmor_restrict: Option<u64>,
}

impl UsernsSettings {
    pub fn read() -> Self {
        let read = |path: &str| fs::read_to_string(path).ok()?.trim().parse().ok();
        Self {
            max_user_namespaces: read(MAX_USER_NAMESPACES),
            unprivileged_userns_clone: read(UNPRIVILEGED_USERNS_CLONE),
            apparmor_restrict: read(APPARMOR_RESTRICT_USERNS),
        }
    }

    /// Names the setting that explains `errno` from unshare(CLONE_NEWUSER) or from a step
    /// that needs the capabilities of the new user namespace.
    pub fn blocking(&self, errno: Errno) -> UsernsSetting {
        match (self.max_user_namespaces, errno) {
            (Some(0), _) => UsernsSetting::MaxUserNamespacesZero,
            (Some(max), Errno::ENOSPC) => UsernsSetting::MaxUserNamespacesReached(max),
            _ if self.unprivileged_userns_clone == Some(0) => UsernsSetting::UnprivilegedUsernsClone,
            _ if self.apparmor_restrict == Some(1) => UsernsSetting::AppArmorRestriction,
            _ => UsernsSetting::Unknown,
        }
    }
}

/// Moves the calling process into the sandbox and returns the inodes of its namespaces.
///
/// Must run before any thread is started: the kernel changes a multi-threaded process's
/// mount namespace only per thread, and refuses it a new user namespace. `state_root` is
/// kept visible at its path inside the sandbox, so that `status`, `exec` and `down` run
/// from outside find the lab's state file.
pub fn enter(state_root: &Path) -> Result<SandboxRecord, SandboxError> {
    let rootless = !geteuid().is_root();
    if rootless {
        enter_user_namespace(state_root)?;
    } else {
        unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).map_err(SandboxError::Unshare)?;
    }

    // Without this, the mounts below would propagate to the peers of the host's mounts.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>).map_err(|errno| private_failed(rootless, errno))?;
    mount_private_netns_dir(state_root, rootless)?;
    Ok(record(rootless))
}

fn enter_user_namespace(state_root: &Path) -> Result<(), SandboxError> {
    let (uid, gid) = (geteuid(), getegid());
    // Made before the user namespace exists, so that it is owned by the user outside it.
    create_private_dir(state_root)?;

    let flags = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS;
    unshare(flags).map_err(|errno| SandboxError::UserNamespace { uid: uid.as_raw(), errno, setting: UsernsSettings::read().blocking(errno) })?;
    map_to_root(uid, gid)
}

/// Maps the user to root inside the new user namespace. setgroups must be denied before
/// an unprivileged process may write gid_map (user_namespaces(7)).
fn map_to_root(uid: Uid, gid: Gid) -> Result<(), SandboxError> {
    let write = |file: &'static str, text: String| fs::write(file, text).map_err(|error| SandboxError::IdMap { uid: uid.as_raw(), file, errno: Errno::from_raw(error.raw_os_error().unwrap_or(0)) });

    write("/proc/self/uid_map", format!("0 {uid} 1\n"))?;
    write("/proc/self/setgroups", "deny\n".into())?;
    write("/proc/self/gid_map", format!("0 {gid} 1\n"))
}

/// In a rootless sandbox an EPERM means the user namespace gave no capabilities, which is
/// what AppArmor's restriction does, so the message names the settings too.
fn private_failed(rootless: bool, errno: Errno) -> SandboxError {
    match (rootless, errno) {
        (true, Errno::EPERM) => SandboxError::UserNamespace { uid: geteuid().as_raw(), errno, setting: UsernsSettings::read().blocking(errno) },
        _ => SandboxError::Private(errno),
    }
}

/// Mounts a private tmpfs on /run/netns, where the lab's namespaces are named.
///
/// When /run/netns is missing and this user may not create it, the tmpfs goes on /run
/// instead. A state root under /run is then bound back to its path.
fn mount_private_netns_dir(state_root: &Path, rootless: bool) -> Result<(), SandboxError> {
    let netns_dir = Path::new(netns::NETNS_RUN_DIR);
    if !rootless {
        fs::create_dir_all(netns_dir).map_err(|error| mount_error(netns_dir, error.to_string()))?;
    }
    if netns_dir.is_dir() {
        return mount_tmpfs(netns_dir, rootless);
    }

    let run = netns_dir.parent().expect("/run/netns has a parent");
    // Opened before /run is covered, so that it can be bound back from this handle.
    let hidden_root = state_root.starts_with(run).then(|| File::open(state_root)).transpose().map_err(|error| mount_error(state_root, error.to_string()))?;
    mount_tmpfs(run, rootless)?;
    fs::create_dir_all(netns_dir).map_err(|error| mount_error(netns_dir, error.to_string()))?;

    if let Some(hidden_root) = hidden_root {
        create_private_dir(state_root)?;
        let source = format!("/proc/self/fd/{}", hidden_root.as_raw_fd());
        mount(Some(source.as_str()), state_root, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|errno| mount_error(state_root, errno.to_string()))?;
    }
    Ok(())
}

fn mount_tmpfs(dir: &Path, rootless: bool) -> Result<(), SandboxError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("tmpfs"), dir, Some("tmpfs"), flags, Some("mode=0755")).map_err(|errno| match (rootless, errno) {
        (true, Errno::EPERM) => private_failed(rootless, errno),
        _ => mount_error(dir, errno.to_string()),
    })
}

fn create_private_dir(dir: &Path) -> Result<(), SandboxError> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|error| mount_error(dir, error.to_string()))
}

fn mount_error(dir: &Path, error: String) -> SandboxError {
    SandboxError::Mount { dir: dir.to_owned(), error }
}

fn record(rootless: bool) -> SandboxRecord {
    let inode = |kind: &str| namespace_inode(Path::new(&format!("/proc/self/ns/{kind}"))).unwrap_or(0);
    SandboxRecord { mount_namespace: inode("mnt"), network_namespace: inode("net"), user_namespace: rootless.then(|| inode("user")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: Option<u64>, clone: Option<u64>, apparmor: Option<u64>) -> UsernsSettings {
        UsernsSettings { max_user_namespaces: max, unprivileged_userns_clone: clone, apparmor_restrict: apparmor }
    }

    #[test]
    fn blocking_names_max_user_namespaces_zero() {
        let setting = settings(Some(0), None, None).blocking(Errno::EPERM);

        assert_eq!(setting, UsernsSetting::MaxUserNamespacesZero);
        assert!(setting.to_string().contains("user.max_user_namespaces is 0"));
    }

    #[test]
    fn blocking_names_limit_reached_on_enospc() {
        assert_eq!(settings(Some(7), None, None).blocking(Errno::ENOSPC), UsernsSetting::MaxUserNamespacesReached(7));
    }

    #[test]
    fn blocking_names_debian_switch() {
        let setting = settings(Some(1000), Some(0), None).blocking(Errno::EPERM);

        assert!(setting.to_string().contains("kernel.unprivileged_userns_clone is 0"));
    }

    #[test]
    fn blocking_names_apparmor_restriction() {
        let setting = settings(Some(1000), Some(1), Some(1)).blocking(Errno::EPERM);

        assert!(setting.to_string().contains("kernel.apparmor_restrict_unprivileged_userns is 1"));
    }

    #[test]
    fn blocking_suspects_seccomp_when_settings_allow() {
        assert_eq!(settings(Some(1000), None, Some(0)).blocking(Errno::EPERM), UsernsSetting::Unknown);
    }
}
