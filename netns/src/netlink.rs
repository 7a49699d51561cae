//! An rtnetlink connection whose socket lives in one network namespace, with one method
//! per `ip` command that a lab needs.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use futures::TryStreamExt;
use ipnetwork::Ipv4Network;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{BridgeStpState, InfoData, InfoVeth, LinkMessage};
use netlink_packet_route::route::RouteMessage;
use nix::errno::Errno;
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use tokio::runtime;
use tokio::task::JoinHandle;

use crate::link::check_link_name;
use crate::{Error, Link, MacAddr, Namespace, VethPair};

/// Attempts per request while the kernel replies with EBUSY or EAGAIN.
const MAX_ATTEMPTS: u32 = 5;

/// Interval between link dumps while waiting for links to become ready.
const READY_POLL: Duration = Duration::from_millis(2);

/// Wait before the first retry, doubled before each next one (10, 20, 40, 80 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// 0.0.0.0/0, the destination of the default route.
const DEFAULT_DESTINATION: Ipv4Network = match Ipv4Network::new_checked(Ipv4Addr::UNSPECIFIED, 0) {
    Some(network) => network,
    None => panic!("0 is a valid IPv4 prefix length"),
};

/// An rtnetlink connection bound to one network namespace.
///
/// Every request acts on the namespace the socket was created in, whichever thread or
/// task sends it. Requests that fail with EBUSY or EAGAIN are sent again, up to
/// 5 attempts in all with a doubling backoff. Dropping the `Netlink` stops its connection
/// task and closes the socket, which releases the socket's hold on the namespace.
#[derive(Debug)]
pub struct Netlink {
    namespace: String,
    handle: Handle,
    connection: JoinHandle<()>,
}

impl Netlink {
    /// Opens a netlink socket inside `namespace` and spawns its connection task on the
    /// current tokio runtime, which must have I/O enabled.
    ///
    /// The socket is created on a short-lived thread inside the namespace, so the calling
    /// thread, typically a tokio worker, never changes namespace.
    pub fn connect(namespace: &Namespace) -> Result<Self, Error> {
        let runtime = runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;

        // Registering the socket with the reactor needs the runtime's context on the
        // thread that creates it.
        let open = || {
            let _context = runtime.enter();
            rtnetlink::new_connection()
        };
        let (connection, handle, _) = namespace.run(open)?.map_err(|source| Error::Connect {
            namespace: namespace.name().to_owned(),
            source,
        })?;

        Ok(Self::start(namespace.name(), &runtime, connection, handle))
    }

    /// Opens a netlink socket in the namespace of the calling thread. `label` names that
    /// namespace in errors.
    pub(crate) fn connect_here(label: &str) -> Result<Self, Error> {
        let runtime = runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(|source| Error::Connect {
                namespace: label.to_owned(),
                source,
            })?;

        Ok(Self::start(label, &runtime, connection, handle))
    }

    fn start<C>(namespace: &str, runtime: &runtime::Handle, connection: C, handle: Handle) -> Self
    where
        C: Future<Output = ()> + Send + 'static,
    {
        let connection = runtime.spawn(connection);
        Self {
            namespace: namespace.to_owned(),
            handle,
            connection,
        }
    }

    /// Returns the name of the namespace this connection acts on.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Brings a link up: `ip link set LINK up`. Works on `lo` too.
    pub async fn set_up(&self, link: &str) -> Result<(), Error> {
        check_link_name(link)?;
        let command = format!("ip link set {link} up");
        let message = LinkUnspec::new_with_name(link).up().build();

        let result = self
            .send(&command, || {
                self.handle.link().set(message.clone()).execute()
            })
            .await;
        result.map_err(|error| match errno_of(&error) {
            Some(Errno::ENODEV) => self.link_not_found(link),
            _ => self.failure(command, error),
        })
    }

    /// Adds a bridge, down: `ip link add NAME type bridge stp_state 0 forward_delay 0`.
    ///
    /// STP off and a forward delay of 0 let a port forward as soon as it is up, instead of
    /// after the listening and learning states (15 s each by default).
    pub async fn add_bridge(&self, name: &str) -> Result<(), Error> {
        check_link_name(name)?;
        let command = format!("ip link add {name} type bridge stp_state 0 forward_delay 0");
        let message = LinkMessageBuilder::<LinkBridge>::new(name)
            .stp_state(BridgeStpState::Disabled)
            .forward_delay(0)
            .build();

        let result = self
            .send(&command, || {
                self.handle.link().add(message.clone()).execute()
            })
            .await;
        result.map_err(|error| match errno_of(&error) {
            Some(Errno::EEXIST) => self.link_exists(name),
            _ => self.failure(command, error),
        })
    }

