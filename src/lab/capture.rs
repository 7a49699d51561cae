//! `--capture DIR`: every frame on the lab's VLANs, written as one pcap file per VLAN
//! segment (`LAB-vlan90.pcap`) and, with `--capture-nodes`, one per node
//! (`LAB-pc90.pcap`), for tshark and Wireshark.
//!
//! One AF_PACKET socket in the switch namespace receives every frame on every bridge and
//! bridge port there. A frame crosses several of them, so each is written once per file:
//! - a frame a node sends is seen arriving on its port: it goes to the VLAN's file and
//!   the node's;
//! - a frame the switch itself sends (an ARP reply from the gateway, a routed packet) is
//!   seen leaving the VLAN's bridge: it goes to the VLAN's file;
//! - a frame leaving a port is what the node receives: it goes to the node's file only,
//!   since the VLAN's file has it from where it entered the segment.
//!
//! The pcap format is written here rather than through a crate: it is a 24-byte file
//! header and a 16-byte header per frame (pcap-savefile(5)), less code than a dependency.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{AddressFamily, LinkAddr, SockFlag, SockProtocol, SockType, recvfrom, setsockopt, socket, sockopt};
use nix::sys::time::TimeVal;

use super::LabError;
use super::build::Built;
use crate::topology::Lab;

/// Maximum frame length kept whole. Frames on veth links can be GSO super-frames of up to 64 KiB,
/// more than the MTU; 262144 is what tcpdump uses.
const SNAPLEN: u32 = 262_144;

/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;

/// PACKET_OUTGOING in sockaddr_ll's sll_pkttype: a frame this host sent on the link.
const PACKET_OUTGOING: u8 = 4;

/// How often the capture thread checks whether it should stop.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Options of `--capture`.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    pub dir: PathBuf,
    /// Also one file per node.
    pub per_node: bool,
}

/// A running capture; dropping it stops the capture thread.
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub files: Vec<PathBuf>,
}

/// Destination files of the frames seen on one link of the switch.
#[derive(Debug, Default)]
struct Route {
    /// Files for frames arriving on the link.
    incoming: Vec<usize>,
    /// Files for frames leaving by the link.
    outgoing: Vec<usize>,
}

/// Opens the pcap files and starts capturing in the switch namespace.
pub async fn start(lab: &Lab, built: &Built, options: &CaptureOptions) -> Result<Capture, LabError> {
    let failed = |source: io::Error| LabError::Capture { dir: options.dir.clone(), source };
    std::fs::create_dir_all(&options.dir).map_err(failed)?;

    let links = netns::Netlink::connect(&built.switch).map_err(LabError::Netns)?.links().await.map_err(LabError::Netns)?;
    let (paths, routes) = plan(lab, &links, options);
    let files = paths.iter().map(|path| open_pcap(path)).collect::<io::Result<Vec<_>>>().map_err(failed)?;

    let socket = built.switch.run(open_socket).map_err(LabError::Netns)?.map_err(failed)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = thread::Builder::new().name(format!("capture {}", lab.name)).spawn(move || capture_loop(&socket, &routes, files, &flag)).map_err(failed)?;

    tracing::info!(files = paths.len(), dir = %options.dir.display(), "capturing on the switch");
    Ok(Capture { stop, thread: Some(thread), files: paths })
}

/// Returns the files to write, and for each link index of the switch, which of them get
/// its frames.
fn plan(lab: &Lab, links: &[netns::Link], options: &CaptureOptions) -> (Vec<PathBuf>, HashMap<u32, Route>) {
    let mut paths = Vec::new();
    let mut routes: HashMap<u32, Route> = HashMap::new();
    let index_of = |name: &str| links.iter().find(|link| link.name == name).map(|link| link.index);

    for vlan in &lab.switch.vlans {
        let Some(bridge) = index_of(&Lab::bridge_of(vlan.id)) else { continue };
        let file = push(&mut paths, &options.dir, &format!("{}-vlan{}", lab.name, vlan.id));
        routes.entry(bridge).or_default().outgoing.push(file);

        let ports = links.iter().filter(|link| link.controller == Some(bridge));
        for port in ports {
            routes.entry(port.index).or_default().incoming.push(file);
        }
    }

    if options.per_node {
        let nodes = lab.servers.iter().map(|server| &server.name).chain(lab.clients.iter().map(|client| &client.name));
        for node in nodes {
            let Some(port) = index_of(node) else { continue };
            let file = push(&mut paths, &options.dir, &format!("{}-{node}", lab.name));
            let route = routes.entry(port).or_default();
            route.incoming.push(file);
            route.outgoing.push(file);
        }
    }
    (paths, routes)
}

fn push(paths: &mut Vec<PathBuf>, dir: &Path, stem: &str) -> usize {
    paths.push(dir.join(format!("{stem}.pcap")));
    paths.len() - 1
}

