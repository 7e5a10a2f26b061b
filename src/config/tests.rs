use super::*;

pub(super) fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

pub(super) fn invalid(text: &str) -> (Option<String>, &'static str, Problem) {
    match parse(text).unwrap_err() {
        ConfigError::Invalid {
            mount,
            key,
            problem,
        } => (mount, key, problem),
        e => panic!("not a rule error: {e}"),
    }
}

pub(super) fn cam(problem: Problem, key: &'static str) -> (Option<String>, &'static str, Problem) {
    (Some("/cam".into()), key, problem)
}

#[test]
fn the_example_parses() {
    let cfg = parse(include_str!("../../examples/mounts.toml")).unwrap();
    let paths: Vec<_> = cfg.mounts.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/radio", "/relay/cam", "/live", "/studio/b", "/local"]
    );
    assert_eq!(cfg.default_mount.as_deref(), Some("/radio"));
    assert_eq!(cfg.max_mounts, 16);
    assert_eq!(cfg.globals.source_password.as_deref(), Some("change-me"));
    assert_eq!(cfg.globals.listen, ["[::]:8080"]);
    assert_eq!(cfg.globals.max_clients_per_ip, Some(8));
    let m = |i: usize| &cfg.mounts[i];
    assert_eq!(
        m(0).source,
        SourceSpec::Pull("/srv/media/radio.webm".into())
    );
    assert_eq!(m(0).settings.looping, Some(true));
    assert_eq!(m(0).settings.max_clients, Some(200));
    assert_eq!(m(1).settings.reconnect_timeout_ms, Some(300_000));
    assert_eq!(m(1).settings.burst_bytes, Some(32768));
    assert_eq!(
        (&m(2).source, &m(2).auth),
        (&SourceSpec::Push, &Auth::default())
    );
    assert_eq!(m(2).settings.buffer_ms, Some(1000));
    assert_eq!(
        m(3).auth,
        Auth::Basic {
            user: Some("studio".into()),
            password: Some("another-secret".into())
        }
    );
    assert_eq!(m(4).auth, Auth::None);
    assert_eq!(m(4).allow_from, ["127.0.0.1/32", "::1"]);
    assert!(missing_passwords(&cfg, None).is_empty());
}

#[test]
fn a_minimal_file_takes_defaults() {
    let cfg = parse("[[mount]]\npath = \"/cam\"\ninput = \"cam.webm\"\n").unwrap();
    assert_eq!(cfg.max_mounts, DEFAULT_MAX_MOUNTS);
    assert_eq!(cfg.default_mount, None);
    assert_eq!(cfg.globals, Globals::default());
    assert_eq!(cfg.mounts, [MountSpec::pull("/cam", "cam.webm")]);
}

#[test]
fn every_setting_key_is_read() {
    let text = r#"
        [[mount]]
        path = "/cam"
        input = "cam.webm"
        max_clients = 1
        buffer_ms = 2
        burst_bytes = 3
        flush_ms = 4
        no_pace = true
        loop = false
        client_queue_ms = 5
        reconnect_timeout_ms = 6
        keep_attachments = true
        source_idle_timeout_ms = 7
        source_grace_ms = 8
        source_wait_ms = 9
    "#;
    let s = &parse(text).unwrap().mounts[0].settings;
    let want = MountSettings {
        max_clients: Some(1),
        buffer_ms: Some(2),
        burst_bytes: Some(3),
        flush_ms: Some(4),
        no_pace: Some(true),
        looping: Some(false),
        client_queue_ms: Some(5),
        reconnect_timeout_ms: Some(6),
        keep_attachments: Some(true),
        source_idle_timeout_ms: Some(7),
        source_grace_ms: Some(8),
        source_wait_ms: Some(9),
    };
    assert_eq!(*s, want);
}

#[test]
fn every_global_key_is_read() {
    let text = r#"
        source_password = "pw"
        max_clients_total = 1
        max_ingest_buffer_bytes = 2
        max_clients_per_ip = 3
        listen = ["127.0.0.1:1", "[::1]:2"]
        admin_listen = "off"
        trusted_proxy = ["10.0.0.0/8"]
        keepalive_timeout_ms = 4
        request_timeout_ms = 5
        stall_timeout_ms = 6
        drain_timeout_ms = 7
        [[mount]]
        path = "/cam"
        push = true
    "#;
    let g = parse(text).unwrap().globals;
    let want = Globals {
        source_password: Some("pw".into()),
        max_clients_total: Some(1),
        max_ingest_buffer_bytes: Some(2),
        max_clients_per_ip: Some(3),
        listen: vec!["127.0.0.1:1".into(), "[::1]:2".into()],
        admin_listen: Some("off".into()),
        trusted_proxy: vec!["10.0.0.0/8".into()],
        keepalive_timeout_ms: Some(4),
        request_timeout_ms: Some(5),
        stall_timeout_ms: Some(6),
        drain_timeout_ms: Some(7),
    };
    assert_eq!(g, want);
}

#[test]
fn unknown_top_level_key_is_named_with_its_line() {
    let e = err("max_mount = 3\n[[mount]]\npath = \"/cam\"\npush = true\n");
    assert!(
        e.starts_with("line 1, column 1: `max_mount`: unknown field `max_mount`"),
        "{e}"
    );
}

