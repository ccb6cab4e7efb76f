//! Reading pcap and pcapng files in pure Rust, streaming with bounded memory.
//!
//! Record framing is done here over one reusable buffer; the file and block
//! headers are decoded with pcap-parser. Both byte orders, micro- and
//! nanosecond pcap, pcapng with several sections and interfaces.

use super::{LinkType, Packet};
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{parse_block_be, parse_block_le, parse_pcap_header, parse_sectionheaderblock};
use std::fmt;
use std::io::{self, Read};

/// Largest packet record pgtls accepts in a pcap file. Real snapshot lengths
/// stop at 262144; a larger length means the file is corrupt.
pub const MAX_PCAP_RECORD: usize = 256 * 1024 + 64;
/// Largest pcapng block pgtls accepts.
pub const MAX_PCAPNG_BLOCK: usize = 16 * 1024 * 1024;
/// Bytes read from the file at a time: small enough that the records just
/// copied in are still in the CPU's cache when they are parsed (1 MB was
/// slower; mapping the file was 3% faster on bulk traffic, not worth an
/// `unsafe` block, a SIGBUS when another program truncates the file, and
/// the mapped window in the resident set).
const READ_CHUNK: usize = 1 << 18;

/// The tool's own failures while reading a file.
#[derive(Debug)]
pub enum CaptureError {
    /// The file starts with neither a pcap nor a pcapng header.
    NotACapture(String),
    Io(io::Error),
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::NotACapture(why) => write!(f, "not a pcap or pcapng capture: {why}"),
            CaptureError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CaptureError {}

impl From<io::Error> for CaptureError {
    fn from(e: io::Error) -> Self {
        CaptureError::Io(e)
    }
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second.
    resolution: u64,
    /// Nanoseconds per unit when that is a whole number (microseconds,
    /// nanoseconds and every other power of ten up to seconds), 0 otherwise.
    nanos_per_unit: u64,
    offset_secs: i64,
}

impl Interface {
    fn new(link: LinkType, resolution: u64, offset_secs: i64) -> Self {
        let resolution = resolution.max(1);
        let nanos_per_unit = if 1_000_000_000 % resolution == 0 {
            1_000_000_000 / resolution
        } else {
            0
        };
        Interface {
            link,
            resolution,
            nanos_per_unit,
            offset_secs,
        }
    }

    /// Nanoseconds since the epoch of a packet's raw timestamp. A 128-bit
    /// division per packet was 4% of reading a pcapng file; the common
    /// resolutions need only the multiplication.
    #[inline]
    fn timestamp(&self, raw: u64) -> i64 {
        let nanos = if self.nanos_per_unit != 0 {
            u128::from(raw) * u128::from(self.nanos_per_unit)
        } else {
            u128::from(raw) * 1_000_000_000 / u128::from(self.resolution)
        } as i64;
        nanos.saturating_add(self.offset_secs.saturating_mul(1_000_000_000))
    }
}

/// Timestamp units per second of an interface's `if_tsresol`: 10^n, or 2^n
/// with the high bit set (pcap_parser refuses every 2^n). `None` past 64 bits.
fn ts_units(tsresol: u8) -> Option<u64> {
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(u32::from(tsresol))
    } else {
        1u64.checked_shl(u32::from(tsresol & 0x7f))
    }
}

/// An interface's `if_tsoffset` in seconds, in the section's byte order
/// (pcap_parser reads it little-endian in every section).
fn ts_offset(options: &[pcap_parser::pcapng::PcapNGOption<'_>], big_endian: bool) -> i64 {
    options
        .iter()
        .find(|o| o.code == pcap_parser::pcapng::OptionCode::IfTsoffset)
        .and_then(|o| <[u8; 8]>::try_from(o.value.get(..8)?).ok())
        .map_or(0, |v| {
            if big_endian {
                i64::from_be_bytes(v)
            } else {
                i64::from_le_bytes(v)
            }
        })
}

/// An enhanced packet block of a known interface (what capture tools write
/// for every packet), read in place, its options skipped: the offset of its
/// data in the block, captured length, timestamp, link type and length on
/// the wire. Any other block is left to pcap_parser; on the blocks read
/// here both give the same packet (tested). Handing blocks with options to
/// pcap_parser, which makes a vector of them, took a pcapng capture whose
/// every packet carries a direction flag from 82 to 148 ms of user time.
#[inline]
fn plain_epb(
    b: &[u8],
    big_endian: bool,
    interfaces: &[Interface],
) -> Option<(usize, usize, i64, LinkType, u32)> {
    let word = |at: usize| -> Option<u32> {
        let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        })
    };
    let caplen = word(20)? as usize;
    // Options (a direction flag, a comment, a drop count...) may fill the
    // rest: pgtls reads none of them, and pcap_parser takes whatever is
    // there as options (it stops at the first that runs past the end
    // without failing the block).
    if 32 + caplen.next_multiple_of(4) > b.len() || word(b.len() - 4)? as usize != b.len() {
        return None;
    }
    let iface = interfaces.get(word(8)? as usize)?;
    let raw = (u64::from(word(12)?) << 32) | u64::from(word(16)?);
    Some((28, caplen, iface.timestamp(raw), iface.link, word(24)?))
}

