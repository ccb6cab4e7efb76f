//! Flows: which TCP connections are PostgreSQL sessions, and per-direction
//! reassembly of their byte streams.

pub mod reassembly;
pub mod seq;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One end of a TCP connection, packed for the flow table: 24 bytes instead
/// of a `SocketAddr`'s 32, made of three words that are written, copied,
/// compared and hashed whole. (Built from bytes, its first copy stalled the
/// per-packet path: a word load cannot be forwarded from narrower stores.)
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Endpoint {
    /// The address's bytes as two little-endian words: IPv4 in the low four
    /// bytes of the first (the rest zero), or IPv6.
    ip: [u64; 2],
    /// The port in the low 16 bits, 1 << 16 for IPv6.
    tail: u64,
}

const V6: u64 = 1 << 16;

impl Endpoint {
    #[inline]
    pub fn v4(ip: [u8; 4], port: u16) -> Self {
        Endpoint {
            ip: [u64::from(u32::from_le_bytes(ip)), 0],
            tail: u64::from(port),
        }
    }

    #[inline]
    pub fn v6(ip: [u8; 16], port: u16) -> Self {
        let b = u128::from_le_bytes(ip);
        Endpoint {
            ip: [b as u64, (b >> 64) as u64],
            tail: u64::from(port) | V6,
        }
    }

    /// This address with port `port`, for an endpoint built with port 0.
    #[inline]
    pub fn with_port(self, port: u16) -> Self {
        Endpoint {
            tail: self.tail | u64::from(port),
            ..self
        }
    }

    #[inline]
    pub fn port(&self) -> u16 {
        self.tail as u16
    }

    /// An IPv4 end's address as [`Endpoint::v4`] holds it (the bytes as a
    /// little-endian word), `None` for IPv6.
    #[inline]
    pub fn v4_word(&self) -> Option<u32> {
        (!self.is_v6()).then_some(self.ip[0] as u32)
    }

    /// [`Endpoint::v4`] from [`Endpoint::v4_word`].
    #[inline]
    pub fn from_v4_word(ip: u32, port: u16) -> Self {
        Endpoint {
            ip: [u64::from(ip), 0],
            tail: u64::from(port),
        }
    }

    #[inline]
    fn is_v6(&self) -> bool {
        self.tail & V6 != 0
    }

    /// The address's 16 bytes.
    fn octets(&self) -> [u8; 16] {
        (u128::from(self.ip[0]) | u128::from(self.ip[1]) << 64).to_le_bytes()
    }

    pub fn ip(&self) -> IpAddr {
        let o = self.octets();
        if self.is_v6() {
            IpAddr::V6(Ipv6Addr::from(o))
        } else {
            IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3]))
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip(), self.port())
    }

    /// The address as two words, for hashing.
    #[inline]
    fn words(&self) -> (u64, u64) {
        (self.ip[0], self.ip[1])
    }
}

/// A hash of the connection between `a` and `b` that does not depend on
/// which is which: a packet's shard is known before the side that is the
/// server is. Finished with one folded multiplication (the two halves of a
/// 128-bit product, xored), so that keys differing in a few bits (a port
/// sweep) spread evenly: every worker hashes every packet, and murmur3's
/// fmix64 in its place was a chain of five dependent steps before each
/// packet's shard was known.
#[inline]
pub fn pair_hash(a: &Endpoint, b: &Endpoint) -> u64 {
    let (a_hi, a_lo) = a.words();
    let (b_hi, b_lo) = b.words();
    let h = (a_hi ^ b_hi)
        ^ (a_lo ^ b_lo).rotate_left(29)
        ^ (a.tail ^ b.tail).rotate_left(47)
        ^ ((a.tail | b.tail) & V6);
    fold(h)
}

/// [`pair_hash`] of two IPv4 ends, from their addresses (each read as a
/// little-endian word, as an [`Endpoint`] holds it) and ports, each pair
/// xored: what the other words of two IPv4 ends add is zero. The framer of
/// a sharded run hashes nearly every packet so, without building the ends.
#[inline(always)]
pub fn pair_hash_v4(addrs_xor: u32, ports_xor: u16) -> u64 {
    fold(u64::from(addrs_xor) ^ u64::from(ports_xor).rotate_left(47))
}

