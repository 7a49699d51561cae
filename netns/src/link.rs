//! Values that link operations take and return: MAC addresses, link names, veth pairs and
//! the parsed form of an `RTM_NEWLINK` reply.

use std::fmt;
use std::str::FromStr;

use netlink_packet_route::link::{BridgePortState, InfoBridgePort, InfoPortData, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State};

use crate::{Error, Namespace};

/// Longest link name the kernel accepts: IFNAMSIZ (16) minus the NUL byte.
const MAX_LINK_NAME_LEN: usize = 15;

/// An Ethernet MAC address (EUI-48).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MacAddr([u8; 6]);

impl MacAddr {
    pub const fn new(octets: [u8; 6]) -> Self {
        Self(octets)
    }

    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        Self(octets)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = Error;

    /// Parses the `ip link` notation: six pairs of hex digits separated by ':'.
    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidMac {
            text: text.to_owned(),
        };
        let mut octets = [0u8; 6];
        let mut parts = text.split(':');

        for octet in &mut octets {
            let part = parts.next().ok_or_else(invalid)?;
            // from_str_radix alone would accept a sign, as in "+2".
            if part.len() != 2 || !part.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return Err(invalid());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
        }

        match parts.next() {
            None => Ok(Self(octets)),
            Some(_) => Err(invalid()),
        }
    }
}

/// A link as `ip link show` prints it, reduced to what a lab needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    /// Interface index, unique within the namespace.
    pub index: u32,
    /// Hardware address, absent on links without one.
    pub mac: Option<MacAddr>,
    /// Administrative state (IFF_UP), which `ip link set NAME up` sets.
    pub up: bool,
    /// Index of the bridge the link is a port of (IFLA_MASTER).
    pub controller: Option<u32>,
    /// Whether the bridge forwards frames through this port (IFLA_BRPORT_STATE
    /// forwarding); `None` when the link is no bridge port.
    pub forwarding: Option<bool>,
    /// Whether the operational state is up (IFLA_OPERSTATE), which the kernel's link
    /// watcher sets when it has seen the carrier and given the link its queueing
    /// discipline. Until then the link drops what it transmits.
    pub oper_up: bool,
}

impl Link {
    /// Reads the fields from an `RTM_NEWLINK` message, or `None` if it has no name.
    pub(crate) fn from_message(message: &LinkMessage) -> Option<Self> {
        let mut name = None;
        let mut mac = None;
        let mut controller = None;
        let mut forwarding = None;
        let mut oper_up = false;

        for attribute in &message.attributes {
            match attribute {
                LinkAttribute::IfName(value) => name = Some(value.clone()),
                LinkAttribute::Address(bytes) => mac = MacAddr::from_slice(bytes),
                LinkAttribute::Controller(index) => controller = Some(*index),
                LinkAttribute::LinkInfo(infos) => forwarding = forwarding.or(bridge_port_forwarding(infos)),
                LinkAttribute::OperState(state) => oper_up = *state == State::Up,
                _ => {}
            }
        }

        Some(Self {
            name: name?,
            index: message.header.index,
            mac,
            up: message.header.flags.contains(LinkFlags::Up),
            controller,
            forwarding,
            oper_up,
        })
    }
}

/// Reads the bridge port state from IFLA_LINKINFO's port data, as `ip -d link show`
/// prints it after `bridge_slave state`.
fn bridge_port_forwarding(infos: &[LinkInfo]) -> Option<bool> {
    infos.iter().find_map(|info| match info {
        LinkInfo::PortData(InfoPortData::BridgePort(attributes)) => attributes.iter().find_map(|attribute| match attribute {
            InfoBridgePort::State(state) => Some(*state == BridgePortState::Forwarding),
            _ => None,
        }),
        _ => None,
    })
}

/// A veth pair to create: one end in the namespace of the [`crate::Netlink`] that adds
/// it, the peer directly in `peer_namespace`.
#[derive(Clone, Copy, Debug)]
pub struct VethPair<'a> {
    pub name: &'a str,
    /// MAC of the local end, random when `None`.
    pub mac: Option<MacAddr>,
    pub peer_name: &'a str,
    pub peer_namespace: &'a Namespace,
    /// MAC of the peer end, random when `None`.
    pub peer_mac: Option<MacAddr>,
}

/// Rejects the names that the kernel's `dev_valid_name` rejects, before a request is sent.
pub(crate) fn check_link_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= MAX_LINK_NAME_LEN
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace());

    if valid {
        Ok(())
    } else {
        Err(Error::InvalidLinkName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addr_round_trips_through_text() {
        let mac: MacAddr = "02:00:5e:Aa:0b:ff".parse().unwrap();

        assert_eq!(mac.octets(), [0x02, 0x00, 0x5e, 0xaa, 0x0b, 0xff]);
        assert_eq!(mac.to_string(), "02:00:5e:aa:0b:ff");
    }

    #[test]
    fn mac_addr_rejects_malformed_text() {
        let cases = [
            "",
            "02:00:5e:aa:0b",
            "02:00:5e:aa:0b:ff:01",
            "02-00-5e-aa-0b-ff",
            "2:00:5e:aa:0b:ff",
            "002:00:5e:aa:0b:f",
            "02:00:5e:aa:0b:fg",
            "+2:00:5e:aa:0b:ff",
            "02:00:5e:aa:0b:ff:",
        ];
        for text in cases {
            let error = text.parse::<MacAddr>().expect_err(text);
            assert!(
                matches!(error, Error::InvalidMac { .. }),
                "{text:?} gave {error}"
            );
        }
    }

    #[test]
    fn check_link_name_accepts_kernel_names() {
        for name in [
            "lo",
            "eth0",
            "vlan90",
            "br-a",
            "p-client.90",
            "fifteen-chars15",
        ] {
            assert!(check_link_name(name).is_ok(), "{name:?} should be accepted");
        }
    }

    #[test]
    fn check_link_name_rejects_invalid_names() {
        let cases = [
            "",
            ".",
            "..",
            "sixteen-chars-16",
            "a/b",
            "eth0:1",
            "a b",
            "tab\t",
            "nul\0",
        ];
        for name in cases {
            let error = check_link_name(name).expect_err(name);
            assert!(
                matches!(error, Error::InvalidLinkName { .. }),
                "{name:?} gave {error}"
            );
        }
    }

    #[test]
    fn link_from_message_reads_name_mac_state_and_controller() {
        let mut message = LinkMessage::default();
        message.header.index = 7;
        message.header.flags = LinkFlags::Up | LinkFlags::Broadcast;
        message.attributes = vec![
            LinkAttribute::IfName("eth0".into()),
            LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]),
            LinkAttribute::Controller(3),
        ];

        let link = Link::from_message(&message).unwrap();

        assert_eq!(link.name, "eth0");
        assert_eq!(link.index, 7);
        assert_eq!(link.mac, Some(MacAddr::new([2, 0, 0, 0, 0, 1])));
        assert!(link.up);
        assert_eq!(link.controller, Some(3));
    }

    #[test]
    fn link_from_message_without_name_is_none() {
        let message = LinkMessage::default();

        assert_eq!(Link::from_message(&message), None);
    }
}
