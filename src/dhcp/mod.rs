//! DHCP server (one scope per subnet, chosen by giaddr), relay, and the ME's client.
