//! Link layers, IPv4/IPv6 and TCP as byte buffers: take a captured frame
//! apart, change its link layer or its payload, put it back together.

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LOOP: u32 = 108;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// The link layers a test can put around an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    /// Ethernet with one 802.1Q tag.
    Vlan,
    /// Ethernet with an 802.1ad service tag and an 802.1Q tag.
    QinQ,
    /// Linux cooked capture v1: 16-byte header.
    Sll,
    /// Linux cooked capture v2: 20-byte header.
    Sll2,
    /// The IP packet alone.
    Raw,
    /// BSD loopback: 4-byte address family in little-endian host order,
    /// with this value for IPv6 (24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
    Null {
        ipv6_family: u32,
    },
    /// OpenBSD loopback: the family in network byte order.
    Loop,
}

impl Link {
    pub fn linktype(self) -> u32 {
        match self {
            Link::Ethernet | Link::Vlan | Link::QinQ => LINKTYPE_ETHERNET,
            Link::Sll => LINKTYPE_LINUX_SLL,
            Link::Sll2 => LINKTYPE_LINUX_SLL2,
            Link::Raw => LINKTYPE_RAW,
            Link::Null { .. } => LINKTYPE_NULL,
            Link::Loop => LINKTYPE_LOOP,
        }
    }

