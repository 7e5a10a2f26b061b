use super::tests::{cam, err, invalid};
use super::*;

#[test]
fn a_mount_needs_exactly_one_source() {
    assert_eq!(
        invalid("[[mount]]\npath = \"/cam\"\n"),
        cam(Problem::NoSource, "input")
    );
    assert_eq!(
        invalid("[[mount]]\npath = \"/cam\"\npush = false\n"),
        cam(Problem::NoSource, "input")
    );
    assert_eq!(
        invalid("[[mount]]\npath = \"/cam\"\ninput = \"a\"\npush = true\n"),
        cam(Problem::BothSources, "push")
    );
    let cfg = parse("[[mount]]\npath = \"/cam\"\ninput = \"a\"\npush = false\n").unwrap();
    assert_eq!(cfg.mounts[0].source, SourceSpec::Pull("a".into()));
    assert_eq!(
        err("[[mount]]\npath = \"/cam\"\n"),
        "mount \"/cam\": `input`: needs `input` (a file, \"-\" or an http:// URL) or `push = true`"
    );
}

#[test]
fn push_keys_only_on_push_mounts() {
    let pulled = "[[mount]]\npath = \"/cam\"\ninput = \"a.webm\"\n";
    for (extra, key) in [
        ("user = \"u\"", "user"),
        ("password = \"p\"", "password"),
        ("auth = \"basic\"", "auth"),
        ("auth = \"none\"", "auth"),
        ("allow_from = [\"127.0.0.1\"]", "allow_from"),
    ] {
        let text = format!("{pulled}{extra}\n");
        assert_eq!(invalid(&text), cam(Problem::PushOnly, key), "{extra}");
    }
}

#[test]
fn loop_needs_a_file_input() {
    let m = |input: &str| format!("[[mount]]\npath = \"/cam\"\ninput = \"{input}\"\nloop = true\n");
    assert!(parse(&m("film.webm")).is_ok());
    assert_eq!(invalid(&m("-")), cam(Problem::LoopNeedsFile, "loop"));
    assert_eq!(
        invalid(&m("http://h/x")),
        cam(Problem::LoopNeedsFile, "loop")
    );
    assert_eq!(
        invalid("[[mount]]\npath = \"/cam\"\npush = true\nloop = true\n"),
        cam(Problem::LoopNeedsFile, "loop")
    );
    assert!(parse(&m("-").replace("true", "false")).is_ok());
}

#[test]
fn bad_inputs_are_rejected_at_load() {
    let (mount, key, problem) = invalid("[[mount]]\npath = \"/cam\"\ninput = \"https://h/x\"\n");
    assert_eq!((mount.as_deref(), key), (Some("/cam"), "input"));
    assert!(matches!(&problem, Problem::BadInput(m) if m.contains("only http:// is built in")));
    assert_eq!(
        invalid("[[mount]]\npath = \"/cam\"\ninput = \"\"\n"),
        cam(Problem::Empty, "input")
    );
}

#[test]
fn max_clients_zero_is_an_error() {
    assert_eq!(
        invalid("[[mount]]\npath = \"/cam\"\npush = true\nmax_clients = 0\n"),
        cam(Problem::Zero, "max_clients")
    );
    let e = invalid("max_clients_total = 0\n[[mount]]\npath = \"/cam\"\npush = true\n");
    assert_eq!(e, (None, "max_clients_total", Problem::Zero));
}

#[test]
fn mount_count_is_limited() {
    let mounts: String = (0..3)
        .map(|i| format!("[[mount]]\npath = \"/m{i}\"\npush = true\n"))
        .collect();
    let over = format!("max_mounts = 2\n{mounts}");
    assert_eq!(
        invalid(&over),
        (
            None,
            "max_mounts",
            Problem::TooManyMounts { count: 3, max: 2 }
        )
    );
    assert_eq!(
        parse(&format!("max_mounts = 3\n{mounts}"))
            .unwrap()
            .mounts
            .len(),
        3
    );
    assert_eq!(invalid(""), (None, "mount", Problem::NoMounts));
    assert_eq!(
        invalid(&format!("max_mounts = 0\n{mounts}")),
        (None, "max_mounts", Problem::Zero)
    );
}