/// Creates a pcap file and writes its header (pcap-savefile(5)): magic 0xa1b2c3d4 for
/// microsecond timestamps, version 2.4, time zone 0, accuracy 0, snapshot length, link
/// type, all little-endian, which readers recognize from the magic.
fn open_pcap(path: &Path) -> io::Result<File> {
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&SNAPLEN.to_le_bytes());
    header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());

    let mut file = File::create(path)?;
    file.write_all(&header)?;
    Ok(file)
}

/// Builds one pcap record: seconds, microseconds, captured length, original length, frame.
fn pcap_record(time: SystemTime, frame: &[u8], original_len: usize) -> Vec<u8> {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut record = Vec::with_capacity(16 + frame.len());
    // pcap keeps 32-bit seconds; they run out in 2106.
    record.extend_from_slice(&(since_epoch.as_secs() as u32).to_le_bytes());
    record.extend_from_slice(&since_epoch.subsec_micros().to_le_bytes());
    record.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    record.extend_from_slice(&(original_len as u32).to_le_bytes());
    record.extend_from_slice(frame);
    record
}

/// Opens an AF_PACKET socket for every protocol on every link of the calling thread's network
/// namespace, with a receive timeout so that the loop can notice a stop.
fn open_socket() -> io::Result<OwnedFd> {
    let socket = socket(AddressFamily::Packet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::EthAll)?;
    setsockopt(&socket, sockopt::ReceiveTimeout, &TimeVal::new(0, POLL_INTERVAL.as_micros() as _))?;
    setsockopt(&socket, sockopt::RcvBuf, &(4 << 20))?;
    Ok(socket)
}

fn capture_loop(socket: &OwnedFd, routes: &HashMap<u32, Route>, mut files: Vec<File>, stop: &AtomicBool) {
    let mut buffer = vec![0u8; SNAPLEN as usize];
    let mut failed = vec![false; files.len()];

    while !stop.load(Ordering::Relaxed) {
        let (len, address) = match recvfrom::<LinkAddr>(socket.as_raw_fd(), &mut buffer) {
            Ok(received) => received,
            Err(nix::Error::EAGAIN | nix::Error::EINTR) => continue,
            Err(errno) => {
                tracing::warn!(%errno, "capture socket failed; the pcap files end here");
                return;
            }
        };
        let Some(address) = address else { continue };
        let Some(route) = u32::try_from(address.ifindex()).ok().and_then(|index| routes.get(&index)) else { continue };
        let targets = if address.pkttype() == PACKET_OUTGOING { &route.outgoing } else { &route.incoming };

        // One write per frame and file, so that a lab killed with SIGKILL leaves whole records.
        // NOTE: the time is read when the frame is received here, not stamped by the kernel
        // (SO_TIMESTAMP), so frames may be some microseconds late and out of step.
        let record = pcap_record(SystemTime::now(), &buffer[..len.min(buffer.len())], len);
        for &target in targets {
            if let Err(error) = files[target].write_all(&record)
                && !std::mem::replace(&mut failed[target], true)
            {
                tracing::warn!(%error, "cannot write a pcap file; its frames are dropped from now on");
            }
        }
    }
}

impl Capture {
    /// Stops capturing and waits for the last frames to be written.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_pcap_writes_little_endian_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pcap");

        drop(open_pcap(&path).unwrap());

        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(bytes[4..8], [2, 0, 4, 0]);
        assert_eq!(bytes[16..20], SNAPLEN.to_le_bytes());
        assert_eq!(bytes[20..24], [1, 0, 0, 0]);
    }

    #[test]
    fn pcap_record_has_time_and_lengths() {
        let time = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000);

        let record = pcap_record(time, &[0xaa; 60], 1514);

        assert_eq!(record[..4], 1_700_000_000u32.to_le_bytes());
        assert_eq!(record[4..8], 123_456u32.to_le_bytes());
        assert_eq!(record[8..12], 60u32.to_le_bytes());
        assert_eq!(record[12..16], 1514u32.to_le_bytes());
        assert_eq!(record.len(), 16 + 60);
    }

    fn link(name: &str, index: u32, controller: Option<u32>) -> netns::Link {
        netns::Link { name: name.into(), index, mac: None, up: true, controller, forwarding: None, oper_up: true }
    }

    #[test]
    fn plan_routes_ports_in_and_bridge_out() {
        let lab = crate::topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/single.yaml")).unwrap();
        let links = [link("lo", 1, None), link("vlan90", 2, None), link("dc1", 3, Some(2)), link("pc90", 4, Some(2))];
        let options = CaptureOptions { dir: "/cap".into(), per_node: true };

        let (paths, routes) = plan(&lab, &links, &options);

        assert_eq!(paths[0], PathBuf::from("/cap/single-vlan90.pcap"));
        assert!(paths.contains(&PathBuf::from("/cap/single-pc90.pcap")));
        assert_eq!(routes[&2].outgoing, [0]);
        assert!(routes[&2].incoming.is_empty());
        let pc90 = paths.iter().position(|path| path.ends_with("single-pc90.pcap")).unwrap();
        assert_eq!(routes[&4].incoming, [0, pc90]);
        assert_eq!(routes[&4].outgoing, [pc90]);
        assert!(!routes.contains_key(&1));
    }
}
