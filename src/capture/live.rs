//! Live packets from a network interface through libpcap (cargo feature
//! `live`). Hands the pipeline the same [`Packet`] view as a capture file.
//!
//! Errors a person will meet when opening a capture (no permission, no such
//! interface, a bad BPF expression) come back as a [`LiveError`] whose message
//! is one line that says what to do.

use super::{LinkType, Packet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one read waits at most for a packet before it hands control
/// back, so that Ctrl-C and `--duration` are honoured on a quiet link. It is
/// also libpcap's read timeout: packets are handed over in batches at least
/// this often, so a verdict is printed at most this long after its packet.
///
/// libpcap's read timeout alone does not bound the wait: on Linux a read
/// with no packet at all waits until one arrives. So a small thread calls
/// `pcap_breakloop` this often, which wakes the read (libpcap ≥ 1.10 polls an
/// eventfd for it) and makes it return with no packet.
pub const READ_TIMEOUT_MS: i32 = 200;

/// Kernel buffer for packets waiting to be read (libpcap's default is 2 MB).
///
/// Not immediate mode: there, libpcap's Linux ring has fixed-size slots of
/// the snapshot length (64 KiB each on loopback), so 8 MB holds only about
/// 120 packets and a burst of short connections overflows it (seen: 1630 of
/// 518,152 packets dropped in a 120 s pgbench -C run). The default mode packs
/// packets into blocks by their real size: no drop in the same run, and
/// about a third of the memory.
pub const BUFFER_BYTES: i32 = 8 << 20;

/// A failure to open or read a live capture, as one line with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveError {
    pub kind: LiveErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveErrorKind {
    PermissionDenied,
    NoSuchInterface,
    BadFilter,
    NoDevice,
    Other,
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LiveError {}

/// What to open.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub interface: String,
    pub snaplen: u32,
    /// The complete BPF expression.
    pub filter: String,
    /// The part of it the user gave (`--filter`), named in error messages.
    pub user_filter: Option<String>,
}

/// The result of one read.
pub enum LiveNext<'a> {
    Packet(Packet<'a>),
    /// The read timeout passed with no packet.
    Idle,
}

/// libpcap's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    pub received: u64,
    pub dropped: u64,
    pub if_dropped: u64,
}

/// An open live capture with its filter set.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    interface: String,
    link: LinkType,
    frame: u64,
    ticker: Option<Ticker>,
}

/// The thread that wakes a waiting read every [`READ_TIMEOUT_MS`].
struct Ticker {
    done: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Ticker {
    fn start(wake: pcap::BreakLoop) -> Option<Ticker> {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("pgtls-read-timeout".into())
            .spawn(move || {
                let tick = Duration::from_millis(READ_TIMEOUT_MS as u64);
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(tick);
                    if !flag.load(Ordering::Relaxed) {
                        wake.breakloop();
                    }
                }
            })
            .ok()?;
        Some(Ticker { done, thread })
    }

    fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.stop();
        }
    }
}

impl LiveCapture {
    pub fn open(opts: &LiveOptions) -> Result<Self, LiveError> {
        let iface = opts.interface.as_str();
        let snaplen = i32::try_from(opts.snaplen).unwrap_or(i32::MAX);
        let inactive = pcap::Capture::from_device(iface).map_err(|e| open_error(iface, &e))?;
        let cap = inactive
            .promisc(false)
            .snaplen(snaplen)
            .timeout(READ_TIMEOUT_MS)
            .buffer_size(BUFFER_BYTES)
            .open()
            .map_err(|e| open_error(iface, &e))?;
        let mut cap = cap;
        cap.filter(&opts.filter, true).map_err(|e| LiveError {
            kind: LiveErrorKind::BadFilter,
            message: match &opts.user_filter {
                Some(u) => format!(
                    "bad --filter `{u}`: libpcap says: {} (the syntax is tcpdump's; see man pcap-filter)",
                    pcap_message(&e)
                ),
                None => format!(
                    "libpcap cannot compile the filter `{}`: {}",
                    opts.filter,
                    pcap_message(&e)
                ),
            },
        })?;
        let link = LinkType(cap.get_datalink().0 as u32);
        let ticker = Ticker::start(cap.breakloop_handle());
        Ok(LiveCapture {
            cap,
            interface: iface.to_string(),
            link,
            frame: 0,
            ticker,
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The link type as libpcap numbers it for this platform (DLT_ value).
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// The link type to write in a pcap savefile (LINKTYPE_ value).
    pub fn file_link_type(&self) -> LinkType {
        dlt_to_linktype(self.link)
    }

    /// libpcap's name for the link type, e.g. "EN10MB".
    pub fn link_name(&self) -> String {
        pcap::Linktype(self.link.0 as i32)
            .get_name()
            .unwrap_or_else(|_| format!("DLT {}", self.link.0))
    }

    /// Waits up to [`READ_TIMEOUT_MS`] for the next packet.
    pub fn read_packet(&mut self) -> Result<LiveNext<'_>, LiveError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.frame += 1;
                let ts = p.header.ts;
                // time_t and suseconds_t are not i64 everywhere.
                #[allow(clippy::unnecessary_cast)]
                let ts_nanos = (ts.tv_sec as i64)
                    .saturating_mul(1_000_000_000)
                    .saturating_add((ts.tv_usec as i64).saturating_mul(1_000));
                Ok(LiveNext::Packet(Packet {
                    frame: self.frame,
                    ts_nanos,
                    link: self.link,
                    data: p.data,
                    orig_len: p.header.len,
                }))
            }
            // A timeout, or the ticker's pcap_breakloop (reported as -2).
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(LiveNext::Idle),
            Err(e) => Err(LiveError {
                kind: LiveErrorKind::Other,
                message: format!(
                    "reading from {}: {} (is the interface still up?)",
                    self.interface,
                    pcap_message(&e)
                ),
            }),
        }
    }

