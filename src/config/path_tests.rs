use super::*;

fn reason(path: &str) -> String {
    check_path(path).unwrap_err().to_string()
}

#[test]
fn good_paths_pass() {
    for p in [
        "/",
        "/cam",
        "/radio/live",
        "/a-b_c.d~e",
        "/stream.webm",
        "/x/time2",
        "/a~b",
        "/v1:2@3;4=5,6+7*8(9)!$&'",
    ] {
        assert_eq!(check_path(p), Ok(()), "{p}");
    }
    let longest = format!("/{}", "a".repeat(MAX_PATH_BYTES - 1));
    assert_eq!(check_path(&longest), Ok(()));
}

#[test]
fn must_start_with_slash() {
    assert_eq!(check_path("cam"), Err(PathError::NotAbsolute));
    assert_eq!(check_path(""), Err(PathError::NotAbsolute));
    assert_eq!(reason("cam"), "a mount path starts with '/'");
}

#[test]
fn too_long_is_rejected() {
    let p = format!("/{}", "a".repeat(MAX_PATH_BYTES));
    assert_eq!(check_path(&p), Err(PathError::TooLong(257)));
    assert_eq!(reason(&p), "is 257 bytes long; the most is 256");
}

#[test]
fn double_slash_and_dot_segments_are_rejected() {
    assert_eq!(check_path("//cam"), Err(PathError::EmptySegment));
    assert_eq!(check_path("/a//b"), Err(PathError::EmptySegment));
    assert_eq!(reason("/a//b"), "contains '//' (an empty segment)");
    for p in ["/.", "/..", "/a/./b", "/a/../b", "/a/.."] {
        assert_eq!(check_path(p), Err(PathError::DotSegment), "{p}");
    }
    assert!(reason("/a/../b").contains("'..' segment"));
    // Dots inside a segment are fine.
    assert_eq!(check_path("/a/..b/.c"), Ok(()));
}

#[test]
fn query_fragment_and_escapes_are_rejected() {
    assert_eq!(check_path("/cam?x=1"), Err(PathError::Query));
    assert_eq!(reason("/cam?"), "contains '?': a mount path has no query");
    assert_eq!(check_path("/cam#top"), Err(PathError::Fragment));
    assert_eq!(check_path("/caf%C3%A9"), Err(PathError::Percent));
    assert!(reason("/a%20b").contains("matched exactly, without percent-decoding"));
}

#[test]
fn control_and_escaped_characters_are_rejected() {
    assert_eq!(check_path("/a\nb"), Err(PathError::Control('\n')));
    assert_eq!(check_path("/a\u{7f}"), Err(PathError::Control('\u{7f}')));
    assert_eq!(check_path("/a\0"), Err(PathError::Control('\0')));
    assert_eq!(reason("/a\tb"), "contains the control character '\\t'");
    assert_eq!(check_path("/a b"), Err(PathError::Escaped(' ')));
    assert_eq!(check_path("/café"), Err(PathError::Escaped('é')));
    assert_eq!(check_path("/a\\b"), Err(PathError::Escaped('\\')));
    assert!(reason("/a b").contains("percent-escaped, so no request would match"));
}

#[test]
fn trailing_slash_is_rejected_except_root() {
    assert_eq!(check_path("/cam/"), Err(PathError::TrailingSlash));
    assert_eq!(reason("/cam/"), "ends with '/'; write it without");
    assert_eq!(check_path("/"), Ok(()));
}

#[test]
fn reserved_segments_are_rejected_anywhere() {
    for (p, seg) in [
        ("/manifest.mpd", "manifest.mpd"),
        ("/cam/index.m3u8", "index.m3u8"),
        ("/time", "time"),
        ("/time/cam", "time"),
        ("/a/manifest.mpd/b", "manifest.mpd"),
        ("/~1", "~1"),
        ("/cam/~seg/x", "~seg"),
    ] {
        assert_eq!(check_path(p), Err(PathError::Reserved(seg.into())), "{p}");
    }
    assert!(reason("/time").starts_with("has the segment \"time\", a name the server generates"));
}

#[test]
fn favicon_is_not_a_mount() {
    assert_eq!(check_path("/favicon.ico"), Err(PathError::Favicon));
    assert_eq!(reason("/favicon.ico"), "/favicon.ico is not a mount path");
    assert_eq!(check_path("/cam/favicon.ico"), Ok(()));
}

#[test]
fn is_reserved_looks_at_the_last_segment() {
    for p in [
        "/manifest.mpd",
        "/cam/manifest.mpd",
        "/cam/index.m3u8",
        "/radio/live/time",
        "/cam/~123.webm",
        "/~x",
        "time",
    ] {
        assert!(is_reserved(p), "{p}");
    }
    for p in [
        "/",
        "",
        "/cam",
        "/time/cam",
        "/~x/cam",
        "/cam/a~b",
        "/cam/times",
    ] {
        assert!(!is_reserved(p), "{p}");
    }
}
