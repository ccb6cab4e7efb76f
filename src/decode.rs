//! Link layer → IP → TCP segment, with etherparse's lax slicing so that a
//! packet cut short by the snapshot length still yields what it holds.

use crate::capture::{LinkType, Packet};
use crate::flow::Endpoint;
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
    pub src: Endpoint,
    pub dst: Endpoint,
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
    decode_fast(p).map_or_else(|| decode_general(p), Ok)
}

/// The common cases read straight from the bytes: IPv4/IPv6 + TCP behind
/// Ethernet II (with up to two VLAN tags), Linux cooked headers (`tcpdump -i
/// any`: SLL, SLL2), raw IP, or BSD loopback. `None` sends the packet to
/// [`decode_general`], which decodes the same packets the same way (the
/// tests compare both on every sample, relinked to each of these types).
#[inline(always)]
pub fn decode_fast<'a>(p: &Packet<'a>) -> Option<Segment<'a>> {
    let (ether_type, ip) = link_payload(p)?;
    fast_ip_tcp(ether_type, ip)
}

/// The two ends a packet's IP and TCP headers name, read where they lie
/// without the fast path's other checks (length, fragment, TCP header
/// length), without building a segment: a worker of a sharded run learns
/// from them that another worker owns the packet. Whatever decode of
/// the packet finds TCP finds these same ends; `None` when they cannot be
/// read so (another protocol, an IPv6 extension header, a cut header).
#[inline(always)]
pub fn ends_where_they_lie(p: &Packet<'_>) -> Option<(Endpoint, Endpoint)> {
    let (ether_type, ip) = link_payload(p)?;
    let h = ip_header(ether_type, ip)?;
    let t = ip.get(h.len..h.len + 4)?;
    Some((
        h.src.with_port(u16::from_be_bytes([t[0], t[1]])),
        h.dst.with_port(u16::from_be_bytes([t[2], t[3]])),
    ))
}

/// Whether a packet is surely not TCP: IPv4 or IPv6 behind a link header
/// the fast path reads, its IP header whole, not an IPv4 fragment, carrying
/// one of the common protocols other than TCP that etherparse never reads
/// as an extension header (UDP, ICMP, IGMP, GRE, OSPF, PIM, VRRP, SCTP,
/// and IPv4's ESP). [`decode_general`] answers [`Skip::NotTcp`] for every
/// such packet (tested), so the analyzer skips it undecoded: etherparse's
/// decode of a UDP packet took 80 ns, and every worker of a sharded run
/// made it. It reads the IP header's bytes itself: going through
/// `ip_header` with the protocol left to its callers (which builds the
/// endpoints first) cost 1.9% more instructions on the bulk pgbench
/// capture and 10% on UDP traffic.
#[inline]
pub fn surely_not_tcp(p: &Packet<'_>) -> bool {
    let Some((ether_type, ip)) = link_payload(p) else {
        return false;
    };
    match ether_type {
        0x0800 => {
            let Some(h) = ip.get(..20) else {
                return false;
            };
            let len = usize::from(h[0] & 0x0f) * 4;
            h[0] >> 4 == 4
                && len >= 20
                && ip.len() >= len
                && u16::from_be_bytes([h[6], h[7]]) & 0x3fff == 0
                && matches!(h[9], 1 | 2 | 17 | 47 | 50 | 89 | 103 | 112 | 132)
        }
        0x86dd => {
            let Some(h) = ip.get(..40) else {
                return false;
            };
            h[0] >> 4 == 6 && matches!(h[6], 2 | 17 | 47 | 58 | 89 | 103 | 112 | 132)
        }
        _ => false,
    }
}

/// The EtherType behind the link header and the bytes after it, for the
/// link types the fast path reads.
#[inline(always)]
fn link_payload<'a>(p: &Packet<'a>) -> Option<(u16, &'a [u8])> {
    let d = p.data;
    match p.link {
        LinkType::ETHERNET => {
            let mut ether_type = u16::from_be_bytes([*d.get(12)?, *d.get(13)?]);
            let mut at = 14;
            // 802.1Q / 802.1ad tags: the type behind each is 4 bytes on.
            for _ in 0..2 {
                if ether_type != 0x8100 && ether_type != 0x88a8 {
                    break;
                }
                ether_type = u16::from_be_bytes([*d.get(at + 2)?, *d.get(at + 3)?]);
                at += 4;
            }
            Some((ether_type, d.get(at..)?))
        }
        LinkType::LINUX_SLL => Some((u16::from_be_bytes([*d.get(14)?, *d.get(15)?]), d.get(16..)?)),
        LinkType::LINUX_SLL2 => Some((u16::from_be_bytes([*d.first()?, *d.get(1)?]), d.get(20..)?)),
        LinkType::RAW
        | LinkType::RAW_ALT12
        | LinkType::RAW_ALT14
        | LinkType::IPV4
        | LinkType::IPV6 => {
            let ether_type = match d.first()? >> 4 {
                4 => 0x0800,
                6 => 0x86dd,
                _ => return None,
            };
            Some((ether_type, d))
        }
        LinkType::NULL | LinkType::LOOP => {
            let ether_type = match loopback_family(p.link, d.get(..4)?.try_into().ok()?) {
                2 => 0x0800,
                10 | 24 | 28 | 30 => 0x86dd,
                _ => return None,
            };
            Some((ether_type, &d[4..]))
        }
        _ => None,
    }
}

