//! Commands a topology runs in a server's namespace in place of built-in services
//! (`exec:`): started inside the node's namespace, waited for until ready, watched while
//! the lab runs, and stopped and reaped at teardown.
//!
//! Each line the command prints goes to the lab's log at info level, which `-v` shows, and
//! to `<state folder>/<server>-<program>.log`. The error for a command that exits early or
//! is not ready in time quotes its last lines.

use std::collections::VecDeque;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netns::Namespace;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::state::RESOLVER_DIR;
use crate::topology::{ExecService, ReadyCheck, Readiness};

/// Placeholder in a command's arguments for the lab's state folder, so that pid, lease and
/// log files of the command land there and are removed with the lab.
pub const STATE_DIR_PLACEHOLDER: &str = "{state_dir}";

/// Interval between two reads of the node's socket tables while waiting for a port.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Time a command gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Lines of output kept for error messages.
const TAIL_LINES: usize = 20;

/// Failure to start an exec service, or its end while the lab runs.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{program} not found in PATH: install it, or give its full path in the command")]
    NotFound { program: String },

    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: io::Error },

    #[error("cannot enter the namespace of {node}: {source}")]
    Namespace { node: String, source: Box<netns::Error> },

    #[error("cannot read the socket tables of {node}: {source}")]
    SocketTable { node: String, source: io::Error },

    #[error("cannot write the output log {path}: {source}")]
    Log { path: PathBuf, source: io::Error },

    #[error("{program} exited ({status}) before it was ready; keep it in the foreground (such as dnsmasq --no-daemon or dhcrelay -d). Its last output:\n{output}")]
    ExitedEarly { program: String, status: ExitStatus, output: String },

    #[error("{program} did not bind {check} within {} s; check its command, or raise ready.timeout. Its last output:\n{output}", timeout.as_secs())]
    NotReady { program: String, check: String, timeout: Duration, output: String },

    #[error("{program} exited ({status}) while the lab was running. Its last output:\n{output}")]
    Exited { program: String, status: ExitStatus, output: String },
}

/// A started exec service: the child process, in a process group of its own.
pub struct ExecProcess {
    node: String,
    program: String,
    child: Child,
    tail: Tail,
}

/// The last lines a command printed.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().expect("output tail lock");
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn text(&self) -> String {
        let lines = self.0.lock().expect("output tail lock");
        if lines.is_empty() {
            return "(none)".to_owned();
        }
        lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

/// Starts `service` inside the namespace of the server `node` and waits until it is ready.
/// A command that is not ready in time is stopped before the error returns.
pub async fn start(node: &str, service: &ExecService, namespace: Arc<Namespace>, state_dir: &Path) -> Result<ExecProcess, ExecError> {
    let command = expand_command(&service.command, state_dir);
    let program = command[0].clone();
    let log_path = state_dir.join(format!("{node}-{}.log", file_name(&program)));
    let log = OpenOptions::new().create(true).append(true).open(&log_path).map_err(|source| ExecError::Log { path: log_path.clone(), source })?;

    let resolver = state_dir.join(RESOLVER_DIR).join(format!("{node}.conf"));
    let mut child = spawn(node, &namespace, &command, &resolver)?;
    tracing::info!(node, command = ?command, pid = child.id(), log = %log_path.display(), "exec service started");

    let (tail, log) = (Tail::default(), Arc::new(Mutex::new(log)));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    forward_output(stdout, "stdout", node, &program, &log, &tail);
    forward_output(stderr, "stderr", node, &program, &log, &tail);

    let mut process = ExecProcess { node: node.to_owned(), program, child, tail };
    if let Err(error) = process.wait_until_ready(namespace, &service.ready).await {
        process.stop().await;
        return Err(error);
    }
    Ok(process)
}

/// Replaces [`STATE_DIR_PLACEHOLDER`] in every argument.
fn expand_command(command: &[String], state_dir: &Path) -> Vec<String> {
    let dir = state_dir.display().to_string();
    command.iter().map(|argument| argument.replace(STATE_DIR_PLACEHOLDER, &dir)).collect()
}

fn file_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// Forks the command on a thread inside `namespace`, because a child process inherits the
/// network namespace of the thread that forks it. The child leads a process group of its
/// own, so that stopping it also stops the processes it started. When the node has a
/// resolver file, the child sees it on /etc/resolv.conf, in a mount namespace of its own,
/// so that its name lookups go to the lab's DNS servers as `vprolab exec` does.
///
/// NOTE: only a running vprolab stops its commands. After vprolab is killed with SIGKILL,
/// `vprolab down` removes the namespaces, but the commands keep running.
fn spawn(node: &str, namespace: &Namespace, command: &[String], resolver: &Path) -> Result<Child, ExecError> {
    let runtime = tokio::runtime::Handle::current();
    let program = command[0].clone();
    let resolver = resolver.exists().then(|| CString::new(resolver.as_os_str().as_bytes())).transpose().map_err(|error| ExecError::Spawn { program: program.clone(), source: io::Error::new(io::ErrorKind::InvalidInput, error) })?;

    let fork = || {
        // tokio registers the child with the runtime's reaper, which needs its context.
        let _context = runtime.enter();
        let mut child = Command::new(&command[0]);
        child.args(&command[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
        if let Some(resolver) = resolver.clone() {
            // SAFETY: the closure runs between fork and exec and only makes system calls on
            // paths prepared before the fork, so it neither allocates nor takes locks.
            unsafe { child.pre_exec(move || mount_resolver(&resolver)) };
        }
        child.spawn()
    };
    let spawned = namespace.run(fork).map_err(|source| ExecError::Namespace { node: node.to_owned(), source: Box::new(source) })?;

    spawned.map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ExecError::NotFound { program },
        _ => ExecError::Spawn { program, source },
    })
}

/// Gives the calling process a mount namespace of its own in which `resolver` is on
/// /etc/resolv.conf. Slave, not private: mounts the host makes later still show up, and
/// none made here leave.
fn mount_resolver(resolver: &CString) -> io::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(None::<&std::ffi::CStr>, c"/", None::<&std::ffi::CStr>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&std::ffi::CStr>)?;
    mount(Some(resolver.as_c_str()), c"/etc/resolv.conf", None::<&std::ffi::CStr>, MsFlags::MS_BIND, None::<&std::ffi::CStr>)?;
    Ok(())
}