    /// Sets a link's MAC address: `ip link set LINK address MAC`.
    ///
    /// On a bridge this also stops the kernel from taking the lowest MAC of its ports as
    /// the bridge's own, which it otherwise does again each time a port joins or leaves.
    pub async fn set_mac(&self, link: &str, mac: MacAddr) -> Result<(), Error> {
        check_link_name(link)?;
        let command = format!("ip link set {link} address {mac}");
        let message = LinkUnspec::new_with_name(link)
            .address(mac.octets().to_vec())
            .build();

        let result = self
            .send(&command, || {
                self.handle.link().set(message.clone()).execute()
            })
            .await;
        result.map_err(|error| match errno_of(&error) {
            Some(Errno::ENODEV) => self.link_not_found(link),
            _ => self.failure(command, error),
        })
    }

    /// Adds a veth pair, both ends down:
    /// `ip link add NAME [address MAC] type veth peer name PEER [address PEER_MAC] netns PEER_NS`.
    ///
    /// The kernel creates the peer directly in `pair.peer_namespace` (IFLA_NET_NS_FD in the
    /// peer's attributes), so no end ever exists in any other namespace.
    pub async fn add_veth(&self, pair: &VethPair<'_>) -> Result<(), Error> {
        check_link_name(pair.name)?;
        check_link_name(pair.peer_name)?;
        let command = veth_command(pair);
        let message = veth_message(pair);

        self.send_veth(pair, command, message).await
    }

    /// Adds a veth pair whose local end is up and already a port of the bridge with index
    /// `bridge_index`, in one request:
    /// `ip link add NAME [address MAC] master BRIDGE up type veth peer name PEER
    /// [address PEER_MAC] netns PEER_NS`.
    ///
    /// The kernel applies IFF_UP and IFLA_MASTER to the local end while it creates it,
    /// which saves the requests of [`Netlink::attach_to_bridge`] and [`Netlink::set_up`].
    /// The peer stays down: the kernel opens it before the pair is joined, and veth
    /// refuses to open without its peer (ENOTCONN). Bring it up from its own namespace,
    /// for instance with [`crate::Namespace::set_link_up`].
    pub async fn add_veth_port(&self, pair: &VethPair<'_>, bridge_index: u32) -> Result<(), Error> {
        check_link_name(pair.name)?;
        check_link_name(pair.peer_name)?;
        let command = format!("{} (master index {bridge_index}, up)", veth_command(pair));
        let message = veth_port_message(pair, bridge_index);

        self.send_veth(pair, command, message).await
    }

    /// Sends the request that creates a veth pair, naming the pair in the error when one
    /// of its links exists already.
    async fn send_veth(&self, pair: &VethPair<'_>, command: String, message: LinkMessage) -> Result<(), Error> {
        let result = self
            .send(&command, || {
                self.handle.link().add(message.clone()).execute()
            })
            .await;
        result.map_err(|error| match errno_of(&error) {
            Some(Errno::EEXIST) => Error::VethExists {
                namespace: self.namespace.clone(),
                link: pair.name.to_owned(),
                peer_namespace: pair.peer_namespace.name().to_owned(),
                peer: pair.peer_name.to_owned(),
            },
            _ => self.failure(command, error),
        })
    }

    /// Makes `port` a port of `bridge`: `ip link set PORT master BRIDGE`.
    pub async fn attach_to_bridge(&self, port: &str, bridge: &str) -> Result<(), Error> {
        check_link_name(port)?;
        let bridge_index = self.link(bridge).await?.index;
        let command = format!("ip link set {port} master {bridge}");
        let message = LinkUnspec::new_with_name(port)
            .controller(bridge_index)
            .build();

        let result = self
            .send(&command, || {
                self.handle.link().set(message.clone()).execute()
            })
            .await;
        result.map_err(|error| match errno_of(&error) {
            Some(Errno::ENODEV) => self.link_not_found(port),
            _ => self.failure(command, error),
        })
    }

