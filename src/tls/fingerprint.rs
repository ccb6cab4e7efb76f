//! Client and server fingerprints of the hellos: JA3 and JA3S (Salesforce,
//! 2017) and JA4 (FoxIO, `technical_details/JA4.md` of the FoxIO-LLC/ja4
//! repository), computed from the parsed hellos, from those descriptions.
//!
//! - JA3: MD5 of `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`,
//!   each a `-`-joined list of decimal codes, GREASE (RFC 8701) removed.
//! - JA3S: MD5 of `SSLVersion,Cipher,Extensions` of the ServerHello.
//! - JA4: `t` + version + `d`/`i` + cipher count + extension count + ALPN
//!   first/last character, `_`, 12 hex of SHA-256 over the sorted ciphers,
//!   `_`, 12 hex of SHA-256 over the sorted extensions (SNI and ALPN left
//!   out) `_` the signature algorithms in their order. GREASE is ignored
//!   everywhere.
//!
//! JA4S and the other JA4+ methods are under a different licence (FoxIO
//! License 1.1) and are not computed here.

use super::{is_grease, ClientHelloInfo, ServerHelloInfo, EXT_ALPN, EXT_SERVER_NAME};
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Why a hello has no fingerprint.
pub const SSLV2_NO_JA3: &str =
    "SSLv2-format hello: JA3 is defined over TLS ClientHello fields only";
pub const SSLV2_NO_JA4: &str =
    "SSLv2-format hello: its 3-byte cipher specs and missing extensions are outside the JA4 specification";

fn dec_list(v: impl Iterator<Item = u16>) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(128);
    for (i, x) in v.enumerate() {
        if i > 0 {
            s.push('-');
        }
        let _ = write!(s, "{x}");
    }
    s
}

fn no_grease(v: &[u16]) -> impl Iterator<Item = u16> + '_ {
    v.iter().copied().filter(|x| !is_grease(*x))
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex; built by hand because fingerprints are made for every
/// session and `format!` per byte showed in profiles.
fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(HEX[usize::from(x >> 4)] as char);
        s.push(HEX[usize::from(x & 15)] as char);
    }
    s
}

/// The JA3 string of a ClientHello; `Err` with a reason for an SSLv2-format hello.
pub fn ja3_string(ch: &ClientHelloInfo) -> Result<String, &'static str> {
    if ch.sslv2_format {
        return Err(SSLV2_NO_JA3);
    }
    Ok(format!(
        "{},{},{},{},{}",
        ch.legacy_version,
        dec_list(no_grease(&ch.ciphers)),
        dec_list(no_grease(&ch.extensions)),
        dec_list(no_grease(&ch.groups)),
        dec_list(ch.ec_point_formats.iter().map(|f| u16::from(*f))),
    ))
}

/// JA3: the MD5 of [`ja3_string`], lower-case hex.
pub fn ja3(ch: &ClientHelloInfo) -> Result<String, &'static str> {
    ja3_string(ch).map(|s| md5_hex(&s))
}

/// The JA3S string of a ServerHello.
pub fn ja3s_string(sh: &ServerHelloInfo) -> String {
    format!(
        "{},{},{}",
        sh.legacy_version,
        sh.cipher,
        dec_list(no_grease(&sh.extensions))
    )
}

/// JA3S: the MD5 of [`ja3s_string`], computed once per server hello: the
/// sessions a server answers the same way share theirs
/// ([`super::shared_server_hello`]).
pub fn ja3s(sh: &ServerHelloInfo) -> &str {
    sh.ja3s.get_or_init(|| md5_hex(&ja3s_string(sh)))
}

/// JA4's two-character version: the highest non-GREASE value of
/// supported_versions when the extension is present, else the legacy
/// version. Anything not in the specification's table is "00".
fn ja4_version(ch: &ClientHelloInfo) -> &'static str {
    let v = if ch.extensions.contains(&super::EXT_SUPPORTED_VERSIONS) {
        no_grease(&ch.supported_versions).max().unwrap_or(0)
    } else {
        ch.legacy_version
    };
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

/// JA4's ALPN part: first and last character of the first protocol when
/// both are ASCII alphanumeric, else the first and last character of its hex
/// form; "00" without one.
fn ja4_alpn(first: Option<&[u8]>) -> String {
    let Some(p) = first.filter(|p| !p.is_empty()) else {
        return "00".into();
    };
    let (a, z) = (p[0], p[p.len() - 1]);
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        format!("{}{}", a as char, z as char)
    } else {
        let h = hex(p);
        let b = h.as_bytes();
        format!("{}{}", b[0] as char, b[b.len() - 1] as char)
    }
}