#[test]
fn duplicate_paths_and_two_stdin_mounts_are_errors() {
    let text =
        "[[mount]]\npath = \"/cam\"\npush = true\n[[mount]]\npath = \"/cam\"\ninput = \"a\"\n";
    assert_eq!(invalid(text), cam(Problem::Duplicate, "path"));
    let text = "[[mount]]\npath = \"/a\"\ninput = \"-\"\n[[mount]]\npath = \"/b\"\ninput = \"-\"\n";
    assert_eq!(
        invalid(text),
        (Some("/b".into()), "input", Problem::StdinTwice)
    );
}

#[test]
fn bad_mount_paths_give_the_reason() {
    let e = err("[[mount]]\npath = \"/cam/\"\npush = true\n");
    assert_eq!(
        e,
        "mount \"/cam/\": `path`: ends with '/'; write it without"
    );
    let e = err("[[mount]]\npath = \"/a\\u001bb\"\npush = true\n");
    assert!(
        e.starts_with("mount \"/a\\u{1b}b\": `path`: contains the control"),
        "{e}"
    );
}

#[test]
fn default_mount_must_name_a_mount() {
    let mounts = "[[mount]]\npath = \"/cam\"\npush = true\n";
    let cfg = parse(&format!("default_mount = \"/cam\"\n{mounts}")).unwrap();
    assert_eq!(cfg.default_mount.as_deref(), Some("/cam"));
    assert_eq!(
        invalid(&format!("default_mount = \"/other\"\n{mounts}")),
        (None, "default_mount", Problem::NoSuchMount("/other".into()))
    );
    assert_eq!(
        invalid(&format!("default_mount = \"cam\"\n{mounts}")),
        (None, "default_mount", Problem::Path(PathError::NotAbsolute))
    );
}

#[test]
fn auth_none_needs_allow_from() {
    let push = "[[mount]]\npath = \"/cam\"\npush = true\nauth = \"none\"\n";
    assert_eq!(invalid(push), cam(Problem::OpenPush, "allow_from"));
    assert!(err(push).ends_with("needs a non-empty allow_from: otherwise anyone can publish"));
    let ok = parse(&format!(
        "{push}allow_from = [\"10.1.0.0/16\", \"fe80::/10\"]\n"
    ))
    .unwrap();
    assert_eq!(ok.mounts[0].auth, Auth::None);
    assert_eq!(
        invalid(&format!("{push}allow_from = [\"::1\"]\npassword = \"p\"\n")),
        cam(Problem::CredentialsWithoutAuth, "password")
    );
}

#[test]
fn allow_from_entries_are_checked() {
    let push = "[[mount]]\npath = \"/cam\"\npush = true\nauth = \"none\"\n";
    for good in [
        "127.0.0.1",
        "127.0.0.1/32",
        "0.0.0.0/0",
        "::1",
        "2001:db8::/32",
        "::/128",
    ] {
        let text = format!("{push}allow_from = [\"{good}\"]\n");
        assert!(parse(&text).is_ok(), "{good}");
    }
    for bad in [
        "localhost",
        "1.2.3.4/33",
        "::1/129",
        "1.2.3.4/",
        "1.2.3/8",
        "[::1]",
        "1.2.3.4/+8",
    ] {
        let text = format!("{push}allow_from = [\"{bad}\"]\n");
        assert_eq!(
            invalid(&text),
            cam(Problem::BadCidr(bad.into()), "allow_from"),
            "{bad}"
        );
    }
}

#[test]
fn empty_credentials_are_errors() {
    let push = "[[mount]]\npath = \"/cam\"\npush = true\n";
    assert_eq!(
        invalid(&format!("{push}user = \"\"\n")),
        cam(Problem::Empty, "user")
    );
    assert_eq!(
        invalid(&format!("{push}password = \"\"\n")),
        cam(Problem::Empty, "password")
    );
    assert_eq!(
        invalid(&format!("source_password = \"\"\n{push}")),
        (None, "source_password", Problem::Empty)
    );
}

#[test]
fn validate_checks_mounts_built_from_arguments() {
    let cfg = |mounts| FileConfig {
        mounts,
        default_mount: None,
        max_mounts: DEFAULT_MAX_MOUNTS,
        globals: Globals::default(),
    };
    let ok = cfg(vec![MountSpec::pull("/a", "a.webm"), MountSpec::push("/b")]);
    assert!(validate(&ok).is_ok());
    let dup = cfg(vec![MountSpec::pull("/a", "a.webm"), MountSpec::push("/a")]);
    assert_eq!(
        validate(&dup).unwrap_err().to_string(),
        "mount \"/a\": `path`: this path is configured twice"
    );
}