    /// Adds an IPv4 address with its subnet broadcast: `ip addr add ADDRESS brd + dev LINK`.
    ///
    /// `address` keeps its host bits: 192.168.90.1/24 is the address 192.168.90.1 in
    /// 192.168.90.0/24.
    pub async fn add_address(&self, link: &str, address: Ipv4Network) -> Result<(), Error> {
        let index = self.link(link).await?.index;
        let command = format!("ip addr add {address} brd + dev {link}");
        let ip = IpAddr::V4(address.ip());

        let add = || {
            self.handle
                .address()
                .add(index, ip, address.prefix())
                .execute()
        };
        let result = self.send(&command, add).await;
        result.map_err(|error| match errno_of(&error) {
            Some(Errno::EEXIST) => Error::AddressExists {
                namespace: self.namespace.clone(),
                link: link.to_owned(),
                address,
            },
            _ => self.failure(command, error),
        })
    }

    /// Removes every IPv4 address of a link: `ip -4 addr flush dev LINK`.
    pub async fn flush_addresses(&self, link: &str) -> Result<(), Error> {
        let index = self.link(link).await?.index;
        let command = format!("ip -4 addr flush dev {link}");

        let dump = || {
            self.handle
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect()
        };
        let addresses: Vec<AddressMessage> = self
            .send(&command, dump)
            .await
            .map_err(|error| self.failure(command.clone(), error))?;

        for address in addresses
            .into_iter()
            .filter(|address| address.header.family == AddressFamily::Inet)
        {
            self.delete_address(&command, address).await?;
        }
        Ok(())
    }

    async fn delete_address(&self, command: &str, address: AddressMessage) -> Result<(), Error> {
        let result = self
            .send(command, || {
                self.handle.address().del(address.clone()).execute()
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            // Deleting a primary address also deletes its secondaries, unless
            // promote_secondaries is on, so a later one may be gone already.
            Err(error) if errno_of(&error) == Some(Errno::EADDRNOTAVAIL) => Ok(()),
            Err(error) => Err(self.failure(command.to_owned(), error)),
        }
    }

    /// Adds the default route: `ip route add default via GATEWAY`.
    pub async fn add_default_route(&self, gateway: Ipv4Addr) -> Result<(), Error> {
        let command = format!("ip route add default via {gateway}");
        let message = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();

        self.add_route_message(command, DEFAULT_DESTINATION, message)
            .await
    }

    /// Adds a route to a prefix: `ip route add DESTINATION via GATEWAY`.
    ///
    /// Fails with [`Error::HostBitsSet`] when `destination` is not a network address, as
    /// in 10.0.2.1/24, which the kernel would reject with a bare EINVAL.
    pub async fn add_route(
        &self,
        destination: Ipv4Network,
        gateway: Ipv4Addr,
    ) -> Result<(), Error> {
        if destination.ip() != destination.network() {
            // Never falls back: the prefix comes from a valid network.
            let network = Ipv4Network::new_checked(destination.network(), destination.prefix())
                .unwrap_or(destination);
            return Err(Error::HostBitsSet {
                destination,
                network,
            });
        }

        let command = format!("ip route add {destination} via {gateway}");
        let message = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(destination.ip(), destination.prefix())
            .gateway(gateway)
            .build();

        self.add_route_message(command, destination, message).await
    }

    async fn add_route_message(
        &self,
        command: String,
        destination: Ipv4Network,
        message: RouteMessage,
    ) -> Result<(), Error> {
        let result = self
            .send(&command, || {
                self.handle.route().add(message.clone()).execute()
            })
            .await;
        result.map_err(|error| match errno_of(&error) {
            Some(Errno::EEXIST) => Error::RouteExists {
                namespace: self.namespace.clone(),
                destination,
            },
            _ => self.failure(command, error),
        })
    }

    /// Sets a permanent neighbour (ARP) entry:
    /// `ip neigh replace ADDRESS lladdr MAC dev LINK nud permanent`.
    ///
    /// It replaces rather than adds, because ARP traffic may already have created a
    /// dynamic entry for the address, and a permanent entry must win over it.
    pub async fn add_neighbour(
        &self,
        link: &str,
        address: Ipv4Addr,
        mac: MacAddr,
    ) -> Result<(), Error> {
        let index = self.link(link).await?.index;
        let command = format!("ip neigh replace {address} lladdr {mac} dev {link} nud permanent");
        let octets = mac.octets();

        let replace = || {
            let request = self.handle.neighbours().add(index, IpAddr::V4(address));
            request.link_layer_address(&octets).replace().execute()
        };
        let result = self.send(&command, replace).await;
        result.map_err(|error| self.failure(command, error))
    }

    /// Looks up one link by name, for its index and MAC: `ip link show NAME`.
    pub async fn link(&self, name: &str) -> Result<Link, Error> {
        check_link_name(name)?;
        let command = format!("ip link show {name}");

        let get = || {
            self.handle
                .link()
                .get()
                .match_name(name)
                .execute()
                .try_collect()
        };
        let messages: Vec<LinkMessage> =
            self.send(&command, get)
                .await
                .map_err(|error| match errno_of(&error) {
                    Some(Errno::ENODEV) => self.link_not_found(name),
                    _ => self.failure(command.clone(), error),
                })?;

        messages
            .iter()
            .find_map(Link::from_message)
            .ok_or_else(|| self.link_not_found(name))
    }

    /// Lists every link of the namespace: `ip link show`.
    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        let command = "ip link show";

        let dump = || self.handle.link().get().execute().try_collect();
        let messages: Vec<LinkMessage> = self
            .send(command, dump)
            .await
            .map_err(|error| self.failure(command.to_owned(), error))?;

        Ok(messages.iter().filter_map(Link::from_message).collect())
    }

