//! What the setup server and the ME share: the hello format, firmware profiles, trusted
//! root hashes, the certificate and domain rules, and the WS-Management messages.

pub mod checks;
pub mod domain;
pub mod hello;
pub mod profile;
pub mod roots;
pub mod schedule;
pub mod verdict;
pub mod wsman;
