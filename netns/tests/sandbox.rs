//! Checks the claims of `netns::sandbox::isolate_current_thread`: it moves only the
//! calling thread of a multi-threaded process, threads spawned afterwards inherit its
//! namespaces, nothing it creates is visible outside, and what it creates is freed when
//! its threads exit.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use netns::sandbox::isolate_current_thread;
use netns::{NETNS_RUN_DIR, Namespace, Netlink, VethPair};

/// Inodes of the calling thread's network and mount namespaces.
fn thread_namespaces() -> (u64, u64) {
    let inode = |kind| {
        fs::metadata(format!("/proc/thread-self/ns/{kind}"))
            .unwrap()
            .ino()
    };
    (inode("net"), inode("mnt"))
}

fn run_dir_entries() -> BTreeSet<String> {
    match fs::read_dir(NETNS_RUN_DIR) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

fn thread_count() -> usize {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("Threads:"))
        .unwrap();
    line["Threads:".len()..].trim().parse().unwrap()
}

/// The namespaces and `/run/netns` entries of a thread that was not isolated.
struct OutsideView {
    namespaces: (u64, u64),
    run_dir: BTreeSet<String>,
}

/// Spawns a thread before isolation, and returns a function that requests its view.
fn spawn_outside_observer() -> impl Fn() -> OutsideView {
    let (ask, questions) = mpsc::channel::<()>();
    let (answer, answers) = mpsc::channel();
    thread::spawn(move || {
        for () in questions {
            let view = OutsideView {
                namespaces: thread_namespaces(),
                run_dir: run_dir_entries(),
            };
            answer.send(view).unwrap();
        }
    });
    move || {
        ask.send(()).unwrap();
        answers.recv().unwrap()
    }
}

#[test]
fn isolate_moves_only_calling_thread() {
    let observe_outside = spawn_outside_observer();
    let outside_before = observe_outside();
    let before = thread_namespaces();
    assert!(
        thread_count() > 1,
        "the claim is about a multi-threaded process"
    );

    isolate_current_thread().unwrap();
    let after = thread_namespaces();
    let outside_after = observe_outside();

    assert_ne!(after.0, before.0, "network namespace unchanged");
    assert_ne!(after.1, before.1, "mount namespace unchanged");
    assert_eq!(outside_before.namespaces, before);
    assert_eq!(outside_after.namespaces, before);
    let leader_net = fs::metadata("/proc/self/ns/net").unwrap().ino();
    assert_eq!(leader_net, before.0, "the main thread moved");
}

#[test]
fn isolate_is_inherited_by_threads_spawned_later() {
    isolate_current_thread().unwrap();
    let isolated = thread_namespaces();
    let _namespace = Namespace::create("sandbox-inherit").unwrap();

    let (child, grandchild, child_sees) = thread::spawn(|| {
        let grandchild = thread::spawn(thread_namespaces).join().unwrap();
        (thread_namespaces(), grandchild, run_dir_entries())
    })
    .join()
    .unwrap();

    assert_eq!(child, isolated);
    assert_eq!(grandchild, isolated);
    assert!(child_sees.contains("sandbox-inherit"));
}

#[test]
fn isolate_hides_run_netns_from_outside() {
    let observe_outside = spawn_outside_observer();
    let outside_before = observe_outside().run_dir;

    isolate_current_thread().unwrap();
    let empty_at_start = run_dir_entries();
    let _namespace = Namespace::create("sandbox-hidden").unwrap();
    let inside = run_dir_entries();
    let outside_after = observe_outside().run_dir;

    assert!(
        empty_at_start.is_empty(),
        "sandbox started with {empty_at_start:?}"
    );
    assert!(inside.contains("sandbox-hidden"));
    assert!(!outside_after.contains("sandbox-hidden"));
    assert_eq!(outside_after, outside_before);
}

#[test]
fn isolate_brings_loopback_up() {
    isolate_current_thread().unwrap();

    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket
        .send_to(b"ping", socket.local_addr().unwrap())
        .unwrap();
    let mut buffer = [0u8; 8];
    let (length, source) = socket.recv_from(&mut buffer).unwrap();

    assert_eq!(&buffer[..length], b"ping");
    assert_eq!(source, socket.local_addr().unwrap());
}

#[test]
fn isolate_twice_on_one_thread_starts_fresh() {
    isolate_current_thread().unwrap();
    let first = thread_namespaces();
    let _namespace = Namespace::create("sandbox-first").unwrap();

    isolate_current_thread().unwrap();

    assert_ne!(thread_namespaces().0, first.0);
    assert!(run_dir_entries().is_empty());
}

/// A namespace made inside a nested sandbox contains one end of a veth pair whose other end
/// is in a witness namespace outside it. When the sandboxed thread exits, its mount
/// namespace goes, the bind mount with it, then the namespace, which takes the veth pair:
/// the witness end disappearing shows that nothing outlived the thread.
#[tokio::test]
async fn sandbox_namespaces_are_freed_when_thread_exits() {
    isolate_current_thread().unwrap();
    let witness = Namespace::create("witness").unwrap();
    let witness_netlink = Netlink::connect(&witness).unwrap();

    thread::scope(|scope| {
        scope
            .spawn(|| build_probe_in_nested_sandbox(&witness))
            .join()
            .unwrap();
    });
    assert!(
        witness_netlink.link("probe").await.is_ok(),
        "probe end was never created"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while witness_netlink.link("probe").await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the nested sandbox's namespace was not freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn build_probe_in_nested_sandbox(witness: &Namespace) {
    isolate_current_thread().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    runtime.block_on(async {
        let inner = Namespace::create("inner").unwrap();
        let netlink = Netlink::connect(&inner).unwrap();
        let pair = VethPair {
            name: "inner-end",
            mac: None,
            peer_name: "probe",
            peer_namespace: witness,
            peer_mac: None,
        };
        netlink.add_veth(&pair).await.unwrap();
    });
}
