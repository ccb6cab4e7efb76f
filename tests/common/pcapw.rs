//! A small reader for legacy pcap files and writers for pcap and pcapng, so
//! the tests can store the same packets in every file shape pgtls reads.

/// One captured packet of a legacy pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub ts_sec: u32,
    /// Microseconds or nanoseconds, as [`Capture::nanos`] says.
    pub ts_frac: u32,
    pub data: Vec<u8>,
    /// Length on the wire (at least `data.len()`).
    pub orig_len: u32,
}

/// The packets of a capture and the facts of its file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// LINKTYPE_ value.
    pub link: u32,
    /// `ts_frac` counts nanoseconds (else microseconds).
    pub nanos: bool,
    pub snaplen: u32,
    pub records: Vec<Record>,
}

impl Capture {
    /// Timestamp of a record in nanoseconds.
    pub fn ts_nanos(&self, r: &Record) -> u64 {
        u64::from(r.ts_sec) * 1_000_000_000
            + u64::from(r.ts_frac) * if self.nanos { 1 } else { 1_000 }
    }
}

const MAGIC_MICRO: u32 = 0xa1b2_c3d4;
const MAGIC_NANO: u32 = 0xa1b2_3c4d;

/// Reads a legacy pcap file in either byte order, micro- or nanosecond.
pub fn read_pcap(b: &[u8]) -> Result<Capture, String> {
    if b.len() < 24 {
        return Err(format!("{} bytes: shorter than a pcap header", b.len()));
    }
    let le = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let be = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (big, nanos) = match (le, be) {
        (MAGIC_MICRO, _) => (false, false),
        (MAGIC_NANO, _) => (false, true),
        (_, MAGIC_MICRO) => (true, false),
        (_, MAGIC_NANO) => (true, true),
        _ => return Err(format!("unknown magic {:02x?}", &b[..4])),
    };
    let u32_at = |i: usize| {
        let x = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if big {
            u32::from_be_bytes(x)
        } else {
            u32::from_le_bytes(x)
        }
    };
    let snaplen = u32_at(16);
    let link = u32_at(20) & 0x0fff_ffff;
    let mut records = Vec::new();
    let mut off = 24;
    while off < b.len() {
        if off + 16 > b.len() {
            return Err(format!("record header cut at byte {off}"));
        }
        let (ts_sec, ts_frac, caplen, orig_len) = (
            u32_at(off),
            u32_at(off + 4),
            u32_at(off + 8) as usize,
            u32_at(off + 12),
        );
        let start = off + 16;
        if start + caplen > b.len() {
            return Err(format!("record data cut at byte {start}"));
        }
        records.push(Record {
            ts_sec,
            ts_frac,
            data: b[start..start + caplen].to_vec(),
            orig_len,
        });
        off = start + caplen;
    }
    Ok(Capture {
        link,
        nanos,
        snaplen,
        records,
    })
}

/// Appends integers in one byte order.
struct Out {
    big: bool,
    buf: Vec<u8>,
}

