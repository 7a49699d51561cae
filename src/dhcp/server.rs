//! The DHCP server's state machine (RFC 2131 sections 4.3 and 4.4), without sockets.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ipnetwork::Ipv4Network;

use super::clock::Clock;
use super::leases::{Binding, BindingState, ClientKey, Leases};
use super::wire::{Message, MessageType, Op, Options, Xid, code};
use super::{Addressing, Destination};

/// How long an offered address stays reserved for the client that was offered it.
const OFFER_HOLD: Duration = Duration::from_secs(60);

/// How long an address stays out of the pool after a client declined it because another
/// host answered ARP for it.
const DECLINE_QUARANTINE: Duration = Duration::from_secs(600);

/// The addresses and options the server hands out on one subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub subnet: Ipv4Network,
    /// First and last address of the pool, both included.
    pub range: (Ipv4Addr, Ipv4Addr),
    /// Option 3.
    pub router: Option<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 15 bytes exactly as sent, so that a lab can send a malformed value on purpose.
    pub domain: Option<Vec<u8>>,
    /// Option 51.
    pub lease_time: Duration,
}

/// What the DHCP server serves: its identity, its scopes and its ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Option 54: the server's address as clients and relays reach it.
    pub server_id: Ipv4Addr,
    pub scopes: Vec<Scope>,
    pub addressing: Addressing,
}

/// Invalid server configuration, or a socket failure while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("scope {subnet}: range {start} - {end} is empty; put the lower address first")]
    EmptyRange { subnet: Ipv4Network, start: Ipv4Addr, end: Ipv4Addr },

    #[error("scope {subnet}: range address {address} is not a host address of the subnet; choose a range inside it")]
    RangeOutsideSubnet { subnet: Ipv4Network, address: Ipv4Addr },

    #[error(
        "scope {subnet}: lease time {lease_time:?} is not between 1 s and {max} s; option 51 carries whole seconds"
    )]
    InvalidLeaseTime { subnet: Ipv4Network, lease_time: Duration, max: u32 },

    #[error(
        "scopes {first} and {second} overlap, so the scope for a giaddr would be ambiguous; give each scope its own subnet"
    )]
    OverlappingScopes { first: Ipv4Network, second: Ipv4Network },

    #[error("receiving on the DHCP server socket failed: {source}")]
    Receive { source: io::Error },
}

/// The server's decision on one client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Reply(Box<Reply>),
    /// The lease table took note and, as RFC 2131 specifies, nothing is sent back: a DHCPDECLINE,
    /// a DHCPRELEASE, or a DHCPREQUEST that selected another server.
    Recorded,
    Ignored(NoReply),
}

/// A lease the server acknowledged, for services that follow leases, such as a DNS
/// server that registers the client's name (dynamic DNS, as Windows DHCP does it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseEvent {
    /// yiaddr of the DHCPACK.
    pub address: Ipv4Addr,
    pub subnet: Ipv4Network,
    /// Option 12 of the client's DHCPREQUEST, when it is one valid DNS label (RFC 1123).
    pub host_name: Option<String>,
    /// Option 51 of the DHCPACK.
    pub lease_time: Duration,
}

impl LeaseEvent {
    /// Describes the lease that `reply` grants, when it is a DHCPACK of an address (not
    /// the answer to a DHCPINFORM).
    pub fn from_ack(request: &Message, reply: &Message) -> Option<Self> {
        if reply.message_type != MessageType::Ack || reply.yiaddr.is_unspecified() {
            return None;
        }
        let mask = reply.options.subnet_mask?;
        let subnet = Ipv4Network::with_netmask(reply.yiaddr, mask).ok()?;
        let subnet = Ipv4Network::new(subnet.network(), subnet.prefix()).ok()?;

        let host_name = request.options.host_name.as_deref().and_then(host_label);
        let lease_time = Duration::from_secs(reply.options.lease_time.map_or(0, u64::from));
        Some(Self { address: reply.yiaddr, subnet, host_name, lease_time })
    }
}

/// Returns option 12 as a host label: letters, digits and hyphens, 1 to 63 characters, no
/// hyphen at either end (RFC 1123 section 2.1). Windows DHCP skips the update otherwise.
fn host_label(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?.trim_end_matches('\0');
    let valid = (1..=63).contains(&text.len())
        && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-');
    valid.then(|| text.to_ascii_lowercase())
}

/// A message to send and where to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub message: Message,
    pub destination: Destination,
}

/// Reasons a client message gets no reply and changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoReply {
    #[error("{message_type} is a BOOTREPLY, which servers do not answer")]
    NotRequest { message_type: MessageType },

    #[error("{message_type} is sent by servers, not clients")]
    ServerMessage { message_type: MessageType },

    #[error("no scope contains giaddr {giaddr}; add a scope for the relay's subnet")]
    NoScopeForRelay { giaddr: Ipv4Addr },

    #[error("no scope contains the server's interface address {interface}")]
    NoScopeForInterface { interface: Ipv4Network },

    #[error("pool {start} - {end} of scope {subnet} is exhausted, so no DHCPOFFER is sent")]
    PoolExhausted { subnet: Ipv4Network, start: Ipv4Addr, end: Ipv4Addr },

    #[error("{message_type} has no requested address (option 50)")]
    MissingRequestedAddress { message_type: MessageType },

    #[error("DHCPREQUEST has neither server identifier, requested address nor ciaddr")]
    UnclassifiableRequest,

    #[error("{message_type} has no server identifier (option 54)")]
    MissingServerId { message_type: MessageType },

    #[error("{message_type} is for server {server_id}, not this one")]
    OtherServer { message_type: MessageType, server_id: Ipv4Addr },

    #[error("no binding of {address} for {client}, so the server stays silent")]
    NoRecord { client: ClientKey, address: Ipv4Addr },
}

/// The DHCP server: scopes, bindings and a clock.
#[derive(Debug)]
pub struct Server<C> {
    server_id: Ipv4Addr,
    scopes: Vec<Scope>,
    leases: Leases,
    clock: C,
    /// Per scope, by subnet, an address of its pool below which every address has a
    /// binding, so that a DHCPDISCOVER does not scan the whole taken part of the pool.
    first_unbound: HashMap<Ipv4Network, Ipv4Addr>,
}

impl<C: Clock> Server<C> {
    /// Checks the scopes and starts with no bindings.
    pub fn new(config: ServerConfig, clock: C) -> Result<Self, ServerError> {
        check_scopes(&config.scopes)?;
        Ok(Self { server_id: config.server_id, scopes: config.scopes, leases: Leases::default(), clock, first_unbound: HashMap::new() })
    }

