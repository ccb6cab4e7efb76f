//! Compact JSON for `--format json` and `jsonl` session records: byte for
//! byte what serde_json writes followed by [`escape_json_for_terminal`], in
//! one pass (tested against both on every bundled capture and on random
//! strings). Strings, most of a record, are checked eight bytes at a time
//! instead of one (a million records: serde_json's string writing was 12%
//! of `--format jsonl`).
//!
//! [`escape_json_for_terminal`]: super::escape_json_for_terminal

use super::table::{every_byte, is_unsafe_for_terminal, printable_ascii};
use serde::ser::{self, Serialize};
use std::fmt;

/// Writes `value` as one pretty-printed JSON document and a newline, with
/// the characters that could fool a terminal escaped
/// ([`escape_json_for_terminal`]): `audit --format json` and `sniff
/// --format json`.
///
/// [`escape_json_for_terminal`]: super::escape_json_for_terminal
pub fn write_pretty<T: Serialize + ?Sized>(
    out: &mut dyn std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    let mut buf = serde_json::to_vec_pretty(value)?;
    super::escape_json_for_terminal(&mut buf);
    buf.push(b'\n');
    out.write_all(&buf)?;
    out.flush()
}

/// Appends `value` as compact JSON to `out`.
pub fn write_compact<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(&mut Writer { out })
}

/// What the report types cannot produce: a float, a map key that is not a
/// string or a number, or a serializer's custom error.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    pub fn new(what: &str) -> Error {
        Error(what.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        std::io::Error::other(e)
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that may need more than a copy: a C0
/// control, `"`, `\`, DEL or a byte of a non-ASCII character. The lowest
/// set bit is always such a byte's (a borrow only carries upward from one),
/// so the mask is not zero exactly when the word holds one ([`is_plain`]),
/// and its trailing zeros say where the first is ([`write_escaped`]); bits
/// above the lowest may be false alarms.
#[inline]
fn look_mask(w: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    (w & HIGHS)
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS)
        | zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | zero(w ^ (ONES * 0x7f))
}

/// Whether any byte of `w` may need more than a copy ([`look_mask`]).
#[inline]
fn needs_a_look(w: u64) -> bool {
    look_mask(w) != 0
}

/// The eight bytes of `bytes` from `at`, the first in the lowest byte; past
/// its end, spaces (which need nothing). Gathered in a register: bytes
/// stored on the stack and read back as a word waited for the stores.
#[inline]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(word) => u64::from_le_bytes(word.try_into().expect("8 bytes")),
        None => {
            let mut w = ONES * u64::from(b' ');
            for (i, &b) in bytes[at..].iter().enumerate() {
                w = w & !(0xff << (8 * i)) | u64::from(b) << (8 * i);
            }
            w
        }
    }
}

/// Whether every byte of `bytes` is printable ASCII but `"` and `\`: a
/// string JSON holds as it is. Long strings are checked in vector blocks;
/// short ones (most of a record's: versions, names, frames' texts) eight
/// bytes at a time, the last eight overlapping the ones before, or gathered
/// into a word when fewer (a byte loop took 170 instructions a string).
#[inline]
fn is_plain(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 32 {
        return every_byte(bytes, |b| printable_ascii(b) & (b != b'"') & (b != b'\\'));
    }
    if n < 8 {
        return !needs_a_look(word_at(bytes, 0));
    }
    let mut at = 0;
    while at + 8 < n {
        if needs_a_look(word_at(bytes, at)) {
            return false;
        }
        at += 8;
    }
    !needs_a_look(word_at(bytes, n - 8))
}

fn push_u_escape(out: &mut Vec<u8>, code: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[(code >> shift) as usize & 0xf]);
    }
}

/// A JSON string: serde_json's escapes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
/// `\t`, `\u00XX` for other C0 controls), and `\uXXXX` for DEL, C1 controls
/// and the format characters a terminal would act on.
pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Most strings need no escape at all: copied whole.
    if is_plain(bytes) {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        write_escaped(out, s);
    }
}

/// [`write_str`] of a string with something to escape, kept out of line so
/// that the common case saves and restores few registers.
#[inline(never)]
fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let look = look_mask(word_at(bytes, i));
        if look == 0 {
            i = (i + 8).min(bytes.len());
            continue;
        }
        // The first byte that needs a look: before it, plain ASCII, so it
        // begins a character.
        i += (look.trailing_zeros() / 8) as usize;
        let b = bytes[i];
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        if b < 0x80 {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => push_u_escape(out, u32::from(b)),
            }
            i += 1;
        } else {
            // `i` is on a character boundary: runs of eight are skipped
            // only when all ASCII.
            let ch = s[i..].chars().next().expect("a character");
            let len = ch.len_utf8();
            if is_unsafe_for_terminal(ch) {
                push_u_escape(out, u32::from(ch));
            } else {
                out.extend_from_slice(&bytes[i..i + len]);
            }
            i += len;
        }
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

