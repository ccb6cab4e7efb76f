//! TCP sequence numbers: 32-bit values compared with wrap-around (RFC 1982
//! serial number arithmetic).

use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seq(pub u32);

impl Seq {
    /// `other - self` as a signed distance.
    pub fn distance_to(self, other: Seq) -> i64 {
        i64::from(other.0.wrapping_sub(self.0) as i32)
    }

    pub fn plus(self, n: u32) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
}

impl PartialOrd for Seq {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Seq {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0.wrapping_sub(other.0) as i32).cmp(&0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around() {
        assert!(Seq(u32::MAX) < Seq(0));
        assert!(Seq(0xffff_fff0) < Seq(0x10));
        assert_eq!(Seq(u32::MAX - 1).plus(4), Seq(2));
        assert_eq!(Seq(u32::MAX - 1).distance_to(Seq(2)), 4);
        assert_eq!(Seq(2).distance_to(Seq(u32::MAX - 1)), -4);
    }
}