/// The address family of a BSD loopback header: LOOP writes it in network
/// byte order, NULL in the capturing host's, so either order is read.
#[inline]
fn loopback_family(link: LinkType, fam: [u8; 4]) -> u32 {
    let le = u32::from_le_bytes(fam);
    if link == LinkType::LOOP || le > 0xffff {
        u32::from_be_bytes(fam)
    } else {
        le
    }
}

/// Every link type, through etherparse's lax slicing (for packets
/// [`decode_fast`] did not take).
#[inline(never)]
pub fn decode_general<'a>(p: &Packet<'a>) -> Result<Segment<'a>, Skip> {
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
            let fam = p.data.get(..4).and_then(|f| f.try_into().ok());
            let ether_type = match loopback_family(p.link, fam.ok_or(Skip::TruncatedHeaders)?) {
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
        src: SocketAddr::new(src, tcp.source_port()).into(),
        dst: SocketAddr::new(dst, tcp.destination_port()).into(),
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

/// IPv4 (no fragment) or IPv6 (no extension header) + TCP behind any link
/// header, read straight from the bytes. Anything else (options that do
/// not fit, fragments, cut headers, other protocols) returns `None` and goes
/// through etherparse's full lax decoding.
#[inline(always)]
fn fast_ip_tcp(ether_type: u16, ip: &[u8]) -> Option<Segment<'_>> {
    let h = ip_header(ether_type, ip)?;
    if h.fragment || h.total < h.len {
        return None;
    }
    let tcp = ip.get(h.len..)?;
    let th = tcp.get(..20)?;
    let tcp_hdr_len = usize::from(th[12] >> 4) * 4;
    if tcp_hdr_len < 20 || tcp.len() < tcp_hdr_len || h.total < h.len + tcp_hdr_len {
        return None;
    }
    // Bytes on the wire per the IP length; captured bytes may stop earlier
    // (snapshot length) or run past it (Ethernet padding).
    let wire_len = h.total - h.len - tcp_hdr_len;
    let captured = &tcp[tcp_hdr_len..];
    let payload = &captured[..captured.len().min(wire_len)];
    let flags = th[13];
    Some(Segment {
        src: h.src.with_port(u16::from_be_bytes([th[0], th[1]])),
        dst: h.dst.with_port(u16::from_be_bytes([th[2], th[3]])),
        seq: u32::from_be_bytes([th[4], th[5], th[6], th[7]]),
        ack: u32::from_be_bytes([th[8], th[9], th[10], th[11]]),
        flags: TcpFlags {
            syn: flags & 0x02 != 0,
            ack: flags & 0x10 != 0,
            fin: flags & 0x01 != 0,
            rst: flags & 0x04 != 0,
        },
        payload,
        wire_len: wire_len as u32,
    })
}

/// An IPv4 or IPv6 header whose next protocol is TCP, read where it lies:
/// what the fast path and [`ends_where_they_lie`] both start from.
struct IpHeader {
    /// The addresses, ports still 0.
    src: Endpoint,
    dst: Endpoint,
    /// Where the TCP header starts (IPv4: IHL of at least 20; IPv6: 40).
    len: usize,
    /// Header and payload, per the IP length field.
    total: usize,
    /// An IPv4 fragment (MF set or an offset): its TCP header may be elsewhere.
    fragment: bool,
}