pub(super) fn write_integer(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A sequence, map or struct being written; `close` ends it.
struct Compound<'a, 'b> {
    w: &'b mut Writer<'a>,
    first: bool,
    close: &'static [u8],
}

impl Compound<'_, '_> {
    fn comma(&mut self) {
        if !std::mem::replace(&mut self.first, false) {
            self.w.out.push(b',');
        }
    }

    fn end(self) -> Result<(), Error> {
        self.w.out.extend_from_slice(self.close);
        Ok(())
    }
}

impl<'a, 'b> Writer<'a> {
    fn open(&'b mut self, open: &[u8], close: &'static [u8]) -> Compound<'a, 'b> {
        self.out.extend_from_slice(open);
        Compound {
            w: self,
            first: true,
            close,
        }
    }

    /// `{"variant":` before the value of an externally tagged variant.
    fn variant_key(&mut self, variant: &str) {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
    }
}

macro_rules! integers {
    ($($method:ident: $t:ty),*) => {
        $(fn $method(self, v: $t) -> Result<(), Error> {
            write_integer(self.out, v);
            Ok(())
        })*
    };
}

impl<'a, 'b> ser::Serializer for &'b mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
        Ok(())
    }

    integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128);

    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(Error(
            "session records hold no floating-point numbers".into(),
        ))
    }

    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(Error(
            "session records hold no floating-point numbers".into(),
        ))
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        write_str(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(b)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        write_str(self.out, variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.variant_key(variant);
        v.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(b"[", b"]"))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.variant_key(variant);
        Ok(self.open(b"[", b"]}"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(b"{", b"}"))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a, 'b>, Error> {
        Ok(self.open(b"{", b"}"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'b>, Error> {
        self.variant_key(variant);
        Ok(self.open(b"{", b"}}"))
    }
}

/// An impl of one of serde's compound traits for [`Compound`]: its methods,
/// then the shared `Ok`, `Error` and `end`.
macro_rules! compound {
    ($trait:ident { $($method:item)* }) => {
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;

            $($method)*

            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    };
}

compound!(SerializeSeq {
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.comma();
        v.serialize(&mut *self.w)
    }
});

macro_rules! like_seq {
    ($($trait:ident: $method:ident),*) => {
        $(compound!($trait {
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
                ser::SerializeSeq::serialize_element(self, v)
            }
        });)*
    };
}

like_seq!(SerializeTuple: serialize_element, SerializeTupleStruct: serialize_field,
    SerializeTupleVariant: serialize_field);

compound!(SerializeMap {
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.comma();
        key.serialize(KeyWriter(&mut *self.w.out))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.w.out.push(b':');
        v.serialize(&mut *self.w)
    }
});

compound!(SerializeStruct {
    #[inline(always)]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.comma();
        // Field names are snake_case identifiers: nothing to escape.
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let out = &mut *self.w.out;
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        v.serialize(&mut *self.w)
    }
});

compound!(SerializeStructVariant {
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
});

/// A map key: a string as is, a number or a bool in quotes (as serde_json).
struct KeyWriter<'a>(&'a mut Vec<u8>);

impl KeyWriter<'_> {
    fn quoted(self, text: &[u8]) -> Result<(), Error> {
        self.0.push(b'"');
        self.0.extend_from_slice(text);
        self.0.push(b'"');
        Ok(())
    }
}

fn key_must_be_a_string() -> Error {
    Error("key must be a string".into())
}

macro_rules! integer_keys {
    ($($method:ident: $t:ty),*) => {
        $(fn $method(self, v: $t) -> Result<(), Error> {
            self.quoted(itoa::Buffer::new().format(v).as_bytes())
        })*
    };
}