/// Copies each line of `reader` to the lab's log, the log file and the tail, until the
/// command closes its end.
fn forward_output(reader: impl AsyncRead + Unpin + Send + 'static, stream: &'static str, node: &str, program: &str, log: &Arc<Mutex<File>>, tail: &Tail) {
    let (node, program, log, tail) = (node.to_owned(), program.to_owned(), log.clone(), tail.clone());

    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut bytes = Vec::new();
        while matches!(reader.read_until(b'\n', &mut bytes).await, Ok(read) if read > 0) {
            let line = String::from_utf8_lossy(&bytes).trim_end().to_owned();
            bytes.clear();
            if line.is_empty() {
                continue;
            }

            tracing::info!(%node, %program, stream, %line, "exec service output");
            if let Err(error) = writeln!(log.lock().expect("output log lock"), "{line}") {
                tracing::warn!(%node, %program, %error, "cannot write exec service output to its log file");
            }
            tail.push(line);
        }
    });
}

impl ExecProcess {
    async fn wait_until_ready(&mut self, namespace: Arc<Namespace>, ready: &Readiness) -> Result<(), ExecError> {
        match ready.check {
            ReadyCheck::After(wait) => self.wait_alive(wait).await,
            ReadyCheck::Udp(_) | ReadyCheck::Tcp(_) => self.wait_for_port(namespace, ready).await,
        }
    }

