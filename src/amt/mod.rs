//! What the setup server and the ME share: the hello format, firmware profiles, trusted
//! root hashes, the certificate and domain rules, and the WS-Management messages.

pub mod checks;
pub mod hello;
pub mod verdict;
