//! The ME emulator: DHCP, discovery, hello, TLS server, certificate checks, WS-Management.
