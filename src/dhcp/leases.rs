//! The server's record of which client has which address, and until when.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Instant;

use super::wire::{self, Message};

/// The client identity a binding belongs to. RFC 2131 section 4.2: option 61 when the client sends one,
/// otherwise the hardware type and chaddr.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    ClientId(Vec<u8>),
    Hardware { htype: u8, chaddr: Vec<u8> },
}

/// How far a binding has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingState {
    /// Sent in a DHCPOFFER and held for the client until it requests it or the hold ends.
    Offered,
    /// Acknowledged with a DHCPACK.
    Bound,
    /// Given back with a DHCPRELEASE, and kept so that the client gets the same address again.
    Released,
}

/// One address and the client that has or last had it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub address: Ipv4Addr,
    pub client: ClientKey,
    pub state: BindingState,
    /// End of the offer hold or of the lease. Past it, another client may get the address.
    pub expires: Instant,
    /// Option 12 from the client's last message, for logs and reports.
    pub host_name: Option<Vec<u8>>,
}

/// Bindings by address and by client, plus addresses a client declined.
///
/// Each client has at most one binding: a client that shows up in another scope leaves
/// its old binding behind, which is what a PC moved to another VLAN does.
#[derive(Debug, Default)]
pub(super) struct Leases {
    by_address: BTreeMap<Ipv4Addr, Binding>,
    by_client: HashMap<ClientKey, Ipv4Addr>,
    /// Addresses some host already uses (DHCPDECLINE), with the end of their quarantine.
    declined: BTreeMap<Ipv4Addr, Instant>,
    /// The lowest address whose binding was removed since [`Leases::take_lowest_removed`]
    /// last ran, so that the server's scan for never-used addresses can step back to it.
    lowest_removed: Option<Ipv4Addr>,
}

impl ClientKey {
    pub fn of(message: &Message) -> Self {
        match &message.options.client_id {
            Some(id) => Self::ClientId(id.clone()),
            None => Self::Hardware { htype: message.htype, chaddr: message.chaddr.clone() },
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientId(id) => write!(f, "client-id {}", wire::hardware_address_display(id)),
            Self::Hardware { chaddr, .. } => write!(f, "chaddr {}", wire::hardware_address_display(chaddr)),
        }
    }
}

impl Binding {
    pub fn is_live(&self, now: Instant) -> bool {
        self.expires > now
    }
}

impl Leases {
    pub fn of_client(&self, client: &ClientKey) -> Option<&Binding> {
        let address = self.by_client.get(client)?;
        self.by_address.get(address)
    }

    pub fn at(&self, address: Ipv4Addr) -> Option<&Binding> {
        self.by_address.get(&address)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.by_address.values()
    }

    /// Returns whether `address` may go to `client`: no other client's binding on it is live, and
    /// no quarantine after a DHCPDECLINE is running.
    pub fn is_free_for(&self, address: Ipv4Addr, client: &ClientKey, now: Instant) -> bool {
        if self.declined.get(&address).is_some_and(|until| *until > now) {
            return false;
        }

        match self.by_address.get(&address) {
            Some(binding) => binding.client == *client || !binding.is_live(now),
            None => true,
        }
    }

    /// Returns whether `address` was never bound and is not quarantined: the first choice for a
    /// new client, so that expired bindings stay with their old clients as long as possible.
    pub fn is_unused(&self, address: Ipv4Addr, now: Instant) -> bool {
        let quarantined = self.declined.get(&address).is_some_and(|until| *until > now);
        !quarantined && !self.by_address.contains_key(&address)
    }

    /// Stores `binding`, replacing the client's previous binding and any expired binding
    /// of another client on the same address.
    pub fn insert(&mut self, binding: Binding) {
        if let Some(previous) = self.by_client.remove(&binding.client) {
            self.by_address.remove(&previous);
            // A binding replaced on the same address, as when an offer is acknowledged,
            // leaves no address without a binding.
            if previous != binding.address {
                self.note_removed(previous);
            }
        }
        if let Some(displaced) = self.by_address.remove(&binding.address) {
            self.by_client.remove(&displaced.client);
        }

        self.by_client.insert(binding.client.clone(), binding.address);
        self.by_address.insert(binding.address, binding);
    }

    /// Drops the client's binding, if it has one.
    pub fn remove_client(&mut self, client: &ClientKey) -> Option<Binding> {
        let address = self.by_client.remove(client)?;
        self.note_removed(address);
        self.by_address.remove(&address)
    }

    /// Returns whether some binding, live or not, is on `address`.
    pub fn has_binding(&self, address: Ipv4Addr) -> bool {
        self.by_address.contains_key(&address)
    }

    /// Returns and forgets the lowest address whose binding was removed since the last
    /// call.
    pub fn take_lowest_removed(&mut self) -> Option<Ipv4Addr> {
        self.lowest_removed.take()
    }

    fn note_removed(&mut self, address: Ipv4Addr) {
        self.lowest_removed = Some(self.lowest_removed.map_or(address, |lowest| lowest.min(address)));
    }

    /// Marks the client's binding released as of `now`, if it is on `address`.
    pub fn release(&mut self, client: &ClientKey, address: Ipv4Addr, now: Instant) -> bool {
        match self.by_address.get_mut(&address) {
            Some(binding) if binding.client == *client => {
                binding.state = BindingState::Released;
                binding.expires = now;
                true
            }
            _ => false,
        }
    }

    /// Keeps `address` out of every offer until `until`.
    pub fn quarantine(&mut self, address: Ipv4Addr, until: Instant) {
        self.declined.insert(address, until);
    }
}
