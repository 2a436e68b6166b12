//! A minimal webhook receiver: accepts HTTP/1.1 requests on keep-alive
//! connections, answers `200 OK` as soon as a request has fully arrived,
//! and hands each one (path, body, arrival time) to a channel. Bodies by
//! Content-Length or chunked, as both siaga and Alertmanager send them.

use std::time::SystemTime;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::UnboundedSender;

use crate::find;

/// One request that reached the receiver.
#[derive(Debug)]
pub struct Arrival {
    /// When its last byte arrived.
    pub at: SystemTime,
    pub path: String,
    pub body: Vec<u8>,
}

/// Serves `listener` until the process ends.
pub async fn serve(listener: TcpListener, arrivals: UnboundedSender<Arrival>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        stream.set_nodelay(true).ok();
        tokio::spawn(connection(stream, arrivals.clone()));
    }
}

async fn connection(mut stream: TcpStream, arrivals: UnboundedSender<Arrival>) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    while let Some((path, body)) = read_request(&mut stream, &mut buf).await {
        let at = SystemTime::now();
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
        let _ = arrivals.send(Arrival { at, path, body });
    }
}

async fn more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    buf.reserve(16 * 1024);
    match stream.read_buf(buf).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(()),
    }
}

/// Reads one request; `None` when the peer closed the connection.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n", 0) {
            break at + 4;
        }
        more(stream, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let mut length = 0usize;
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        let mut at = head_end;
        loop {
            let line_end = loop {
                if let Some(end) = find(buf, b"\r\n", at) {
                    break end;
                }
                more(stream, buf).await?;
            };
            let size_text = String::from_utf8_lossy(&buf[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            at = line_end + 2;
            while buf.len() < at + size + 2 {
                more(stream, buf).await?;
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
            if size == 0 {
                break;
            }
        }
        buf.drain(..at);
    } else {
        while buf.len() < head_end + length {
            more(stream, buf).await?;
        }
        body.extend_from_slice(&buf[head_end..head_end + length]);
        buf.drain(..head_end + length);
    }
    Some((path, body))
}
