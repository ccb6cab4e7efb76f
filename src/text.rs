//! Text taken from the wire: names, parameters, server messages.

/// `bytes` as a `String`, invalid UTF-8 replaced by U+FFFD, as
/// `String::from_utf8_lossy` does. Nearly every string pgtls keeps is
/// valid (mostly ASCII): the standard validation checks those a word at a
/// time, where the lossy walk went byte by byte (about 160 instructions a
/// call, 2.6% of a read of many short sessions).
pub fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::lossy;

    #[test]
    fn lossy_text_matches_the_standard_conversion() {
        let samples: [&[u8]; 8] = [
            b"",
            b"postgres",
            "caf\u{e9} \u{1f418}".as_bytes(),
            b"\xff",
            b"ab\xc3",
            b"\xe2\x82\xac\xe2\x82",
            b"a\x00b\x80c",
            b"\xed\xa0\x80 surrogate",
        ];
        for s in samples {
            assert_eq!(lossy(s), String::from_utf8_lossy(s), "{s:?}");
        }
        assert_eq!(lossy(b"ab\xc3"), "ab\u{fffd}");
    }
}
