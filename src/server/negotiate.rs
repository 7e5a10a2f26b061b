//! Whether a request for a mount gets the HTML player page or the stream.
//!
//! Only a request whose `Accept` names `text/html` itself with q > 0 gets
//! HTML: browsers navigating do, while players and browsers' own media
//! requests send `*/*`, `video/*` or nothing (see the recorded values in
//! the tests), and a wildcard must not turn a player's request into a web
//! page. The header is parsed as RFC 9110 §12.5.1 defines it: a list of
//! media ranges with parameters, the first `q` parameter being the weight
//! (`0`, `0.0`, `0.000`: not acceptable); quoted strings may hold `,` and
//! `;`. A malformed element (such as `q=2`) is ignored, not guessed at.
//! Media-type parameters do not matter: any `text/html` range counts.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

/// Whether `accept` (all `Accept` header values joined with `,`) asks for
/// `text/html` itself with a weight above zero.
pub(crate) fn wants_html(accept: Option<&[u8]>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    Split::new(accept, b',')
        .filter_map(media_range)
        .any(|(ty, sub, q)| {
            q > 0 && ty.eq_ignore_ascii_case(b"text") && sub.eq_ignore_ascii_case(b"html")
        })
}

/// One list element as `(type, subtype, weight in thousandths)`, or `None`
/// when empty or malformed.
fn media_range(element: &[u8]) -> Option<(&[u8], &[u8], u16)> {
    let mut parts = Split::new(element, b';');
    let range = parts.next()?.trim_ascii();
    let slash = range.iter().position(|&b| b == b'/')?;
    let (ty, sub) = range.split_at(slash);
    let sub = sub.get(1..)?;
    if ty.is_empty() || sub.is_empty() {
        return None;
    }
    for param in parts {
        let (name, value) = split_param(param)?;
        if name.eq_ignore_ascii_case(b"q") {
            // Parameters after `q` are accept-extensions: nothing to us.
            return Some((ty, sub, qvalue(value)?));
        }
    }
    Some((ty, sub, 1000))
}

