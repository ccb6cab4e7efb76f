//! Timestamps as RFC 3339 in UTC with microseconds, without a time library.

use std::cell::RefCell;

/// Formats nanoseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn rfc3339(ns: i64) -> String {
    let mut b = Vec::with_capacity(27);
    push_rfc3339(ns, &mut b);
    // Digits and separators: always ASCII.
    String::from_utf8(b).unwrap_or_default()
}

/// Appends [`rfc3339`] of `ns`.
pub fn push_rfc3339(ns: i64, out: &mut Vec<u8>) {
    push_stamp(ns, b'T', out);
    out.push(b'Z');
}

/// Appends the same instant as the table shows it: `YYYY-MM-DD
/// HH:MM:SS.ffffff` (UTC).
pub fn push_table_time(ns: i64, out: &mut Vec<u8>) {
    push_stamp(ns, b' ', out);
}

thread_local! {
    /// The second this thread stamped last, and its text up to the
    /// microseconds: the sessions of a busy capture start many to a second,
    /// and share all but the microseconds (the date and time took 300
    /// instructions a row).
    static LAST_SECOND: RefCell<(i64, [u8; 20])> = const { RefCell::new((i64::MIN, [0; 20])) };
}

/// Appends `YYYY-MM-DD?HH:MM:SS.ffffff`, `?` being `between`. The date and
/// time are copied from where this thread keeps them, and the microseconds
/// written from a register: digits written one by one on the stack and
/// then copied in wider loads waited for the stores (a third of the
/// table's row making).
fn push_stamp(ns: i64, between: u8, out: &mut Vec<u8>) {
    let secs = ns.div_euclid(1_000_000_000);
    let micros = (ns.rem_euclid(1_000_000_000) / 1_000) as u32;
    let at = out.len();
    LAST_SECOND.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs {
            // i64 nanoseconds span the years 1677 to 2262: always four digits.
            let b = stamp_secs(secs, 0);
            last.0 = secs;
            last.1.copy_from_slice(&b[..20]);
        }
        out.extend_from_slice(&last.1);
    });
    out[at + 10] = between;
    // Six digits, the first in the lowest byte.
    let mut digits = 0u64;
    let mut v = micros;
    for i in (0..6).rev() {
        digits |= u64::from(b'0' + (v % 10) as u8) << (8 * i);
        v /= 10;
    }
    out.extend_from_slice(&digits.to_le_bytes()[..6]);
}

/// Writes `v` in decimal into all of `to`, zero-padded (the digits that fit).
fn put_digits(to: &mut [u8], mut v: u64) {
    for d in to.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// [`stamp`] from seconds and microseconds; the year must have four digits.
fn stamp_secs(secs: i64, micros: u32) -> [u8; 27] {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // Two timestamps per session: written digit by digit, not through `format!`.
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, v: u64| put_digits(&mut b[at..at + width], v);
    put(0, 4, y as u64);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, (tod / 3600) as u64);
    put(14, 2, ((tod / 60) % 60) as u64);
    put(17, 2, (tod % 60) as u64);
    put(20, 6, u64::from(micros));
    b
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`, for any year a
/// certificate can name (9999-12-31 is common, 1950 too; nanoseconds
/// would overflow past 2262).
pub fn rfc3339_secs(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        let tod = secs.rem_euclid(86_400);
        return format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            tod / 3600,
            (tod / 60) % 60,
            tod % 60
        );
    }
    let mut b = stamp_secs(secs, 0);
    b[19] = b'Z';
    // Digits and separators: always ASCII.
    std::str::from_utf8(&b[..20]).unwrap_or_default().to_owned()
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days` algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::{push_table_time, rfc3339};

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        // 2000-02-29 12:34:56.789012 UTC: a leap day.
        assert_eq!(
            rfc3339(951_827_696_789_012_000),
            "2000-02-29T12:34:56.789012Z"
        );
        assert_eq!(rfc3339(-1_000), "1969-12-31T23:59:59.999999Z");
        // The ends of i64 nanoseconds: years 1677 and 2262.
        assert_eq!(rfc3339(i64::MIN), "1677-09-21T00:12:43.145224Z");
        assert_eq!(rfc3339(i64::MAX), "2262-04-11T23:47:16.854775Z");
        // 2026-11-28T20:45:58Z
        assert_eq!(
            rfc3339(1_795_898_758_000_000_000),
            "2026-11-28T20:45:58.000000Z"
        );
    }

    /// Instants of one second, then of another and back, as each second
    /// starts and ends: the second kept from the last stamp is reused
    /// only for its own instants.
    #[test]
    fn instants_within_and_across_seconds() {
        let second = 951_827_696_000_000_000;
        let cases = [
            (second + 789_012_000, "2000-02-29T12:34:56.789012Z"),
            (second, "2000-02-29T12:34:56.000000Z"),
            (second + 999_999_999, "2000-02-29T12:34:56.999999Z"),
            (second + 1_000_000_000, "2000-02-29T12:34:57.000000Z"),
            (second - 1_000, "2000-02-29T12:34:55.999999Z"),
            (second + 5_000, "2000-02-29T12:34:56.000005Z"),
            (-1_000, "1969-12-31T23:59:59.999999Z"),
            (-999_999_999, "1969-12-31T23:59:59.000000Z"),
            (0, "1970-01-01T00:00:00.000000Z"),
        ];
        for (ns, want) in cases {
            assert_eq!(rfc3339(ns), want, "{ns}");
        }
    }

    #[test]
    fn the_table_form_spells_the_same_instant() {
        for ns in [0, -1_000, i64::MIN, i64::MAX, 951_827_696_789_012_000] {
            let want = rfc3339(ns).replace('T', " ");
            let mut got = b"x".to_vec();
            push_table_time(ns, &mut got);
            assert_eq!(got[1..], *want.trim_end_matches('Z').as_bytes(), "{ns}");
        }
    }
}
