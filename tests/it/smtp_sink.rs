//! A real SMTP server on a loopback port for tests: it speaks enough ESMTP
//! for a real client (EHLO/HELO, STARTTLS, AUTH PLAIN and LOGIN, MAIL,
//! RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and records what it
//! receives instead of delivering it. TLS uses a CA made afresh for each
//! sink with rcgen; its certificate is written to [`SmtpSink::ca_file`]
//! for `--smtp-ca-file`.
//!
//! ```ignore
//! let sink = SmtpSink::start().await;
//! // point siaga at sink.url() with sink.ca_file() as the extra CA ...
//! let mail = sink.wait_for(1, Duration::from_secs(5)).await;
//! assert!(mail[0].tls);
//! assert!(mail[0].body().contains("Acknowledge: "));
//! ```
//!
//! Misbehaviour on demand, at any time: [`SmtpSink::fail_next`] (451),
//! [`SmtpSink::reject_all`] (554), [`SmtpSink::offer_starttls`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

const NAME: &str = "sink.siaga.test";

/// One message the sink accepted.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message as sent, dot-unstuffed, with CRLF line ends.
    pub data: String,
    /// Whether the connection was encrypted when the message came.
    pub tls: bool,
    /// Who logged in on the connection, if anyone.
    pub auth_user: Option<String>,
    pub auth_password: Option<String>,
}

impl ReceivedMail {
    /// A header's value, unfolded, as sent (encoded words are not decoded).
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""));
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(found) = value.as_mut()
                && line.starts_with([' ', '\t'])
            {
                found.push_str(line);
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim_start().to_string());
            }
        }
        value.map(|v| v.trim_end().to_string())
    }

    /// The body, decoded from its Content-Transfer-Encoding
    /// (7bit, 8bit, quoted-printable or base64), with CRLF line ends.
    pub fn body(&self) -> String {
        let raw = self
            .data
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body);
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        match encoding.as_str() {
            "quoted-printable" => decode_quoted_printable(raw),
            "base64" => {
                let joined: String = raw.split_whitespace().collect();
                let bytes = BASE64.decode(joined).expect("a base64 body");
                String::from_utf8(bytes).expect("a UTF-8 body")
            }
            _ => raw.to_string(),
        }
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let mut bytes = Vec::with_capacity(text.len());
    let input = text.as_bytes();
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'=' if input[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if i + 2 < input.len() => {
                let hex = std::str::from_utf8(&input[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        bytes.push(byte);
                        i += 3;
                    }
                    Err(_) => {
                        bytes.push(b'=');
                        i += 1;
                    }
                }
            }
            byte => {
                bytes.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(bytes).expect("a UTF-8 body")
}

/// One command line the sink received, and whether it came encrypted.
#[derive(Clone, Debug)]
pub struct Command {
    pub line: String,
    pub tls: bool,
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    commands: Mutex<Vec<Command>>,
    /// Messages whose data arrived, accepted or not.
    attempts: AtomicUsize,
    arrived: Notify,
    fail_next: AtomicUsize,
    reject: AtomicBool,
    no_starttls: AtomicBool,
    refuse_credentials: AtomicBool,
}

/// A running sink; it stops when dropped.
pub struct SmtpSink {
    address: SocketAddr,
    implicit_tls: bool,
    shared: Arc<Shared>,
    ca_file: tempfile::NamedTempFile,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// A sink offering STARTTLS and accepting every message.
    pub async fn start() -> SmtpSink {
        Self::listen(false).await
    }

    /// A sink speaking TLS from the first byte, as on port 465.
    pub async fn start_implicit_tls() -> SmtpSink {
        Self::listen(true).await
    }

    async fn listen(implicit_tls: bool) -> SmtpSink {
        let (acceptor, ca_pem) = tls_acceptor();
        let mut ca_file = tempfile::Builder::new()
            .prefix("smtp-sink-ca-")
            .suffix(".pem")
            .tempfile()
            .expect("a temporary CA file");
        std::io::Write::write_all(&mut ca_file, ca_pem.as_bytes()).expect("writing the CA file");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("the sink's address");
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let shared = shared.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // A client that hangs up mid-session is no failure of the sink.
                        let _ = session(stream, acceptor, implicit_tls, &shared).await;
                    });
                }
            }
        });
        SmtpSink {
            address,
            implicit_tls,
            shared,
            ca_file,
            task,
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `smtp://127.0.0.1:PORT` (or `smtps://`), for `--smtp-url`; add
    /// credentials or `?starttls=` as the test needs.
    pub fn url(&self) -> String {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        format!("{scheme}://{}", self.address)
    }

    /// The PEM certificate of the CA that signed this sink's certificate
    /// (valid for 127.0.0.1 and localhost), for `--smtp-ca-file`.
    pub fn ca_file(&self) -> &Path {
        self.ca_file.path()
    }

    /// Answers the next `count` messages with 451 (try again later).
    pub fn fail_next(&self, count: usize) {
        self.shared.fail_next.store(count, Ordering::SeqCst);
    }

    /// Answers every log-in with 535 (credentials refused) while `refuse`.
    pub fn refuse_credentials(&self, refuse: bool) {
        self.shared
            .refuse_credentials
            .store(refuse, Ordering::SeqCst);
    }

    /// Answers every message with 554 (permanent failure) while `reject`.
    pub fn reject_all(&self, reject: bool) {
        self.shared.reject.store(reject, Ordering::SeqCst);
    }

    /// Whether EHLO offers STARTTLS (it does unless told otherwise).
    pub fn offer_starttls(&self, offer: bool) {
        self.shared.no_starttls.store(!offer, Ordering::SeqCst);
    }

    /// The messages accepted so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages.lock().unwrap().clone()
    }

    /// How many messages arrived, including those answered with a failure.
    pub fn attempts(&self) -> usize {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    /// Every command line received so far, across connections.
    pub fn commands(&self) -> Vec<Command> {
        self.shared.commands.lock().unwrap().clone()
    }

    /// Waits until at least `count` messages were accepted; panics, saying
    /// what did arrive, after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            // Registered before the check, so a message in between wakes us.
            arrived.as_mut().enable();
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "the SMTP sink got {} message(s) within {timeout:?}, not {count}; commands: {:#?}",
                    messages.len(),
                    self.commands()
                );
            }
        }
    }
}

