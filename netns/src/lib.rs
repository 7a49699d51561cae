//! Network namespaces, veth pairs, bridges, addresses, routes and sysctls for vprolab,
//! done in-process over rtnetlink instead of by running `ip`.
//!
//! This crate contains no DNS, DHCP or AMT logic. It provides:
//! - [`Namespace`]: named network namespaces under `/run/netns`, the layout `ip netns`
//!   uses, and [`Namespace::run`] to execute code on a thread inside one;

mod error;
mod namespace;

pub use error::Error;
pub use namespace::{NETNS_RUN_DIR, Namespace};
