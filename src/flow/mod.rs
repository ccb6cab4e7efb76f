//! Flows: which TCP connections are PostgreSQL sessions, and per-direction
//! reassembly of their byte streams.

pub mod reassembly;
pub mod seq;

use std::net::SocketAddr;

/// A TCP connection seen from the server's side of the port list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub client: SocketAddr,
    pub server: SocketAddr,
}

/// Direction of a segment within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ToServer,
    ToClient,
}

/// The set of server ports to follow.
#[derive(Debug, Clone)]
pub struct PortSet {
    ports: Vec<u16>,
}

impl PortSet {
    pub fn new(mut ports: Vec<u16>) -> Self {
        ports.sort_unstable();
        ports.dedup();
        PortSet { ports }
    }

    pub fn contains(&self, port: u16) -> bool {
        self.ports.binary_search(&port).is_ok()
    }

    /// Orients a segment: which end is the server. When both ports are
    /// followed, the SYN (without ACK) tells; otherwise the lower port is the
    /// server, as clients take ephemeral ports.
    pub fn orient(
        &self,
        src: SocketAddr,
        dst: SocketAddr,
        syn_only: bool,
    ) -> Option<(FlowKey, Direction)> {
        let to_server = FlowKey {
            client: src,
            server: dst,
        };
        let to_client = FlowKey {
            client: dst,
            server: src,
        };
        match (self.contains(src.port()), self.contains(dst.port())) {
            (false, true) => Some((to_server, Direction::ToServer)),
            (true, false) => Some((to_client, Direction::ToClient)),
            (true, true) if syn_only || dst.port() < src.port() => {
                Some((to_server, Direction::ToServer))
            }
            (true, true) if src.port() < dst.port() => Some((to_client, Direction::ToClient)),
            (true, true) => {
                // Same port on both ends: order by address so both directions agree.
                if dst < src {
                    Some((to_server, Direction::ToServer))
                } else {
                    Some((to_client, Direction::ToClient))
                }
            }
            (false, false) => None,
        }
    }
}