    /// Waits `wait`, and fails if the command exits meanwhile.
    async fn wait_alive(&mut self, wait: Duration) -> Result<(), ExecError> {
        tokio::select! {
            status = self.child.wait() => Err(self.exited_early(status)),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// Waits until a socket in the namespace is bound to the port of `ready`, and fails if
    /// the command exits or the timeout passes first.
    async fn wait_for_port(&mut self, namespace: Arc<Namespace>, ready: &Readiness) -> Result<(), ExecError> {
        let deadline = Instant::now() + ready.timeout;
        loop {
            if port_bound(&self.node, namespace.clone(), ready.check).await? {
                tracing::info!(node = %self.node, program = %self.program, check = %describe(ready.check), "exec service ready");
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.exited_early(Ok(status)));
            }
            if Instant::now() >= deadline {
                let (program, output) = (self.program.clone(), self.tail.text());
                return Err(ExecError::NotReady { program, check: describe(ready.check), timeout: ready.timeout, output });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn exited_early(&self, status: io::Result<ExitStatus>) -> ExecError {
        match status {
            Ok(status) => ExecError::ExitedEarly { program: self.program.clone(), status, output: self.tail.text() },
            Err(source) => ExecError::Spawn { program: self.program.clone(), source },
        }
    }

    /// Runs until `shutdown`, then stops the command. Returns an error if the command
    /// exits on its own first, which leaves the lab without the services it replaced.
    pub async fn supervise(mut self, shutdown: CancellationToken) -> Result<(), ExecError> {
        tokio::select! {
            status = self.child.wait() => {
                let status = status.map_err(|source| ExecError::Spawn { program: self.program.clone(), source })?;
                tracing::error!(node = %self.node, program = %self.program, %status, "exec service exited while the lab was running");
                Err(ExecError::Exited { program: self.program.clone(), status, output: self.tail.text() })
            }
            () = shutdown.cancelled() => {
                self.stop().await;
                Ok(())
            }
        }
    }

    /// Sends SIGTERM to the command's process group, then SIGKILL to the group if the
    /// command is still running after [`STOP_GRACE`], and reaps the command.
    async fn stop(&mut self) {
        let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) else { return };
        if let Err(error) = killpg(Pid::from_raw(pid), Signal::SIGTERM) {
            tracing::warn!(node = %self.node, program = %self.program, %error, "cannot send SIGTERM to exec service");
        }

        let status = match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!(node = %self.node, program = %self.program, grace = ?STOP_GRACE, "exec service ignored SIGTERM, killing it");
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                self.child.wait().await
            }
        };
        tracing::info!(node = %self.node, program = %self.program, status = ?status.ok(), "exec service stopped");
    }
}

/// Describes a readiness check as the errors name it: `UDP port 67`.
fn describe(check: ReadyCheck) -> String {
    match check {
        ReadyCheck::Udp(port) => format!("UDP port {port}"),
        ReadyCheck::Tcp(port) => format!("TCP port {port}"),
        ReadyCheck::After(wait) => format!("{} ms", wait.as_millis()),
    }
}

/// Checks the namespace's socket tables for the port of `check`.
///
/// The tables are read from `/proc/thread-self/net` on a thread inside the namespace:
/// `/proc/net` shows the namespace of the process's main thread instead.
async fn port_bound(node: &str, namespace: Arc<Namespace>, check: ReadyCheck) -> Result<bool, ExecError> {
    let (files, port, listening) = match check {
        ReadyCheck::Udp(port) => (["udp", "udp6"], port, false),
        ReadyCheck::Tcp(port) => (["tcp", "tcp6"], port, true),
        ReadyCheck::After(_) => return Ok(true),
    };

    let read = move || namespace.run(|| files.map(|file| std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))));
    let tables = tokio::task::spawn_blocking(read).await.expect("socket table task");
    let tables = tables.map_err(|source| ExecError::Namespace { node: node.to_owned(), source: Box::new(source) })?;

    let mut bound = false;
    for table in tables {
        // A kernel without IPv6 has no udp6 or tcp6 table.
        match table {
            Ok(table) => bound |= table_has_port(&table, port, listening),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(ExecError::SocketTable { node: node.to_owned(), source }),
        }
    }
    Ok(bound)
}

/// Socket state 0A, TCP_LISTEN, in the `st` column of a `/proc/net/tcp` table.
const TCP_LISTEN: &str = "0A";

/// Checks a `/proc/net/{udp,tcp}[6]` table for a socket whose local port is `port`, in the
/// listening state when `listening`. Local addresses are `HEXADDR:HEXPORT`.
fn table_has_port(table: &str, port: u16, listening: bool) -> bool {
    let wanted = format!("{port:04X}");

    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields.get(1).and_then(|local| local.rsplit(':').next());
        let state = fields.get(3).copied();
        local_port == Some(wanted.as_str()) && (!listening || state == Some(TCP_LISTEN))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP_TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  253: 00000000:0043 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41234 2 0000000000000000 0
  254: 0A5AA8C0:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41235 2 0000000000000000 0
";

    const TCP_TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 51234 1 0000000000000000 100 0 0 10 0
   1: 0A5AA8C0:B2A4 145AA8C0:2AF3 01 00000000:00000000 00:00000000 00000000     0        0 51240 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn table_has_bound_udp_port() {
        assert!(table_has_port(UDP_TABLE, 67, false));
        assert!(table_has_port(UDP_TABLE, 53, false));
        assert!(!table_has_port(UDP_TABLE, 68, false));
    }

    #[test]
    fn table_tcp_port_must_listen() {
        assert!(table_has_port(TCP_TABLE, 53, true));
        // Port 0xB2A4 is the local end of an established connection, not a listener.
        assert!(!table_has_port(TCP_TABLE, 0xB2A4, true));
        assert!(table_has_port(TCP_TABLE, 0xB2A4, false));
    }

    #[test]
    fn table_ipv6_addresses_parse() {
        let table = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0043 00000000000000000000000000000000:0000 07 0
";

        assert!(table_has_port(table, 67, false));
    }

    #[test]
    fn expand_command_replaces_state_dir() {
        let command = ["dnsmasq", "--pid-file={state_dir}/dnsmasq.pid", "--no-daemon"].map(String::from);

        let expanded = expand_command(&command, Path::new("/run/vprolab/dnsmasq"));

        assert_eq!(expanded, ["dnsmasq", "--pid-file=/run/vprolab/dnsmasq/dnsmasq.pid", "--no-daemon"]);
    }

    #[test]
    fn tail_keeps_last_lines() {
        let tail = Tail::default();
        for line in 0..TAIL_LINES + 5 {
            tail.push(line.to_string());
        }

        let text = tail.text();

        assert!(text.starts_with("5\n"), "{text}");
        assert!(text.ends_with(&format!("\n{}", TAIL_LINES + 4)), "{text}");
        assert_eq!(Tail::default().text(), "(none)");
    }
}