/// `name=value`, whitespace around either tolerated.
fn split_param(param: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = param.iter().position(|&b| b == b'=')?;
    let (name, value) = param.split_at(eq);
    Some((name.trim_ascii(), value.get(1..)?.trim_ascii()))
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
fn qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => {
            let (int, frac) = v.split_at(dot);
            (int, frac.get(1..)?)
        }
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for i in 0..3 {
        let digit = frac.get(i).map_or(0, |d| u16::from(d - b'0'));
        thousandths = thousandths * 10 + digit;
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Splits at `sep` outside quoted strings (with `\` escapes inside them).
struct Split<'a> {
    rest: Option<&'a [u8]>,
    sep: u8,
}

impl<'a> Split<'a> {
    fn new(bytes: &'a [u8], sep: u8) -> Self {
        Split {
            rest: Some(bytes),
            sep,
        }
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let sep = self.sep;
        let (mut quoted, mut escaped) = (false, false);
        let cut = rest.iter().position(|&b| {
            if escaped {
                escaped = false;
            } else if quoted {
                escaped = b == b'\\';
                quoted = b != b'"';
            } else if b == b'"' {
                quoted = true;
            } else {
                return b == sep;
            }
            false
        });
        match cut {
            Some(i) => {
                let (item, tail) = rest.split_at(i);
                self.rest = tail.get(1..);
                Some(item)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Accept` as recorded from each client on 127.0.0.1 (a listener
    /// printing the request head), with whether it is to get HTML.
    const RECORDED: &[(&str, Option<&str>, bool)] = &[
        (
            "Chromium 156.0.8078.114 headless, top-level navigation",
            Some(
                "text/html,application/xhtml+xml,application/xml;q=0.9,image/jxl,image/avif,\
                 image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
            ),
            true,
        ),
        (
            "Chromium 156.0.8078.114 headless, <video src>",
            Some("*/*"),
            false,
        ),
        (
            "Firefox ESR 153.8.0 headless, top-level navigation",
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            true,
        ),
        (
            "Firefox ESR 153.8.0 headless, <video src>",
            Some(
                "video/webm,video/ogg,video/*;q=0.9,application/ogg;q=0.7,audio/*;q=0.6,*/*;q=0.5",
            ),
            false,
        ),
        (
            "ffmpeg / ffprobe / ffplay 5.1.9 (Lavf/59.27.100)",
            Some("*/*"),
            false,
        ),
        ("mpv 0.35.1 (libmpv, ffmpeg's http)", Some("*/*"), false),
        ("curl 7.88.1", Some("*/*"), false),
        ("VLC 3.0.24, HTTP/1.1 request", Some("*/*"), false),
        ("VLC 3.0.24, its HTTP/1.0 retry", None, false),
        ("GStreamer 1.22.0 souphttpsrc (libsoup 3.2.3)", None, false),
    ];

    #[test]
    fn recorded_clients() {
        for &(client, accept, html) in RECORDED {
            assert_eq!(wants_html(accept.map(str::as_bytes)), html, "{client}");
        }
    }

    #[test]
    fn wildcards_and_other_types_get_the_stream() {
        for accept in [
            "*/*",
            "text/*",
            "TEXT/*;q=1",
            "text/plain, application/xhtml+xml",
            "text/htmlx, text/xhtml",
            "html",
            "",
            " , ,",
            // The `text/html` is inside a quoted parameter value.
            "text/plain;x=\"a, text/html\"",
        ] {
            assert!(!wants_html(Some(accept.as_bytes())), "{accept:?}");
        }
    }

    #[test]
    fn text_html_with_q_above_zero_gets_html() {
        for accept in [
            "text/html",
            "TEXT/HTML",
            "Text/Html;Q=0.001",
            "  text/html  ;  q=0.5  ",
            "*/*;q=0.8, text/html;q=1.000",
            "text/html;level=1;q=0.1;ext=whatever",
            "text/html;q=0, text/html;level=2;q=0.3",
            "text/html;charset=\"a,b;q=0\";q=0.9",
        ] {
            assert!(wants_html(Some(accept.as_bytes())), "{accept:?}");
        }
    }

    #[test]
    fn q_zero_or_malformed_is_not_acceptable() {
        for accept in [
            "text/html;q=0",
            "text/html;q=0.",
            "text/html;q=0.0",
            "text/html;q=0.000",
            "text/html; Q = 0 , */*",
            "text/html;q=0;q=1",
            // Malformed weights: the element is ignored.
            "text/html;q=2",
            "text/html;q=1.001",
            "text/html;q=0.0001",
            "text/html;q=-1",
            "text/html;q=.5",
            "text/html;q=",
            "text/html;q",
            "text/html;q=0.5\"",
        ] {
            assert!(!wants_html(Some(accept.as_bytes())), "{accept:?}");
        }
    }

    #[test]
    fn qvalues_in_thousandths() {
        let q = |s: &str| qvalue(s.as_bytes());
        assert_eq!(q("1"), Some(1000));
        assert_eq!(q("1.0"), Some(1000));
        assert_eq!(q("1.000"), Some(1000));
        assert_eq!(q("0.5"), Some(500));
        assert_eq!(q("0.05"), Some(50));
        assert_eq!(q("0.123"), Some(123));
        assert_eq!(q("0"), Some(0));
        assert_eq!(q("1.5"), None);
        assert_eq!(q("0.1234"), None);
        assert_eq!(q("00.5"), None);
        assert_eq!(q("0x"), None);
    }

    #[test]
    fn split_respects_quotes_and_escapes() {
        let parts: Vec<&[u8]> = Split::new(br#"a,"b,\",c",d"#, b',').collect();
        assert_eq!(parts, [&b"a"[..], br#""b,\",c""#, b"d"]);
        let parts: Vec<&[u8]> = Split::new(b",", b',').collect();
        assert_eq!(parts, [&b""[..], b""]);
    }
}
