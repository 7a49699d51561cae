//! Network namespaces, veth pairs, bridges, addresses, routes and sysctls for vprolab,
//! done in-process over rtnetlink instead of by running `ip`.
//!
//! This crate contains no DNS, DHCP or AMT logic. It provides:
//! - [`Namespace`]: named network namespaces under `/run/netns`, the layout `ip netns`
//!   uses, and [`Namespace::run`] to execute code on a thread inside one;
//! - [`Netlink`]: an rtnetlink connection whose socket lives in one namespace, with one
//!   method per `ip` command a lab needs;
//! - [`set_sysctl`] and [`read_sysctl`] for the per-namespace `net.*` sysctls;
//! - [`sandbox::isolate_current_thread`], which lets a test create all of the above
//!   without touching the host.
//!
//! A socket, netlink sockets included, belongs to the network namespace of the thread
//! that created it. This crate creates every socket on a short-lived thread that has
//! entered the target namespace, and never calls `setns` on the caller's thread, so tokio
//! worker threads stay in the namespace they started in.
//!
//! # Example
//!
//! A switch namespace with one bridge as the gateway of 192.168.90.0/24, and one node
//! attached to it by a veth pair whose node end is `eth0`:
//!
//! ```no_run
//! use netns::{Namespace, Netlink, VethPair, set_sysctl};
//!
//! # async fn build() -> Result<(), netns::Error> {
//! let switch = Namespace::create("lab-switch")?;
//! let node = Namespace::create("lab-client")?;
//! set_sysctl(&switch, "net.ipv4.ip_forward", "1")?;
//!
//! let switch_link = Netlink::connect(&switch)?;
//! switch_link.add_bridge("vlan90").await?;
//! switch_link.add_address("vlan90", "192.168.90.1/24".parse().unwrap()).await?;
//! switch_link.set_up("vlan90").await?;
//!
//! // The node end is created directly inside `node`: no link ever exists in the host.
//! switch_link
//!     .add_veth(&VethPair {
//!         name: "client",
//!         mac: None,
//!         peer_name: "eth0",
//!         peer_namespace: &node,
//!         peer_mac: Some("02:00:00:00:90:10".parse()?),
//!     })
//!     .await?;
//! switch_link.attach_to_bridge("client", "vlan90").await?;
//! switch_link.set_up("client").await?;
//!
//! let node_link = Netlink::connect(&node)?;
//! node_link.set_up("lo").await?;
//! node_link.set_up("eth0").await?;
//! node_link.add_address("eth0", "192.168.90.10/24".parse().unwrap()).await?;
//! node_link.add_default_route("192.168.90.1".parse().unwrap()).await?;
//!
//! // Deleting both namespaces removes every link above once the handles are dropped.
//! drop((switch_link, node_link, switch, node));
//! Namespace::delete("lab-client")?;
//! Namespace::delete("lab-switch")?;
//! # Ok(())
//! # }
//! ```

mod error;
mod link;
mod namespace;
mod netlink;
pub mod sandbox;
mod sysctl;

pub use error::Error;
pub use link::{Link, MacAddr, VethPair};
pub use namespace::{NETNS_RUN_DIR, Namespace};
pub use netlink::Netlink;
pub use sysctl::{read_sysctl, set_sysctl};
