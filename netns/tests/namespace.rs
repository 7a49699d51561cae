//! Named namespaces: create, open, delete, list and run, each test in its own sandbox.

use std::fs::{self, File};
use std::net::UdpSocket;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use netns::sandbox::isolate_current_thread;
use netns::{Error, NETNS_RUN_DIR, Namespace};

fn thread_net_inode() -> u64 {
    fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

#[test]
fn create_mounts_namespace_under_run_netns() {
    isolate_current_thread().unwrap();

    let namespace = Namespace::create("t-node").unwrap();

    assert_eq!(namespace.name(), "t-node");
    assert_eq!(namespace.path(), Path::new(NETNS_RUN_DIR).join("t-node"));
    assert!(namespace.path().exists());
    assert_ne!(
        fs::metadata(namespace.path()).unwrap().ino(),
        thread_net_inode()
    );
}

#[test]
fn create_twice_gives_namespace_exists() {
    isolate_current_thread().unwrap();
    let _first = Namespace::create("t-twice").unwrap();

    let error = Namespace::create("t-twice").unwrap_err();

    assert!(
        matches!(&error, Error::NamespaceExists { name } if name == "t-twice"),
        "{error}"
    );
}

#[test]
fn open_finds_created_namespace() {
    isolate_current_thread().unwrap();
    let created = Namespace::create("t-open").unwrap();

    let opened = Namespace::open("t-open").unwrap();

    let inode = |namespace: &Namespace| fs::metadata(namespace.path()).unwrap().ino();
    assert_eq!(inode(&opened), inode(&created));
}

#[test]
fn open_unknown_gives_namespace_not_found() {
    isolate_current_thread().unwrap();

    let error = Namespace::open("t-unknown").unwrap_err();

    assert!(
        matches!(&error, Error::NamespaceNotFound { name } if name == "t-unknown"),
        "{error}"
    );
}

#[test]
fn open_stale_file_gives_not_a_namespace() {
    isolate_current_thread().unwrap();
    File::create(Path::new(NETNS_RUN_DIR).join("t-stale")).unwrap();

    let error = Namespace::open("t-stale").unwrap_err();

    assert!(
        matches!(&error, Error::NotANamespace { name } if name == "t-stale"),
        "{error}"
    );
}

#[test]
fn delete_removes_stale_file() {
    isolate_current_thread().unwrap();
    File::create(Path::new(NETNS_RUN_DIR).join("t-stale")).unwrap();

    Namespace::delete("t-stale").unwrap();

    assert!(Namespace::list("t-").unwrap().is_empty());
}

#[test]
fn invalid_names_are_rejected_everywhere() {
    isolate_current_thread().unwrap();
    let too_long = "n".repeat(256);

    for name in ["", ".", "..", "a/b", "../etc", "nul\0", too_long.as_str()] {
        let create = Namespace::create(name).unwrap_err();
        let open = Namespace::open(name).unwrap_err();
        let delete = Namespace::delete(name).unwrap_err();

        assert!(
            matches!(create, Error::InvalidName { .. }),
            "create {name:?}: {create}"
        );
        assert!(
            matches!(open, Error::InvalidName { .. }),
            "open {name:?}: {open}"
        );
        assert!(
            matches!(delete, Error::InvalidName { .. }),
            "delete {name:?}: {delete}"
        );
    }
    assert!(Namespace::list("").unwrap().is_empty());
}

#[test]
fn delete_removes_name_and_unknown_gives_not_found() {
    isolate_current_thread().unwrap();
    drop(Namespace::create("t-gone").unwrap());

    Namespace::delete("t-gone").unwrap();
    let again = Namespace::delete("t-gone").unwrap_err();
    let open = Namespace::open("t-gone").unwrap_err();

    assert!(Namespace::list("t-").unwrap().is_empty());
    assert!(
        matches!(&again, Error::NamespaceNotFound { name } if name == "t-gone"),
        "{again}"
    );
    assert!(matches!(open, Error::NamespaceNotFound { .. }), "{open}");
}

#[test]
fn list_filters_by_prefix_and_sorts() {
    isolate_current_thread().unwrap();
    let _namespaces: Vec<Namespace> = ["lab-b", "other-a", "lab-a", "lab-switch"]
        .into_iter()
        .map(|name| Namespace::create(name).unwrap())
        .collect();

    assert_eq!(
        Namespace::list("lab-").unwrap(),
        ["lab-a", "lab-b", "lab-switch"]
    );
    assert_eq!(Namespace::list("").unwrap().len(), 4);
    assert!(Namespace::list("none-").unwrap().is_empty());
}

#[test]
fn run_executes_inside_namespace_and_leaves_caller() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-run").unwrap();
    let caller_before = thread_net_inode();

    let inside = namespace.run(thread_net_inode).unwrap();

    assert_eq!(inside, fs::metadata(namespace.path()).unwrap().ino());
    assert_ne!(inside, caller_before);
    assert_eq!(thread_net_inode(), caller_before);
}

#[test]
fn run_borrows_from_caller_and_returns_result() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-borrow").unwrap();
    let mut visits = Vec::new();

    let length = namespace.run(|| {
        visits.push(namespace.name().to_owned());
        visits.len()
    });

    assert_eq!(length.unwrap(), 1);
    assert_eq!(visits, ["t-borrow"]);
}

#[test]
fn run_resumes_panic_on_caller() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-panic").unwrap();

    let outcome = std::panic::catch_unwind(|| namespace.run(|| panic!("inside")));

    let panic = outcome.unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"inside"));
}

#[test]
fn created_namespace_has_loopback_down() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-lo-down").unwrap();

    let send =
        || UdpSocket::bind("127.0.0.1:0").and_then(|socket| socket.send_to(b"x", "127.0.0.1:9"));
    let error = namespace.run(send).unwrap().unwrap_err();

    assert_eq!(
        error.raw_os_error(),
        Some(nix::libc::ENETUNREACH),
        "{error}"
    );
}

#[test]
fn deleted_namespace_stays_usable_while_open() {
    isolate_current_thread().unwrap();
    let namespace = Namespace::create("t-open-handle").unwrap();
    let inode = fs::metadata(namespace.path()).unwrap().ino();

    Namespace::delete("t-open-handle").unwrap();

    assert_eq!(namespace.run(thread_net_inode).unwrap(), inode);
}