/// A CA made for this sink and a server certificate it signed.
fn tls_acceptor() -> (TlsAcceptor, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A name of its own, so that another sink's CA is a stranger and not
    // an impostor with the same name.
    static CAS: AtomicUsize = AtomicUsize::new(0);
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!(
            "siaga test SMTP sink CA {}-{}",
            std::process::id(),
            CAS.fetch_add(1, Ordering::SeqCst)
        ),
    );
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    (TlsAcceptor::from(Arc::new(config)), ca.pem())
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What one connection has said so far.
#[derive(Default)]
struct Session {
    tls: bool,
    auth: Option<(String, String)>,
    from: Option<String>,
    to: Vec<String>,
}

async fn session(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    implicit_tls: bool,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut state = Session::default();
    let mut io: BufReader<Box<dyn Io>> = if implicit_tls {
        state.tls = true;
        BufReader::new(Box::new(acceptor.accept(stream).await?))
    } else {
        BufReader::new(Box::new(stream))
    };
    reply(&mut io, &format!("220 {NAME} ESMTP siaga test sink")).await?;
    loop {
        let Some(line) = read_line(&mut io).await? else {
            return Ok(());
        };
        shared.commands.lock().unwrap().push(Command {
            line: line.clone(),
            tls: state.tls,
        });
        let (verb, argument) = line.split_once(' ').unwrap_or((&line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                state.from = None;
                state.to.clear();
                let mut lines = vec![NAME.to_string(), "8BITMIME".into()];
                if !state.tls && !shared.no_starttls.load(Ordering::SeqCst) {
                    lines.push("STARTTLS".into());
                }
                lines.push("AUTH PLAIN LOGIN".into());
                lines.push("SMTPUTF8".into());
                let last = lines.len() - 1;
                let text: Vec<String> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                    .collect();
                reply(&mut io, &text.join("\r\n")).await?;
            }
            "HELO" => reply(&mut io, &format!("250 {NAME}")).await?,
            "STARTTLS" if state.tls || shared.no_starttls.load(Ordering::SeqCst) => {
                reply(&mut io, "502 5.5.1 STARTTLS not available").await?;
            }
            "STARTTLS" => {
                reply(&mut io, "220 2.0.0 Ready to start TLS").await?;
                // Anything the client pipelined past STARTTLS is dropped,
                // as RFC 3207 requires.
                let plain = io.into_inner();
                io = BufReader::new(Box::new(acceptor.accept(plain).await?));
                state = Session {
                    tls: true,
                    ..Session::default()
                };
            }
            "AUTH" => {
                let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
                let credentials = match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" => {
                        let response = if initial.is_empty() {
                            reply(&mut io, "334 ").await?;
                            read_line(&mut io).await?.unwrap_or_default()
                        } else {
                            initial.to_string()
                        };
                        let decoded = decode64(&response);
                        let mut parts = decoded.split('\0').skip(1);
                        parts
                            .next()
                            .zip(parts.next())
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    }
                    "LOGIN" => {
                        let user = if initial.is_empty() {
                            reply(&mut io, "334 VXNlcm5hbWU6").await?;
                            decode64(&read_line(&mut io).await?.unwrap_or_default())
                        } else {
                            decode64(initial)
                        };
                        reply(&mut io, "334 UGFzc3dvcmQ6").await?;
                        let password = decode64(&read_line(&mut io).await?.unwrap_or_default());
                        Some((user, password))
                    }
                    _ => None,
                };
                match credentials {
                    Some(_) if shared.refuse_credentials.load(Ordering::SeqCst) => {
                        reply(&mut io, "535 5.7.8 Authentication credentials invalid").await?;
                    }
                    Some(credentials) => {
                        state.auth = Some(credentials);
                        reply(&mut io, "235 2.7.0 Authentication successful").await?;
                    }
                    None => reply(&mut io, "504 5.5.4 unrecognised authentication").await?,
                }
            }
            "MAIL" => {
                state.from = Some(address_in(argument));
                state.to.clear();
                reply(&mut io, "250 2.1.0 OK").await?;
            }
            "RCPT" if state.from.is_none() => {
                reply(&mut io, "503 5.5.1 MAIL first").await?;
            }
            "RCPT" => {
                state.to.push(address_in(argument));
                reply(&mut io, "250 2.1.5 OK").await?;
            }
            "DATA" if state.to.is_empty() => {
                reply(&mut io, "503 5.5.1 RCPT first").await?;
            }
            "DATA" => {
                reply(&mut io, "354 End data with <CR><LF>.<CR><LF>").await?;
                let data = read_data(&mut io).await?;
                shared.attempts.fetch_add(1, Ordering::SeqCst);
                let failing = shared
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if failing {
                    reply(&mut io, "451 4.3.0 Try again later (test sink)").await?;
                } else if shared.reject.load(Ordering::SeqCst) {
                    reply(&mut io, "554 5.7.1 Rejected by the test sink").await?;
                } else {
                    let (user, password) = state.auth.clone().unzip();
                    shared.messages.lock().unwrap().push(ReceivedMail {
                        from: state.from.clone().unwrap_or_default(),
                        to: state.to.clone(),
                        data,
                        tls: state.tls,
                        auth_user: user,
                        auth_password: password,
                    });
                    shared.arrived.notify_waiters();
                    reply(&mut io, "250 2.0.0 OK: queued").await?;
                }
                state.from = None;
                state.to.clear();
            }
            "RSET" => {
                state.from = None;
                state.to.clear();
                reply(&mut io, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut io, "250 2.0.0 OK").await?,
            "QUIT" => {
                reply(&mut io, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => reply(&mut io, "500 5.5.2 Unknown command").await?,
        }
    }
}

async fn reply(io: &mut BufReader<Box<dyn Io>>, text: &str) -> std::io::Result<()> {
    let stream = io.get_mut();
    stream.write_all(format!("{text}\r\n").as_bytes()).await?;
    stream.flush().await
}

/// One line without its line end; `None` at the end of the stream.
async fn read_line(io: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    if io.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&line);
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
}

/// The message up to the lone dot, dot-unstuffed.
async fn read_data(io: &mut BufReader<Box<dyn Io>>) -> std::io::Result<String> {
    let mut data = String::new();
    loop {
        let Some(line) = read_line(io).await? else {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        };
        if line == "." {
            return Ok(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
        data.push_str("\r\n");
    }
}

/// `FROM:<a@b> SIZE=1` → `a@b`.
fn address_in(argument: &str) -> String {
    let start = argument.find('<').map_or(0, |i| i + 1);
    let end = argument[start..]
        .find('>')
        .map_or(argument.len(), |i| start + i);
    argument[start..end].to_string()
}

fn decode64(text: &str) -> String {
    String::from_utf8_lossy(&BASE64.decode(text.trim()).unwrap_or_default()).into_owned()
}
