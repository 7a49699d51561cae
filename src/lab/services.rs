//! Starts the servers' services: the built-in ones on sockets made inside each node's
//! namespace, and the commands that replace them as processes in that namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ipnetwork::Ipv4Network;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;
use tokio_util::sync::CancellationToken;

use super::LabError;
use super::build::Built;
use super::dynamic_dns::{self, ServedZones};
use super::exec;
use super::zones::zones_for;
use crate::net::NodeNet;
use super::chain::ProvisioningChain;
use crate::scs::{ScsConfig, ScsSession};
use crate::topology::{Lab, NODE_INTERFACE, Role, Server};
use crate::{dhcp, dns, scs};

const DNS_PORT: u16 = 53;
const DHCP_SERVER_PORT: u16 = 67;
/// MEBx password the setup server sets; real firmware requires upper and lower case, a
/// digit and a symbol, 8 characters at least.
const LAB_MEBX_PASSWORD: &str = "Lab-Mebx1";
/// Admin password the setup server sets for later management.
const LAB_ADMIN_PASSWORD: &str = "Lab-Admin1";
/// Time the services started so far get to stop when a later one fails to start.
const STOP_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// Running services of a lab.
pub struct Services {
    pub tasks: JoinSet<(String, Result<(), String>)>,
    /// Sessions the setup server finished, one per ME it tried to set up.
    pub sessions: mpsc::Receiver<ScsSession>,
}

/// Starts every service of every server and returns once all sockets are bound and every
/// exec service is ready, so that clients started afterwards find them ready. Exec
/// commands may write to `state_dir` through `{state_dir}` in their arguments.
///
/// When an exec service fails to start, every service started so far is stopped, and its
/// processes are reaped, before the error returns.
pub async fn start(lab: &Lab, built: &Built, chain: &ProvisioningChain, cancel: &CancellationToken, state_dir: &Path) -> Result<Services, LabError> {
    let (session_tx, sessions) = mpsc::channel(64);
    let mut tasks = JoinSet::new();
    let mut served_zones = ServedZones::new();
    let mut lease_feeds = Vec::new();

    for server in &lab.servers {
        let net = NodeNet::in_namespace(built.nodes[&server.name].clone());
        let service = |what: &str| format!("{} {what}", server.name);

        if server.runs_builtin(Role::Dns) {
            let zones = start_dns(lab, server, &net, cancel, &mut tasks).map_err(|source| LabError::Service { service: service("DNS"), source })?;
            served_zones.push((server.name.clone(), zones));
        }
        if server.runs_builtin(Role::DhcpServer) {
            let leases = start_dhcp_server(lab, server, &net, cancel, &mut tasks).map_err(|source| LabError::Service { service: service("DHCP server"), source })?;
            lease_feeds.extend(leases.map(|leases| (server, leases)));
        }
        if let Some(relay) = lab.relays.iter().find(|relay| relay.server == server.name)
            && server.runs_builtin(Role::DhcpRelay)
        {
            start_relay(relay, server, &net, cancel, &mut tasks).map_err(|source| LabError::Service { service: service("DHCP relay"), source })?;
        }
        if lab.setup_server.server == server.name && server.runs_builtin(Role::SetupServer) {
            start_setup_server(lab, chain, &net, session_tx.clone(), cancel, &mut tasks).map_err(|source| LabError::Service { service: service("setup server"), source })?;
        }
    }

    for (server, leases) in lease_feeds {
        start_dynamic_dns(lab, server, leases, served_zones.clone(), cancel, &mut tasks);
    }

    if let Err(error) = start_exec_services(lab, built, state_dir, cancel, &mut tasks).await {
        cancel.cancel();
        stop_started(&mut tasks).await;
        return Err(error);
    }
    Ok(Services { tasks, sessions })
}

