use super::*;

const BASE: &str = r#"
listen = ["[::]:8080"]
[[mount]]
path = "/film"
input = "film.webm"
max_clients = 10
[[mount]]
path = "/live"
push = true
[[mount]]
path = "/relay"
input = "http://h/x"
"#;

fn reload(new: &str) -> Reload {
    diff(&parse(BASE).unwrap(), &parse(new).unwrap())
}

fn paths(specs: &[MountSpec]) -> Vec<&str> {
    specs.iter().map(|m| m.path.as_str()).collect()
}

#[test]
fn unchanged_keeps_every_mount() {
    let r = reload(BASE);
    assert_eq!(paths(&r.keep), ["/film", "/live", "/relay"]);
    assert!(r.restart.is_empty() && r.add.is_empty() && r.remove.is_empty());
    assert!(r.globals_changed.is_empty());
}

#[test]
fn changed_settings_keep_the_mount_with_the_new_settings() {
    let new = BASE
        .replace("max_clients = 10", "max_clients = 20")
        .replace("push = true", "push = true\npassword = \"p\"");
    let r = reload(&new);
    assert_eq!(paths(&r.keep), ["/film", "/live", "/relay"]);
    assert_eq!(r.keep[0].settings.max_clients, Some(20));
    assert_eq!(
        r.keep[1].auth,
        Auth::Basic {
            user: None,
            password: Some("p".into())
        }
    );
    assert!(r.restart.is_empty());
}

#[test]
fn changed_input_restarts_the_mount() {
    let r = reload(&BASE.replace("film.webm", "other.webm"));
    assert_eq!(paths(&r.restart), ["/film"]);
    assert_eq!(r.restart[0].source, SourceSpec::Pull("other.webm".into()));
    assert_eq!(paths(&r.keep), ["/live", "/relay"]);
}

#[test]
fn push_to_pull_and_back_restarts() {
    let r = reload(&BASE.replace("push = true", "input = \"cam.webm\""));
    assert_eq!(paths(&r.restart), ["/live"]);
    assert_eq!(r.restart[0].source, SourceSpec::Pull("cam.webm".into()));
    let r = reload(&BASE.replace("input = \"http://h/x\"", "push = true"));
    assert_eq!(paths(&r.restart), ["/relay"]);
    assert_eq!(r.restart[0].source, SourceSpec::Push);
}

#[test]
fn added_and_removed_mounts() {
    let new = BASE.replace("path = \"/relay\"", "path = \"/relay2\"");
    let r = reload(&format!("{new}[[mount]]\npath = \"/more\"\npush = true\n"));
    assert_eq!(paths(&r.add), ["/relay2", "/more"]);
    assert_eq!(r.remove, ["/relay"]);
    assert_eq!(paths(&r.keep), ["/film", "/live"]);
}

#[test]
fn changed_globals_are_named() {
    let new = BASE.replace("[::]:8080", "[::]:9000");
    let r = reload(&format!(
        "source_password = \"x\"\nstall_timeout_ms = 5\n{new}"
    ));
    assert_eq!(
        r.globals_changed,
        ["source_password", "listen", "stall_timeout_ms"]
    );
    assert_eq!(paths(&r.keep), ["/film", "/live", "/relay"]);
    // Routing keys are not globals: they apply on reload.
    let r = reload(&format!(
        "default_mount = \"/film\"\nmax_mounts = 5\n{BASE}"
    ));
    assert!(r.globals_changed.is_empty());
}