impl Out {
    fn new(big: bool) -> Self {
        Out {
            big,
            buf: Vec::new(),
        }
    }
    fn u16(&mut self, v: u16) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn pad4(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
}

/// Converts a record's fraction of a second to the unit a writer wants.
fn frac_in(cap: &Capture, r: &Record, want_nanos: bool) -> u32 {
    match (cap.nanos, want_nanos) {
        (false, true) => r.ts_frac * 1_000,
        (true, false) => r.ts_frac / 1_000,
        _ => r.ts_frac,
    }
}

/// Writes a legacy pcap file: byte order and timestamp unit as asked.
pub fn write_pcap(cap: &Capture, big_endian: bool, nanos: bool) -> Vec<u8> {
    let mut o = Out::new(big_endian);
    o.u32(if nanos { MAGIC_NANO } else { MAGIC_MICRO });
    o.u16(2);
    o.u16(4);
    o.u32(0); // thiszone
    o.u32(0); // sigfigs
    o.u32(cap.snaplen);
    o.u32(cap.link);
    for r in &cap.records {
        o.u32(r.ts_sec);
        o.u32(frac_in(cap, r, nanos));
        o.u32(r.data.len() as u32);
        o.u32(r.orig_len.max(r.data.len() as u32));
        o.bytes(&r.data);
    }
    o.buf
}

/// Shapes of a pcapng file.
#[derive(Debug, Clone, Copy, Default)]
pub struct PcapngOptions {
    pub big_endian: bool,
    /// Timestamps in nanoseconds (if_tsresol = 9), else microseconds.
    pub nanos: bool,
    /// Put a block of a type no specification defines before the packets.
    pub unknown_block: bool,
    /// Start a second section (SHB + IDB) half way through the packets, with
    /// this byte order.
    pub second_section: Option<bool>,
}

/// A block type no pcapng specification assigns.
pub const UNKNOWN_BLOCK_TYPE: u32 = 0x0000_0b1d;

fn block(o: &mut Out, kind: u32, body: impl FnOnce(&mut Out)) {
    let start = o.buf.len();
    o.u32(kind);
    o.u32(0); // length, patched below
    body(o);
    o.pad4();
    let len = (o.buf.len() - start + 4) as u32;
    o.u32(len);
    let lb = if o.big {
        len.to_be_bytes()
    } else {
        len.to_le_bytes()
    };
    o.buf[start + 4..start + 8].copy_from_slice(&lb);
}

fn section_start(o: &mut Out, link: u32, nanos: bool) {
    block(o, 0x0a0d_0d0a, |o| {
        o.u32(0x1a2b_3c4d);
        o.u16(1);
        o.u16(0);
        o.u32(0xffff_ffff); // section length unknown
        o.u32(0xffff_ffff);
    });
    block(o, 1, |o| {
        o.u16(link as u16);
        o.u16(0);
        o.u32(0); // snaplen: no limit
        if nanos {
            o.u16(9); // if_tsresol
            o.u16(1);
            o.bytes(&[9, 0, 0, 0]);
            o.u16(0); // opt_endofopt
            o.u16(0);
        }
    });
}

/// Writes a pcapng file: SHB, IDB, one EPB per record (plus the options' extras).
pub fn write_pcapng(cap: &Capture, opts: PcapngOptions) -> Vec<u8> {
    let mut o = Out::new(opts.big_endian);
    section_start(&mut o, cap.link, opts.nanos);
    if opts.unknown_block {
        block(&mut o, UNKNOWN_BLOCK_TYPE, |o| {
            o.bytes(b"not a packet, skip me")
        });
    }
    let half = cap.records.len() / 2;
    let mut all = Vec::new();
    for (i, r) in cap.records.iter().enumerate() {
        if i == half {
            if let Some(big) = opts.second_section {
                all.append(&mut o.buf);
                o = Out::new(big);
                section_start(&mut o, cap.link, opts.nanos);
                if opts.unknown_block {
                    block(&mut o, UNKNOWN_BLOCK_TYPE, |o| o.bytes(&[0xee; 7]));
                }
            }
        }
        let ts = if opts.nanos {
            cap.ts_nanos(r)
        } else {
            cap.ts_nanos(r) / 1_000
        };
        block(&mut o, 6, |o| {
            o.u32(0); // interface 0 of its section
            o.u32((ts >> 32) as u32);
            o.u32(ts as u32);
            o.u32(r.data.len() as u32);
            o.u32(r.orig_len.max(r.data.len() as u32));
            o.bytes(&r.data);
        });
    }
    all.append(&mut o.buf);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_round_trips_in_both_orders() {
        let cap = Capture {
            link: 1,
            nanos: false,
            snaplen: 65535,
            records: vec![Record {
                ts_sec: 7,
                ts_frac: 123_456,
                data: vec![1, 2, 3],
                orig_len: 3,
            }],
        };
        for big in [false, true] {
            assert_eq!(read_pcap(&write_pcap(&cap, big, false)).unwrap(), cap);
        }
    }
}