/// Starts every `exec:` command of every server, one after the other, each once the one
/// before it is ready.
async fn start_exec_services(lab: &Lab, built: &Built, state_dir: &Path, cancel: &CancellationToken, tasks: &mut Tasks) -> Result<(), LabError> {
    for server in &lab.servers {
        for service in &server.exec {
            let name = format!("{} exec {}", server.name, service.command[0]);
            let namespace = built.nodes[&server.name].clone();
            let process = exec::start(&server.name, service, namespace, state_dir).await.map_err(|error| LabError::Service { service: name.clone(), source: std::io::Error::other(error) })?;

            let cancel = cancel.clone();
            tasks.spawn(async move { (name, process.supervise(cancel).await.map_err(|error| error.to_string())) });
        }
    }
    Ok(())
}

/// Waits for the tasks of services already started to stop after a cancel, and aborts
/// those that take longer than [`STOP_AFTER_FAILURE`].
async fn stop_started(tasks: &mut Tasks) {
    let drained = tokio::time::timeout(STOP_AFTER_FAILURE, async { while tasks.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tasks.abort_all();
    }
}

type Tasks = JoinSet<(String, Result<(), String>)>;

/// Receive buffer of the DHCP and DNS servers' UDP sockets. The default (208 KiB with
/// `net.core.rmem_default`) takes about a hundred DHCP messages, and a fleet's PCs send
/// theirs at once: the kernel drops the rest, and each PC waits out its retransmission
/// timer, seconds under RFC 2131.
const SERVER_RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

/// Raises a server socket's receive buffer to [`SERVER_RECEIVE_BUFFER`]. SO_RCVBUFFORCE
/// passes the `net.core.rmem_max` cap, which needs CAP_NET_ADMIN, as building the lab
/// does; without it the socket keeps its default and a warning is logged.
fn enlarge_receive_buffer(socket: &tokio::net::UdpSocket, service: &str) {
    use nix::sys::socket::{setsockopt, sockopt::RcvBufForce};
    if let Err(errno) = setsockopt(socket, RcvBufForce, &SERVER_RECEIVE_BUFFER) {
        tracing::warn!(service, %errno, "cannot enlarge the receive buffer; a fleet's burst of requests may be dropped");
    }
}

/// Starts the DNS server and returns its zones, to which dynamic DNS adds records.
fn start_dns(lab: &Lab, server: &Server, net: &NodeNet, cancel: &CancellationToken, tasks: &mut Tasks) -> std::io::Result<dns::Zones> {
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, DNS_PORT));
    let udp = net.udp_bind_per_core(any)?;
    for socket in &udp {
        enlarge_receive_buffer(socket, "DNS");
    }
    let tcp = net.tcp_listen(any)?;
    let specs = zones_for(lab, server);
    let count = specs.len();
    let zones = dns::Zones::build(specs).map_err(std::io::Error::other)?;
    let served = zones.clone();
    let name = format!("{} DNS", server.name);

    tracing::info!(node = %server.name, zones = count, "starting DNS server");
    let cancel = cancel.clone();
    let span = service_span(&server.name, "dns");
    tasks.spawn(async move { (name, dns::serve(zones, udp, tcp, cancel).await.map_err(|error| error.to_string())) }.instrument(span));
    Ok(served)
}

/// Starts the DHCP server, and returns the stream of leases it grants when one of its
/// scopes has dynamic DNS on.
fn start_dhcp_server(lab: &Lab, server: &Server, net: &NodeNet, cancel: &CancellationToken, tasks: &mut Tasks) -> std::io::Result<Option<mpsc::UnboundedReceiver<dhcp::LeaseEvent>>> {
    let socket = net.udp_bind_broadcast(DHCP_SERVER_PORT, NODE_INTERFACE)?;
    enlarge_receive_buffer(&socket, "DHCP server");
    let own_scopes: Vec<_> = lab.scopes.iter().filter(|scope| scope.server == server.name).cloned().collect();
    let (lease_tx, leases) = match dynamic_dns::any_scope_registers(&own_scopes) {
        true => {
            let (sender, receiver) = mpsc::unbounded_channel();
            (Some(sender), Some(receiver))
        }
        false => (None, None),
    };
    let scopes = own_scopes.iter().map(dhcp_scope).collect();
    let config = dhcp::ServerConfig { server_id: server.address, scopes, addressing: dhcp::Addressing::default() };
    let prefix = lab.vlan(server.vlan).expect("VLAN checked by the resolver").subnet.prefix();
    let local = Ipv4Network::new(server.address, prefix).expect("prefix checked by the resolver");
    let name = format!("{} DHCP server", server.name);

    tracing::info!(node = %server.name, "starting DHCP server");
    let cancel = cancel.clone();
    let span = service_span(&server.name, "dhcp-server");
    tasks.spawn(async move { (name, dhcp::serve_server(config, socket, local, cancel, lease_tx).await.map_err(|error| error.to_string())) }.instrument(span));
    Ok(leases)
}

