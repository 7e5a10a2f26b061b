//! HTTP Basic credentials for sources, as Icecast checks them: user
//! `source` and the `--source-password`, or a mount's own pair.
//!
//! The comparison runs in time that depends on the length the client sent,
//! not on where it first differs from the secret, so timing does not reveal
//! the password a byte at a time. What it can reveal is the password's
//! *length* (the loop bounds-checks the secret; a measurable difference is
//! unlikely over a network, and the length is all it is). Nothing here logs
//! or prints a password (the mount's `IngestAuth` redacts it in `Debug`).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Standard alphabet; padding optional, since some source clients drop it
/// and a missing `=` changes nothing about what was meant.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What an `Authorization` header says about a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// No header, or another scheme than Basic: answer 401 with a
    /// challenge; no password was tried, so this is no failure.
    Missing,
    /// Basic, but undecodable, without a `:`, or not the right pair: 401,
    /// and a failure for the throttle.
    Wrong,
    /// The right user and password.
    Ok,
}

/// Checks an `Authorization` header value (`Basic <base64 of user:pass>`,
/// scheme in any case, spaces or tabs around the parts tolerated).
pub(crate) fn check(header: Option<&[u8]>, user: &str, password: &str) -> Check {
    let Some(token) = header.and_then(basic_token) else {
        return Check::Missing;
    };
    let Ok(decoded) = BASE64.decode(token) else {
        return Check::Wrong;
    };
    // RFC 7617: the user-id cannot contain a colon, the password can.
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return Check::Wrong;
    };
    let (given_user, given_pass) = decoded.split_at(colon);
    let given_pass = given_pass.get(1..).unwrap_or_default();
    // `&`, not `&&`: the password is compared even when the user is wrong,
    // so the time says nothing about which of the two differed.
    let same = ct_eq(given_user, user.as_bytes()) & ct_eq(given_pass, password.as_bytes());
    if same {
        Check::Ok
    } else {
        Check::Wrong
    }
}

/// The token68 of a `Basic` credential, or `None` for another scheme or an
/// empty token.
fn basic_token(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let split = value.iter().position(|&b| b == b' ' || b == b'\t')?;
    let (scheme, rest) = value.split_at(split);
    let token = rest.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"basic") && !token.is_empty()).then_some(token)
}

/// Equality whose time depends on `given.len()` only, never on the bytes of
/// either side. Every byte of `given` is compared (a missing byte of
/// `expected` counts as a difference), the lengths are compared too, and
/// `black_box` keeps the optimiser from turning the fold into an early exit.
fn ct_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, &g) in given.iter().enumerate() {
        // Past the end of `expected`, the complement: never equal to `g`.
        let e = expected.get(i).map_or(!g, |&e| e);
        diff |= black_box(g ^ e);
    }
    black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
        .into_bytes()
    }

    #[test]
    fn right_pair_is_ok() {
        let h = basic("source:hackme");
        assert_eq!(check(Some(&h), "source", "hackme"), Check::Ok);
        // Recorded: `curl -u source:hackme` (curl 7.88.1).
        let curl = b"Basic c291cmNlOmhhY2ttZQ==";
        assert_eq!(check(Some(curl), "source", "hackme"), Check::Ok);
        // Recorded: ffmpeg 5.1 (Lavf/59.27.100) pushing to
        // `icecast://source:hack%3Ame@...`: it sends the decoded `hack:me`.
        let ffmpeg = b"Basic c291cmNlOmhhY2s6bWU=";
        assert_eq!(check(Some(ffmpeg), "source", "hack:me"), Check::Ok);
        assert_eq!(check(Some(ffmpeg), "source", "hack"), Check::Wrong);
    }

    #[test]
    fn scheme_case_and_spaces_are_tolerated() {
        for h in [
            &b"basic c291cmNlOmhhY2ttZQ=="[..],
            b"BASIC c291cmNlOmhhY2ttZQ==",
            b"  Basic    c291cmNlOmhhY2ttZQ==  ",
            b"Basic\tc291cmNlOmhhY2ttZQ==",
            // Padding dropped.
            b"Basic c291cmNlOmhhY2ttZQ",
        ] {
            assert_eq!(check(Some(h), "source", "hackme"), Check::Ok, "{h:?}");
        }
    }

    #[test]
    fn password_splits_at_the_first_colon() {
        let h = basic("source:pa:ss:");
        assert_eq!(check(Some(&h), "source", "pa:ss:"), Check::Ok);
        assert_eq!(check(Some(&h), "source", "pa"), Check::Wrong);
        let empty = basic("source:");
        assert_eq!(check(Some(&empty), "source", ""), Check::Ok);
        assert_eq!(check(Some(&empty), "source", "x"), Check::Wrong);
    }

    #[test]
    fn wrong_user_or_password_is_wrong() {
        let cases = [
            ("source:hackm", "prefix of the password"),
            ("source:hackme!", "password with more"),
            ("source:Hackme", "case differs"),
            ("sourc:hackme", "user differs"),
            ("admin:hackme", "other user"),
            (":hackme", "no user"),
        ];
        for (pair, why) in cases {
            let h = basic(pair);
            assert_eq!(check(Some(&h), "source", "hackme"), Check::Wrong, "{why}");
        }
    }

    #[test]
    fn malformed_basic_is_wrong() {
        for h in [
            &b"Basic !!!!"[..],
            b"Basic c291cmNl",       // "source": no colon
            b"Basic c291cmNlOmhhY2", // truncated, trailing bits set
            b"Basic c291 cmNlOmhhY2ttZQ==",
            b"Basic \xff\xfe",
        ] {
            assert_eq!(check(Some(h), "source", "hackme"), Check::Wrong, "{h:?}");
        }
    }

    #[test]
    fn absent_or_other_scheme_is_missing() {
        for h in [
            None,
            Some(&b""[..]),
            Some(b"   "),
            Some(b"Basic"),
            Some(b"Basic   "),
            Some(b"Bearer c291cmNlOmhhY2ttZQ=="),
            Some(b"Basicc291cmNlOmhhY2ttZQ=="),
        ] {
            assert_eq!(check(h, "source", "hackme"), Check::Missing, "{h:?}");
        }
    }

    #[test]
    fn a_mount_pair_is_not_the_default_pair() {
        let h = basic("dj:s3cret");
        assert_eq!(check(Some(&h), "dj", "s3cret"), Check::Ok);
        assert_eq!(check(Some(&h), "source", "s3cret"), Check::Wrong);
    }

    #[test]
    fn ct_eq_compares_lengths_and_bytes() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"", b"a"));
        assert!(!ct_eq(b"a", b""));
        assert!(!ct_eq(b"ab", b"abc"));
        assert!(!ct_eq(b"abcd", b"abc"));
        assert!(!ct_eq(b"abd", b"abc"));
        // Past the end of `expected` every byte differs, 0xff included.
        assert!(!ct_eq(&[0x00, 0xff], &[0x00]));
        assert!(!ct_eq(&[0x00, 0x00], &[0x00]));
    }
}
