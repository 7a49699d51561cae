//! The lab's authoritative DNS server on hickory-server, and the ME's stub resolver.