#[derive(Debug)]
enum Format {
    Pcap {
        big_endian: bool,
        nanos: bool,
        /// Kuznetzov's modified format: 8 more bytes per record header.
        modified: bool,
        link: LinkType,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// A packet record lying whole in the reader's buffer
/// ([`CaptureReader::whole_record`]).
#[derive(Clone, Copy)]
struct Whole {
    /// The record's bytes: header, data, a block's options and trailer.
    len: usize,
    /// Where its data begins in the record.
    data_at: usize,
    caplen: usize,
    ts: i64,
    link: LinkType,
    orig_len: u32,
}

/// A streaming reader over a pcap or pcapng byte stream.
pub struct CaptureReader<R: Read> {
    reader: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    format: Format,
    frame: u64,
    /// Byte offset in the file of `buf[start]`.
    offset: u64,
    last_ts: i64,
    warnings: Vec<String>,
    done: bool,
    /// Hands every pcapng block to pcap_parser, even those [`plain_epb`]
    /// reads (the tests compare both ways).
    parse_every_block: bool,
    /// Reads nothing itself: the file comes in pieces read by others
    /// ([`CaptureReader::in_pieces`]).
    in_pieces: bool,
    /// In pieces: the bytes ran out before the file's end. The record that
    /// begins at `start` goes on in the next piece.
    starved: bool,
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header and prepares to stream packets.
    pub fn new(reader: R) -> Result<Self, CaptureError> {
        Self::over(reader, vec![0; READ_CHUNK], 0, 0, false).read_header()
    }

    /// A reader whose buffer holds `buf[start..end]` of the file's first bytes.
    fn over(reader: R, buf: Vec<u8>, start: usize, end: usize, in_pieces: bool) -> Self {
        CaptureReader {
            reader,
            buf,
            start,
            end,
            eof: false,
            format: Format::PcapNg {
                big_endian: false,
                interfaces: Vec::new(),
            },
            frame: 0,
            offset: 0,
            last_ts: 0,
            warnings: Vec::new(),
            done: false,
            parse_every_block: false,
            in_pieces,
            starved: false,
        }
    }

    /// Reads the file header and prepares to stream packets.
    fn read_header(self) -> Result<Self, CaptureError> {
        let mut r = self;
        r.fill(28)?;
        let head = &r.buf[r.start..r.end];
        if head.is_empty() {
            return Err(CaptureError::NotACapture("the file is empty".into()));
        }
        if head.len() >= 4 && head[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
            r.fill(12)?;
            match parse_sectionheaderblock(&r.buf[r.start..r.end]) {
                Ok(_) | Err(nom::Err::Incomplete(_)) => {
                    // Endianness is read from the byte-order magic when the block is parsed.
                }
                Err(_) => {
                    return Err(CaptureError::NotACapture(
                        "pcapng section header with an unknown byte-order magic".into(),
                    ))
                }
            }
            return Ok(r);
        }
        match parse_pcap_header(head) {
            Ok((_, h)) => {
                r.format = Format::Pcap {
                    big_endian: h.is_bigendian(),
                    nanos: h.is_nanosecond_precision(),
                    modified: h.is_modified_format(),
                    link: LinkType(h.network.0 as u32),
                };
                r.consume(24);
                Ok(r)
            }
            Err(nom::Err::Incomplete(_)) => Err(CaptureError::NotACapture(format!(
                "only {} bytes, shorter than a pcap file header",
                head.len()
            ))),
            Err(_) => Err(CaptureError::NotACapture(format!(
                "unknown magic number {}",
                hex(&head[..head.len().min(4)])
            ))),
        }
    }

    /// Warnings about the file itself (truncation, corrupt records), for stderr.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The next packet, `None` at the end of the file. A file cut short or a
    /// corrupt record ends the stream with a warning rather than an error.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.format {
                Format::Pcap { .. } => return self.next_pcap(),
                Format::PcapNg { .. } => {
                    if let Some(w) = self.next_pcapng_packet()? {
                        return Ok(Some(self.take_whole(w)));
                    }
                    if self.done || self.starved {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Hands `each` every packet whose record lies whole in the buffer (a
    /// pcap record, a pcapng enhanced packet block), or else the next
    /// packet as [`next_packet`](Self::next_packet) finds it; `false` at
    /// the end of the file (or of the piece). The read loops go through
    /// it: `next_packet`'s result, paid per packet, was 4% of a
    /// single-threaded read of bulk traffic. `each` is called at one
    /// place, so that it is inlined into the loop.
    #[inline]
    pub fn next_packets(
        &mut self,
        mut each: impl FnMut(&Packet<'_>),
    ) -> Result<bool, CaptureError> {
        let mut given = false;
        loop {
            let whole = self.whole_record();
            let last = whole.is_none();
            let p = match whole {
                Some(w) => self.take_whole(w),
                None if given => return Ok(true),
                None => match self.next_packet()? {
                    Some(p) => p,
                    None => return Ok(false),
                },
            };
            each(&p);
            if last {
                return Ok(true);
            }
            given = true;
        }
    }

    /// The packet record at `start` when it lies whole in the buffer and
    /// reads without a parser: a pcap record, or a pcapng enhanced packet
    /// block of a known interface ([`plain_epb`]). Anything else (a pcapng
    /// block of another type, a record cut by the buffer's end, a corrupt
    /// header) is left to [`next_packet`](Self::next_packet), which reads
    /// these records the same way. Reading pcapng blocks only there cost
    /// 120 more instructions a packet than pcap records (a bulk pgbench
    /// capture, one thread: 108.9M instructions for 200,000 packets in
    /// pcapng against 84.7M in pcap).
    #[inline(always)]
    fn whole_record(&self) -> Option<Whole> {
        if self.done {
            return None;
        }
        let b = self.buf[..self.end].get(self.start..)?;
        match &self.format {
            &Format::Pcap {
                big_endian,
                nanos,
                modified,
                link,
            } => {
                let hdr_len = if modified { 24 } else { 16 };
                let (sec, frac, caplen, orig_len) =
                    record_header(b.get(..16)?.try_into().ok()?, big_endian);
                let caplen = caplen as usize;
                (caplen <= MAX_PCAP_RECORD && hdr_len + caplen <= b.len()).then(|| Whole {
                    len: hdr_len + caplen,
                    data_at: hdr_len,
                    caplen,
                    ts: i64::from(sec) * 1_000_000_000
                        + i64::from(frac) * if nanos { 1 } else { 1_000 },
                    link,
                    orig_len: orig_len.max(caplen as u32),
                })
            }
            Format::PcapNg {
                big_endian,
                interfaces,
            } => {
                if self.parse_every_block {
                    return None;
                }
                let h = b.get(..8)?;
                let (kind, len) = (
                    u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
                    u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
                );
                let (kind, len) = if *big_endian {
                    (kind.swap_bytes(), len.swap_bytes() as usize)
                } else {
                    (kind, len as usize)
                };
                if kind != 6 || len > b.len() || len > MAX_PCAPNG_BLOCK || !len.is_multiple_of(4) {
                    return None;
                }
                let (data_at, caplen, ts, link, orig_len) =
                    plain_epb(&b[..len], *big_endian, interfaces)?;
                Some(Whole {
                    len,
                    data_at,
                    caplen,
                    ts,
                    link,
                    orig_len,
                })
            }
        }
    }

    /// The record [`whole_record`](Self::whole_record) found at `start`,
    /// taken. Inlined into every path: a call here cost the bulk path ~13%.
    #[inline(always)]
    fn take_whole(&mut self, w: Whole) -> Packet<'_> {
        let data_start = self.start + w.data_at;
        self.consume(w.len);
        self.frame += 1;
        // A simple packet block has no time: it takes the last packet's.
        self.last_ts = w.ts;
        Packet {
            frame: self.frame,
            ts_nanos: w.ts,
            link: w.link,
            data: &self.buf[data_start..data_start + w.caplen],
            orig_len: w.orig_len,
        }
    }

    fn next_pcap(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        let Format::Pcap {
            big_endian,
            modified,
            ..
        } = self.format
        else {
            return Ok(None);
        };
        // Fast path: the whole record is already in the buffer.
        if let Some(w) = self.whole_record() {
            return Ok(Some(self.take_whole(w)));
        }
        let hdr_len = if modified { 24 } else { 16 };
        self.fill(hdr_len)?;
        let avail = self.end - self.start;
        if avail < hdr_len {
            self.ran_out(avail, hdr_len, "a record header");
            return Ok(None);
        }
        let mut h = [0; 16];
        h.copy_from_slice(&self.buf[self.start..self.start + 16]);
        let caplen = record_header(&h, big_endian).2 as usize;
        if caplen > MAX_PCAP_RECORD {
            self.corrupt(format!(
                "record {} claims {caplen} captured bytes, more than any snapshot length",
                self.frame + 1
            ));
            return Ok(None);
        }
        self.fill(hdr_len + caplen)?;
        let avail = self.end - self.start;
        if avail < hdr_len + caplen {
            self.ran_out(avail, hdr_len + caplen, "a packet");
            return Ok(None);
        }
        // Whole now.
        Ok(self.whole_record().map(|w| self.take_whole(w)))
    }

    /// Reads pcapng blocks until a packet block, which it leaves at `start`
    /// for [`take_whole`](Self::take_whole).
    fn next_pcapng_packet(&mut self) -> Result<Option<Whole>, CaptureError> {
        loop {
            self.fill(12)?;
            let avail = self.end - self.start;
            if avail < 12 {
                self.ran_out(avail, 12, "a block header");
                return Ok(None);
            }
            let b = &self.buf[self.start..self.end];
            let is_shb = b[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
            let big_endian = match &self.format {
                _ if is_shb => b[8..12] == [0x1a, 0x2b, 0x3c, 0x4d],
                Format::PcapNg { big_endian, .. } => *big_endian,
                Format::Pcap { .. } => false,
            };
            let len_bytes = [b[4], b[5], b[6], b[7]];
            let block_len = if big_endian {
                u32::from_be_bytes(len_bytes)
            } else {
                u32::from_le_bytes(len_bytes)
            } as usize;
            if block_len < 12 || !block_len.is_multiple_of(4) || block_len > MAX_PCAPNG_BLOCK {
                self.corrupt(format!(
                    "pcapng block at byte {} has an impossible length {block_len}",
                    self.offset
                ));
                return Ok(None);
            }
            self.fill(block_len)?;
            let avail = self.end - self.start;
            if avail < block_len {
                self.ran_out(avail, block_len, "a block");
                return Ok(None);
            }
            let bytes = &self.buf[self.start..self.start + block_len];
            let type_bytes = [bytes[0], bytes[1], bytes[2], bytes[3]];
            let block_type = if big_endian {
                u32::from_be_bytes(type_bytes)
            } else {
                u32::from_le_bytes(type_bytes)
            };
            if block_type == 6 {
                // Whole now: read in place, as the batched loop reads it.
                if let Some(w) = self.whole_record() {
                    return Ok(Some(w));
                }
            }
            let record = |data: &[u8], ts: i64, link: LinkType, orig_len: u32| Whole {
                len: block_len,
                data_at: data.as_ptr() as usize - bytes.as_ptr() as usize,
                caplen: data.len(),
                ts,
                link,
                orig_len,
            };
            let parsed = if big_endian {
                parse_block_be(bytes)
            } else {
                parse_block_le(bytes)
            };
            let mut found = None;
            match parsed {
                Ok((_, Block::SectionHeader(_))) => {
                    self.format = Format::PcapNg {
                        big_endian,
                        interfaces: Vec::new(),
                    };
                }
                Ok((_, Block::InterfaceDescription(idb))) => {
                    if let Format::PcapNg { interfaces, .. } = &mut self.format {
                        let units = ts_units(idb.if_tsresol);
                        interfaces.push(Interface::new(
                            LinkType(idb.linktype.0 as u32),
                            units.unwrap_or(1_000_000),
                            ts_offset(&idb.options, big_endian),
                        ));
                        if units.is_none() {
                            let w = format!(
                                "pcapng interface {} gives an impossible timestamp resolution ({:#04x}); its times are read as microseconds",
                                interfaces.len() - 1,
                                idb.if_tsresol
                            );
                            self.warn_once(w);
                        }
                    }
                }
                Ok((_, Block::EnhancedPacket(epb))) => {
                    let iface = match &self.format {
                        Format::PcapNg { interfaces, .. } => {
                            interfaces.get(epb.if_id as usize).copied()
                        }
                        Format::Pcap { .. } => None,
                    };
                    match iface {
                        Some(iface) => {
                            let data = epb.packet_data();
                            let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                            let ts = iface.timestamp(raw);
                            found = Some(record(data, ts, iface.link, epb.orig_len()));
                        }
                        None => self.warn_once(format!(
                            "packet block names interface {} that no interface block described; skipped",
                            epb.if_id
                        )),
                    }
                }
                Ok((_, Block::SimplePacket(spb))) => {
                    let iface = match &self.format {
                        Format::PcapNg { interfaces, .. } => interfaces.first().copied(),
                        Format::Pcap { .. } => None,
                    };
                    if let Some(iface) = iface {
                        let data = spb.packet_data();
                        found = Some(record(data, self.last_ts, iface.link, spb.orig_len()));
                    }
                }
                Ok(_) => {} // statistics, name resolution, custom and unknown blocks
                // A block type pgtls does not use is skipped silently: its
                // length was checked above, and pcapng readers must skip
                // unknown blocks. A packet or interface block that fails is
                // worth a warning.
                Err(_) if !matters(block_type) => {}
                Err(_) => self.warn_once(format!(
                    "pcapng block at byte {} could not be decoded; skipped",
                    self.offset
                )),
            }
            if found.is_some() {
                return Ok(found);
            }
            self.consume(block_len);
        }
    }

    fn warn_once(&mut self, w: String) {
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// The bytes ran out `have` bytes into the `need` of `what`: read in
    /// pieces, the rest is in the next piece; at the first byte of a
    /// record, the file ends; else it was cut short.
    fn ran_out(&mut self, have: usize, need: usize, what: &str) {
        if self.starved {
            return;
        }
        if have > 0 {
            self.warnings.push(format!(
                "the capture ends in the middle of {what} after frame {} ({have} of {need} bytes present); reporting what was read",
                self.frame
            ));
        }
        self.done = true;
    }

    fn corrupt(&mut self, why: String) {
        self.warnings.push(format!(
            "{why}; the file is corrupt from byte {} on, reporting the {} frames before it",
            self.offset, self.frame
        ));
        self.done = true;
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Makes at least `n` bytes available from `start`, unless the file ends first.
    #[inline]
    fn fill(&mut self, n: usize) -> Result<(), CaptureError> {
        if self.end - self.start >= n || self.eof {
            return Ok(());
        }
        self.fill_more(n)
    }

    fn fill_more(&mut self, n: usize) -> Result<(), CaptureError> {
        if self.in_pieces {
            // The buffer is not this reader's to move: packets framed from
            // it are read where they lie by other threads.
            self.starved = true;
            return Ok(());
        }
        let buf = &mut self.buf;
        if self.start + n > buf.len() {
            buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if n > buf.len() {
                buf.resize(n.next_power_of_two(), 0);
            }
        }
        while self.end - self.start < n {
            match self.reader.read(&mut buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl CaptureReader<io::Empty> {
    /// A reader over a regular file that several threads read in pieces:
    /// `buf[at..at + len]` is the file's first piece (at least a file
    /// header long unless `last`: the file ends with it). When the bytes
    /// run out, [`next_packet`](Self::next_packet) gives `None` and
    /// [`wants_next_piece`](Self::wants_next_piece) says whether the file
    /// goes on.
    pub fn in_pieces(
        buf: Vec<u8>,
        at: usize,
        len: usize,
        last: bool,
    ) -> Result<Self, CaptureError> {
        let mut r = Self::over(io::empty(), buf, at, at + len, true);
        r.eof = last;
        r.read_header()
    }

    /// Whether the piece ran out before the file did.
    pub fn wants_next_piece(&self) -> bool {
        self.starved
    }

    /// Gives back the buffer of the piece just framed; the bytes not framed
    /// yet (the start of a record the piece's end cut) go to `carry`.
    pub fn take_piece(&mut self, carry: &mut Vec<u8>) -> Vec<u8> {
        // `next_piece` left the carry empty: it is in this buffer now.
        debug_assert!(carry.is_empty());
        if self.start == 0 {
            // Nothing was framed from this buffer (a record or block longer
            // than the pieces): it is the carry, growing piece by piece.
            let mut b = std::mem::take(&mut self.buf);
            b.truncate(self.end);
            std::mem::swap(carry, &mut b);
            self.end = 0;
            return b;
        }
        carry.clear();
        carry.extend_from_slice(&self.buf[self.start..self.end]);
        self.start = 0;
        self.end = 0;
        std::mem::take(&mut self.buf)
    }

    /// Goes on in the next piece, `buf[at..at + len]`, after `carry`
    /// (taken by [`take_piece`](Self::take_piece)); `last`: the file ends
    /// with this piece. A carry longer than `at` (a record longer than the
    /// room before a piece) is joined with the piece in the carry's buffer,
    /// which is then handed back by the next `take_piece`; `buf` is returned
    /// unused.
    pub fn next_piece(
        &mut self,
        mut buf: Vec<u8>,
        at: usize,
        len: usize,
        last: bool,
        carry: &mut Vec<u8>,
    ) -> Option<Vec<u8>> {
        self.starved = false;
        self.eof = last;
        if carry.len() <= at {
            let from = at - carry.len();
            buf[from..at].copy_from_slice(carry);
            carry.clear();
            self.buf = buf;
            self.start = from;
            self.end = at + len;
            return None;
        }
        carry.extend_from_slice(&buf[at..at + len]);
        self.buf = std::mem::take(carry);
        self.start = 0;
        self.end = self.buf.len();
        Some(buf)
    }

    /// The offset in the file of the first byte not framed yet.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Packets framed so far: the last one's frame number.
    pub fn frames(&self) -> u64 {
        self.frame
    }

    /// The buffer the packets framed since the last piece lie in.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }
}

/// A pcap record header: seconds, fraction, captured and original length.
#[inline(always)]
fn record_header(h: &[u8; 16], big_endian: bool) -> (u32, u32, u32, u32) {
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let w = (word(0), word(4), word(8), word(12));
    // One test a record, not one a word.
    if big_endian {
        (
            w.0.swap_bytes(),
            w.1.swap_bytes(),
            w.2.swap_bytes(),
            w.3.swap_bytes(),
        )
    } else {
        w
    }
}

/// Block types whose loss changes what pgtls reads: section header,
/// interface description, enhanced and simple packet blocks.
fn matters(block_type: u32) -> bool {
    matches!(block_type, 0x0a0d_0d0a | 1 | 3 | 6)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    /// A frame as (frame, time, link, bytes, original length).
    type Frame = (u64, i64, u32, Vec<u8>, u32);

    fn frame_of(p: &Packet<'_>) -> Frame {
        (p.frame, p.ts_nanos, p.link.0, p.data.to_vec(), p.orig_len)
    }

    /// The packets and warnings of a capture, read as the read loops read
    /// (records whole in the buffer taken in place, in batches).
    fn frames<R: Read>(mut r: CaptureReader<R>) -> (Vec<Frame>, Vec<String>) {
        let mut out = Vec::new();
        while r.next_packets(|p| out.push(frame_of(p))).unwrap() {}
        (out, r.take_warnings())
    }

    /// The same, one packet at a time.
    fn frames_one_by_one<R: Read>(mut r: CaptureReader<R>) -> (Vec<Frame>, Vec<String>) {
        let mut out = Vec::new();
        while let Some(p) = r.next_packet().unwrap() {
            out.push(frame_of(&p));
        }
        (out, r.take_warnings())
    }

    /// Taken in batches or one at a time, through the parser or in place,
    /// read in one buffer or trickling in, every test file and bundled
    /// capture gives the same packets and warnings.
    #[test]
    fn packets_read_in_batches_are_those_read_one_by_one() {
        let mut inputs: Vec<Vec<u8>> = [0, 5, 1000].iter().flat_map(|&c| files(c)).collect();
        inputs.extend(pcapng_variants());
        for path in crate::testutil::bundled_captures() {
            inputs.push(std::fs::read(path).unwrap());
        }
        let mut ng = 0;
        for (n, bytes) in inputs.iter().enumerate() {
            let (want, want_warn) = frames_one_by_one(CaptureReader::new(&bytes[..]).unwrap());
            assert!(!want.is_empty(), "file {n}");
            ng += usize::from(bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]));
            for every_block in [false, true] {
                for trickle in [bytes.len(), 1000, 7] {
                    let mut r = CaptureReader::new(Trickle(bytes, trickle)).unwrap();
                    r.parse_every_block = every_block;
                    let (got, warn) = frames(r);
                    let what = format!("file {n}, every block {every_block}, reads of {trickle}");
                    assert_eq!(got.len(), want.len(), "{what}");
                    for (g, w) in got.iter().zip(&want) {
                        assert!(g == w, "{what} frame {}: {g:?} against {w:?}", w.0);
                    }
                    assert_eq!(warn, want_warn, "{what}");
                }
            }
        }
        assert!(ng >= 10, "{ng} pcapng files");
    }

    /// Writes a pcapng file block by block in either byte order, from its
    /// section header on.
    struct NgWriter {
        big: bool,
        bytes: Vec<u8>,
    }

    impl NgWriter {
        fn new(big: bool) -> Self {
            let mut w = NgWriter {
                big,
                bytes: Vec::new(),
            };
            let mut shb = w.u32(0x1a2b_3c4d).to_vec();
            shb.extend_from_slice(&w.u16(1));
            shb.extend_from_slice(&w.u16(0));
            shb.extend_from_slice(&u64::MAX.to_le_bytes());
            w.block(0x0a0d_0d0a, &shb);
            w
        }

        fn u32(&self, v: u32) -> [u8; 4] {
            if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        fn u16(&self, v: u16) -> [u8; 2] {
            if self.big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }

        /// A block: type, length, `body` padded to 4 bytes, length again.
        fn block(&mut self, kind: u32, body: &[u8]) {
            let len = (12 + body.len().div_ceil(4) * 4) as u32;
            let (kind, len) = (self.u32(kind), self.u32(len));
            self.bytes.extend_from_slice(&kind);
            self.bytes.extend_from_slice(&len);
            self.bytes.extend_from_slice(body);
            self.bytes.resize(self.bytes.len().next_multiple_of(4), 0);
            self.bytes.extend_from_slice(&len);
        }

        /// An option appended to a block's body, padded to 4 bytes.
        fn option(&self, body: &mut Vec<u8>, code: u16, value: &[u8]) {
            body.extend_from_slice(&self.u16(code));
            body.extend_from_slice(&self.u16(value.len() as u16));
            body.extend_from_slice(value);
            body.resize(body.len().next_multiple_of(4), 0);
        }

        /// An enhanced packet block's body up to its options.
        fn epb(&self, if_id: u32, raw_ts: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
            let mut epb = self.u32(if_id).to_vec();
            epb.extend_from_slice(&self.u32((raw_ts >> 32) as u32));
            epb.extend_from_slice(&self.u32(raw_ts as u32));
            epb.extend_from_slice(&self.u32(data.len() as u32));
            epb.extend_from_slice(&self.u32(orig_len));
            epb.extend_from_slice(data);
            epb.resize(epb.len().next_multiple_of(4), 0);
            epb
        }
    }

    /// A pcap and a pcapng file of packets of random lengths (up to 70 KB,
    /// so some records are longer than a window), cut `cut` bytes short.
    fn files(cut: usize) -> [Vec<u8>; 2] {
        let mut rng = XorShift(7);
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        pcap.extend_from_slice(&[0; 8]);
        pcap.extend_from_slice(&262_144u32.to_le_bytes());
        pcap.extend_from_slice(&1u32.to_le_bytes());
        let mut ng = NgWriter::new(false);
        ng.block(1, &[1, 0, 0, 0, 0, 0, 4, 0]);
        for i in 0..3000u32 {
            let len = if i % 500 == 7 {
                70_000
            } else {
                (rng.next() % 1600) as usize
            };
            let data: Vec<u8> = (0..len).map(|j| (j as u32 ^ i) as u8).collect();
            pcap.extend_from_slice(&(1_700_000_000 + i).to_le_bytes());
            pcap.extend_from_slice(&i.to_le_bytes());
            pcap.extend_from_slice(&(len as u32).to_le_bytes());
            pcap.extend_from_slice(&(len as u32 + 4).to_le_bytes());
            pcap.extend_from_slice(&data);
            let ts = u64::from(1_700_000_000 + i) * 1_000_000 + u64::from(i);
            let epb = ng.epb(0, ts, &data, len as u32 + 4);
            ng.block(6, &epb);
        }
        let mut ng = ng.bytes;
        pcap.truncate(pcap.len() - cut);
        ng.truncate(ng.len() - cut);
        [pcap, ng]
    }

    /// A reader that returns at most `n` bytes per call, as pipes and
    /// sockets do.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let k = self.0.len().min(self.1).min(out.len());
            out[..k].copy_from_slice(&self.0[..k]);
            self.0 = &self.0[k..];
            Ok(k)
        }
    }

    /// The buffer's refills (records longer than the read size and than the
    /// buffer, records split across reads, files cut short) give the packets
    /// that reading the whole file at once gives.
    #[test]
    fn short_reads_give_what_one_read_gives() {
        for cut in [0, 5, 1000] {
            for (i, bytes) in files(cut).iter().enumerate() {
                let (want, want_warn) = frames(CaptureReader::new(&bytes[..]).unwrap());
                assert!(want.len() >= 2990, "{}", want.len());
                assert_eq!(want_warn.is_empty(), cut == 0, "{want_warn:?}");
                for n in [1, 7, 4096, 100_000, 1 << 20] {
                    let (got, warn) = frames(CaptureReader::new(Trickle(bytes, n)).unwrap());
                    assert_eq!(got.len(), want.len(), "file {i} cut {cut} reads of {n}");
                    assert!(
                        got == want,
                        "file {i} cut {cut} reads of {n}: packets differ"
                    );
                    assert_eq!(warn, want_warn, "file {i} cut {cut} reads of {n}");
                }
            }
        }
    }

    /// Frames `bytes` as the workers of a sharded run do: in pieces of
    /// `piece` bytes, each read into a buffer with `room` bytes before it
    /// (filled with junk, which must never show).
    fn frames_in_pieces(bytes: &[u8], piece: usize, room: usize) -> (Vec<Frame>, Vec<String>) {
        let read = |i: usize| {
            let from = (i * piece).min(bytes.len());
            let to = (from + piece).min(bytes.len());
            let mut buf = vec![0xa5; room + piece];
            buf[room..room + to - from].copy_from_slice(&bytes[from..to]);
            (buf, to - from, to - from < piece)
        };
        let (buf, len, last) = read(0);
        let mut r = CaptureReader::in_pieces(buf, room, len, last).unwrap();
        let mut carry = Vec::new();
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            // As the framer reads them.
            while r.next_packets(|p| out.push(frame_of(p))).unwrap() {}
            if !r.wants_next_piece() {
                break;
            }
            r.take_piece(&mut carry);
            i += 1;
            let (buf, len, last) = read(i);
            r.next_piece(buf, room, len, last, &mut carry);
        }
        (out, r.take_warnings())
    }

    /// Read in pieces of any size, with room for a whole cut record before
    /// each piece or not (then the cut record and the piece are joined),
    /// a file gives the packets and warnings one reader gives: records cut
    /// by a piece's end, records longer than several pieces, files cut
    /// short, every pcapng variant.
    #[test]
    fn reading_in_pieces_gives_what_one_reader_gives() {
        let mut inputs: Vec<Vec<u8>> = [0, 5, 1000].iter().flat_map(|&c| files(c)).collect();
        inputs.extend(pcapng_variants());
        inputs.push(std::fs::read("samples/tls13.pcapng").unwrap());
        for (i, bytes) in inputs.iter().enumerate() {
            let want = frames(CaptureReader::new(&bytes[..]).unwrap());
            assert!(!want.0.is_empty());
            let sizes: [(usize, &[usize]); 6] = [
                (64, &[0, 64, 2048]),
                (100, &[0, 100]),
                (1500, &[0, 2048]),
                (4096, &[0, 2048, MAX_PCAP_RECORD]),
                (70_001, &[0, MAX_PCAP_RECORD]),
                (1 << 18, &[0, MAX_PCAP_RECORD]),
            ];
            for (piece, rooms) in sizes {
                for &room in rooms {
                    let got = frames_in_pieces(bytes, piece, room);
                    assert_eq!(got.0.len(), want.0.len(), "input {i}, {piece}/{room}");
                    assert!(got == want, "input {i}, pieces of {piece}, room {room}");
                }
            }
        }
    }

    /// pcapng files of the sample packets as capture tools write them: both
    /// byte orders; microsecond, nanosecond and binary (2^-20 s) resolutions,
    /// with and without a time offset; two interfaces; some packets carrying
    /// options (flags, a comment), some blocks inconsistent.
    fn pcapng_variants() -> Vec<Vec<u8>> {
        let bytes = std::fs::read("samples/tls12.pcap").unwrap();
        let (packets, _) = frames(CaptureReader::new(&bytes[..]).unwrap());
        let mut files = Vec::new();
        for big in [false, true] {
            for (tsresol, offset) in [
                (None, None),
                (Some(9u8), Some(-3600i64)),
                (Some(0x94), None),
            ] {
                let mut ng = NgWriter::new(big);
                for _ in 0..2 {
                    let mut idb = ng.u16(1).to_vec();
                    idb.extend_from_slice(&[0, 0]);
                    idb.extend_from_slice(&ng.u32(65535));
                    if let Some(r) = tsresol {
                        ng.option(&mut idb, 9, &[r]);
                    }
                    if let Some(o) = offset {
                        let o = if big {
                            o.to_be_bytes()
                        } else {
                            o.to_le_bytes()
                        };
                        ng.option(&mut idb, 14, &o);
                    }
                    if tsresol.is_some() || offset.is_some() {
                        ng.option(&mut idb, 0, &[]);
                    }
                    ng.block(1, &idb);
                }
                let units = match tsresol {
                    None => 1_000_000u128,
                    Some(9) => 1_000_000_000,
                    Some(_) => 1 << 20,
                };
                for (i, (_, ts, _, data, orig_len)) in packets.iter().enumerate() {
                    let raw = (*ts as u128 * units / 1_000_000_000) as u64;
                    let mut epb = ng.epb((i % 2) as u32, raw, data, *orig_len);
                    match i % 7 {
                        3 => {
                            ng.option(&mut epb, 2, &ng.u32(1));
                            ng.option(&mut epb, 0, &[]);
                        }
                        5 => {
                            ng.option(&mut epb, 1, b"a comment");
                            ng.option(&mut epb, 0, &[]);
                        }
                        // No end-of-options option.
                        1 => ng.option(&mut epb, 2, &ng.u32(2)),
                        // An option longer than the block, after one that
                        // fits; and bytes that are no option at all.
                        4 if i % 2 == 0 => {
                            ng.option(&mut epb, 2, &ng.u32(1));
                            epb.extend_from_slice(&ng.u16(1));
                            epb.extend_from_slice(&ng.u16(200));
                            epb.extend_from_slice(b"cut");
                        }
                        4 => epb.extend_from_slice(&[0xff; 6]),
                        // Captured length past the block: pcap_parser
                        // refuses it, with a warning.
                        6 if i == 6 => epb[12..16].copy_from_slice(&ng.u32(1 << 20)),
                        _ => {}
                    }
                    ng.block(6, &epb);
                }
                files.push(ng.bytes);
            }
        }
        files
    }

    /// Enhanced packet blocks read in place give the packets (and warnings)
    /// pcap_parser gives, on every variant and on the bundled pcapng sample.
    #[test]
    fn plain_packet_blocks_read_as_pcap_parser_reads_them() {
        let mut inputs = pcapng_variants();
        inputs.push(std::fs::read("samples/tls13.pcapng").unwrap());
        inputs.push(files(0)[1].clone());
        for (n, bytes) in inputs.iter().enumerate() {
            let (fast, fast_warn) = frames(CaptureReader::new(&bytes[..]).unwrap());
            let mut slow = CaptureReader::new(&bytes[..]).unwrap();
            slow.parse_every_block = true;
            let (slow, slow_warn) = frames(slow);
            assert!(fast.len() > 10, "file {n}: {} packets", fast.len());
            assert_eq!(fast.len(), slow.len(), "file {n}");
            for (f, s) in fast.iter().zip(&slow) {
                assert!(f == s, "file {n} frame {}: {f:?} against {s:?}", f.0);
            }
            assert_eq!(fast_warn, slow_warn, "file {n}");
        }
    }

    /// Timestamps of every resolution come out in nanoseconds, the time
    /// offset added, whichever way they are computed.
    #[test]
    fn pcapng_timestamps_in_every_resolution() {
        let bytes = std::fs::read("samples/tls12.pcap").unwrap();
        let (want, _) = frames(CaptureReader::new(&bytes[..]).unwrap());
        for (n, file) in pcapng_variants().iter().enumerate() {
            let (got, warnings) = frames(CaptureReader::new(&file[..]).unwrap());
            // The block with a captured length past its end is skipped.
            assert_eq!(got.len(), want.len() - 1, "file {n}");
            assert_eq!(warnings.len(), 1, "file {n}: {warnings:?}");
            let offset = if n % 3 == 1 { -3600 * 1_000_000_000 } else { 0 };
            for (g, w) in got.iter().zip(want.iter().filter(|w| w.0 != 7)) {
                assert_eq!(g.3, w.3, "file {n}: packet bytes");
                let step = if n % 3 == 2 { 954 } else { 0 }; // 2^-20 s rounds down
                assert!(
                    (w.1 + offset - g.1).abs() <= step,
                    "file {n}: {} against {}",
                    g.1,
                    w.1 + offset
                );
            }
        }
    }

    /// An interface whose resolution does not fit in 64 bits (10^25 units a
    /// second) is read in microseconds, with a warning, not a wrong time.
    #[test]
    fn an_impossible_resolution_is_warned_and_read_in_microseconds() {
        let mut ng = NgWriter::new(false);
        // Link type 1, snaplen, if_tsresol = 25, end of options.
        ng.block(
            1,
            &[1, 0, 0, 0, 0, 0, 4, 0, 9, 0, 1, 0, 25, 0, 0, 0, 0, 0, 0, 0],
        );
        let epb = ng.epb(0, 1_700_000_000_123_456, &[1, 2, 3, 4], 4);
        ng.block(6, &epb);
        let (got, warnings) = frames(CaptureReader::new(&ng.bytes[..]).unwrap());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, 1_700_000_000_123_456_000);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("impossible timestamp resolution"),
            "{warnings:?}"
        );
    }
}
