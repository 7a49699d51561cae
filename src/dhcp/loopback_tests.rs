//! Server, relay and client over real UDP sockets on 127.0.0.0/8.
//!
//! Each service binds its own loopback address. The server port is a free port shared by
//! server and relay, the client port the client socket's own, and each `broadcast` is the
//! unicast address of the peer that would hear the broadcast on a segment.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use ipnetwork::Ipv4Network;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::wire::{Message, MessageType, Op, Options};
use super::*;

const MAC: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x5e];
const LEASE: Duration = Duration::from_secs(3600);

fn scope(third: u8, domain: &[u8]) -> Scope {
    Scope {
        subnet: Ipv4Network::new(Ipv4Addr::new(127, 0, third, 0), 24).unwrap(),
        range: (Ipv4Addr::new(127, 0, third, 100), Ipv4Addr::new(127, 0, third, 110)),
        router: Some(Ipv4Addr::new(127, 0, third, 254)),
        dns_servers: vec![Ipv4Addr::new(127, 0, third, 1)],
        domain: Some(domain.to_vec()),
        lease_time: LEASE,
    }
}

fn client_config(port: u16, server: Ipv4Addr, client_port: u16) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_millis(300),
        attempts: 3,
        addressing: Addressing { server_port: port, client_port, broadcast: server },
        ..ClientConfig::new(MAC)
    }
}

/// Shows the services' logs when a test fails.
fn show_logs() {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("vprolab=debug").try_init();
}

async fn bind(address: Ipv4Addr, port: u16) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(SocketAddrV4::new(address, port)).await
}

/// Binds a server socket on a free port, and the relay's on the same port.
async fn bind_server_and_relay(server: Ipv4Addr, relay: Ipv4Addr) -> (UdpSocket, UdpSocket, u16) {
    for _ in 0..20 {
        let server_socket = bind(server, 0).await.unwrap();
        let port = server_socket.local_addr().unwrap().port();
        if let Ok(relay_socket) = bind(relay, port).await {
            return (server_socket, relay_socket, port);
        }
    }
    panic!("no port free on both {server} and {relay}");
}

/// Sends datagrams that are not valid DHCP messages, which the service must drop.
async fn send_malformed(to: SocketAddrV4) {
    let socket = bind(Ipv4Addr::LOCALHOST, 0).await.unwrap();
    let mut bad_cookie = vec![1; 300];
    bad_cookie[236..240].copy_from_slice(&[1, 2, 3, 4]);

    for datagram in [vec![1, 1, 6], bad_cookie] {
        socket.send_to(&datagram, to).await.unwrap();
    }
}

#[tokio::test]
async fn loopback_client_gets_lease_through_relay() {
    show_logs();
    let server_address = Ipv4Addr::new(127, 0, 90, 1);
    let relay_address = Ipv4Addr::new(127, 0, 91, 1);
    let client_address = Ipv4Addr::new(127, 0, 91, 50);
    let (server_socket, relay_socket, port) = bind_server_and_relay(server_address, relay_address).await;
    let client_socket = bind(client_address, 0).await.unwrap();
    let client_port = client_socket.local_addr().unwrap().port();
    let addressing = Addressing { server_port: port, client_port, broadcast: client_address };
    let shutdown = CancellationToken::new();

    let server_config = ServerConfig {
        server_id: server_address,
        scopes: vec![scope(90, b"jcert.info"), scope(91, b"mtkg.jcert.info.\0")],
        addressing,
    };
    let local = Ipv4Network::new(server_address, 24).unwrap();
    let server = tokio::spawn(serve_server(server_config, server_socket, local, shutdown.clone(), None));
    let relay_config = RelayConfig { giaddr: relay_address, servers: vec![server_address], addressing };
    let relay = tokio::spawn(serve_relay(relay_config, relay_socket, shutdown.clone()));
    send_malformed(SocketAddrV4::new(server_address, port)).await;
    send_malformed(SocketAddrV4::new(relay_address, port)).await;

    let lease = acquire(&client_config(port, relay_address, client_port), &client_socket).await.unwrap();
    shutdown.cancel();

    assert!((100..=110).contains(&lease.address.octets()[3]), "{lease:?}");
    assert_eq!(lease.address.octets()[..3], [127, 0, 91]);
    assert_eq!(lease.prefix_len, 24);
    assert_eq!(lease.router, Some(Ipv4Addr::new(127, 0, 91, 254)));
    assert_eq!(lease.dns_servers, [Ipv4Addr::new(127, 0, 91, 1)]);
    assert_eq!(lease.domain.as_deref(), Some(&b"mtkg.jcert.info.\0"[..]));
    assert_eq!(lease.lease_time, LEASE);
    assert_eq!(lease.server_id, server_address);
    assert_eq!(lease.relay, Some(relay_address));
    assert!(server.await.unwrap().is_ok());
    assert!(relay.await.unwrap().is_ok());
}