    /// Current and past bindings, by address.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.leases.iter()
    }

    /// Handles one client message and returns what to send, if anything.
    ///
    /// `interface` is the address and prefix of the interface the message came in on: it
    /// picks the scope when the message was not relayed.
    pub fn handle(&mut self, request: &Message, interface: Ipv4Network) -> Outcome {
        let outcome = self.decide(request, interface);
        log_outcome(request, &outcome);
        outcome
    }

    fn decide(&mut self, request: &Message, interface: Ipv4Network) -> Outcome {
        let message_type = request.message_type;
        if request.op != Op::Request {
            return Outcome::Ignored(NoReply::NotRequest { message_type });
        }

        let result = match message_type {
            MessageType::Discover => self.discover(request, interface),
            MessageType::Request => self.request(request, interface),
            MessageType::Decline => self.decline(request),
            MessageType::Release => self.release(request),
            MessageType::Inform => self.inform(request, interface),
            MessageType::Offer | MessageType::Ack | MessageType::Nak => Err(NoReply::ServerMessage { message_type }),
        };
        result.unwrap_or_else(Outcome::Ignored)
    }

    fn discover(&mut self, request: &Message, interface: Ipv4Network) -> Result<Outcome, NoReply> {
        let scope = self.scope_for(request, interface)?.clone();
        let client = ClientKey::of(request);
        let now = self.clock.now();

        let address = self
            .choose_address(&scope, &client, request.options.requested_address, now)
            .ok_or(NoReply::PoolExhausted { subnet: scope.subnet, start: scope.range.0, end: scope.range.1 })?;
        self.hold_offer(address, client, request, now);

        let message = self.lease_reply(request, &scope, MessageType::Offer, address);
        Ok(self.send(message))
    }

    /// Handles a DHCPREQUEST. RFC 2131 section 4.3.2 distinguishes its three kinds by which
    /// of option 54, option 50 and ciaddr they carry.
    fn request(&mut self, request: &Message, interface: Ipv4Network) -> Result<Outcome, NoReply> {
        let options = &request.options;
        match (options.server_id, options.requested_address) {
            (Some(server_id), _) => self.selecting(request, interface, server_id),
            (None, Some(requested)) => self.init_reboot(request, interface, requested),
            (None, None) if !request.ciaddr.is_unspecified() => self.renewing(request, interface),
            (None, None) => Err(NoReply::UnclassifiableRequest),
        }
    }

    /// Handles a DHCPREQUEST in the SELECTING state: the client chose this server's offer or
    /// another server's.
    fn selecting(
        &mut self,
        request: &Message,
        interface: Ipv4Network,
        server_id: Ipv4Addr,
    ) -> Result<Outcome, NoReply> {
        let client = ClientKey::of(request);
        if server_id != self.server_id {
            self.forget_offer(&client);
            return Ok(Outcome::Recorded);
        }

        let message_type = MessageType::Request;
        let requested = request.options.requested_address.ok_or(NoReply::MissingRequestedAddress { message_type })?;
        let scope = self.scope_for(request, interface)?.clone();
        let now = self.clock.now();

        let offered = self.leases.of_client(&client).is_some_and(|binding| binding.address == requested);
        if offered && scope.subnet.contains(requested) && self.leases.is_free_for(requested, &client, now) {
            return Ok(self.acknowledge(request, &scope, requested));
        }
        Ok(self.nak(request, format!("{requested} was not offered to this client or is no longer free")))
    }

    /// Handles a DHCPREQUEST in the INIT-REBOOT state: the client rebooted and requests the
    /// address it had.
    fn init_reboot(
        &mut self,
        request: &Message,
        interface: Ipv4Network,
        requested: Ipv4Addr,
    ) -> Result<Outcome, NoReply> {
        let scope = self.scope_for(request, interface)?.clone();
        if !scope.subnet.contains(requested) {
            return Ok(self.nak(request, format!("{requested} is not on subnet {}", scope.subnet)));
        }

        let client = ClientKey::of(request);
        let now = self.clock.now();
        match self.leases.of_client(&client).map(|binding| binding.address) {
            Some(address) if address == requested && self.leases.is_free_for(address, &client, now) => {
                Ok(self.acknowledge(request, &scope, requested))
            }
            Some(address) if address == requested => {
                Ok(self.nak(request, format!("{requested} is no longer available")))
            }
            Some(address) => Ok(self.nak(request, format!("this client's address is {address}, not {requested}"))),
            None if !self.leases.is_free_for(requested, &client, now) => {
                Ok(self.nak(request, format!("{requested} is leased to another client")))
            }
            // RFC 2131 section 4.3.2: a server with no record of the client stays silent.
            None => Err(NoReply::NoRecord { client, address: requested }),
        }
    }

    /// Handles a DHCPREQUEST in the RENEWING (unicast) or REBINDING (broadcast) state: the
    /// client extends the lease on ciaddr.
    ///
    /// A client this server has no binding for keeps its address when the address is free
    /// and in the pool, as dnsmasq does, so clients survive a server restart.
    fn renewing(&mut self, request: &Message, interface: Ipv4Network) -> Result<Outcome, NoReply> {
        let ciaddr = request.ciaddr;
        let Some(scope) = self.scope_containing(ciaddr).cloned() else {
            return Ok(self.nak(request, format!("{ciaddr} is in no scope of this server")));
        };

        // A relayed REBINDING must come from the client's own subnet.
        if !request.giaddr.is_unspecified() && self.scope_for(request, interface)? != &scope {
            return Ok(self.nak(request, format!("{ciaddr} is not on the subnet of giaddr {}", request.giaddr)));
        }

        let client = ClientKey::of(request);
        let now = self.clock.now();
        let own = self.leases.of_client(&client).is_some_and(|binding| binding.address == ciaddr);
        let adoptable = self.is_assignable(&scope, ciaddr);

        if (own || adoptable) && self.leases.is_free_for(ciaddr, &client, now) {
            return Ok(self.acknowledge(request, &scope, ciaddr));
        }
        Ok(self.nak(request, format!("{ciaddr} is not available to this client")))
    }

    /// Handles a DHCPDECLINE: the client found, by ARP, that another host uses the address.
    fn decline(&mut self, request: &Message) -> Result<Outcome, NoReply> {
        let message_type = MessageType::Decline;
        self.check_server_id(request)?;
        let address = request.options.requested_address.ok_or(NoReply::MissingRequestedAddress { message_type })?;

        let client = ClientKey::of(request);
        if self.leases.at(address).is_none_or(|binding| binding.client != client) {
            return Err(NoReply::NoRecord { client, address });
        }

        self.leases.remove_client(&client);
        self.leases.quarantine(address, self.clock.now() + DECLINE_QUARANTINE);
        tracing::warn!(%address, %client, quarantine = ?DECLINE_QUARANTINE, "address declined: another host uses it");
        Ok(Outcome::Recorded)
    }

    fn release(&mut self, request: &Message) -> Result<Outcome, NoReply> {
        self.check_server_id(request)?;

        let client = ClientKey::of(request);
        let address = request.ciaddr;
        if !self.leases.release(&client, address, self.clock.now()) {
            return Err(NoReply::NoRecord { client, address });
        }
        Ok(Outcome::Recorded)
    }

    /// Handles a DHCPINFORM: the client has an address and requests only options (RFC 2131
    /// section 4.3.5).
    fn inform(&mut self, request: &Message, interface: Ipv4Network) -> Result<Outcome, NoReply> {
        // RFC 2131 section 4.3.5: the options are those of the client's own subnet.
        let scope = match self.scope_containing(request.ciaddr) {
            Some(scope) => scope.clone(),
            None => self.scope_for(request, interface)?.clone(),
        };

        let mut message = self.lease_reply(request, &scope, MessageType::Ack, Ipv4Addr::UNSPECIFIED);
        message.ciaddr = request.ciaddr;
        // The client configured its address itself, so there is no lease to time.
        message.options.lease_time = None;
        Ok(self.send(message))
    }

    /// Returns the scope of the relay's subnet when relayed, otherwise of the receiving
    /// interface.
    fn scope_for(&self, request: &Message, interface: Ipv4Network) -> Result<&Scope, NoReply> {
        if !request.giaddr.is_unspecified() {
            let giaddr = request.giaddr;
            return self.scope_containing(giaddr).ok_or(NoReply::NoScopeForRelay { giaddr });
        }
        self.scope_containing(interface.ip()).ok_or(NoReply::NoScopeForInterface { interface })
    }

    fn scope_containing(&self, address: Ipv4Addr) -> Option<&Scope> {
        self.scopes.iter().find(|scope| scope.subnet.contains(address))
    }

    /// Picks an address for `client`: its current or last address, then the address it
    /// asks for, then a never-used one, then one whose binding expired.
    fn choose_address(
        &mut self,
        scope: &Scope,
        client: &ClientKey,
        requested: Option<Ipv4Addr>,
        now: Instant,
    ) -> Option<Ipv4Addr> {
        let never_used = self.first_unbound_of(scope);
        let free =
            |address: Ipv4Addr| self.is_assignable(scope, address) && self.leases.is_free_for(address, client, now);

        let previous = self.leases.of_client(client).map(|binding| binding.address);
        if let Some(address) = previous.into_iter().chain(requested).find(|address| free(*address)) {
            return Some(address);
        }

        pool_from(scope, never_used)
            .find(|address| self.is_assignable(scope, *address) && self.leases.is_unused(*address, now))
            .or_else(|| pool(scope).find(|address| free(*address)))
    }

    /// Returns the first address of the scope's pool without a binding, or an address
    /// below it, moving the remembered one up past bound addresses and back down to the
    /// lowest address whose binding was removed since.
    fn first_unbound_of(&mut self, scope: &Scope) -> Ipv4Addr {
        let remembered = self.first_unbound.get(&scope.subnet).copied().unwrap_or(scope.range.0);
        let start = match self.leases.take_lowest_removed() {
            Some(removed) => {
                // The removal may belong to another scope, whose remembered address must
                // step back too.
                for (subnet, first) in &mut self.first_unbound {
                    if subnet.contains(removed) && removed < *first {
                        *first = removed;
                    }
                }
                self.first_unbound.get(&scope.subnet).copied().unwrap_or(scope.range.0).min(remembered)
            }
            None => remembered,
        };

        let first = pool_from(scope, start).find(|address| !self.leases.has_binding(*address)).unwrap_or(scope.range.1);
        self.first_unbound.insert(scope.subnet, first);
        first
    }

    /// Returns whether `address` is in the scope's pool and is not one of the addresses a
    /// pool must skip: the subnet's network and broadcast addresses, the router, this server.
    fn is_assignable(&self, scope: &Scope, address: Ipv4Addr) -> bool {
        let in_range = scope.range.0 <= address && address <= scope.range.1;
        let reserved = address == scope.subnet.network()
            || (scope.subnet.prefix() < 31 && address == scope.subnet.broadcast())
            || Some(address) == scope.router
            || address == self.server_id;
        in_range && !reserved
    }

    fn hold_offer(&mut self, address: Ipv4Addr, client: ClientKey, request: &Message, now: Instant) {
        // A client that already holds a lease on this address keeps it while it retries.
        let bound = self.leases.of_client(&client).filter(|binding| binding.address == address && binding.is_live(now));
        if let Some(binding) = bound.filter(|binding| binding.state == BindingState::Bound) {
            let mut binding = binding.clone();
            binding.host_name = request.options.host_name.clone();
            self.leases.insert(binding);
            return;
        }

        let host_name = request.options.host_name.clone();
        let expires = now + OFFER_HOLD;
        self.leases.insert(Binding { address, client, state: BindingState::Offered, expires, host_name });
    }

    fn forget_offer(&mut self, client: &ClientKey) {
        let offered = self.leases.of_client(client).is_some_and(|binding| binding.state == BindingState::Offered);
        if offered {
            self.leases.remove_client(client);
        }
    }

    fn acknowledge(&mut self, request: &Message, scope: &Scope, address: Ipv4Addr) -> Outcome {
        let client = ClientKey::of(request);
        let expires = self.clock.now() + scope.lease_time;
        let host_name = request.options.host_name.clone();
        self.leases.insert(Binding { address, client, state: BindingState::Bound, expires, host_name });

        let mut message = self.lease_reply(request, scope, MessageType::Ack, address);
        message.ciaddr = request.ciaddr;
        self.send(message)
    }

    fn check_server_id(&self, request: &Message) -> Result<(), NoReply> {
        let message_type = request.message_type;
        match request.options.server_id {
            Some(server_id) if server_id == self.server_id => Ok(()),
            Some(server_id) => Err(NoReply::OtherServer { message_type, server_id }),
            None => Err(NoReply::MissingServerId { message_type }),
        }
    }

    /// Builds a DHCPOFFER or DHCPACK carrying options 1, 3, 6, 15, 51 and 54 as far as the scope
    /// has them, in the order of the client's parameter request list.
    fn lease_reply(&self, request: &Message, scope: &Scope, message_type: MessageType, yiaddr: Ipv4Addr) -> Message {
        let lease_secs = u32::try_from(scope.lease_time.as_secs()).unwrap_or(u32::MAX);
        let options = Options {
            subnet_mask: Some(scope.subnet.mask()),
            routers: scope.router.into_iter().collect(),
            dns_servers: scope.dns_servers.clone(),
            domain_name: scope.domain.clone(),
            lease_time: Some(lease_secs),
            ..self.reply_options(request)
        };

        let mut option_order = vec![code::MESSAGE_TYPE];
        option_order.extend(request.options.parameter_request_list.iter().flatten());
        Message { options, option_order, ..reply_header(request, message_type, yiaddr) }
    }

    /// Builds a DHCPNAK. Through a relay it carries the broadcast flag (RFC 2131 section
    /// 4.3.2), because the client may have a wrong address and may not answer ARP.
    fn nak(&self, request: &Message, reason: String) -> Outcome {
        let options = Options { message: Some(reason.into_bytes()), ..self.reply_options(request) };
        let mut message = Message { options, ..reply_header(request, MessageType::Nak, Ipv4Addr::UNSPECIFIED) };
        if !request.giaddr.is_unspecified() {
            message.broadcast = true;
        }
        self.send(message)
    }

    /// Options of every reply: option 54, and options 61 and 82 echoed (RFC 6842, RFC 3046).
    fn reply_options(&self, request: &Message) -> Options {
        Options {
            server_id: Some(self.server_id),
            client_id: request.options.client_id.clone(),
            relay_agent_information: request.options.relay_agent_information.clone(),
            ..Options::default()
        }
    }

    fn send(&self, message: Message) -> Outcome {
        let destination = Destination::of_server_reply(&message);
        Outcome::Reply(Box::new(Reply { message, destination }))
    }
}

