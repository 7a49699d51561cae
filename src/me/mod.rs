//! The ME emulator: DHCP, discovery, hello, TLS server, certificate checks, WS-Management.

mod discovery;
mod emulator;
#[cfg(test)]
pub(crate) mod test_chain;
pub mod tls;
pub mod wsman_server;

pub use emulator::{AMT_TLS_PORT, HELLO_PORT, LeaseHook, MeConfig, MeKey, MeOutcome, ReadyKey, run};
