//! Framing of typed PostgreSQL messages in one direction, with bounded
//! buffering: bodies pgtls inspects are kept up to [`MAX_INSPECTED_BODY`],
//! everything else is skipped by count.

use crate::pg::parse_pg_message_header;

/// Largest message body pgtls keeps to read fields from.
pub const MAX_INSPECTED_BODY: usize = 16 * 1024;

/// A whole message, or the start of one too large to keep.
#[derive(Debug)]
pub struct Message<'a> {
    pub tag: u8,
    /// The body, cut at [`MAX_INSPECTED_BODY`].
    pub body: &'a [u8],
}

/// The message at the front of `data` when its type byte is `plausible`
/// and its kept body (cut at [`MAX_INSPECTED_BODY`]) lies in `data`: the
/// message, and how many bytes of its body are past the cut (not in it).
#[inline]
pub fn message_at(data: &[u8], plausible: impl Fn(u8) -> bool) -> Option<(Message<'_>, u64)> {
    let h = parse_pg_message_header(data).filter(|h| plausible(h.tag))?;
    let body_len = h.body_len as usize;
    let keep = body_len.min(MAX_INSPECTED_BODY);
    let body = data.get(5..5 + keep)?;
    Some((Message { tag: h.tag, body }, (body_len - keep) as u64))
}

/// Drops up to `n` bytes from the front of `data`; returns how many of the
/// `n` are still to come.
fn skip_past(data: &mut &[u8], n: u64) -> u64 {
    let k = n.min(data.len() as u64) as usize;
    *data = &data[k..];
    n - k as u64
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct MessageStream {
    buf: Vec<u8>,
    skip: u64,
    /// Lost sync (a gap): wait for a segment that starts with a plausible header.
    pub resync: bool,
    /// The first header that could not be a message: (type byte, length field).
    pub malformed: Option<(u8, u32)>,
}

impl MessageStream {
    /// Feeds bytes; `on_message` gets each whole message (its body cut at
    /// [`MAX_INSPECTED_BODY`]).
    #[inline]
    pub fn feed(
        &mut self,
        mut data: &[u8],
        plausible: impl Fn(u8) -> bool,
        mut on_message: impl FnMut(Message<'_>),
    ) {
        if self.resync {
            match parse_pg_message_header(data) {
                Some(h) if plausible(h.tag) => self.resync = false,
                _ => return,
            }
        }
        self.skip = skip_past(&mut data, self.skip);
        while !data.is_empty() {
            // A whole message in the segment is read where it lies; only
            // messages cut across segments are gathered in `buf`.
            if self.buf.is_empty() {
                if let Some((m, past_cut)) = message_at(data, &plausible) {
                    let taken = 5 + m.body.len();
                    on_message(m);
                    data = &data[taken..];
                    self.skip = skip_past(&mut data, past_cut);
                    continue;
                }
            }
            if self.buf.len() < 5 {
                let take = (5 - self.buf.len()).min(data.len());
                self.buf.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.buf.len() < 5 {
                    return;
                }
            }
            let h = match parse_pg_message_header(&self.buf) {
                Some(h) if plausible(h.tag) => h,
                _ => {
                    // Not a message this side may send: stop trusting the framing.
                    let b = &self.buf;
                    self.malformed
                        .get_or_insert((b[0], u32::from_be_bytes([b[1], b[2], b[3], b[4]])));
                    self.buf.clear();
                    self.resync = true;
                    return;
                }
            };
            let body_len = h.body_len as usize;
            let keep = body_len.min(MAX_INSPECTED_BODY);
            let have = self.buf.len() - 5;
            let take = keep.saturating_sub(have).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() - 5 < keep {
                return;
            }
            on_message(Message {
                tag: h.tag,
                body: &self.buf[5..],
            });
            self.buf.clear();
            self.skip = skip_past(&mut data, (body_len - keep) as u64);
        }
    }

    /// Between two messages, framing trusted: the next byte is a type byte.
    pub fn at_boundary(&self) -> bool {
        self.buf.is_empty() && self.skip == 0 && !self.resync
    }

    /// Frees the buffer; counters stay. Nothing more is parsed.
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.skip = u64::MAX;
    }

    /// The stream lost `len` bytes. Inside a body being skipped that costs
    /// nothing; otherwise the partial message is dropped and the stream
    /// resyncs on the next segment that starts with a plausible header.
    ///
    /// A message whose header and part of whose body were captured is
    /// returned cut short, so that what was seen of it (an ErrorResponse's
    /// SQLSTATE, say) is not lost.
    pub fn gap(&mut self, len: u64) -> Option<(u8, Vec<u8>)> {
        if self.buf.is_empty() && self.skip >= len && !self.resync {
            self.skip -= len;
            return None;
        }
        let partial = if self.buf.len() > 5 && !self.resync {
            Some((self.buf[0], self.buf[5..].to_vec()))
        } else {
            None
        };
        self.buf.clear();
        self.skip = 0;
        self.resync = true;
        partial
    }
}