    /// libpcap's counts of packets received and dropped so far.
    pub fn stats(&mut self) -> Option<LiveStats> {
        self.cap.stats().ok().map(|s| LiveStats {
            received: s.received.into(),
            dropped: s.dropped.into(),
            if_dropped: s.if_dropped.into(),
        })
    }
}

/// libpcap's default capture device.
pub fn default_device() -> Result<String, LiveError> {
    match pcap::Device::lookup() {
        Ok(Some(d)) => Ok(d.name),
        Ok(None) => Err(LiveError {
            kind: LiveErrorKind::NoDevice,
            message: "libpcap finds no device to capture on (no permission, or no interface up); \
                      run as root and name one with -i (see `pgtls interfaces`)"
                .into(),
        }),
        Err(e) => Err(LiveError {
            kind: LiveErrorKind::NoDevice,
            message: format!(
                "libpcap cannot list devices: {}; name one with -i (see `pgtls interfaces`)",
                pcap_message(&e)
            ),
        }),
    }
}

/// One interface as `pgtls interfaces` shows it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<String>,
    pub flags: Vec<&'static str>,
}

/// The devices libpcap can capture on, in its order (the first is the default).
pub fn list_devices() -> Result<Vec<DeviceInfo>, LiveError> {
    let devs = pcap::Device::list().map_err(|e| LiveError {
        kind: LiveErrorKind::Other,
        message: format!("libpcap cannot list devices: {}", pcap_message(&e)),
    })?;
    Ok(devs
        .into_iter()
        .map(|d| {
            let mut flags = Vec::new();
            if d.flags.is_up() {
                flags.push("up");
            }
            if d.flags.is_running() {
                flags.push("running");
            }
            if d.flags.is_loopback() {
                flags.push("loopback");
            }
            if d.flags.is_wireless() {
                flags.push("wireless");
            }
            DeviceInfo {
                name: d.name,
                description: d.desc,
                addresses: d.addresses.iter().map(|a| a.addr.to_string()).collect(),
                flags,
            }
        })
        .collect())
}

/// The text libpcap gave, without the crate's "libpcap error: " prefix.
fn pcap_message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

/// Turns an error from opening `iface` into one line with the fix.
fn open_error(iface: &str, e: &pcap::Error) -> LiveError {
    classify_open_error(iface, &pcap_message(e))
}

/// Classifies libpcap's message from opening a device (split out for tests).
pub fn classify_open_error(iface: &str, msg: &str) -> LiveError {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("permission")
        || lower.contains("operation not permitted")
        || lower.contains("eperm")
        || lower.contains("eacces")
    {
        LiveError {
            kind: LiveErrorKind::PermissionDenied,
            message: format!(
                "no permission to capture on {iface} ({msg}): run as root, or once \
                 `sudo setcap cap_net_raw,cap_net_admin=eip $(which pgtls)`"
            ),
        }
    } else if lower.contains("no such device")
        || lower.contains("doesn't exist")
        || lower.contains("does not exist")
        || lower.contains("no such interface")
    {
        LiveError {
            kind: LiveErrorKind::NoSuchInterface,
            message: format!(
                "no such interface: {iface} ({msg}); `pgtls interfaces` lists the ones to sniff"
            ),
        }
    } else {
        LiveError {
            kind: LiveErrorKind::Other,
            message: format!("cannot capture on {iface}: {msg}"),
        }
    }
}

/// The LINKTYPE_ value to write in a file for a platform's DLT_ value.
pub fn dlt_to_linktype(dlt: LinkType) -> LinkType {
    match dlt {
        // DLT_RAW is 12 on most systems, 14 on OpenBSD; files use 101.
        LinkType::RAW_ALT12 | LinkType::RAW_ALT14 => LinkType::RAW,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_messages() {
        for msg in [
            "socket: Operation not permitted",
            "You don't have permission to perform this capture on that device \
             (socket: Operation not permitted)",
        ] {
            let e = classify_open_error("eth0", msg);
            assert_eq!(e.kind, LiveErrorKind::PermissionDenied, "{msg}");
            assert!(e.message.contains("setcap cap_net_raw,cap_net_admin=eip"));
            assert!(!e.message.contains('\n'));
        }
    }

    #[test]
    fn no_such_device_messages() {
        for msg in [
            "nosuchif0: No such device exists (No such device exists)",
            "SIOCGIFINDEX: No such device",
            "That device doesn't exist",
        ] {
            let e = classify_open_error("nosuchif0", msg);
            assert_eq!(e.kind, LiveErrorKind::NoSuchInterface, "{msg}");
            assert!(e.message.contains("pgtls interfaces"));
        }
    }

    #[test]
    fn other_messages_are_passed_on() {
        let e = classify_open_error("eth0", "something odd");
        assert_eq!(e.kind, LiveErrorKind::Other);
        assert!(e.message.contains("something odd"));
    }

    #[test]
    fn raw_dlt_becomes_linktype_raw() {
        assert_eq!(dlt_to_linktype(LinkType(12)), LinkType::RAW);
        assert_eq!(dlt_to_linktype(LinkType(1)), LinkType::ETHERNET);
        assert_eq!(dlt_to_linktype(LinkType(113)), LinkType::LINUX_SLL);
    }
}