#[tokio::test]
async fn loopback_client_gets_lease_from_server_on_segment() {
    show_logs();
    let server_address = Ipv4Addr::new(127, 0, 80, 1);
    let client_address = Ipv4Addr::new(127, 0, 80, 50);
    let server_socket = bind(server_address, 0).await.unwrap();
    let port = server_socket.local_addr().unwrap().port();
    let client_socket = bind(client_address, 0).await.unwrap();
    let client_port = client_socket.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();

    let server_config = ServerConfig {
        server_id: server_address,
        scopes: vec![scope(80, b"jcert.info"), scope(81, b"mtkg.jcert.info")],
        addressing: Addressing { server_port: port, client_port, broadcast: client_address },
    };
    let local = Ipv4Network::new(server_address, 24).unwrap();
    let server = tokio::spawn(serve_server(server_config, server_socket, local, shutdown.clone(), None));

    let lease = acquire(&client_config(port, server_address, client_port), &client_socket).await.unwrap();
    shutdown.cancel();

    assert_eq!(lease.address.octets()[..3], [127, 0, 80]);
    assert_eq!(lease.domain.as_deref(), Some(&b"jcert.info"[..]));
    assert_eq!(lease.relay, None);
    assert!(server.await.unwrap().is_ok());
}

#[tokio::test]
async fn loopback_client_without_server_times_out() {
    let silent = bind(Ipv4Addr::new(127, 0, 70, 1), 0).await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let client_socket = bind(Ipv4Addr::new(127, 0, 70, 50), 0).await.unwrap();
    let client_port = client_socket.local_addr().unwrap().port();
    let config = ClientConfig {
        timeout: Duration::from_millis(50),
        attempts: 2,
        ..client_config(port, Ipv4Addr::new(127, 0, 70, 1), client_port)
    };

    let started = std::time::Instant::now();
    let error = acquire(&config, &client_socket).await.unwrap_err();

    assert!(matches!(error, ClientError::NoOffer { attempts: 2 }), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(150), "{:?}", started.elapsed());
    let mut buffer = [0; 1500];
    let (len, _) = silent.recv_from(&mut buffer).await.unwrap();
    assert_eq!(Message::parse(&buffer[..len]).unwrap().message_type, MessageType::Discover);
}

/// A server that offers an address and then refuses it, every time.
async fn offer_then_nak(socket: UdpSocket, client: SocketAddrV4) {
    let mut buffer = [0; 1500];
    loop {
        let (len, _) = socket.recv_from(&mut buffer).await.unwrap();
        let request = Message::parse(&buffer[..len]).unwrap();
        let (message_type, yiaddr) = match request.message_type {
            MessageType::Discover => (MessageType::Offer, Ipv4Addr::new(127, 0, 60, 100)),
            _ => (MessageType::Nak, Ipv4Addr::UNSPECIFIED),
        };

        let options = Options {
            server_id: Some(Ipv4Addr::new(127, 0, 60, 1)),
            message: Some(b"address taken".to_vec()),
            ..Options::default()
        };
        let reply = Message { op: Op::Reply, message_type, yiaddr, options, ..request };
        socket.send_to(&reply.emit().unwrap(), client).await.unwrap();
    }
}

#[tokio::test]
async fn loopback_client_restarts_after_nak() {
    let server_socket = bind(Ipv4Addr::new(127, 0, 60, 1), 0).await.unwrap();
    let port = server_socket.local_addr().unwrap().port();
    let client_address = Ipv4Addr::new(127, 0, 60, 50);
    let client_socket = bind(client_address, 0).await.unwrap();
    let client_port = client_socket.local_addr().unwrap().port();
    let fake = tokio::spawn(offer_then_nak(server_socket, SocketAddrV4::new(client_address, client_port)));

    let config = client_config(port, Ipv4Addr::new(127, 0, 60, 1), client_port);
    let error = acquire(&config, &client_socket).await.unwrap_err();
    fake.abort();

    let expected_server = Ipv4Addr::new(127, 0, 60, 1);
    assert!(
        matches!(&error, ClientError::Nak { server_id, naks: 3, reason } if *server_id == expected_server && reason == "address taken"),
        "{error}"
    );
}