#[test]
fn unknown_mount_key_names_the_mount_and_line() {
    let e = err("[[mount]]\npath = \"/cam\"\npush = true\npasword = \"x\"\n");
    assert!(
        e.starts_with("line 4, column 1: mount \"/cam\": `pasword`: unknown field `pasword`"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn a_top_level_key_after_a_mount_gets_a_hint() {
    let e = err("[[mount]]\npath = \"/cam\"\npush = true\nlisten = [\"[::]:80\"]\n");
    assert!(
        e.starts_with("line 4, column 1: mount \"/cam\": `listen`: unknown field"),
        "{e}"
    );
    assert!(
        e.ends_with("(a top-level key: write it before the first [[mount]])"),
        "{e}"
    );
    // The hint's list is the real top-level keys: each is known there.
    for key in raw::TOP_LEVEL_KEYS {
        let e = err(&format!("{key} = {{}}\n"));
        assert!(e.contains(&format!("`{key}`: invalid type")), "{key}: {e}");
    }
}

#[test]
fn wrong_types_name_the_key() {
    let e = err("[[mount]]\npath = \"/cam\"\ninput = \"a.webm\"\nmax_clients = \"ten\"\n");
    assert!(
        e.starts_with("line 4, column 15: mount \"/cam\": `max_clients`: invalid type"),
        "{e}"
    );
    let e = err("[[mount]]\npath = \"/cam\"\ninput = \"a\"\nloop = 1\n");
    assert!(
        e.contains("`loop`: invalid type: integer `1`, expected a boolean"),
        "{e}"
    );
    let e = err("max_mounts = -1\n[[mount]]\npath = \"/a\"\npush = true\n");
    assert!(
        e.starts_with("line 1, column 14: `max_mounts`: invalid value"),
        "{e}"
    );
    let e = err("listen = \"0.0.0.0:80\"\n[[mount]]\npath = \"/a\"\npush = true\n");
    assert!(e.contains("`listen`: invalid type: string"), "{e}");
    let e = err("[[mount]]\npath = \"/cam\"\npush = true\nauth = \"digest\"\n");
    assert!(
        e.contains("mount \"/cam\": `auth`: unknown variant `digest`"),
        "{e}"
    );
}

#[test]
fn malformed_toml_gives_a_position() {
    let e = parse("[[mount]\npath = 1").unwrap_err();
    let ConfigError::Toml { at, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(at.map(|(line, _)| line), Some(1));
    assert!(!e.to_string().contains('\n'), "{e}");
    let e = err("[[mount]]\ninput = \"a\"\n");
    assert!(e.contains("missing field `path`"), "{e}");
}

#[test]
fn mount_arg_splits_at_the_first_equals() {
    assert_eq!(
        mount_arg("/a=film.webm").unwrap(),
        ("/a".into(), "film.webm".into())
    );
    assert_eq!(
        mount_arg("/a=http://h/x?y=1").unwrap(),
        ("/a".into(), "http://h/x?y=1".into())
    );
    assert_eq!(mount_arg("/=-").unwrap(), ("/".into(), "-".into()));
    let e = mount_arg("a=x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "--mount \"a=x\": a mount path starts with '/'"
    );
    let e = mount_arg("/a=").unwrap_err();
    assert_eq!(e.to_string(), "--mount \"/a=\": is empty");
    let e = mount_arg("/a").unwrap_err();
    assert_eq!(e.to_string(), "--mount \"/a\": expected PATH=INPUT");
    assert!(mount_arg("/a/time=x").is_err());
}

#[test]
fn ingest_arg_checks_the_path() {
    assert_eq!(ingest_arg("/live").unwrap(), "/live");
    let e = ingest_arg("/live/").unwrap_err();
    assert_eq!(
        e.to_string(),
        "--ingest \"/live/\": ends with '/'; write it without"
    );
}

#[test]
fn missing_passwords_lists_basic_push_mounts_without_one() {
    let text = r#"
        [[mount]]
        path = "/own"
        push = true
        password = "p"
        [[mount]]
        path = "/global"
        push = true
        [[mount]]
        path = "/open"
        push = true
        auth = "none"
        allow_from = ["::1"]
        [[mount]]
        path = "/pulled"
        input = "a.webm"
    "#;
    let cfg = parse(text).unwrap();
    assert_eq!(missing_passwords(&cfg, None), ["/global"]);
    assert!(missing_passwords(&cfg, Some("pw")).is_empty());
    assert_eq!(missing_passwords(&cfg, Some("")), ["/global"]);
    let with_file_pw = parse(&format!("source_password = \"f\"\n{text}")).unwrap();
    assert!(missing_passwords(&with_file_pw, None).is_empty());
}

#[test]
fn push_mounts_default_to_unpaced() {
    assert!(MountSpec::push("/live").no_pace(false));
    assert!(!MountSpec::pull("/f", "f.webm").no_pace(false));
    assert!(MountSpec::pull("/f", "f.webm").no_pace(true));
    let mut paced = MountSpec::push("/live");
    paced.settings.no_pace = Some(false);
    assert!(!paced.no_pace(true));
}

#[test]
fn load_names_the_file() {
    let dir = std::env::temp_dir().join(format!("mkvcast-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "[[mount]]\npath = \"/cam\"\n").unwrap();
    let e = load(&file).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}: mount \"/cam\": `input`: needs `input` (a file, \"-\" or an http:// URL) or `push = true`", file.display())
    );
    let missing = dir.join("none.toml");
    let e = load(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("cannot read {}: ", missing.display())),
        "{e}"
    );
    std::fs::write(&file, "[[mount]]\npath = \"/cam\"\npush = true\n").unwrap();
    assert_eq!(load(&file).unwrap().mounts, [MountSpec::push("/cam")]);
    std::fs::remove_dir_all(&dir).unwrap();
}