#[inline(always)]
fn fold(h: u64) -> u64 {
    let m = u128::from(h) * 0x9e37_79b9_7f4a_7c15;
    (m >> 64) as u64 ^ m as u64
}

/// By address bytes, then port, then family.
impl Ord for Endpoint {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.octets(), self.port(), self.is_v6()).cmp(&(
            other.octets(),
            other.port(),
            other.is_v6(),
        ))
    }
}

impl PartialOrd for Endpoint {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(a: SocketAddr) -> Self {
        match a {
            SocketAddr::V4(a) => Endpoint::v4(a.ip().octets(), a.port()),
            SocketAddr::V6(a) => Endpoint::v6(a.ip().octets(), a.port()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The range in front of the bit map answers as the bit map alone:
    /// every port against sets empty, of one port at either end of the
    /// range, of several spread out, and of every port.
    #[test]
    fn port_sets_hold_exactly_their_ports() {
        let sets: [Vec<u16>; 7] = [
            vec![],
            vec![0],
            vec![65535],
            vec![5432],
            vec![80, 443, 5432],
            vec![0, 65535],
            (0..=65535).collect(),
        ];
        for ports in sets {
            let set = PortSet::new(ports.clone());
            let mut want = vec![false; 65536];
            for &p in &ports {
                want[usize::from(p)] = true;
            }
            for p in 0..=65535u16 {
                assert_eq!(set.contains(p), want[usize::from(p)], "{p} in {ports:?}");
            }
        }
    }

    #[test]
    fn endpoints_print_as_socket_addresses() {
        for a in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.1.0.7:5432",
            "192.168.100.9:49152",
            "[::1]:5432",
            "[2001:db8::7]:50000",
            "[::ffff:10.0.0.1]:5432",
        ] {
            let sock: SocketAddr = a.parse().unwrap();
            let e = Endpoint::from(sock);
            assert_eq!(e.to_string(), sock.to_string(), "{a}");
            assert_eq!(format!("{e:>24}"), format!("{sock:>24}"), "{a}");
            // Appended after what a buffer already holds.
            let mut out = b"x ".to_vec();
            e.push_to(&mut out);
            assert_eq!(out, format!("x {sock}").into_bytes(), "{a}");
        }
        // Every octet in every place, ports of every length.
        for o in 0..=255u8 {
            for port in [0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535] {
                let ip = [o, 255 - o, o / 3, o.wrapping_mul(7)];
                let sock = SocketAddr::from((ip, port));
                assert_eq!(Endpoint::v4(ip, port).to_string(), sock.to_string());
                let mut out = b"row ".to_vec();
                Endpoint::v4(ip, port).push_to(&mut out);
                assert_eq!(out, format!("row {sock}").into_bytes());
            }
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<SocketAddr>().map(Endpoint::from)
    }
}

impl Endpoint {
    /// Writes IPv4 "a.b.c.d:port" at the start of `b` (24 bytes at least),
    /// digit by digit (two per session report), and returns its length;
    /// `None` for IPv6, which goes through `SocketAddr`'s formatting.
    fn v4_text_into(&self, b: &mut [u8]) -> Option<usize> {
        if self.is_v6() {
            return None;
        }
        let b = &mut b[..24];
        // Each octet's digits copied whole from a table, three bytes at a
        // time (the bytes past its digits are written over next): dividing
        // by ten per digit took about 360 instructions an endpoint, two per
        // table row.
        let mut n = 0;
        for (i, &octet) in self.octets()[..4].iter().enumerate() {
            let (digits, len) = OCTET_TEXT[usize::from(octet)];
            b[n..n + 3].copy_from_slice(&digits);
            n += usize::from(len);
            b[n] = if i < 3 { b'.' } else { b':' };
            n += 1;
        }
        // The port's digits in place, last first (from a buffer of their
        // own, a copy of varying length, they went through memmove).
        let port = self.port();
        let len = match port {
            0..=9 => 1,
            10..=99 => 2,
            100..=999 => 3,
            1000..=9999 => 4,
            _ => 5,
        };
        let mut v = port;
        for d in b[n..n + len].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        Some(n + len)
    }

    /// Appends the endpoint's text as [`Display`](fmt::Display) writes it
    /// (ASCII), without going through a formatter or a UTF-8 check for
    /// IPv4 (a table row writes two).
    pub fn push_to(&self, out: &mut Vec<u8>) {
        if self.is_v6() {
            use std::io::Write;
            let _ = write!(out, "{}", self.addr());
            return;
        }
        // Written where it goes: made on the stack byte by byte and copied
        // in whole, the copy's wide loads waited on the narrow stores
        // (2.8% of the million TLS sessions' samples).
        let at = out.len();
        out.resize(at + 24, 0);
        let n = self.v4_text_into(&mut out[at..]).unwrap_or_default();
        out.truncate(at + n);
    }
}

/// Each octet's decimal digits, padded to three bytes, and how many.
const OCTET_TEXT: [([u8; 3], u8); 256] = {
    let mut t = [([0u8; 3], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let (h, d, u) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        t[i] = if i >= 100 {
            ([b'0' + h, b'0' + d, b'0' + u], 3)
        } else if i >= 10 {
            ([b'0' + d, b'0' + u, 0], 2)
        } else {
            ([b'0' + u, 0, 0], 1)
        };
        i += 1;
    }
    t
};

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = [0u8; 24];
        match self.v4_text_into(&mut b) {
            Some(n) if f.width().is_none() && f.precision().is_none() => {
                f.write_str(std::str::from_utf8(&b[..n]).map_err(|_| fmt::Error)?)
            }
            _ => self.addr().fmt(f),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.addr().fmt(f)
    }
}

/// A TCP connection seen from the server's side of the port list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub client: Endpoint,
    pub server: Endpoint,
}

/// The flow table's hash of the connection ([`pair_hash`]): one hash of a
/// pair of ends in the whole program.
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(pair_hash(&self.client, &self.server));
    }
}