/// Builds the fixed fields of a reply to `request` (RFC 2131 section 4.3.1, table 3).
fn reply_header(request: &Message, message_type: MessageType, yiaddr: Ipv4Addr) -> Message {
    Message {
        op: Op::Reply,
        message_type,
        htype: request.htype,
        hops: 0,
        xid: request.xid,
        secs: 0,
        broadcast: request.broadcast,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        yiaddr,
        siaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: request.giaddr,
        chaddr: request.chaddr.clone(),
        options: Options::default(),
        option_order: vec![code::MESSAGE_TYPE],
    }
}

fn pool(scope: &Scope) -> impl Iterator<Item = Ipv4Addr> + Clone {
    pool_from(scope, scope.range.0)
}

/// Iterates the scope's pool from `start`, or from its first address when `start` is
/// below it.
fn pool_from(scope: &Scope, start: Ipv4Addr) -> impl Iterator<Item = Ipv4Addr> + Clone {
    (u32::from(start.max(scope.range.0))..=u32::from(scope.range.1)).map(Ipv4Addr::from)
}

fn check_scopes(scopes: &[Scope]) -> Result<(), ServerError> {
    for (index, scope) in scopes.iter().enumerate() {
        check_scope(scope)?;

        if let Some(other) = scopes[..index].iter().find(|other| other.subnet.overlaps(scope.subnet)) {
            return Err(ServerError::OverlappingScopes { first: other.subnet, second: scope.subnet });
        }
    }
    Ok(())
}

