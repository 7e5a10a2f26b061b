//! The page a person gets who opens a stream URL in a browser: at `/`
//! the index of mounts, each with a `<video>` that plays it; at a mount's
//! path that mount's player. The `<video>` element's own request asks for
//! media (`*/*`), so it gets the stream from the same URL.

use std::fmt::Write;
use std::time::Instant;

use super::http;
use super::mount::Mount;
use super::status::h;
use super::Server;

const STYLE: &str =
    "body{font:15px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}\
     section{margin:0 0 2em}video{max-width:100%;width:640px;background:#000}\
     h2{font-size:1.1em;margin:.2em 0}p{margin:.2em 0;color:#555}";

impl Server {
    /// Answers a browser's navigation to `path` with a page.
    pub(super) fn serve_page(
        &mut self,
        key: usize,
        path: &str,
        head_only: bool,
        keep_alive: bool,
        rest: Vec<u8>,
        now: Instant,
    ) {
        let body = self.page(path);
        let response = http::page_response(
            "text/html; charset=utf-8",
            &body,
            head_only,
            keep_alive,
            true,
        );
        self.send_response(key, response, keep_alive, rest, now);
    }

    fn page(&self, path: &str) -> String {
        let mut o = String::with_capacity(1024);
        let _ = write!(
            o,
            "<!doctype html><html><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\"><title>mkvcast {}</title>\
             <style>{STYLE}</style></head><body>",
            h(path)
        );
        if self.mounts.is_single() {
            let mount = self.mounts.iter().next().map(|(_, m)| m);
            player(&mut o, path, mount);
        } else if let Some(m) = self.mounts.at(path).filter(|_| path != "/") {
            player(&mut o, path, self.mounts.get(m));
        } else {
            let _ = write!(o, "<h1>mkvcast: {} streams</h1>", self.mounts.len());
            for (_, m) in self.mounts.sorted() {
                player(&mut o, &m.path, Some(m));
            }
        }
        o.push_str("</body></html>");
        o
    }
}

/// A mount's section: its path (a link to its own page), a muted
/// autoplaying `<video>`, and what it carries.
fn player(o: &mut String, path: &str, mount: Option<&Mount>) {
    let p = h(path);
    let about = mount.map_or(String::new(), |m| {
        let tracks = m
            .stream
            .header()
            .map_or("waiting for the stream".to_string(), |hd| {
                hd.describe_tracks()
            });
        format!("{}: {}", m.state().as_str(), tracks)
    });
    let _ = write!(
        o,
        "<section><h2><a href=\"{p}\">{p}</a></h2>\
         <video src=\"{p}\" data-mount=\"{p}\" controls autoplay muted playsinline></video>\
         <p>{}</p><p>In a player: <code>ffplay URL</code> or <code>mpv URL</code> with this address.</p></section>",
        h(&about)
    );
}
