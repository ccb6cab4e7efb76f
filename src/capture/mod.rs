//! Packet sources. Every source hands the pipeline the same [`Packet`] view,
//! so reading a file and sniffing an interface share one path to the verdict.

pub mod file;
#[cfg(feature = "live")]
pub mod live;

/// A link-layer header type, as numbered by tcpdump.org's LINKTYPE_ values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    /// DLT_RAW as some systems number it in files.
    pub const RAW_ALT12: LinkType = LinkType(12);
    pub const RAW_ALT14: LinkType = LinkType(14);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One captured packet, borrowed from the source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// 1-based position in its file, as Wireshark numbers frames.
    pub frame: u64,
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_nanos: i64,
    pub link: LinkType,
    /// The bytes captured (possibly cut short by the snapshot length).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
}
