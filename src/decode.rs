//! Link layer → IP → TCP segment, with etherparse's lax slicing so that a
//! packet cut short by the snapshot length still yields what it holds.

use crate::capture::{LinkType, Packet};
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use std::net::{IpAddr, SocketAddr};

/// TCP header flags pgtls acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// A TCP segment as the flow table needs it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload length on the wire (larger than `payload` when the snapshot
    /// length cut the packet).
    pub wire_len: u32,
}

/// Why a packet yielded no TCP segment; counted, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    UnsupportedLinkType,
    NotIp,
    NotTcp,
    IpFragment,
    /// The capture cut the packet before the end of its TCP header.
    TruncatedHeaders,
}

impl Skip {
    pub fn describe(self) -> &'static str {
        match self {
            Skip::UnsupportedLinkType => "link-layer type pgtls does not decode",
            Skip::NotIp => "not IPv4 or IPv6",
            Skip::NotTcp => "not TCP",
            Skip::IpFragment => "IP fragment (not reassembled)",
            Skip::TruncatedHeaders => "cut before the end of the TCP header",
        }
    }
}

/// Decodes a captured packet down to its TCP segment.
pub fn decode_packet<'a>(p: &Packet<'a>) -> Result<Segment<'a>, Skip> {
    let sliced = match p.link {
        LinkType::ETHERNET => {
            LaxSlicedPacket::from_ethernet(p.data).map_err(|_| Skip::TruncatedHeaders)?
        }
        LinkType::RAW
        | LinkType::RAW_ALT12
        | LinkType::RAW_ALT14
        | LinkType::IPV4
        | LinkType::IPV6 => LaxSlicedPacket::from_ip(p.data).map_err(|_| Skip::NotIp)?,
        LinkType::NULL | LinkType::LOOP => {
            // 4-byte address family: host byte order for NULL, network for LOOP.
            let fam = p.data.get(..4).ok_or(Skip::TruncatedHeaders)?;
            let fam = if p.link == LinkType::LOOP {
                u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]])
            } else {
                let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
                if le > 0xffff {
                    u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]])
                } else {
                    le
                }
            };
            let ether_type = match fam {
                2 => EtherType::IPV4,
                // AF_INET6 differs between BSDs: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
                10 | 24 | 28 | 30 => EtherType::IPV6,
                _ => return Err(Skip::NotIp),
            };
            LaxSlicedPacket::from_ether_type(ether_type, &p.data[4..])
        }
        LinkType::LINUX_SLL => {
            // 16-byte header; protocol type in the last two bytes.
            let h = p.data.get(..16).ok_or(Skip::TruncatedHeaders)?;
            let proto = u16::from_be_bytes([h[14], h[15]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &p.data[16..])
        }
        LinkType::LINUX_SLL2 => {
            // 20-byte header; protocol type in the first two bytes.
            let h = p.data.get(..20).ok_or(Skip::TruncatedHeaders)?;
            let proto = u16::from_be_bytes([h[0], h[1]]);
            LaxSlicedPacket::from_ether_type(EtherType(proto), &p.data[20..])
        }
        _ => return Err(Skip::UnsupportedLinkType),
    };
    segment_of(&sliced)
}

fn segment_of<'a>(s: &LaxSlicedPacket<'a>) -> Result<Segment<'a>, Skip> {
    let net = s.net.as_ref().ok_or(Skip::NotIp)?;
    let (src, dst, ip_payload_wire) = match net {
        LaxNetSlice::Ipv4(v4) => {
            let h = v4.header();
            let wire = usize::from(h.total_len()).saturating_sub(usize::from(h.ihl()) * 4);
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                wire,
            )
        }
        LaxNetSlice::Ipv6(v6) => {
            let h = v6.header();
            let wire =
                usize::from(h.payload_length()).saturating_sub(v6.extensions().slice().len());
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                wire,
            )
        }
        LaxNetSlice::Arp(_) => return Err(Skip::NotIp),
    };
    let ip_payload = net.ip_payload_ref().ok_or(Skip::NotIp)?;
    if ip_payload.fragmented {
        return Err(Skip::IpFragment);
    }
    if ip_payload.ip_number != etherparse::IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    let tcp = match &s.transport {
        Some(TransportSlice::Tcp(t)) => t,
        _ => return Err(Skip::TruncatedHeaders),
    };
    let payload = tcp.payload();
    let header_len = tcp.header_slice().len();
    // A zero IP length (segmentation offload seen on the capturing host) means
    // "as long as captured".
    let wire_len = if ip_payload.incomplete {
        ip_payload_wire
            .saturating_sub(header_len)
            .max(payload.len())
    } else {
        payload.len()
    };
    Ok(Segment {
        src: SocketAddr::new(src, tcp.source_port()),
        dst: SocketAddr::new(dst, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
        payload,
        wire_len: u32::try_from(wire_len).unwrap_or(u32::MAX),
    })
}
