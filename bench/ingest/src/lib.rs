//! What the load generators share: a minimal HTTP/1.1 keep-alive client
//! (Content-Length and chunked bodies, reconnect on close), small helpers
//! for durations, times and random numbers. Hand-written so that the tools
//! build in seconds and add little CPU of their own.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

pub mod receiver;

/// Parses `10s`, `500ms`, `1m` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (use e.g. 10s, 500ms, 1m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit in {text:?}; use ms, s or m")),
    };
    if !(seconds >= 0.0 && seconds.is_finite()) {
        return Err(format!("not a duration: {text:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// splitmix64's finaliser: a bijection, so distinct ids give distinct
/// fingerprints.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        mix(self.0)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// RFC 3339 (UTC, seconds) for a Unix time, without a date library.
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `fmt::Write` onto a byte vector.
pub struct Buf<'a>(pub &'a mut Vec<u8>);

impl std::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// One keep-alive connection to a server.
pub struct Conn {
    addr: String,
    pub stream: Option<TcpStream>,
    buf: Vec<u8>,
}

#[derive(Debug)]
pub enum Failure {
    /// The connection closed before any byte of the answer (a stale
    /// keep-alive connection: worth one retry on a fresh one).
    ClosedEarly,
    Io(String),
}

impl Conn {
    pub fn new(addr: String) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends one request and reads the whole answer; returns its status.
    pub async fn send(&mut self, request: &[u8]) -> Result<u16, String> {
        let reused = self.stream.is_some();
        match self.try_send(request).await {
            Ok(status) => Ok(status),
            Err(Failure::ClosedEarly) if reused => {
                self.try_send(request).await.map_err(|f| format!("{f:?}"))
            }
            Err(Failure::ClosedEarly) => Err("closed".into()),
            Err(Failure::Io(e)) => Err(e),
        }
    }

    async fn try_send(&mut self, request: &[u8]) -> Result<u16, Failure> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| Failure::Io(format!("connect: {e}")))?;
            stream.set_nodelay(true).ok();
            self.stream = Some(stream);
            self.buf.clear();
        }
        let stream = self.stream.as_mut().expect("connected above");
        let result = async {
            stream
                .write_all(request)
                .await
                .map_err(|_| Failure::ClosedEarly)?;
            read_response(stream, &mut self.buf).await
        }
        .await;
        match result {
            Ok((status, keep_alive)) => {
                if !keep_alive {
                    self.stream = None;
                }
                Ok(status)
            }
            Err(failure) => {
                self.stream = None;
                Err(failure)
            }
        }
    }
}

/// Reads more bytes into `buf`; an error at end of stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), Failure> {
    buf.reserve(16 * 1024);
    match stream.read_buf(buf).await {
        Ok(0) if buf.is_empty() => Err(Failure::ClosedEarly),
        Ok(0) => Err(Failure::Io("connection closed mid-response".into())),
        Ok(_) => Ok(()),
        Err(e) if buf.is_empty() && is_reset(&e) => Err(Failure::ClosedEarly),
        Err(e) => Err(Failure::Io(format!("read: {e}"))),
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
    )
}

pub fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Reads one response (status line, headers, body by Content-Length, by
/// chunks, or up to the close) and leaves any following bytes in `buf`.
/// Returns the status and whether the connection may be reused.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, bool), Failure> {
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n", 0) {
            break at + 4;
        }
        fill(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| Failure::Io("response head is not text".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::Io(format!("bad status line {status_line:?}")))?;
    let mut keep_alive = version == "HTTP/1.1";
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            if value.contains("close") {
                keep_alive = false;
            } else if value.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    let no_body = status < 200 || status == 204 || status == 304;
    if no_body {
        buf.drain(..head_end);
    } else if chunked {
        let mut at = head_end;
        loop {
            let line_end = loop {
                if let Some(end) = find(buf, b"\r\n", at) {
                    break end;
                }
                fill(stream, buf).await?;
            };
            let size_text = std::str::from_utf8(&buf[at..line_end]).unwrap_or("");
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| Failure::Io(format!("bad chunk size {size_text:?}")))?;
            at = line_end + 2;
            if size == 0 {
                // Trailers (usually none), up to an empty line.
                loop {
                    let end = loop {
                        if let Some(end) = find(buf, b"\r\n", at) {
                            break end;
                        }
                        fill(stream, buf).await?;
                    };
                    let empty = end == at;
                    at = end + 2;
                    if empty {
                        break;
                    }
                }
                break;
            }
            while buf.len() < at + size + 2 {
                fill(stream, buf).await?;
            }
            at += size + 2;
        }
        buf.drain(..at);
    } else if let Some(length) = length {
        while buf.len() < head_end + length {
            fill(stream, buf).await?;
        }
        buf.drain(..head_end + length);
    } else {
        // Body up to the close.
        loop {
            buf.clear();
            buf.reserve(16 * 1024);
            match stream.read_buf(buf).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(Failure::Io(format!("read: {e}"))),
            }
        }
        buf.clear();
        keep_alive = false;
    }
    Ok((status, keep_alive))
}

/// Splits `http://host:port/prefix` into the address to connect to, the
/// Host header and the path prefix.
pub fn split_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported, not {url:?}"))?;
    let (authority, prefix) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority.to_string(), prefix.to_string()))
}