    /// A frame of this link layer carrying `net` (an IPv4 or IPv6 packet).
    pub fn wrap(self, ethertype: u16, net: &[u8]) -> Vec<u8> {
        let mut f = Vec::with_capacity(net.len() + 24);
        let zero_macs = [0u8; 12];
        match self {
            Link::Ethernet => {
                f.extend_from_slice(&zero_macs);
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Vlan => {
                f.extend_from_slice(&zero_macs);
                f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                f.extend_from_slice(&0x0064u16.to_be_bytes()); // PCP 0, VLAN 100
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::QinQ => {
                f.extend_from_slice(&zero_macs);
                f.extend_from_slice(&ETHERTYPE_QINQ.to_be_bytes());
                f.extend_from_slice(&0x00c8u16.to_be_bytes()); // S-VLAN 200
                f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
                f.extend_from_slice(&0x0064u16.to_be_bytes()); // C-VLAN 100
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll => {
                f.extend_from_slice(&0u16.to_be_bytes()); // packet type: to us
                f.extend_from_slice(&772u16.to_be_bytes()); // ARPHRD_LOOPBACK
                f.extend_from_slice(&6u16.to_be_bytes()); // address length
                f.extend_from_slice(&[0; 8]);
                f.extend_from_slice(&ethertype.to_be_bytes());
            }
            Link::Sll2 => {
                f.extend_from_slice(&ethertype.to_be_bytes());
                f.extend_from_slice(&[0, 0]); // reserved
                f.extend_from_slice(&1u32.to_be_bytes()); // interface index
                f.extend_from_slice(&772u16.to_be_bytes()); // ARPHRD_LOOPBACK
                f.push(0); // packet type
                f.push(6); // address length
                f.extend_from_slice(&[0; 8]);
            }
            Link::Raw => {}
            Link::Null { ipv6_family } => {
                let fam = if ethertype == ETHERTYPE_IPV6 {
                    ipv6_family
                } else {
                    2
                };
                f.extend_from_slice(&fam.to_le_bytes());
            }
            Link::Loop => {
                let fam: u32 = if ethertype == ETHERTYPE_IPV6 { 24 } else { 2 };
                f.extend_from_slice(&fam.to_be_bytes());
            }
        }
        f.extend_from_slice(net);
        f
    }
}

/// Splits a frame into (link header length, ethertype of what follows).
/// Returns `None` for frames that do not carry IPv4 or IPv6.
pub fn link_header(linktype: u32, d: &[u8]) -> Option<(usize, u16)> {
    let ip_ethertype = |b: &[u8]| match b.first().map(|v| v >> 4) {
        Some(4) => Some(ETHERTYPE_IPV4),
        Some(6) => Some(ETHERTYPE_IPV6),
        _ => None,
    };
    let (len, et) = match linktype {
        LINKTYPE_ETHERNET => {
            let mut off = 12;
            loop {
                if d.len() < off + 2 {
                    return None;
                }
                let et = be16(d, off);
                if et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ {
                    off += 4;
                } else {
                    break (off + 2, et);
                }
            }
        }
        LINKTYPE_LINUX_SLL if d.len() >= 16 => (16, be16(d, 14)),
        LINKTYPE_LINUX_SLL2 if d.len() >= 20 => (20, be16(d, 0)),
        LINKTYPE_RAW => (0, ip_ethertype(d)?),
        LINKTYPE_NULL | LINKTYPE_LOOP if d.len() >= 4 => (4, ip_ethertype(&d[4..])?),
        _ => return None,
    };
    (et == ETHERTYPE_IPV4 || et == ETHERTYPE_IPV6).then_some((len, et))
}

/// A TCP segment taken apart: link header, IP header, TCP header, payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket {
    pub link_hdr: Vec<u8>,
    pub ethertype: u16,
    /// IPv4 header with options, or the IPv6 fixed header.
    pub ip: Vec<u8>,
    pub tcp: Vec<u8>,
    pub payload: Vec<u8>,
}

impl TcpPacket {
    /// Decodes a whole (not snaplen-cut) frame; `None` unless it is TCP over
    /// IPv4/IPv6 with no IPv6 extension headers.
    pub fn parse(linktype: u32, d: &[u8]) -> Option<Self> {
        let (l2, ethertype) = link_header(linktype, d)?;
        let net = &d[l2..];
        let (ip_len, end) = match ethertype {
            ETHERTYPE_IPV4 => {
                if net.len() < 20 || net[0] >> 4 != 4 || net[9] != 6 {
                    return None;
                }
                let ihl = usize::from(net[0] & 0x0f) * 4;
                // Fragments are left alone.
                if be16(net, 6) & 0x3fff != 0 {
                    return None;
                }
                (ihl, usize::from(be16(net, 2)))
            }
            _ => {
                if net.len() < 40 || net[0] >> 4 != 6 || net[6] != 6 {
                    return None;
                }
                (40, 40 + usize::from(be16(net, 4)))
            }
        };
        // Ethernet padding after the IP packet is dropped.
        let net = &net[..end.min(net.len())];
        if net.len() < ip_len + 20 {
            return None;
        }
        let doff = usize::from(net[ip_len + 12] >> 4) * 4;
        if doff < 20 || net.len() < ip_len + doff {
            return None;
        }
        Some(TcpPacket {
            link_hdr: d[..l2].to_vec(),
            ethertype,
            ip: net[..ip_len].to_vec(),
            tcp: net[ip_len..ip_len + doff].to_vec(),
            payload: net[ip_len + doff..].to_vec(),
        })
    }

    pub fn is_ipv6(&self) -> bool {
        self.ethertype == ETHERTYPE_IPV6
    }

    pub fn seq(&self) -> u32 {
        u32::from_be_bytes([self.tcp[4], self.tcp[5], self.tcp[6], self.tcp[7]])
    }

    pub fn set_seq(&mut self, seq: u32) {
        self.tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    }

    pub fn flags(&self) -> u8 {
        self.tcp[13]
    }

    pub fn set_flags(&mut self, f: u8) {
        self.tcp[13] = f;
    }

    pub fn src_port(&self) -> u16 {
        be16(&self.tcp, 0)
    }

    pub fn dst_port(&self) -> u16 {
        be16(&self.tcp, 2)
    }

    fn addrs(&self) -> (&[u8], &[u8]) {
        if self.is_ipv6() {
            (&self.ip[8..24], &self.ip[24..40])
        } else {
            (&self.ip[12..16], &self.ip[16..20])
        }
    }

    /// Source and destination (address, port): one direction of one flow.
    pub fn direction(&self) -> (Vec<u8>, u16, Vec<u8>, u16) {
        let (s, d) = self.addrs();
        (s.to_vec(), self.src_port(), d.to_vec(), self.dst_port())
    }

    /// Sequence number of the first payload byte.
    pub fn data_seq(&self) -> u32 {
        self.seq()
            .wrapping_add(u32::from(self.flags() & TCP_SYN != 0))
    }

    /// The same segment with another payload (headers unchanged).
    pub fn with_payload(&self, payload: &[u8]) -> Self {
        TcpPacket {
            payload: payload.to_vec(),
            ..self.clone()
        }
    }

    /// The IP packet: lengths and checksums recomputed.
    pub fn encode_net(&self) -> Vec<u8> {
        let mut ip = self.ip.clone();
        let l4_len = self.tcp.len() + self.payload.len();
        if self.is_ipv6() {
            ip[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        } else {
            let total = (ip.len() + l4_len) as u16;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip[10..12].copy_from_slice(&[0, 0]);
            let c = checksum(0, &ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let mut tcp = self.tcp.clone();
        tcp[16..18].copy_from_slice(&[0, 0]);
        let (s, d) = self.addrs();
        let mut pseudo = Vec::with_capacity(40);
        pseudo.extend_from_slice(s);
        pseudo.extend_from_slice(d);
        pseudo.extend_from_slice(&(l4_len as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 6]);
        let sum = sum16(sum16(sum16(0, &pseudo), &tcp), &self.payload);
        let c = !fold(sum);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        let mut out = ip;
        out.extend_from_slice(&tcp);
        out.extend_from_slice(&self.payload);
        out
    }

    /// The frame with its original link header.
    pub fn encode(&self) -> Vec<u8> {
        let mut f = self.link_hdr.clone();
        f.extend_from_slice(&self.encode_net());
        f
    }
}

fn sum16(mut acc: u32, b: &[u8]) -> u32 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn checksum(acc: u32, b: &[u8]) -> u16 {
    !fold(sum16(acc, b))
}