fn hex4_list(v: impl Iterator<Item = u16>) -> String {
    let mut s = String::with_capacity(160);
    for (i, x) in v.enumerate() {
        if i > 0 {
            s.push(',');
        }
        for shift in [12, 8, 4, 0] {
            s.push(HEX[usize::from((x >> shift) & 15)] as char);
        }
    }
    s
}

fn sha256_12(s: &str) -> String {
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

/// The parts of a JA4 fingerprint before hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4Parts {
    /// `t13d1516h2`
    pub a: String,
    /// Ciphers, 4-digit hex, comma-separated (sorted, or in wire order).
    pub b: String,
    /// Extensions (sorted without SNI and ALPN, or all in wire order), then
    /// `_` and the signature algorithms in wire order when there are any.
    pub c: String,
    /// The cipher and extension lists were empty (their hash is then twelve zeros).
    b_empty: bool,
    c_empty: bool,
}

impl Ja4Parts {
    /// `original`: the `JA4_o` variant (wire order, SNI and ALPN kept).
    pub fn of(ch: &ClientHelloInfo, original: bool) -> Result<Ja4Parts, &'static str> {
        if ch.sslv2_format {
            return Err(SSLV2_NO_JA4);
        }
        let mut ciphers: Vec<u16> = no_grease(&ch.ciphers).collect();
        let mut exts: Vec<u16> = no_grease(&ch.extensions).collect();
        let sigs: Vec<u16> = no_grease(&ch.signature_algorithms).collect();
        let a = format!(
            "t{}{}{:02}{:02}{}",
            ja4_version(ch),
            if ch.extensions.contains(&EXT_SERVER_NAME) {
                'd'
            } else {
                'i'
            },
            ciphers.len().min(99),
            exts.len().min(99),
            ja4_alpn(ch.alpn_first_raw.as_deref())
        );
        if !original {
            ciphers.sort_unstable();
            exts.retain(|e| *e != EXT_SERVER_NAME && *e != EXT_ALPN);
            exts.sort_unstable();
        }
        let mut c = hex4_list(exts.iter().copied());
        if !sigs.is_empty() {
            c.push('_');
            c.push_str(&hex4_list(sigs.into_iter()));
        }
        Ok(Ja4Parts {
            a,
            b: hex4_list(ciphers.iter().copied()),
            c,
            b_empty: ciphers.is_empty(),
            c_empty: exts.is_empty(),
        })
    }

    /// The fingerprint: `a_hash(b)_hash(c)`.
    pub fn hashed(&self) -> String {
        let h = |s: &str, empty: bool| {
            if empty {
                "000000000000".to_string()
            } else {
                sha256_12(s)
            }
        };
        format!(
            "{}_{}_{}",
            self.a,
            h(&self.b, self.b_empty),
            h(&self.c, self.c_empty)
        )
    }

    /// The raw form (`JA4_r`, or `JA4_ro` for the original order).
    pub fn raw(&self) -> String {
        format!("{}_{}_{}", self.a, self.b, self.c)
    }
}

/// JA4 of a ClientHello over TCP; `Err` with a reason for an SSLv2-format hello.
pub fn ja4(ch: &ClientHelloInfo) -> Result<String, &'static str> {
    Ja4Parts::of(ch, false).map(|p| p.hashed())
}

/// JA3 and JA4 of a ClientHello, as [`ja3`] and [`ja4`] give them.
pub type ClientFingerprints = (Result<String, &'static str>, Result<String, &'static str>);

