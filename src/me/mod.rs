//! The ME emulator: DHCP, discovery, hello, TLS server, certificate checks, WS-Management.

#[cfg(test)]
pub(crate) mod test_chain;
pub mod tls;
pub mod wsman_server;
