//! The Marionette wire protocol: `LEN:JSON` frames; a command is
//! `[0, id, name, params]`, its reply `[1, id, error, result]`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Socket read granularity, so deadlines are checked regularly.
const POLL: Duration = Duration::from_millis(200);

/// A Marionette connection: one command in flight at a time.
pub(super) struct Marionette {
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: u64,
}

impl Marionette {
    /// Connects and reads the server's hello (`{"marionetteProtocol":3,..}`).
    pub(super) fn connect(port: u16, deadline: Instant) -> Result<Marionette, String> {
        let stream =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(POLL)).ok();
        stream.set_write_timeout(Some(Duration::from_secs(5))).ok();
        let mut m = Marionette {
            stream,
            buf: Vec::new(),
            next_id: 1,
        };
        let hello = m.read_frame(deadline)?;
        if hello["marionetteProtocol"].as_u64() != Some(3) {
            return Err(format!("unexpected Marionette hello {hello}"));
        }
        Ok(m)
    }

    /// One `LEN:JSON` frame, or an error at `deadline`.
    fn read_frame(&mut self, deadline: Instant) -> Result<Value, String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(colon) = self.buf.iter().position(|&b| b == b':') {
                let len: usize = std::str::from_utf8(&self.buf[..colon])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad frame length {:?}", &self.buf[..colon]))?;
                if self.buf.len() > colon + len {
                    let body: Vec<u8> = self.buf.drain(..=colon + len).skip(colon + 1).collect();
                    return serde_json::from_slice(&body).map_err(|e| format!("bad JSON: {e}"));
                }
            }
            if Instant::now() > deadline {
                return Err("no reply in time".into());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("Marionette closed the connection".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Sends `[0, id, cmd, params]` and waits for `[1, id, error, result]`.
    pub(super) fn call(
        &mut self,
        cmd: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!([0, id, cmd, params]).to_string();
        let frame = format!("{}:{body}", body.len());
        self.stream
            .write_all(frame.as_bytes())
            .map_err(|e| format!("{cmd}: send: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            let v = self
                .read_frame(deadline)
                .map_err(|e| format!("{cmd}: {e}"))?;
            if v[0] != 1 || v[1].as_u64() != Some(id) {
                continue; // a late reply to an abandoned command
            }
            if !v[2].is_null() {
                let e = &v[2];
                return Err(format!("{cmd}: {}: {}", e["error"], e["message"]));
            }
            return Ok(v[3].clone());
        }
    }
}