/// [`ja3`] and [`ja4`] of a ClientHello, computed once per hello: the
/// sessions whose hellos have one shape share it
/// ([`super::shared_client_hello`]), and the MD5, SHA-256 and decimal lists
/// cost more than the rest of a short session's report.
pub fn client_fingerprints(ch: &ClientHelloInfo) -> &ClientFingerprints {
    ch.fingerprints.get_or_init(|| (ja3(ch), ja4(ch)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache gives what computing gives, for hellos that differ in one
    /// fingerprinted field at a time, in any order, twice.
    #[test]
    fn cached_fingerprints_equal_computed_ones() {
        let base = from_ja4_ro(
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
            0x0304,
            b"h2",
        );
        let mut variants = vec![base.clone()];
        let mut v = base.clone();
        v.ciphers.swap(0, 1);
        variants.push(v);
        let mut v = base.clone();
        v.extensions.pop();
        variants.push(v);
        let mut v = base.clone();
        v.groups = vec![29, 23];
        variants.push(v);
        let mut v = base.clone();
        v.ec_point_formats = vec![0];
        variants.push(v);
        let mut v = base.clone();
        v.signature_algorithms.reverse();
        variants.push(v);
        let mut v = base.clone();
        v.alpn_first_raw = Some(b"postgresql".to_vec());
        variants.push(v);
        let mut v = base.clone();
        v.alpn_first_raw = None;
        variants.push(v);
        let mut v = base.clone();
        v.supported_versions = vec![0x0303];
        variants.push(v);
        let mut v = base.clone();
        v.legacy_version = 0x0301;
        variants.push(v);
        let mut v = base.clone();
        v.sslv2_format = true;
        variants.push(v);
        let mut seen = std::collections::HashSet::new();
        for round in 0..2 {
            for ch in variants.iter().rev() {
                let got = client_fingerprints(ch);
                assert_eq!(*got, (ja3(ch), ja4(ch)), "round {round}");
                seen.insert(format!("{got:?}"));
            }
        }
        assert_eq!(
            seen.len(),
            variants.len(),
            "every variant has its own fingerprints"
        );
    }

    fn hexes(s: &str) -> Vec<u16> {
        if s.is_empty() {
            return Vec::new();
        }
        s.split(',')
            .map(|x| u16::from_str_radix(x, 16).expect("hex"))
            .collect()
    }

    /// A ClientHello rebuilt from a published `JA4_ro` string (wire order,
    /// GREASE already removed by the publisher) and its ALPN.
    fn from_ja4_ro(ro: &str, version: u16, alpn: &[u8]) -> ClientHelloInfo {
        let mut parts = ro.splitn(4, '_');
        let _a = parts.next().unwrap();
        let ciphers = hexes(parts.next().unwrap());
        let exts = hexes(parts.next().unwrap());
        let sigs = parts.next().map(hexes).unwrap_or_default();
        ClientHelloInfo {
            legacy_version: 0x0303,
            supported_versions: vec![version],
            ciphers,
            extensions: exts,
            alpn_first_raw: Some(alpn.to_vec()),
            signature_algorithms: sigs,
            ..Default::default()
        }
    }

    /// Adds GREASE where Chrome puts it: it must change nothing.
    fn greased(mut ch: ClientHelloInfo) -> ClientHelloInfo {
        ch.ciphers.insert(0, 0x0a0a);
        ch.extensions.insert(0, 0x2a2a);
        ch.extensions.push(0xfafa);
        ch.supported_versions.insert(0, 0x3a3a);
        ch.signature_algorithms.insert(2, 0x5a5a);
        ch
    }

    /// (JA4_ro as published, JA4, JA4_r, JA4_o) from FoxIO-LLC/ja4.
    const VECTORS: &[(&str, &str, &str, &str)] = &[
        // technical_details/JA4.md, "Example" and "Raw Output".
        (
            "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601",
            "t13d1516h2_8daaf6152771_e5627efa2ab1",
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
            "t13d1516h2_acb858a92679_18f69afefd3d",
        ),
        // python/test/testdata/tls3.pcapng.json, stream 9 (a PSK extension 0029).
        (
            "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_0033,000a,0005,000d,0012,0000,0010,002b,0023,001b,0017,002d,ff01,4469,000b,0029_0403,0804,0401,0503,0805,0501,0806,0601",
            "t13d1516h2_8daaf6152771_9b887d9acb53",
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0017,001b,0023,0029,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
            "t13d1516h2_acb858a92679_01fb3542df69",
        ),
        // python/test/testdata/tls12.pcap.json (Firefox, 17 ciphers).
        (
            "t13d1715h2_1301,1303,1302,c02b,c02f,cca9,cca8,c02c,c030,c00a,c009,c013,c014,009c,009d,002f,0035_0000,0017,ff01,000a,000b,0023,0010,0005,0022,0033,002b,000d,002d,001c,0015_0403,0503,0603,0804,0805,0806,0401,0501,0601,0203,0201",
            "t13d1715h2_5b57614c22b0_3d5424432f57",
            "t13d1715h2_002f,0035,009c,009d,1301,1302,1303,c009,c00a,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0015,0017,001c,0022,0023,002b,002d,0033,ff01_0403,0503,0603,0804,0805,0806,0401,0501,0601,0203,0201",
            "t13d1715h2_5b234860e130_014157ec0da2",
        ),
    ];

    #[test]
    fn ja4_matches_the_published_vectors() {
        for (ro, ja4_want, r_want, o_want) in VECTORS {
            for ch in [
                from_ja4_ro(ro, 0x0304, b"h2"),
                greased(from_ja4_ro(ro, 0x0304, b"h2")),
            ] {
                assert_eq!(ja4(&ch).unwrap(), *ja4_want, "{ro}");
                assert_eq!(Ja4Parts::of(&ch, false).unwrap().raw(), *r_want);
                let o = Ja4Parts::of(&ch, true).unwrap();
                assert_eq!(o.hashed(), *o_want);
                assert_eq!(o.raw(), *ro);
            }
        }
    }

    #[test]
    fn ja4_spec_hashes_of_the_extension_list() {
        // JA4.md: the sorted extension list without signature algorithms.
        assert_eq!(
            sha256_12("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"),
            "6d807ffa2a79"
        );
        let mut ch = from_ja4_ro(VECTORS[0].0, 0x0304, b"h2");
        ch.signature_algorithms.clear();
        assert_eq!(ja4(&ch).unwrap(), "t13d1516h2_8daaf6152771_6d807ffa2a79");
    }

    #[test]
    fn ja4_empty_lists_are_twelve_zeros() {
        let ch = ClientHelloInfo {
            legacy_version: 0x0303,
            ..Default::default()
        };
        assert_eq!(ja4(&ch).unwrap(), "t12i000000_000000000000_000000000000");
        // Only SNI and ALPN: the sorted list is empty, the counts are not.
        let ch = ClientHelloInfo {
            legacy_version: 0x0301,
            ciphers: vec![0x002f],
            extensions: vec![0x0000, 0x0010],
            alpn_first_raw: Some(b"postgresql".to_vec()),
            ..Default::default()
        };
        assert_eq!(
            ja4(&ch).unwrap(),
            format!("t10d0102pl_{}_000000000000", sha256_12("002f"))
        );
    }

    #[test]
    fn ja4_version_rules() {
        let mut ch = ClientHelloInfo {
            legacy_version: 0x0303,
            ..Default::default()
        };
        for (legacy, want) in [
            (0x0304, "t13"),
            (0x0303, "t12"),
            (0x0302, "t11"),
            (0x0301, "t10"),
            (0x0300, "ts3"),
            (0x0002, "ts2"),
            (0x7f1c, "t00"),
        ] {
            ch.legacy_version = legacy;
            assert!(ja4(&ch).unwrap().starts_with(want), "{legacy:04x}");
        }
        // supported_versions wins over the legacy version, GREASE ignored.
        ch.legacy_version = 0x0303;
        ch.extensions = vec![0x002b];
        ch.supported_versions = vec![0xaaaa, 0x0304, 0x0303];
        assert!(ja4(&ch).unwrap().starts_with("t13i"));
        // "The highest value": a TLS 1.3 draft code (0x7fXX) is higher than 0x0304
        // and is not in the table.
        ch.supported_versions = vec![0x0304, 0x7f1c];
        assert!(ja4(&ch).unwrap().starts_with("t00i"));
        // The extension present but empty after GREASE: unknown.
        ch.supported_versions = vec![0x0a0a];
        assert!(ja4(&ch).unwrap().starts_with("t00i"));
    }

    #[test]
    fn ja4_alpn_rules_from_the_spec() {
        assert_eq!(ja4_alpn(None), "00");
        assert_eq!(ja4_alpn(Some(b"")), "00");
        assert_eq!(ja4_alpn(Some(b"h2")), "h2");
        assert_eq!(ja4_alpn(Some(b"http/1.1")), "h1");
        assert_eq!(ja4_alpn(Some(b"postgresql")), "pl");
        assert_eq!(ja4_alpn(Some(b"x")), "xx");
        // JA4.md's non-alphanumeric examples.
        assert_eq!(ja4_alpn(Some(&[0xab])), "ab");
        assert_eq!(ja4_alpn(Some(&[0xab, 0xcd])), "ad");
        assert_eq!(ja4_alpn(Some(&[0x30, 0xab])), "3b");
        assert_eq!(ja4_alpn(Some(&[0x30, 0x31, 0xab, 0xcd])), "3d");
        assert_eq!(ja4_alpn(Some(&[0x30, 0xab, 0xcd, 0x31])), "01");
    }

    #[test]
    fn ja4_counts_cap_at_99() {
        let ch = ClientHelloInfo {
            legacy_version: 0x0303,
            ciphers: (1..=150).collect(),
            extensions: (100..=250).collect(),
            ..Default::default()
        };
        assert!(ja4(&ch).unwrap().starts_with("t12i999900_"));
    }

    #[test]
    fn ja3_of_a_hand_made_hello() {
        let ch = ClientHelloInfo {
            legacy_version: 0x0303,
            ciphers: vec![0x1a1a, 0xc02b, 0x002f],
            extensions: vec![0x0a0a, 0x0000, 0x000a, 0x000b, 0xfafa],
            groups: vec![0x2a2a, 0x001d, 0x0017],
            ec_point_formats: vec![0],
            ..Default::default()
        };
        assert_eq!(ja3_string(&ch).unwrap(), "771,49195-47,0-10-11,29-23,0");
        assert_eq!(ja3(&ch).unwrap(), md5_hex("771,49195-47,0-10-11,29-23,0"));
        // Without extensions every list is empty, the commas stay.
        let bare = ClientHelloInfo {
            legacy_version: 0x0301,
            ciphers: vec![0x0035],
            ..Default::default()
        };
        assert_eq!(ja3_string(&bare).unwrap(), "769,53,,,");
    }

    #[test]
    fn md5_and_sha256_known_answers() {
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// A TLS 1.2 ServerHello: ECDHE-RSA-AES256-GCM-SHA384, three extensions.
    fn server_hello() -> ServerHelloInfo {
        ServerHelloInfo {
            legacy_version: 0x0303,
            cipher: 0xc030,
            extensions: vec![0xff01, 0x000b, 0x0023],
            ..Default::default()
        }
    }

    #[test]
    fn ja3s_string_of_a_server_hello() {
        let sh = server_hello();
        assert_eq!(ja3s_string(&sh), "771,49200,65281-11-35");
        assert_eq!(ja3s(&sh), md5_hex("771,49200,65281-11-35"));
    }

    /// Fingerprints are kept on the hello they were computed from: a copy
    /// of it that is then changed computes its own.
    #[test]
    fn a_changed_copy_of_a_hello_gets_its_own_fingerprints() {
        let base = from_ja4_ro("t13d0302h2_1301,1302_000a,0010,002b_0403", 0x0304, b"h2");
        let first = client_fingerprints(&base);
        let mut changed = base.clone();
        changed.ciphers.reverse();
        assert_ne!(client_fingerprints(&changed), first);
        assert_eq!(
            *client_fingerprints(&changed),
            (ja3(&changed), ja4(&changed))
        );
        let sh = server_hello();
        let first = ja3s(&sh);
        let mut changed = sh.clone();
        changed.cipher = 0x1301;
        assert_ne!(ja3s(&changed), first);
        assert_eq!(ja3s(&changed), md5_hex(&ja3s_string(&changed)));
    }

    /// The cached JA3S is the computed one, for server hellos that differ
    /// in one field at a time (a shorter extension list included), twice.
    #[test]
    fn cached_ja3s_equals_computed() {
        let base = server_hello();
        let mut variants = vec![base.clone()];
        for change in 0..5 {
            let mut v = base.clone();
            match change {
                0 => v.legacy_version = 0x0301,
                1 => v.cipher = 0x1301,
                2 => v.extensions.truncate(2),
                3 => v.extensions.swap(0, 2),
                _ => v.extensions.push(0x0a0a),
            }
            variants.push(v);
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2 {
            for sh in variants.iter().rev() {
                let got = ja3s(sh);
                assert_eq!(got, md5_hex(&ja3s_string(sh)));
                seen.insert(got);
            }
        }
        // GREASE is left out: the last variant shares the base's.
        assert_eq!(seen.len(), variants.len() - 1);
    }

    #[test]
    fn sslv2_hellos_have_no_fingerprint_and_say_why() {
        let ch = ClientHelloInfo {
            sslv2_format: true,
            legacy_version: 0x0002,
            ..Default::default()
        };
        assert_eq!(ja3(&ch), Err(SSLV2_NO_JA3));
        assert_eq!(ja4(&ch), Err(SSLV2_NO_JA4));
    }
}
