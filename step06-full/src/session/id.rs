//! Session ids: 128 bits from the operating system's random generator.
//!
//! A session id is a bearer token: whoever presents it *is* the user, so
//! it must be impossible to guess. It takes 16 bytes from the kernel's
//! CSPRNG (`getrandom(2)`), which OWASP's 64-bit minimum leaves a wide
//! margin over: at a billion guesses a second, finding one live session
//! among a million would take longer than the age of the universe.
//! A generator that fails is an error, never a reason to fall back to
//! something weaker such as the time or a counter.
//!
//! The id is written as 32 lowercase hex digits, and [`SessionId::parse`]
//! accepts exactly that form and nothing else. That one rule is the whole
//! defence against hostile cookies: the file store names files after ids,
//! and a value like `../../etc/passwd`, an over-long string or anything
//! with a `/` or a NUL in it never becomes a `SessionId`, so it never
//! reaches a path.

use std::fmt;

use super::store::{Result, StoreError};

/// The number of random bytes in an id: 128 bits.
const ID_BYTES: usize = 16;

/// How many hex digits of an id appear in logs: enough to tell sessions
/// apart when reading a log, far too few to hijack one with.
const LOG_DIGITS: usize = 8;

/// The id of one session.
///
/// `Display` writes the full id (for the cookie and the file name);
/// `Debug` writes only its first digits, so `{:?}` in a log line cannot
/// leak a live token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; ID_BYTES]);

impl SessionId {
    /// The length of an id as text: 32 hex digits.
    pub const LEN: usize = ID_BYTES * 2;

    /// A new id from the operating system's random generator.
    ///
    /// # Errors
    ///
    /// [`StoreError::Random`] if the generator fails (on Linux only before
    /// the kernel's pool is first seeded, early in boot).
    pub fn random() -> Result<SessionId> {
        let mut bytes = [0; ID_BYTES];
        getrandom::fill(&mut bytes).map_err(StoreError::Random)?;
        Ok(SessionId(bytes))
    }

    /// The id written as `text`, which must be exactly 32 lowercase hex
    /// digits; anything else (a cookie from another site, a forged value,
    /// an id of the wrong length) is `None`.
    ///
    /// Upper case is refused too, although it would decode: an id has one
    /// spelling, so one session can never be reached under two file names.
    pub fn parse(text: &str) -> Option<SessionId> {
        let digits = text.as_bytes();
        if digits.len() != SessionId::LEN {
            return None;
        }
        let mut bytes = [0; ID_BYTES];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            // `chunks_exact(2)` makes every chunk a pair.
            let &[high, low] = pair else { return None };
            *byte = (hex_value(high)? << 4) | hex_value(low)?;
        }
        Some(SessionId(bytes))
    }

    /// The first digits of the id, for log lines (eight: enough to tell sessions apart, too few to use).
    pub fn short(&self) -> String {
        let mut text = self.to_string();
        text.truncate(LOG_DIGITS);
        text
    }
}

/// The value of one lowercase hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_id_is_32_lowercase_hex_digits_and_parses_back() {
        let id = SessionId::random().unwrap();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(SessionId::parse(&text), Some(id));
    }

    #[test]
    fn two_random_ids_differ() {
        assert_ne!(SessionId::random().unwrap(), SessionId::random().unwrap());
    }

    #[test]
    fn parse_reads_the_digits_in_order() {
        let id = SessionId::parse("000102030405060708090a0b0c0d0eff").unwrap();
        assert_eq!(
            id.0,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 255]
        );
        assert_eq!(id.to_string(), "000102030405060708090a0b0c0d0eff");
    }

    #[test]
    fn hostile_and_malformed_values_are_not_ids() {
        let long = "a".repeat(33);
        let huge = "0".repeat(100_000);
        for value in [
            "",
            "../../etc/passwd",
            "../../../../../../../../etc/passwd",
            "0123456789abcdef0123456789abcde",   // 31 digits
            "0123456789abcdef0123456789abcdef0", // 33 digits
            long.as_str(),
            huge.as_str(),
            "0123456789ABCDEF0123456789ABCDEF", // upper case
            "0123456789abcdef0123456789abcdeg", // not hex
            " 123456789abcdef0123456789abcdef", // space
            "0123456789abcdef0123456789abcde\0",
            "0123456789abcdef/123456789abcdef",
            "0123456789abcdef0123456789abcd\u{e9}", // 32 bytes, not ASCII
            "+123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(SessionId::parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn debug_shows_only_a_prefix() {
        let id = SessionId::parse("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(format!("{id:?}"), "SessionId(01234567…)");
        assert_eq!(id.short(), "01234567");
    }
}