fn start_dynamic_dns(lab: &Lab, server: &Server, leases: mpsc::UnboundedReceiver<dhcp::LeaseEvent>, zones: ServedZones, cancel: &CancellationToken, tasks: &mut Tasks) {
    let scopes = lab.scopes.iter().filter(|scope| scope.server == server.name).cloned().collect();
    let name = format!("{} dynamic DNS", server.name);
    let span = service_span(&server.name, "dhcp-server");

    tracing::info!(node = %server.name, dns_servers = zones.len(), "registering leases in DNS");
    let cancel = cancel.clone();
    tasks.spawn(async move { (name, dynamic_dns::follow_leases(scopes, leases, zones, cancel).await) }.instrument(span));
}

fn dhcp_scope(scope: &crate::topology::Scope) -> dhcp::Scope {
    dhcp::Scope {
        subnet: scope.subnet,
        range: scope.range,
        router: scope.router,
        dns_servers: scope.dns_servers.clone(),
        domain: scope.option15_raw.clone().or_else(|| scope.domain.as_ref().map(|domain| domain.as_str().as_bytes().to_vec())),
        lease_time: scope.lease_time,
    }
}

fn start_relay(relay: &crate::topology::Relay, server: &Server, net: &NodeNet, cancel: &CancellationToken, tasks: &mut Tasks) -> std::io::Result<()> {
    let socket = net.udp_bind_broadcast(DHCP_SERVER_PORT, NODE_INTERFACE)?;
    enlarge_receive_buffer(&socket, "DHCP relay");
    let config = dhcp::RelayConfig { giaddr: relay.giaddr, servers: vec![relay.dhcp_server_address], addressing: dhcp::Addressing::default() };
    let name = format!("{} DHCP relay", server.name);

    tracing::info!(node = %server.name, giaddr = %relay.giaddr, server = %relay.dhcp_server_address, "starting DHCP relay");
    let cancel = cancel.clone();
    let span = service_span(&server.name, "dhcp-relay");
    tasks.spawn(async move { (name, dhcp::serve_relay(config, socket, cancel).await.map_err(|error| error.to_string())) }.instrument(span));
    Ok(())
}

fn start_setup_server(lab: &Lab, chain: &ProvisioningChain, net: &NodeNet, sessions: mpsc::Sender<ScsSession>, cancel: &CancellationToken, tasks: &mut Tasks) -> std::io::Result<()> {
    let listener = net.tcp_listen(SocketAddr::from((Ipv4Addr::UNSPECIFIED, lab.setup_server.port)))?;
    let mut config = ScsConfig::new(chain.sent.clone(), chain.key.clone_key(), LAB_MEBX_PASSWORD, LAB_ADMIN_PASSWORD);
    config.stand_in_key = chain.stand_in_key.as_ref().map(|key| key.clone_key());
    let config = Arc::new(config);
    let name = format!("{} setup server", lab.setup_server.server);

    tracing::info!(node = %lab.setup_server.server, port = lab.setup_server.port, "starting setup server");
    let (net, cancel) = (net.clone(), cancel.clone());
    let span = service_span(&lab.setup_server.server, "setup-server");
    tasks.spawn(
        async move { (name, scs::serve(config, net, listener, sessions, cancel).await.map_err(|error| error.to_string())) }.instrument(span),
    );
    Ok(())
}

/// The span around one node service; `--log-dir` writes one file per such span.
pub fn service_span(node: &str, service: &str) -> tracing::Span {
    tracing::info_span!("service", node = %node, service = %service)
}
