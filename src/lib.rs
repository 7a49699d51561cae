//! vprolab rebuilds Intel vPro (AMT) remote-provisioning networks in Linux network
//! namespaces and runs a setup server and emulated Management Engines in them.

pub mod amt;
pub mod dhcp;
pub mod dns;
pub mod files;
pub mod lab;
pub mod me;
pub mod net;
pub mod pki;
pub mod report;
pub mod scs;
pub mod topology;
pub mod timeline;