/// Direction of a segment within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ToServer,
    ToClient,
}

/// The set of server ports to follow: one bit per port, so that telling a
/// segment's direction costs two bit tests, behind the range the followed
/// ports span: a client's ephemeral port lies outside it (the default
/// 5432 alone, or every port of `--port 80 --port 443 --port 5432`, is
/// below the ephemeral ports), and is told without reading the bit map,
/// whose line for a random port is rarely in cache (the bit test of a
/// client's port was 1.4% of the two threads' samples on the million TLS
/// sessions).
#[derive(Debug, Clone)]
pub struct PortSet {
    /// The lowest port followed, and how far above it the highest lies
    /// (an empty set: 0 and 0, and no bit set).
    low: u16,
    span: u16,
    bits: Box<[u64; 1024]>,
}

impl PortSet {
    pub fn new(ports: Vec<u16>) -> Self {
        let mut bits = Box::new([0u64; 1024]);
        for &p in &ports {
            bits[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        let low = ports.iter().copied().min().unwrap_or(0);
        let high = ports.iter().copied().max().unwrap_or(0);
        PortSet {
            low,
            span: high - low,
            bits,
        }
    }

    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        port.wrapping_sub(self.low) <= self.span
            && self.bits[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// Whether a segment from `src` to `dst` goes to the server. When both
    /// ports are followed, the SYN (without ACK) tells; otherwise the lower
    /// port is the server, as clients take ephemeral ports.
    #[inline]
    pub fn to_server(&self, src: &Endpoint, dst: &Endpoint, syn_only: bool) -> Option<bool> {
        let (sp, dp) = (src.port(), dst.port());
        Some(match (self.contains(sp), self.contains(dp)) {
            (false, true) => true,
            (true, false) => false,
            (true, true) if syn_only || dp < sp => true,
            (true, true) if sp < dp => false,
            // Same port on both ends: order by address so both directions agree.
            (true, true) => dst < src,
            (false, false) => return None,
        })
    }
}
