//! Sockets created inside a node's network namespace.
//!
//! A socket belongs to the namespace of the thread that created it. Every socket a lab
//! service uses is made here, on a short-lived thread inside the node's namespace, and then
//! handed to the shared tokio runtime, whose worker threads never change namespace.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};

/// Where a node's sockets live: a named namespace, or the caller's own namespace (for
/// tests on loopback and for tools that run outside a lab).
#[derive(Clone, Debug)]
pub struct NodeNet {
    namespace: Option<Arc<netns::Namespace>>,
}

impl NodeNet {
    /// Sockets in the namespace of the calling thread.
    pub fn current() -> Self {
        Self { namespace: None }
    }

    pub fn in_namespace(namespace: Arc<netns::Namespace>) -> Self {
        Self { namespace: Some(namespace) }
    }

    pub fn namespace(&self) -> Option<&Arc<netns::Namespace>> {
        self.namespace.as_ref()
    }

    /// Runs `create` inside the node's namespace.
    pub fn create<T, F>(&self, create: F) -> io::Result<T>
    where
        F: FnOnce() -> io::Result<T> + Send,
        T: Send,
    {
        match &self.namespace {
            None => create(),
            Some(namespace) => namespace.run(create).map_err(io::Error::other)?,
        }
    }

    /// Binds a UDP socket. Must be called inside a tokio runtime.
    pub fn udp_bind(&self, addr: SocketAddr) -> io::Result<UdpSocket> {
        let socket = self.create(|| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            socket.set_reuse_address(true)?;
            socket.set_nonblocking(true)?;
            socket.bind(&addr.into())?;
            Ok(socket)
        })?;
        UdpSocket::from_std(socket.into())
    }

    /// Binds one UDP socket per core to `addr`, all with SO_REUSEPORT, so that a server
    /// can receive on each from a task of its own. The kernel hands each datagram to one
    /// socket, chosen by a hash of its source address and port, and wakes only that task.
    /// Must be called inside a tokio runtime.
    pub fn udp_bind_per_core(&self, addr: SocketAddr) -> io::Result<Vec<UdpSocket>> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let sockets = self.create(|| {
            (0..cores)
                .map(|_| {
                    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
                    socket.set_reuse_address(true)?;
                    socket.set_reuse_port(true)?;
                    socket.set_nonblocking(true)?;
                    socket.bind(&addr.into())?;
                    Ok(socket)
                })
                .collect::<io::Result<Vec<Socket>>>()
        })?;
        sockets.into_iter().map(|socket| UdpSocket::from_std(socket.into())).collect()
    }

    /// Binds a UDP socket to `port` on every address, tied to `device` and allowed to send
    /// broadcasts: what DHCP clients, servers and relays need to talk on a segment before
    /// the client has an address. Must be called inside a tokio runtime.
    pub fn udp_bind_broadcast(&self, port: u16, device: &str) -> io::Result<UdpSocket> {
        let socket = self.create(|| {
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            socket.set_reuse_address(true)?;
            socket.set_broadcast(true)?;
            socket.bind_device(Some(device.as_bytes()))?;
            socket.set_nonblocking(true)?;
            socket.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).into())?;
            Ok(socket)
        })?;
        UdpSocket::from_std(socket.into())
    }

    /// Listens on a TCP address. Must be called inside a tokio runtime.
    pub fn tcp_listen(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let listener = self.create(|| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.set_nonblocking(true)?;
            socket.bind(&addr.into())?;
            socket.listen(1024)?;
            Ok(socket)
        })?;
        TcpListener::from_std(listener.into())
    }

    /// Opens a TCP connection from the node to `addr`.
    pub async fn tcp_connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = self.create(|| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })?;

        // The socket is not connected yet; tokio only needs a file descriptor of the right
        // type here, and `connect` below does the handshake inside the node's namespace.
        let socket = TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
        let stream = socket.connect(addr).await?;

        // Provisioning is a chain of small request-response exchanges; with Nagle's
        // algorithm each one waits for the peer's delayed ACK (40 ms on Linux).
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn current_namespace_tcp_round_trip() {
        let net = NodeNet::current();
        let listener = net.tcp_listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();

        let (client, server) = tokio::join!(net.tcp_connect(addr), listener.accept());

        assert_eq!(client.unwrap().peer_addr().unwrap(), addr);
        assert!(server.is_ok());
    }

    #[tokio::test]
    async fn current_namespace_udp_bind() {
        let socket = NodeNet::current().udp_bind("127.0.0.1:0".parse().unwrap()).unwrap();

        assert_ne!(socket.local_addr().unwrap().port(), 0);
    }
}