    /// Waits until every link in `names` is ready to carry traffic: operationally up and,
    /// for a bridge port, forwarding.
    ///
    /// A veth end brought up before its peer has no carrier, so the kernel gives it its
    /// queueing discipline only when the link watcher later sees the carrier, and a bridge
    /// may already flood frames to it. Until then the link drops every frame it transmits
    /// (QDISC_DROP), such as a DHCPOFFER to a client that just sent its DHCPDISCOVER.
    pub async fn wait_ready(&self, names: &[&str], timeout: Duration) -> Result<(), Error> {
        let started = tokio::time::Instant::now();
        loop {
            let links = self.links().await?;
            let ready: HashSet<&str> = links.iter().filter(|link| link.oper_up && link.forwarding != Some(false)).map(|link| link.name.as_str()).collect();
            let pending: Vec<String> = names.iter().filter(|name| !ready.contains(*name)).map(|name| (*name).to_owned()).collect();

            if pending.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                let waited_ms = started.elapsed().as_millis() as u64;
                return Err(Error::LinksNotReady { namespace: self.namespace().to_owned(), links: pending, waited_ms });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Deletes a link: `ip link del NAME`. Deleting one end of a veth pair deletes both.
    pub async fn delete_link(&self, name: &str) -> Result<(), Error> {
        check_link_name(name)?;
        let command = format!("ip link del {name}");
        let message = LinkUnspec::new_with_name(name).build();

        let delete = || {
            self.handle
                .link()
                .del_with_message(message.clone())
                .execute()
        };
        let result = self.send(&command, delete).await;
        result.map_err(|error| match errno_of(&error) {
            Some(Errno::ENODEV) => self.link_not_found(name),
            _ => self.failure(command, error),
        })
    }

    async fn send<T, F, Fut>(&self, command: &str, request: F) -> Result<T, rtnetlink::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, rtnetlink::Error>>,
    {
        tracing::debug!(namespace = %self.namespace, command, "sending netlink request");
        retry_transient(&self.namespace, command, request).await
    }

    fn failure(&self, command: String, error: rtnetlink::Error) -> Error {
        let namespace = self.namespace.clone();
        match errno_of(&error) {
            Some(errno) => Error::Netlink {
                namespace,
                command,
                errno,
            },
            None => Error::NetlinkProtocol {
                namespace,
                command,
                source: error,
            },
        }
    }

    fn link_not_found(&self, link: &str) -> Error {
        Error::LinkNotFound {
            namespace: self.namespace.clone(),
            link: link.to_owned(),
        }
    }

    fn link_exists(&self, link: &str) -> Error {
        Error::LinkExists {
            namespace: self.namespace.clone(),
            link: link.to_owned(),
        }
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

fn veth_command(pair: &VethPair<'_>) -> String {
    let address =
        |mac: Option<MacAddr>| mac.map(|mac| format!(" address {mac}")).unwrap_or_default();
    format!(
        "ip link add {}{} type veth peer name {}{} netns {}",
        pair.name,
        address(pair.mac),
        pair.peer_name,
        address(pair.peer_mac),
        pair.peer_namespace.name(),
    )
}

fn veth_message(pair: &VethPair<'_>) -> LinkMessage {
    let peer_fd = pair.peer_namespace.as_fd().as_raw_fd();
    let mut peer = LinkUnspec::new_with_name(pair.peer_name).setns_by_fd(peer_fd);
    if let Some(mac) = pair.peer_mac {
        peer = peer.address(mac.octets().to_vec());
    }

    let peer = InfoData::Veth(InfoVeth::Peer(peer.build()));
    let mut local = LinkVeth::new(pair.name, pair.peer_name).set_info_data(peer);
    if let Some(mac) = pair.mac {
        local = local.address(mac.octets().to_vec());
    }
    local.build()
}

fn veth_port_message(pair: &VethPair<'_>, bridge_index: u32) -> LinkMessage {
    let peer_fd = pair.peer_namespace.as_fd().as_raw_fd();
    let mut peer = LinkUnspec::new_with_name(pair.peer_name).setns_by_fd(peer_fd);
    if let Some(mac) = pair.peer_mac {
        peer = peer.address(mac.octets().to_vec());
    }

    let peer = InfoData::Veth(InfoVeth::Peer(peer.build()));
    let mut local = LinkVeth::new(pair.name, pair.peer_name).set_info_data(peer).controller(bridge_index).up();
    if let Some(mac) = pair.mac {
        local = local.address(mac.octets().to_vec());
    }
    local.build()
}

/// Sends a request built by `request`, and again after a backoff while the kernel replies
/// with EBUSY or EAGAIN, up to [`MAX_ATTEMPTS`] in all.
async fn retry_transient<T, F, Fut>(
    namespace: &str,
    command: &str,
    mut request: F,
) -> Result<T, rtnetlink::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, rtnetlink::Error>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;

    loop {
        match request().await {
            Err(error) if attempt < MAX_ATTEMPTS && is_transient(&error) => {
                tracing::warn!(namespace, command, attempt, ?backoff, %error, "transient netlink error, retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Returns the errno of a netlink error reply, which NLMSG_ERROR carries negated.
fn errno_of(error: &rtnetlink::Error) -> Option<Errno> {
    match error {
        rtnetlink::Error::NetlinkError(message) => {
            message.code.map(|code| Errno::from_raw(-code.get()))
        }
        _ => None,
    }
}

fn is_transient(error: &rtnetlink::Error) -> bool {
    matches!(errno_of(error), Some(Errno::EBUSY | Errno::EAGAIN))
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroI32;

    use rtnetlink::packet_core::ErrorMessage;

    use super::*;

    fn netlink_error(errno: Errno) -> rtnetlink::Error {
        let mut message = ErrorMessage::default();
        message.code = NonZeroI32::new(-(errno as i32));
        rtnetlink::Error::NetlinkError(message)
    }

    #[test]
    fn errno_of_negates_the_reply_code() {
        assert_eq!(errno_of(&netlink_error(Errno::EEXIST)), Some(Errno::EEXIST));
        assert_eq!(errno_of(&rtnetlink::Error::RequestFailed), None);
    }

    /// Runs `retry_transient` on replies that fail with `errors` in turn and then succeed,
    /// and returns its result and the number of requests sent.
    async fn retry_with(errors: &[Errno]) -> (Result<(), rtnetlink::Error>, usize) {
        let mut sent = 0;
        let request = || {
            let reply = match errors.get(sent) {
                Some(errno) => Err(netlink_error(*errno)),
                None => Ok(()),
            };
            sent += 1;
            async move { reply }
        };
        let result = retry_transient("test", "ip link set lo up", request).await;
        (result, sent)
    }

    #[tokio::test]
    async fn retry_transient_resends_after_ebusy_and_eagain() {
        let (result, sent) = retry_with(&[Errno::EBUSY, Errno::EAGAIN]).await;

        assert!(result.is_ok());
        assert_eq!(sent, 3);
    }

    #[tokio::test]
    async fn retry_transient_gives_up_after_max_attempts() {
        let (result, sent) = retry_with(&[Errno::EBUSY; 10]).await;

        assert_eq!(errno_of(&result.unwrap_err()), Some(Errno::EBUSY));
        assert_eq!(sent, MAX_ATTEMPTS as usize);
    }

    #[tokio::test]
    async fn retry_transient_returns_other_errors_at_once() {
        let (result, sent) = retry_with(&[Errno::EEXIST]).await;

        assert_eq!(errno_of(&result.unwrap_err()), Some(Errno::EEXIST));
        assert_eq!(sent, 1);
    }

    #[test]
    fn is_transient_only_for_ebusy_and_eagain() {
        assert!(is_transient(&netlink_error(Errno::EBUSY)));
        assert!(is_transient(&netlink_error(Errno::EAGAIN)));
        assert!(!is_transient(&netlink_error(Errno::EEXIST)));
        assert!(!is_transient(&netlink_error(Errno::ENODEV)));
        assert!(!is_transient(&rtnetlink::Error::RequestFailed));
    }
}