impl ser::Serializer for KeyWriter<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        write_str(self.0, v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(if v { b"true" } else { b"false" })
    }

    integer_keys!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128);

    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    /// What `read` wrote before: serde_json, then the terminal escapes.
    fn reference<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut json = serde_json::to_vec(v).unwrap();
        super::super::escape_json_for_terminal(&mut json);
        json
    }

    fn compact<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        write_compact(&mut out, v).unwrap();
        out
    }

    /// Strings of every kind of character, at every offset from the
    /// eight-byte checks: plain ASCII, quotes, backslashes, each C0 control,
    /// DEL, C1 controls, bidi and zero-width characters, accents, CJK, emoji.
    #[test]
    fn strings_as_serde_json_writes_them_escaped_for_terminals() {
        let alphabet: Vec<char> = (0u32..0x80)
            .chain([
                0x80, 0x85, 0x9b, 0x9f, 0xa0, 0xe9, 0x61c, 0x200b, 0x200e, 0x202e,
            ])
            .chain([0x2066, 0x2069, 0x4e2d, 0xfeff, 0xfffd, 0x1f600, 0x10ffff])
            .filter_map(char::from_u32)
            .collect();
        let mut rng = XorShift(11);
        for n in 0..20_000 {
            let len = rng.below(40);
            let s: String = (0..len)
                .map(|_| {
                    // Mostly printable ASCII, as real fields are.
                    if rng.below(4) == 0 {
                        alphabet[rng.below(alphabet.len())]
                    } else {
                        char::from(b' ' + rng.below(95) as u8)
                    }
                })
                .collect();
            assert_eq!(compact(&s), reference(&s), "string {n}: {s:?}");
        }
    }

    /// Plain strings of every length up to past the vector blocks, with one
    /// byte that needs a look (or a plain one at the edge of the range) at
    /// every place: the eight-byte checks, their overlapping last word and
    /// the short strings gathered into a word each see it.
    #[test]
    fn one_byte_to_escape_is_found_anywhere() {
        let odd = [
            '"', '\\', '\u{0}', '\u{1f}', ' ', '~', '\u{7f}', '\u{80}', 'é', '\u{202e}',
        ];
        for len in 0..72 {
            let plain: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            assert_eq!(compact(&plain), reference(&plain), "{plain:?}");
            for at in 0..len {
                for c in odd {
                    let s: String = plain
                        .chars()
                        .enumerate()
                        .map(|(i, p)| if i == at { c } else { p })
                        .collect();
                    assert_eq!(compact(&s), reference(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn shapes_as_serde_json_writes_them() {
        use std::collections::BTreeMap;
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(u8, String),
            Struct { a: Option<i64>, b: Vec<u16> },
        }
        #[derive(serde::Serialize)]
        struct Empty {}
        #[derive(serde::Serialize)]
        struct All<'a> {
            b: (bool, bool),
            ints: (i8, i16, i32, i64, u8, u16, u32, u64, i128, u128),
            extremes: (i64, u64),
            c: char,
            none: Option<u8>,
            unit: (),
            empty: Empty,
            e: Vec<E>,
            map: BTreeMap<&'a str, u64>,
            int_keys: BTreeMap<u32, bool>,
            empty_seq: Vec<u8>,
            bytes: &'a [u8],
        }
        let v = All {
            b: (true, false),
            ints: (-8, -16, -32, -64, 8, 16, 32, 64, -128, 128),
            extremes: (i64::MIN, u64::MAX),
            c: '"',
            none: None,
            unit: (),
            empty: Empty {},
            e: vec![
                E::Unit,
                E::New(1),
                E::Tuple(2, "x".into()),
                E::Struct {
                    a: Some(-1),
                    b: vec![1, 2],
                },
            ],
            map: [("k\u{7f}", 1), ("a", 2)].into_iter().collect(),
            int_keys: [(3, true), (1, false)].into_iter().collect(),
            empty_seq: vec![],
            bytes: b"\x00\xff",
        };
        assert_eq!(
            String::from_utf8(compact(&v)).unwrap(),
            String::from_utf8(reference(&v)).unwrap()
        );
        assert!(write_compact(&mut Vec::new(), &1.5f64).is_err());
        let bool_keys: BTreeMap<bool, u8> = [(true, 1)].into_iter().collect();
        assert_eq!(compact(&bool_keys), reference(&bool_keys));
    }

    /// Every session of every bundled capture, and the summary, come out as
    /// they did through serde_json.
    #[test]
    fn session_records_as_serde_json_writes_them() {
        let files = crate::testutil::bundled_captures();
        let mut sessions = 0;
        for path in files {
            let mut a = crate::analyze::Analyzer::new(crate::analyze::AnalyzerConfig {
                ports: crate::flow::PortSet::new(vec![5432]),
                max_flows: 1000,
                report_early: false,
            })
            .with_any_port();
            let bytes = std::fs::read(&path).unwrap();
            crate::read::read_capture(&mut a, &bytes[..], "f", &mut |_| {}).unwrap();
            let reports = a.take_reports();
            for r in &reports {
                assert_eq!(
                    compact(r),
                    reference(r),
                    "{path:?} session {}",
                    r.first_frame
                );
                sessions += 1;
            }
            let mut summary = super::super::Summary::new();
            for r in &reports {
                summary.sessions += 1;
                *summary.verdicts.entry(r.verdict.as_str()).or_default() += 1;
            }
            assert_eq!(compact(&summary), reference(&summary), "{path:?}");
        }
        assert!(sessions > 100, "{sessions}");
    }
}