#[inline(always)]
fn ip_header(ether_type: u16, ip: &[u8]) -> Option<IpHeader> {
    match ether_type {
        0x0800 => {
            let h = ip.get(..20)?;
            let len = usize::from(h[0] & 0x0f) * 4;
            if h[0] >> 4 != 4 || h[9] != 6 || len < 20 {
                return None;
            }
            Some(IpHeader {
                src: Endpoint::v4([h[12], h[13], h[14], h[15]], 0),
                dst: Endpoint::v4([h[16], h[17], h[18], h[19]], 0),
                len,
                total: usize::from(u16::from_be_bytes([h[2], h[3]])),
                fragment: u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0,
            })
        }
        0x86dd => {
            let h = ip.get(..40)?;
            if h[0] >> 4 != 6 || h[6] != 6 {
                return None;
            }
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&h[8..24]);
            d.copy_from_slice(&h[24..40]);
            Some(IpHeader {
                src: Endpoint::v6(s, 0),
                dst: Endpoint::v6(d, 0),
                len: 40,
                total: 40 + usize::from(u16::from_be_bytes([h[4], h[5]])),
                fragment: false,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{Analyzer, Framed};

    /// The link headers a packet of `eth` (an Ethernet II frame) could have
    /// come with: as captured, behind one and two VLAN tags, Linux cooked
    /// (SLL, SLL2), raw IP, and BSD loopback in both byte orders.
    fn relinked(eth: &[u8]) -> Vec<(LinkType, Vec<u8>)> {
        let Some((head, body)) = eth.split_at_checked(14) else {
            return Vec::new();
        };
        let (mac, ether_type) = (&head[6..12], &head[12..14]);
        let cat = |parts: &[&[u8]]| parts.concat();
        let family: u32 = if ether_type == [0x86, 0xdd] { 30 } else { 2 };
        vec![
            (LinkType::ETHERNET, eth.to_vec()),
            (
                LinkType::ETHERNET,
                cat(&[&head[..12], &[0x81, 0, 0, 100], ether_type, body]),
            ),
            (
                LinkType::ETHERNET,
                cat(&[
                    &head[..12],
                    &[0x88, 0xa8, 0, 7, 0x81, 0, 0, 100],
                    ether_type,
                    body,
                ]),
            ),
            (
                LinkType::LINUX_SLL,
                cat(&[&[0, 0, 0, 1, 0, 6], mac, &[0, 0], ether_type, body]),
            ),
            (
                LinkType::LINUX_SLL2,
                cat(&[
                    ether_type,
                    &[0, 0, 0, 0, 0, 2, 0, 1, 0, 6],
                    mac,
                    &[0, 0],
                    body,
                ]),
            ),
            (LinkType::RAW, body.to_vec()),
            (LinkType::NULL, cat(&[&family.to_le_bytes(), body])),
            (LinkType::NULL, cat(&[&family.to_be_bytes(), body])),
            (LinkType::LOOP, cat(&[&family.to_be_bytes(), body])),
        ]
    }

    /// Calls `f` with every packet of every bundled capture (each Ethernet
    /// frame changed by `change` first), relinked to every link type the
    /// fast path reads (`f` gets the index of the link among them), and
    /// with every cut of it through the headers.
    fn each_packet_cut(
        change: impl Fn(&mut Vec<u8>),
        mut f: impl FnMut(usize, &Packet<'_>, &dyn Fn() -> String),
    ) {
        for path in crate::testutil::bundled_captures() {
            let bytes = std::fs::read(&path).unwrap();
            let mut r = crate::capture::file::CaptureReader::new(&bytes[..]).unwrap();
            while let Some(p) = r.next_packet().unwrap() {
                let variants = if p.link == LinkType::ETHERNET {
                    let mut eth = p.data.to_vec();
                    change(&mut eth);
                    relinked(&eth)
                } else {
                    vec![(p.link, p.data.to_vec())]
                };
                for (variant, (link, data)) in variants.into_iter().enumerate() {
                    for cut in (0..=data.len().min(100)).chain([data.len()]) {
                        let q = Packet {
                            link,
                            data: &data[..cut],
                            ..p
                        };
                        let what =
                            || format!("{path:?} frame {} link {} cut {cut}", p.frame, link.0);
                        f(variant, &q, &what);
                    }
                }
            }
        }
    }

    /// The fast path and etherparse's lax decoding agree on every packet of
    /// every bundled capture, relinked to every link type the fast path
    /// reads, and on every cut of them through the headers.
    #[test]
    fn fast_path_agrees_with_etherparse() {
        // Packets that took the fast path, by (variant, IPv6).
        let mut fast = std::collections::BTreeMap::<(usize, bool), usize>::new();
        each_packet_cut(
            |_| {},
            |variant, q, what| {
                let Some(f) = decode_fast(q) else { return };
                let what = what();
                let s = decode_general(q)
                    .unwrap_or_else(|e| panic!("{what}: fast {f:?}, general {e:?}"));
                assert_eq!(
                    (f.src, f.dst, f.seq, f.ack),
                    (s.src, s.dst, s.seq, s.ack),
                    "{what}"
                );
                assert_eq!(f.flags, s.flags, "{what}");
                assert_eq!(f.payload, s.payload, "{what}");
                assert_eq!(f.wire_len, s.wire_len, "{what}");
                *fast.entry((variant, f.src.ip().is_ipv6())).or_default() += 1;
            },
        );
        // Every variant took the fast path, with IPv4 and with IPv6.
        for variant in 0..relinked(&[0; 14]).len() {
            for v6 in [false, true] {
                let n = fast.get(&(variant, v6)).copied().unwrap_or(0);
                assert!(
                    n > 100,
                    "variant {variant}, IPv6 {v6}: {n} packets on the fast path"
                );
            }
        }
    }

    /// Every packet `surely_not_tcp` skips is one etherparse's lax decoding
    /// finds not TCP: every bundled packet (relinked and cut as above) with
    /// its IP protocol or next header set to each of a range of numbers
    /// (those skipped, TCP, IPv4's authentication header and IPv6's
    /// extension headers, which can lead to TCP), as an IPv4 fragment, with
    /// a short header length, and with IPv4 options.
    #[test]
    fn packets_surely_not_tcp_are_not_tcp() {
        let mut skipped = std::collections::BTreeSet::new();
        let mut decoded_not_tcp = 0usize;
        for proto in [
            0u8, 1, 2, 6, 17, 41, 43, 44, 47, 50, 51, 58, 59, 60, 89, 132, 135, 255,
        ] {
            for shape in 0..4 {
                let change = |eth: &mut Vec<u8>| {
                    match eth.get(12..14) {
                        Some([8, 0]) if eth.len() >= 34 => {
                            eth[23] = proto;
                            match shape {
                                1 => eth[20] |= 0x20, // more fragments
                                2 => eth[14] = 0x44,  // a 16-byte header
                                3 if eth[14] == 0x45 => {
                                    eth[14] = 0x46;
                                    eth.splice(34..34, [1, 1, 1, 0]);
                                }
                                _ => {}
                            }
                        }
                        Some([0x86, 0xdd]) if eth.len() >= 54 => eth[20] = proto,
                        _ => {}
                    }
                };
                each_packet_cut(change, |variant, q, what| {
                    if !surely_not_tcp(q) {
                        return;
                    }
                    assert_eq!(decode_general(q).err(), Some(Skip::NotTcp), "{}", what());
                    skipped.insert((proto, variant));
                    decoded_not_tcp += 1;
                });
            }
        }
        // UDP and ICMP are skipped behind every link header, TCP never.
        for variant in 0..relinked(&[0; 14]).len() {
            for proto in [1, 17, 58] {
                assert!(skipped.contains(&(proto, variant)), "{proto} {variant}");
            }
        }
        assert!(!skipped
            .iter()
            .any(|&(proto, _)| matches!(proto, 0 | 6 | 43 | 44 | 51 | 60)));
        assert!(decoded_not_tcp > 10_000, "{decoded_not_tcp}");
    }

    /// The ends a sharded worker reads without decoding are the ends every
    /// decode that finds TCP finds, on every bundled packet, relinked and
    /// cut as above, and with the headers the fast path refuses: a later
    /// IPv4 fragment, a TCP header length below 20, IPv4 options.
    #[test]
    fn ends_where_they_lie_are_the_decoded_ends() {
        let ipv4 = |eth: &Vec<u8>| eth.len() >= 34 && eth[12..14] == [8, 0] && eth[23] == 6;
        let changes: [fn(&mut Vec<u8>); 4] = [
            |_| {},
            |eth| eth[20] |= 0x10,
            |eth| {
                let ihl = usize::from(eth[14] & 0x0f) * 4;
                if let Some(b) = eth.get_mut(14 + ihl + 12) {
                    *b = 0x20;
                }
            },
            // Four bytes of options: the TCP header moves 4 bytes on.
            |eth| {
                if eth[14] == 0x45 {
                    eth[14] = 0x46;
                    eth.splice(34..34, [1, 1, 1, 0]);
                }
            },
        ];
        // Packets whose ends were read, and of those that a decode found TCP.
        let (mut read, mut decoded, mut hashed) = (0usize, 0usize, 0usize);
        for change in changes {
            let change = |eth: &mut Vec<u8>| {
                if ipv4(eth) {
                    change(eth)
                }
            };
            each_packet_cut(change, |_, q, what| {
                let ends = ends_where_they_lie(q);
                if decode_fast(q).is_some() {
                    assert!(ends.is_some(), "{}", what());
                }
                // The framer hashes a segment it hands on decoded from the
                // same ends, without building them.
                if let Framed::Segment(_, id, seg) = Analyzer::frame_route(q, 2, None) {
                    let (a, b) = ends.unwrap_or_else(|| panic!("{}", what()));
                    assert_eq!(id, crate::flow::pair_hash(&a, &b), "{}", what());
                    assert_eq!((seg.src, seg.dst), (a, b), "{}", what());
                    hashed += 1;
                }
                let Some(ends) = ends else { return };
                read += 1;
                if let Ok(s) = decode_packet(q) {
                    assert_eq!(ends, (s.src, s.dst), "{}", what());
                    decoded += 1;
                }
            });
        }
        assert!(
            decoded > 10_000 && read > decoded && hashed > 1_000 && hashed < read,
            "{read} read, {decoded} decoded, {hashed} hashed"
        );
    }
}