fn check_scope(scope: &Scope) -> Result<(), ServerError> {
    let subnet = scope.subnet;
    let (start, end) = scope.range;
    if start > end {
        return Err(ServerError::EmptyRange { subnet, start, end });
    }

    if let Some(address) = [start, end].into_iter().find(|address| !subnet.contains(*address)) {
        return Err(ServerError::RangeOutsideSubnet { subnet, address });
    }

    let secs = scope.lease_time.as_secs();
    if secs == 0 || secs > u64::from(u32::MAX) {
        return Err(ServerError::InvalidLeaseTime { subnet, lease_time: scope.lease_time, max: u32::MAX });
    }
    Ok(())
}

fn log_outcome(request: &Message, outcome: &Outcome) {
    let xid = Xid(request.xid);
    let chaddr = request.chaddr_display();
    let received = request.message_type;

    match outcome {
        Outcome::Reply(reply) => {
            let sent = reply.message.message_type;
            tracing::info!(%xid, %chaddr, %received, %sent, yiaddr = %reply.message.yiaddr, destination = ?reply.destination, "DHCP reply");
        }
        Outcome::Recorded => tracing::info!(%xid, %chaddr, %received, "DHCP message recorded, no reply"),
        Outcome::Ignored(
            reason @ (NoReply::PoolExhausted { .. }
            | NoReply::NoScopeForRelay { .. }
            | NoReply::NoScopeForInterface { .. }),
        ) => {
            tracing::warn!(%xid, %chaddr, %received, %reason, "DHCP message dropped")
        }
        Outcome::Ignored(reason) => tracing::info!(%xid, %chaddr, %received, %reason, "DHCP message dropped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::clock::ManualClock;

    const SERVER_ID: Ipv4Addr = Ipv4Addr::new(192, 168, 90, 1);
    const GIADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 91, 3);
    const LEASE: Duration = Duration::from_secs(3600);

    fn interface() -> Ipv4Network {
        Ipv4Network::new(SERVER_ID, 24).unwrap()
    }

    fn scope(third: u8, range: (u8, u8), domain: &[u8]) -> Scope {
        Scope {
            subnet: Ipv4Network::new(Ipv4Addr::new(192, 168, third, 0), 24).unwrap(),
            range: (Ipv4Addr::new(192, 168, third, range.0), Ipv4Addr::new(192, 168, third, range.1)),
            router: Some(Ipv4Addr::new(192, 168, third, 254)),
            dns_servers: vec![SERVER_ID],
            domain: Some(domain.to_vec()),
            lease_time: LEASE,
        }
    }

    /// VLAN 90 with a pool of three addresses, VLAN 91 with a larger one.
    fn config() -> ServerConfig {
        ServerConfig {
            server_id: SERVER_ID,
            scopes: vec![scope(90, (100, 102), b"jcert.info"), scope(91, (100, 199), b"mtkg.jcert.info")],
            addressing: Addressing::default(),
        }
    }

    fn server() -> (Server<ManualClock>, ManualClock) {
        let clock = ManualClock::new();
        (Server::new(config(), clock.clone()).unwrap(), clock)
    }

    fn mac(last: u8) -> Vec<u8> {
        vec![0x00, 0x1b, 0x21, 0x3a, 0x4f, last]
    }

    fn client_message(message_type: MessageType, chaddr: Vec<u8>) -> Message {
        Message {
            op: Op::Request,
            message_type,
            htype: 1,
            hops: 0,
            xid: 0x1234_5678,
            secs: 0,
            broadcast: true,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            options: Options::default(),
            option_order: vec![],
        }
    }

    fn discover(chaddr: Vec<u8>) -> Message {
        client_message(MessageType::Discover, chaddr)
    }

    fn selecting(chaddr: Vec<u8>, address: Ipv4Addr) -> Message {
        let mut request = client_message(MessageType::Request, chaddr);
        request.options.requested_address = Some(address);
        request.options.server_id = Some(SERVER_ID);
        request
    }

    fn reply(outcome: Outcome) -> Reply {
        match outcome {
            Outcome::Reply(reply) => *reply,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    /// Runs DISCOVER and selecting REQUEST for `chaddr` and returns the DHCPACK.
    fn bind(server: &mut Server<ManualClock>, chaddr: Vec<u8>) -> Message {
        let offer = reply(server.handle(&discover(chaddr.clone()), interface())).message;
        let ack = reply(server.handle(&selecting(chaddr, offer.yiaddr), interface())).message;
        assert_eq!(ack.message_type, MessageType::Ack);
        ack
    }

    #[test]
    fn lease_event_names_acked_client() {
        let (mut server, _) = server();
        let offer = reply(server.handle(&discover(mac(1)), interface())).message;
        let mut request = selecting(mac(1), offer.yiaddr);
        request.options.host_name = Some(b"PC90".to_vec());

        let ack = reply(server.handle(&request, interface())).message;
        let event = LeaseEvent::from_ack(&request, &ack).unwrap();

        assert_eq!(event.address, offer.yiaddr);
        assert_eq!(event.subnet, Ipv4Network::new(Ipv4Addr::new(192, 168, 90, 0), 24).unwrap());
        assert_eq!(event.host_name.as_deref(), Some("pc90"));
        assert_eq!(event.lease_time, LEASE);
        assert_eq!(LeaseEvent::from_ack(&discover(mac(1)), &offer), None, "an offer is no lease");
    }

    #[test]
    fn lease_event_drops_invalid_host_name() {
        let (mut server, _) = server();
        for name in [&b"has space"[..], b"-lead", b"trail-", b"", b"dot.ted", &[0xe9], &[b'a'; 64]] {
            let offer = reply(server.handle(&discover(mac(2)), interface())).message;
            let mut request = selecting(mac(2), offer.yiaddr);
            request.options.host_name = Some(name.to_vec());

            let ack = reply(server.handle(&request, interface())).message;

            assert_eq!(LeaseEvent::from_ack(&request, &ack).unwrap().host_name, None, "{name:?}");
        }
    }

    #[test]
    fn server_discover_offers_pool_address() {
        let (mut server, _) = server();

        let offer = reply(server.handle(&discover(mac(1)), interface()));

        let message = &offer.message;
        assert_eq!(message.op, Op::Reply);
        assert_eq!(message.message_type, MessageType::Offer);
        assert_eq!(message.xid, 0x1234_5678);
        assert_eq!(message.yiaddr, Ipv4Addr::new(192, 168, 90, 100));
        assert_eq!(message.chaddr, mac(1));
        assert!(message.broadcast);
        assert_eq!(offer.destination, Destination::Broadcast);
    }

    #[test]
    fn server_offers_addresses_in_pool_order() {
        let (mut server, _) = server();

        let offered: Vec<Ipv4Addr> = (1..=3).map(|last| bind(&mut server, mac(last)).yiaddr).collect();

        let expected: Vec<Ipv4Addr> = (100..=102).map(|last| Ipv4Addr::new(192, 168, 90, last)).collect();
        assert_eq!(offered, expected);
    }

    #[test]
    fn server_reoffers_address_freed_below_scan() {
        let (mut server, _) = server();
        let relayed = |mut message: Message| {
            message.giaddr = GIADDR;
            message
        };
        let offer = |server: &mut Server<ManualClock>, last: u8| reply(server.handle(&relayed(discover(mac(last))), interface())).message.yiaddr;
        let first = offer(&mut server, 1);
        server.handle(&relayed(selecting(mac(1), first)), interface());
        let second = offer(&mut server, 2);

        // A DHCPREQUEST for another server drops the offer to mac(2), so its address
        // was never bound and is the first choice for the next client.
        let mut elsewhere = relayed(selecting(mac(2), second));
        elsewhere.options.server_id = Some(Ipv4Addr::new(192, 168, 91, 9));
        server.handle(&elsewhere, interface());
        let third = offer(&mut server, 3);

        assert_eq!(first, Ipv4Addr::new(192, 168, 91, 100));
        assert_eq!(second, Ipv4Addr::new(192, 168, 91, 101));
        assert_eq!(third, second, "the freed address is offered before later ones");
    }

    #[test]
    fn server_offer_carries_scope_options() {
        let (mut server, _) = server();

        let options = reply(server.handle(&discover(mac(1)), interface())).message.options;

        assert_eq!(options.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(options.routers, [Ipv4Addr::new(192, 168, 90, 254)]);
        assert_eq!(options.dns_servers, [SERVER_ID]);
        assert_eq!(options.domain_name.as_deref(), Some(&b"jcert.info"[..]));
        assert_eq!(options.lease_time, Some(3600));
        assert_eq!(options.server_id, Some(SERVER_ID));
    }

    #[test]
    fn server_offer_then_ack() {
        let (mut server, _) = server();
        let offer = reply(server.handle(&discover(mac(1)), interface())).message;

        let ack = reply(server.handle(&selecting(mac(1), offer.yiaddr), interface()));

        assert_eq!(ack.message.message_type, MessageType::Ack);
        assert_eq!(ack.message.yiaddr, offer.yiaddr);
        assert_eq!(ack.message.options.lease_time, Some(3600));
        assert_eq!(ack.message.options.domain_name.as_deref(), Some(&b"jcert.info"[..]));
        assert_eq!(ack.destination, Destination::Broadcast);
        let binding = server.bindings().next().unwrap();
        assert_eq!(binding.state, BindingState::Bound);
        assert_eq!(binding.address, offer.yiaddr);
    }

    #[test]
    fn server_retried_discover_gets_same_address() {
        let (mut server, _) = server();

        let first = reply(server.handle(&discover(mac(1)), interface())).message.yiaddr;
        let again = reply(server.handle(&discover(mac(1)), interface())).message.yiaddr;
        let other = reply(server.handle(&discover(mac(2)), interface())).message.yiaddr;

        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn server_retried_request_gets_same_ack() {
        let (mut server, _) = server();
        let ack = bind(&mut server, mac(1));

        let again = reply(server.handle(&selecting(mac(1), ack.yiaddr), interface())).message;

        assert_eq!(again.message_type, MessageType::Ack);
        assert_eq!(again.yiaddr, ack.yiaddr);
    }

    #[test]
    fn server_bound_client_rediscovering_keeps_address() {
        let (mut server, _) = server();
        let ack = bind(&mut server, mac(1));

        let offer = reply(server.handle(&discover(mac(1)), interface())).message;

        assert_eq!(offer.yiaddr, ack.yiaddr);
        assert_eq!(server.bindings().next().unwrap().state, BindingState::Bound);
    }

    #[test]
    fn server_client_id_keys_the_lease() {
        let (mut server, _) = server();
        let mut first = discover(mac(1));
        first.options.client_id = Some(vec![0xff, 1, 2, 3]);
        let mut second = discover(mac(2));
        second.options.client_id = Some(vec![0xff, 1, 2, 3]);

        let first = reply(server.handle(&first, interface())).message;
        let second = reply(server.handle(&second, interface())).message;

        assert_eq!(first.yiaddr, second.yiaddr);
        assert_eq!(second.options.client_id, Some(vec![0xff, 1, 2, 3]));
    }

    #[test]
    fn server_discover_honours_requested_address() {
        let (mut server, _) = server();
        let mut request = discover(mac(1));
        request.options.requested_address = Some(Ipv4Addr::new(192, 168, 90, 102));

        let offer = reply(server.handle(&request, interface())).message;

        assert_eq!(offer.yiaddr, Ipv4Addr::new(192, 168, 90, 102));
    }

    #[test]
    fn server_init_reboot_foreign_address_naks() {
        let (mut server, _) = server();
        let mut request = client_message(MessageType::Request, mac(1));
        request.options.requested_address = Some(Ipv4Addr::new(10, 0, 0, 5));

        let nak = reply(server.handle(&request, interface()));

        assert_eq!(nak.message.message_type, MessageType::Nak);
        assert_eq!(nak.message.yiaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(nak.message.options.server_id, Some(SERVER_ID));
        assert_eq!(nak.message.options.message.as_deref(), Some(&b"10.0.0.5 is not on subnet 192.168.90.0/24"[..]));
        assert_eq!(nak.message.options.lease_time, None);
        assert_eq!(nak.message.options.subnet_mask, None);
        assert_eq!(nak.destination, Destination::Broadcast);
    }

    #[test]
    fn server_init_reboot_known_lease_acks() {
        let (mut server, _) = server();
        let ack = bind(&mut server, mac(1));
        let mut request = client_message(MessageType::Request, mac(1));
        request.options.requested_address = Some(ack.yiaddr);

        let again = reply(server.handle(&request, interface())).message;

        assert_eq!(again.message_type, MessageType::Ack);
        assert_eq!(again.yiaddr, ack.yiaddr);
    }

    #[test]
    fn server_init_reboot_unknown_client_stays_silent() {
        let (mut server, _) = server();
        let mut request = client_message(MessageType::Request, mac(1));
        request.options.requested_address = Some(Ipv4Addr::new(192, 168, 90, 101));

        let outcome = server.handle(&request, interface());

        let client = ClientKey::Hardware { htype: 1, chaddr: mac(1) };
        let expected = NoReply::NoRecord { client, address: Ipv4Addr::new(192, 168, 90, 101) };
        assert_eq!(outcome, Outcome::Ignored(expected));
    }

    #[test]
    fn server_init_reboot_address_of_other_client_naks() {
        let (mut server, _) = server();
        let ack = bind(&mut server, mac(1));
        let mut request = client_message(MessageType::Request, mac(2));
        request.options.requested_address = Some(ack.yiaddr);

        let nak = reply(server.handle(&request, interface())).message;

        assert_eq!(nak.message_type, MessageType::Nak);
    }

    #[test]
    fn server_selecting_unoffered_address_naks() {
        let (mut server, _) = server();
        reply(server.handle(&discover(mac(1)), interface()));

        let nak = reply(server.handle(&selecting(mac(1), Ipv4Addr::new(192, 168, 90, 102)), interface())).message;

        assert_eq!(nak.message_type, MessageType::Nak);
    }

    #[test]
    fn server_request_for_other_server_drops_offer() {
        let (mut server, _) = server();
        let offer = reply(server.handle(&discover(mac(1)), interface())).message;
        let mut request = selecting(mac(1), offer.yiaddr);
        request.options.server_id = Some(Ipv4Addr::new(192, 168, 90, 2));

        let outcome = server.handle(&request, interface());

        assert_eq!(outcome, Outcome::Recorded);
        assert_eq!(server.bindings().count(), 0);
    }

    #[test]
    fn server_relayed_discover_uses_giaddr_scope() {
        let (mut server, _) = server();
        let mut request = discover(mac(1));
        request.giaddr = GIADDR;
        request.hops = 1;

        let offer = reply(server.handle(&request, interface()));

        assert_eq!(offer.message.yiaddr, Ipv4Addr::new(192, 168, 91, 100));
        assert_eq!(offer.message.giaddr, GIADDR);
        assert_eq!(offer.message.hops, 0);
        assert_eq!(offer.message.options.domain_name.as_deref(), Some(&b"mtkg.jcert.info"[..]));
        assert_eq!(offer.message.options.routers, [Ipv4Addr::new(192, 168, 91, 254)]);
        assert_eq!(offer.message.options.server_id, Some(SERVER_ID));
        assert_eq!(offer.destination, Destination::Relay(GIADDR));
    }

    #[test]
    fn server_answers_dhcrelay_discover_in_giaddr_scope() {
        let (mut server, _) = server();
        let request = Message::parse(include_bytes!("fixtures/dhcrelay-discover.bin")).unwrap();

        let offer = reply(server.handle(&request, interface()));

        assert_eq!(offer.message.yiaddr, Ipv4Addr::new(192, 168, 91, 100));
        assert_eq!(offer.message.options.domain_name.as_deref(), Some(&b"mtkg.jcert.info"[..]));
        assert_eq!(offer.destination, Destination::Relay(GIADDR));
    }

    #[test]
    fn server_relayed_request_acks_in_giaddr_scope() {
        let (mut server, _) = server();
        let mut request = discover(mac(1));
        request.giaddr = GIADDR;
        let offer = reply(server.handle(&request, interface())).message;
        let mut request = selecting(mac(1), offer.yiaddr);
        request.giaddr = GIADDR;

        let ack = reply(server.handle(&request, interface()));

        assert_eq!(ack.message.message_type, MessageType::Ack);
        assert_eq!(ack.message.yiaddr, offer.yiaddr);
        assert_eq!(ack.destination, Destination::Relay(GIADDR));
    }

    #[test]
    fn server_relayed_nak_sets_broadcast_flag() {
        let (mut server, _) = server();
        let mut request = client_message(MessageType::Request, mac(1));
        request.broadcast = false;
        request.giaddr = GIADDR;
        request.options.requested_address = Some(Ipv4Addr::new(192, 168, 90, 100));

        let nak = reply(server.handle(&request, interface()));

        assert_eq!(nak.message.message_type, MessageType::Nak);
        assert!(nak.message.broadcast);
        assert_eq!(nak.destination, Destination::Relay(GIADDR));
    }

    #[test]
    fn server_relayed_from_unknown_subnet_is_dropped() {
        let (mut server, _) = server();
        let mut request = discover(mac(1));
        request.giaddr = Ipv4Addr::new(10, 9, 9, 1);

        let outcome = server.handle(&request, interface());

        assert_eq!(outcome, Outcome::Ignored(NoReply::NoScopeForRelay { giaddr: Ipv4Addr::new(10, 9, 9, 1) }));
    }

    #[test]
    fn server_pool_exhaustion_sends_no_offer() {
        let (mut server, _) = server();
        for last in 1..=3 {
            bind(&mut server, mac(last));
        }

        let outcome = server.handle(&discover(mac(4)), interface());

        let subnet = Ipv4Network::new(Ipv4Addr::new(192, 168, 90, 0), 24).unwrap();
        let (start, end) = (Ipv4Addr::new(192, 168, 90, 100), Ipv4Addr::new(192, 168, 90, 102));
        assert_eq!(outcome, Outcome::Ignored(NoReply::PoolExhausted { subnet, start, end }));
    }

    #[test]
    fn server_expired_lease_is_reused() {
        let (mut server, clock) = server();
        let addresses: Vec<Ipv4Addr> = (1..=3).map(|last| bind(&mut server, mac(last)).yiaddr).collect();

        clock.advance(LEASE + Duration::from_secs(1));
        let offer = reply(server.handle(&discover(mac(4)), interface())).message;

        assert!(addresses.contains(&offer.yiaddr));
    }

    #[test]
    fn server_live_lease_is_not_reused() {
        let (mut server, clock) = server();
        for last in 1..=3 {
            bind(&mut server, mac(last));
        }

        clock.advance(LEASE - Duration::from_secs(1));
        let outcome = server.handle(&discover(mac(4)), interface());

        assert!(matches!(outcome, Outcome::Ignored(NoReply::PoolExhausted { .. })), "{outcome:?}");
    }

    #[test]
    fn server_expired_offer_hold_frees_address() {
        let (mut server, clock) = server();
        for last in 1..=3 {
            reply(server.handle(&discover(mac(last)), interface()));
        }
        assert!(matches!(server.handle(&discover(mac(4)), interface()), Outcome::Ignored(_)));

        clock.advance(OFFER_HOLD + Duration::from_secs(1));
        let offer = reply(server.handle(&discover(mac(4)), interface())).message;

        assert_eq!(offer.message_type, MessageType::Offer);
    }

    #[test]
    fn server_returning_client_prefers_its_expired_address() {
        let (mut server, clock) = server();
        let first = bind(&mut server, mac(1)).yiaddr;
        clock.advance(LEASE * 2);

        let other = reply(server.handle(&discover(mac(2)), interface())).message.yiaddr;
        let again = reply(server.handle(&discover(mac(1)), interface())).message.yiaddr;

        assert_ne!(other, first);
        assert_eq!(again, first);
    }

    #[test]
    fn server_pool_skips_network_server_and_router_addresses() {
        let mut config = config();
        config.scopes[0].range = (Ipv4Addr::new(192, 168, 90, 0), Ipv4Addr::new(192, 168, 90, 3));
        config.scopes[0].router = Some(Ipv4Addr::new(192, 168, 90, 2));
        let mut server = Server::new(config, ManualClock::new()).unwrap();

        let offer = reply(server.handle(&discover(mac(1)), interface())).message;
        let outcome = server.handle(&discover(mac(2)), interface());

        // .0 is the network address, .1 the server, .2 the router: .3 is the only one left.
        assert_eq!(offer.yiaddr, Ipv4Addr::new(192, 168, 90, 3));
        assert!(matches!(outcome, Outcome::Ignored(NoReply::PoolExhausted { .. })), "{outcome:?}");
    }

    #[test]
    fn server_replies_follow_parameter_request_list() {
        let (mut server, _) = server();
        let mut request = discover(mac(1));
        request.options.parameter_request_list = Some(vec![15, 6, 3, 1]);

        let offer = reply(server.handle(&request, interface())).message;
        let bytes = offer.emit().unwrap();

        let codes = option_codes(&bytes[crate::dhcp::wire::OPTIONS_OFFSET..]);
        assert_eq!(codes, [53, 15, 6, 3, 1, 51, 54]);
    }

    #[test]
    fn server_reply_options_default_order() {
        let (mut server, _) = server();

        let offer = reply(server.handle(&discover(mac(1)), interface())).message;
        let bytes = offer.emit().unwrap();

        let codes = option_codes(&bytes[crate::dhcp::wire::OPTIONS_OFFSET..]);
        assert_eq!(codes, [53, 1, 3, 6, 15, 51, 54]);
    }

    #[test]
    fn server_scope_without_optional_options_omits_them() {
        let mut config = config();
        config.scopes[0].router = None;
        config.scopes[0].dns_servers.clear();
        config.scopes[0].domain = None;
        let mut server = Server::new(config, ManualClock::new()).unwrap();

        let offer = reply(server.handle(&discover(mac(1)), interface())).message;
        let bytes = offer.emit().unwrap();

        let codes = option_codes(&bytes[crate::dhcp::wire::OPTIONS_OFFSET..]);
        assert_eq!(codes, [53, 1, 51, 54]);
    }

    #[test]
    fn server_decline_quarantines_address() {
        let (mut server, clock) = server();
        let declined = bind(&mut server, mac(1)).yiaddr;
        let mut decline = client_message(MessageType::Decline, mac(1));
        decline.options.requested_address = Some(declined);
        decline.options.server_id = Some(SERVER_ID);

        let outcome = server.handle(&decline, interface());
        let after = reply(server.handle(&discover(mac(1)), interface())).message.yiaddr;
        clock.advance(DECLINE_QUARANTINE + Duration::from_secs(1));
        let later_clients: Vec<Ipv4Addr> =
            (2..=3).map(|last| reply(server.handle(&discover(mac(last)), interface())).message.yiaddr).collect();

        assert_eq!(outcome, Outcome::Recorded);
        assert_ne!(after, declined);
        assert!(later_clients.contains(&declined), "{later_clients:?}");
    }

    #[test]
    fn server_release_then_discover_gets_same_address() {
        let (mut server, _) = server();
        let ack = bind(&mut server, mac(1));
        let mut release = client_message(MessageType::Release, mac(1));
        release.ciaddr = ack.yiaddr;
        release.options.server_id = Some(SERVER_ID);

        let outcome = server.handle(&release, interface());
        let offer = reply(server.handle(&discover(mac(1)), interface())).message;

        assert_eq!(outcome, Outcome::Recorded);
        assert_eq!(offer.yiaddr, ack.yiaddr);
    }

    #[test]
    fn server_full_pool_reuses_released_address() {
        let (mut server, _) = server();
        let acks: Vec<Message> = (1..=3).map(|last| bind(&mut server, mac(last))).collect();
        let mut release = client_message(MessageType::Release, mac(1));
        release.ciaddr = acks[0].yiaddr;
        release.options.server_id = Some(SERVER_ID);

        server.handle(&release, interface());
        let offer = reply(server.handle(&discover(mac(4)), interface())).message;

        assert_eq!(offer.yiaddr, acks[0].yiaddr);
    }

    #[test]
    fn server_release_for_other_server_is_ignored() {
        let (mut server, _) = server();
        let ack = bind(&mut server, mac(1));
        let mut release = client_message(MessageType::Release, mac(1));
        release.ciaddr = ack.yiaddr;
        release.options.server_id = Some(Ipv4Addr::new(192, 168, 90, 2));

        let outcome = server.handle(&release, interface());

        let message_type = MessageType::Release;
        let server_id = Ipv4Addr::new(192, 168, 90, 2);
        assert_eq!(outcome, Outcome::Ignored(NoReply::OtherServer { message_type, server_id }));
        assert_eq!(server.bindings().next().unwrap().state, BindingState::Bound);
    }

    #[test]
    fn server_renewing_extends_lease() {
        let (mut server, clock) = server();
        let ack = bind(&mut server, mac(1));
        clock.advance(LEASE / 2);
        let mut renew = client_message(MessageType::Request, mac(1));
        renew.ciaddr = ack.yiaddr;
        renew.broadcast = false;

        let renewed = reply(server.handle(&renew, interface()));

        assert_eq!(renewed.message.message_type, MessageType::Ack);
        assert_eq!(renewed.message.yiaddr, ack.yiaddr);
        assert_eq!(renewed.message.ciaddr, ack.yiaddr);
        assert_eq!(renewed.destination, Destination::Client(ack.yiaddr));
        assert_eq!(server.bindings().next().unwrap().expires, clock.now() + LEASE);
    }

    #[test]
    fn server_renewing_address_of_other_client_naks() {
        let (mut server, _) = server();
        let ack = bind(&mut server, mac(1));
        let mut renew = client_message(MessageType::Request, mac(2));
        renew.ciaddr = ack.yiaddr;

        let nak = reply(server.handle(&renew, interface()));

        assert_eq!(nak.message.message_type, MessageType::Nak);
        assert_eq!(nak.destination, Destination::Broadcast);
    }

    #[test]
    fn server_renewing_unknown_free_address_acks() {
        let (mut server, _) = server();
        let mut renew = client_message(MessageType::Request, mac(1));
        renew.ciaddr = Ipv4Addr::new(192, 168, 90, 101);

        let ack = reply(server.handle(&renew, interface())).message;

        assert_eq!(ack.message_type, MessageType::Ack);
        assert_eq!(ack.yiaddr, Ipv4Addr::new(192, 168, 90, 101));
    }

    #[test]
    fn server_request_without_address_is_dropped() {
        let (mut server, _) = server();

        let outcome = server.handle(&client_message(MessageType::Request, mac(1)), interface());

        assert_eq!(outcome, Outcome::Ignored(NoReply::UnclassifiableRequest));
    }

    #[test]
    fn server_inform_acks_without_lease_time() {
        let (mut server, _) = server();
        let mut inform = client_message(MessageType::Inform, mac(1));
        inform.ciaddr = Ipv4Addr::new(192, 168, 91, 20);
        inform.broadcast = false;

        let ack = reply(server.handle(&inform, interface()));

        assert_eq!(ack.message.message_type, MessageType::Ack);
        assert_eq!(ack.message.yiaddr, Ipv4Addr::UNSPECIFIED);
        assert_eq!(ack.message.options.lease_time, None);
        assert_eq!(ack.message.options.domain_name.as_deref(), Some(&b"mtkg.jcert.info"[..]));
        assert_eq!(ack.destination, Destination::Client(Ipv4Addr::new(192, 168, 91, 20)));
        assert_eq!(server.bindings().count(), 0);
    }

    #[test]
    fn server_ignores_server_messages() {
        let (mut server, _) = server();
        let mut offer = client_message(MessageType::Offer, mac(1));

        let as_request = server.handle(&offer, interface());
        offer.op = Op::Reply;
        let as_reply = server.handle(&offer, interface());

        let message_type = MessageType::Offer;
        assert_eq!(as_request, Outcome::Ignored(NoReply::ServerMessage { message_type }));
        assert_eq!(as_reply, Outcome::Ignored(NoReply::NotRequest { message_type }));
    }

    #[test]
    fn server_echoes_relay_agent_information() {
        let (mut server, _) = server();
        let mut request = discover(mac(1));
        request.giaddr = GIADDR;
        request.options.relay_agent_information = Some(vec![1, 3, b'e', b't', b'h']);

        let offer = reply(server.handle(&request, interface())).message;

        assert_eq!(offer.options.relay_agent_information, Some(vec![1, 3, b'e', b't', b'h']));
    }

    #[test]
    fn server_config_rejects_range_outside_subnet() {
        let mut config = config();
        config.scopes[0].range.1 = Ipv4Addr::new(192, 168, 91, 10);

        let error = Server::new(config, ManualClock::new()).unwrap_err();

        assert!(
            matches!(error, ServerError::RangeOutsideSubnet { address, .. } if address == Ipv4Addr::new(192, 168, 91, 10)),
            "{error}"
        );
    }

    #[test]
    fn server_config_rejects_empty_range() {
        let mut config = config();
        config.scopes[0].range = (Ipv4Addr::new(192, 168, 90, 150), Ipv4Addr::new(192, 168, 90, 100));

        let error = Server::new(config, ManualClock::new()).unwrap_err();

        assert!(matches!(error, ServerError::EmptyRange { .. }), "{error}");
    }

    #[test]
    fn server_config_rejects_overlapping_scopes() {
        let mut config = config();
        config.scopes[1].subnet = Ipv4Network::new(Ipv4Addr::new(192, 168, 0, 0), 16).unwrap();
        config.scopes[1].range = (Ipv4Addr::new(192, 168, 91, 100), Ipv4Addr::new(192, 168, 91, 199));

        let error = Server::new(config, ManualClock::new()).unwrap_err();

        assert!(matches!(error, ServerError::OverlappingScopes { .. }), "{error}");
    }

    #[test]
    fn server_config_rejects_zero_lease_time() {
        let mut config = config();
        config.scopes[0].lease_time = Duration::from_millis(500);

        let error = Server::new(config, ManualClock::new()).unwrap_err();

        assert!(matches!(error, ServerError::InvalidLeaseTime { .. }), "{error}");
    }

    /// Option codes in the order they appear, up to the End option.
    fn option_codes(mut bytes: &[u8]) -> Vec<u8> {
        let mut codes = Vec::new();
        while let [code, len, rest @ ..] = bytes {
            if *code == code::END {
                break;
            }
            codes.push(*code);
            bytes = &rest[usize::from(*len)..];
        }
        codes
    }
}
