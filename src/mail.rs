//! Outbound email over SMTP: [`MailSettings`] parsed from the server's
//! `--smtp-url`, and the [`Mailer`] that sends one plain-text message per
//! call on a fresh connection. Owns transport security: STARTTLS unless told
//! otherwise, server certificates always verified, and credentials never
//! sent in clear text. Knows nothing of alerts or deliveries; `app` decides
//! what to say and to whom.
//!
//! Settings come from the environment, never from the organisation config:
//! that file lands in the event log, and an SMTP password must not.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;
use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MessageBuilder};
use lettre::transport::smtp::authentication::{self, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

/// How long one message may take, from connecting to the server's answer
/// to the data: a hung server fails the attempt, for the job queue to
/// retry, instead of holding the delivery job forever.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Submission with STARTTLS (RFC 6409) for `smtp://`.
const SMTP_PORT: u16 = 587;
/// Implicit TLS (RFC 8314) for `smtps://`.
const SMTPS_PORT: u16 = 465;
/// A QUIT that is not answered quickly is not worth waiting for: the
/// message was accepted before it.
const QUIT_WAIT: Duration = Duration::from_secs(5);

/// Where and how to send mail: `smtp://[USER:PASS@]HOST[:PORT][?starttls=MODE]`
/// or `smtps://[USER:PASS@]HOST[:PORT]`.
#[derive(Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub credentials: Option<Credentials>,
    pub timeout: Duration,
}

/// How the connection to the server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `smtp://`: plain TCP upgraded with STARTTLS, as the mode says.
    StartTls(StartTls),
}

/// Whether an `smtp://` connection must be upgraded with STARTTLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartTls {
    /// The default: a server that does not offer STARTTLS gets nothing.
    Required,
    /// Upgrade when offered, else send in clear text. Open to anyone on
    /// the path who strips the offer; for relays on a trusted network.
    Opportunistic,
    /// Never upgrade: clear text, for a local relay without TLS.
    Never,
}

/// A username and password for SMTP AUTH.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why mail settings were refused. The message never repeats a password.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(String);

impl MailSettings {
    /// Parses and checks an SMTP URL. Never panics, whatever the input.
    pub fn parse(text: &str) -> Result<MailSettings, SettingsError> {
        let refuse = |why: String| Err(SettingsError(format!("the SMTP URL {why}")));
        const NO_HOST: &str = "names no host, as in smtp://mail.example:587";
        let url = match url::Url::parse(text.trim()) {
            Ok(url) => url,
            Err(url::ParseError::EmptyHost) => return refuse(NO_HOST.into()),
            Err(error) => return refuse(format!("is not a URL ({error})")),
        };
        let (implicit_tls, default_port) = match url.scheme() {
            "smtp" => (false, SMTP_PORT),
            "smtps" => (true, SMTPS_PORT),
            other => {
                return refuse(format!(
                    "has the scheme `{other}`; use smtp:// (STARTTLS) or smtps:// (implicit TLS)"
                ));
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Domain(name)) if !name.is_empty() => {
                match percent_encoding::percent_decode_str(name).decode_utf8() {
                    Ok(name) if is_host_name(&name) => name.to_ascii_lowercase(),
                    _ => return refuse(format!("has an invalid host `{name}`")),
                }
            }
            _ => return refuse(NO_HOST.into()),
        };
        if !matches!(url.path(), "" | "/") {
            return refuse(format!(
                "has a path `{}`; it takes none",
                url.path().chars().take(40).collect::<String>()
            ));
        }
        if url.fragment().is_some() {
            return refuse("has a #fragment; it takes none".into());
        }
        let mut starttls = None;
        for (key, value) in url.query_pairs() {
            match &*key {
                "starttls" if implicit_tls => {
                    return refuse(
                        "sets starttls with smtps://, which is TLS from the start; \
                         starttls applies to smtp:// only"
                            .into(),
                    );
                }
                "starttls" if starttls.is_some() => {
                    return refuse("sets starttls twice".into());
                }
                "starttls" => {
                    starttls = Some(match &*value {
                        "required" => StartTls::Required,
                        "opportunistic" => StartTls::Opportunistic,
                        "never" => StartTls::Never,
                        other => {
                            return refuse(format!(
                                "has starttls={}; use required (the default), opportunistic or never",
                                other.chars().take(40).collect::<String>()
                            ));
                        }
                    });
                }
                other => {
                    return refuse(format!(
                        "has an unknown parameter `{}`; the only one is starttls",
                        other.chars().take(40).collect::<String>()
                    ));
                }
            }
        }
        let security = if implicit_tls {
            Security::ImplicitTls
        } else {
            Security::StartTls(starttls.unwrap_or(StartTls::Required))
        };
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return refuse("has a password but no username".into()),
            (_, None) => {
                return refuse(
                    "has a username but no password; write smtp://USER:PASSWORD@HOST".into(),
                );
            }
            (username, Some(password)) => match (decode(username), decode(password)) {
                (Ok(username), Ok(password)) => Some(Credentials { username, password }),
                _ => return refuse("has a username or password that is not UTF-8".into()),
            },
        };
        if credentials.is_some() && security == Security::StartTls(StartTls::Never) {
            return refuse(
                "has a password with starttls=never, which would send it in clear text; \
                 use STARTTLS or smtps://"
                    .into(),
            );
        }
        Ok(MailSettings {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// `host:port`, for messages and logs.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Letters, digits, dots and hyphens: what a mail server's name is made of,
/// and nothing that could smuggle a second host or a path.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
}

/// One plain-text message to one recipient.
#[derive(Clone, Debug)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// With its angle brackets, as in `<id@siaga>`. Stable across retries,
    /// so a mail client can recognise a repeat.
    pub message_id: String,
    /// Extra headers, as (name, value).
    pub headers: Vec<(String, String)>,
    /// The `Date` header; from the caller's clock.
    pub date: Timestamp,
}

/// A Message-ID, `<LOCAL@DOMAIN>`, from any unique text: characters a
/// Message-ID may not hold (RFC 5322 `atext`) become `_`.
pub fn message_id(unique: &str, domain: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c);
    let clean = |text: &str| -> String {
        let cleaned: String = text
            .chars()
            .map(|c| if atext(c) { c } else { '_' })
            .collect();
        // Dots may only separate atoms.
        cleaned
            .split('.')
            .map(|atom| if atom.is_empty() { "_" } else { atom })
            .collect::<Vec<_>>()
            .join(".")
    };
    format!("<{}@{}>", clean(unique), clean(domain))
}

/// Why a message was not sent. The message names the server and, when the
/// server refused, its reply.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    message: String,
    code: Option<u16>,
    /// Sending it again cannot succeed (see [`SendError::is_permanent`]).
    permanent: bool,
}

impl SendError {
    fn new(message: String) -> SendError {
        SendError {
            message,
            code: None,
            permanent: false,
        }
    }

    /// A message that cannot be built: sending it again cannot help.
    fn unsendable(message: String) -> SendError {
        SendError {
            permanent: true,
            ..SendError::new(message)
        }
    }

    /// A failure of lettre's at some step, named by `doing`.
    fn at(server: &str, doing: &str, error: lettre::transport::smtp::Error) -> SendError {
        let code = error
            .status()
            .and_then(|code| code.to_string().parse().ok());
        if let Some(tls) = tls_failure(&error) {
            // lettre reports a refused certificate as a connection error;
            // say what it is and what usually fixes it.
            return SendError {
                message: format!(
                    "mail server {server}, {doing}: TLS failed: {tls} \
                     (is the server's CA trusted? see --smtp-ca-file)"
                ),
                code,
                permanent: false,
            };
        }
        let kind = if error.is_tls() {
            "TLS failed"
        } else if error.is_transient() {
            "temporary failure, to be retried"
        } else if error.is_permanent() {
            "refused"
        } else {
            "failed"
        };
        // Refused credentials (530, 534, 535) are retried like a webhook's
        // 401: the password may be mid-rotation.
        let credentials = matches!(code, Some(530 | 534 | 535));
        SendError {
            message: format!("mail server {server}, {doing}: {kind}: {error}"),
            code,
            permanent: error.is_permanent() && !credentials,
        }
    }

    /// The server's reply code when it refused (4xx temporary, 5xx
    /// permanent); `None` when the failure was not a reply.
    pub fn reply_code(&self) -> Option<u16> {
        self.code
    }

    /// The server refused for good (a 5xx reply: no such mailbox, relaying
    /// denied; not refused credentials, which a password rotation mends),
    /// or the message cannot be built (the address is none): sending it
    /// again as it is cannot succeed.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }
}

/// The TLS error somewhere in `error`'s causes, if any.
fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(tls) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        cause = error.source();
    }
    None
}

/// Sends mail through one SMTP server. Cheap to share; every message gets
/// its own connection, so a broken one never poisons the next.
pub struct Mailer {
    settings: MailSettings,
    from: Mailbox,
    tls: TlsParameters,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("settings", &self.settings)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The domain of the sender's address: the right half of the
    /// Message-IDs siaga makes, as RFC 5322 advises.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
    }

    /// A mailer sending as `from` (`siaga@example.com` or
    /// `Siaga <siaga@example.com>`). Server certificates are checked against
    /// the system's roots, plus the PEM certificates in `ca_file` when given
    /// (for a private CA or a self-signed server).
    pub fn new(
        settings: MailSettings,
        from: &str,
        ca_file: Option<&Path>,
    ) -> Result<Mailer, SettingsError> {
        let from: Mailbox = from.trim().parse().map_err(|_| {
            SettingsError(format!(
                "the sender `{from}` is not an email address; write siaga@example.com or \"Siaga <siaga@example.com>\""
            ))
        })?;
        // Certificates are checked for the name siaga connects to.
        let mut tls = TlsParameters::builder(settings.host.clone());
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|error| {
                SettingsError(format!(
                    "cannot read the SMTP CA file {}: {error}",
                    path.display()
                ))
            })?;
            let not_pem = || {
                SettingsError(format!(
                    "the SMTP CA file {} holds no PEM certificate",
                    path.display()
                ))
            };
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(not_pem());
            }
            tls = tls.add_root_certificate(Certificate::from_pem(&pem).map_err(|_| not_pem())?);
        }
        let tls = tls.build_rustls().map_err(|error| {
            SettingsError(format!("cannot set up TLS for the mail server: {error}"))
        })?;
        Ok(Mailer {
            settings,
            from,
            tls,
        })
    }

    pub fn settings(&self) -> &MailSettings {
        &self.settings
    }

    /// The sender, as configured.
    pub fn sender(&self) -> String {
        self.from.to_string()
    }

    /// Sends one message: connects, secures, logs in, hands it over. Ok
    /// means the server accepted it.
    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        let message = self.message(email)?;
        let server = self.settings.server();
        let mut connection = match tokio::time::timeout(
            self.settings.timeout,
            self.transmit(&message),
        )
        .await
        {
            Ok(sent) => sent?,
            Err(_) => {
                return Err(SendError::new(format!(
                    "mail server {server} did not finish within {}s; the message may not have been sent",
                    self.settings.timeout.as_secs()
                )));
            }
        };
        let _ = tokio::time::timeout(QUIT_WAIT, connection.quit()).await;
        Ok(())
    }

    fn message(&self, email: &Email) -> Result<Message, SendError> {
        let to: Mailbox = email.to.trim().parse().map_err(|_| {
            SendError::unsendable(format!(
                "cannot send to `{}`: not an email address",
                email.to
            ))
        })?;
        let mut builder: MessageBuilder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(one_line(&email.subject))
            .message_id(Some(one_line(&email.message_id)))
            .date(SystemTime::from(email.date))
            .header(ContentType::TEXT_PLAIN);
        for (name, value) in &email.headers {
            let name = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| SendError::unsendable(format!("`{name}` is not a header name")))?;
            builder = builder.raw_header(HeaderValue::new(name, one_line(value)));
        }
        builder
            .body(email.text.clone())
            .map_err(|error| SendError::unsendable(format!("cannot build the message: {error}")))
    }

    /// Everything up to the server's acceptance of the data; returns the
    /// connection for a polite QUIT.
    async fn transmit(&self, message: &Message) -> Result<AsyncSmtpConnection, SendError> {
        let server = self.settings.server();
        let hello = ClientId::default();
        let implicit_tls = match self.settings.security {
            Security::ImplicitTls => Some(self.tls.clone()),
            Security::StartTls(_) => None,
        };
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            (self.settings.host.as_str(), self.settings.port),
            Some(self.settings.timeout),
            &hello,
            implicit_tls,
            None,
        )
        .await
        .map_err(|error| SendError::at(&server, "connecting", error))?;
        if let Security::StartTls(mode) = self.settings.security {
            if mode != StartTls::Never && connection.can_starttls() {
                connection
                    .starttls(self.tls.clone(), &hello)
                    .await
                    .map_err(|error| SendError::at(&server, "STARTTLS", error))?;
            } else if mode == StartTls::Required {
                return Err(SendError::new(format!(
                    "mail server {server} does not offer STARTTLS, which is required; nothing was sent \
                     (add ?starttls=opportunistic to the SMTP URL to allow clear text)"
                )));
            } else if mode == StartTls::Opportunistic {
                tracing::warn!(%server, "the mail server does not offer STARTTLS; sending in clear text");
            }
        }
        if let Some(credentials) = &self.settings.credentials {
            if !connection.is_encrypted() {
                return Err(SendError::new(format!(
                    "mail server {server} does not offer STARTTLS, and logging in would send the \
                     password in clear text; nothing was sent"
                )));
            }
            let credentials = authentication::Credentials::new(
                credentials.username.clone(),
                credentials.password.clone(),
            );
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|error| SendError::at(&server, "logging in", error))?;
        }
        connection
            .send(message.envelope(), &message.formatted())
            .await
            .map_err(|error| SendError::at(&server, "sending the message", error))?;
        Ok(connection)
    }
}

/// A header value on one line: line breaks in an alert's summary must not
/// fold into the header block.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<MailSettings, String> {
        MailSettings::parse(url).map_err(|e| e.to_string())
    }

    #[test]
    fn smtp_urls_parse_with_starttls_required_by_default() {
        let settings = parse("smtp://alerts%40kedai:p%40ss:w@Mail.Example:2525").unwrap();
        assert_eq!(settings.host, "mail.example");
        assert_eq!(settings.port, 2525);
        assert_eq!(settings.security, Security::StartTls(StartTls::Required));
        let credentials = settings.credentials.unwrap();
        assert_eq!(credentials.username, "alerts@kedai");
        assert_eq!(credentials.password, "p@ss:w");

        let plain = parse("smtp://mail.example").unwrap();
        assert_eq!(plain.port, 587);
        assert_eq!(plain.credentials, None);
        assert_eq!(
            parse("smtp://mail.example:25?starttls=opportunistic")
                .unwrap()
                .security,
            Security::StartTls(StartTls::Opportunistic)
        );
        assert_eq!(
            parse("smtp://127.0.0.1:25?starttls=never")
                .unwrap()
                .security,
            Security::StartTls(StartTls::Never)
        );
        let implicit = parse("smtps://u:p@mail.example").unwrap();
        assert_eq!(implicit.security, Security::ImplicitTls);
        assert_eq!(implicit.port, 465);
        let v6 = parse("smtp://[::1]:2525").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.server(), "[::1]:2525");
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        let cases = [
            ("ftp://x", "scheme `ftp`"),
            ("mail.example:587", "scheme `mail.example`"),
            ("not a url", "is not a URL"),
            ("smtp://", "names no host"),
            ("smtp://:25", "names no host"),
            ("smtp:mail.example", "names no host"),
            ("smtp://mail.example?starttls=yes", "starttls=yes"),
            (
                "smtp://mail.example?starttls=required&starttls=never",
                "twice",
            ),
            ("smtps://mail.example?starttls=required", "smtp:// only"),
            (
                "smtp://mail.example?tls=required",
                "unknown parameter `tls`",
            ),
            ("smtp://mail.example/inbox", "path"),
            ("smtp://mail.example#x", "fragment"),
            ("smtp://user@mail.example", "no password"),
            ("smtp://:secret@mail.example", "no username"),
            ("smtp://mail.example:99999", "is not a URL"),
            ("smtp://mail%2Fexample", "invalid host"),
        ];
        for (url, expected) in cases {
            let error = parse(url).expect_err(url);
            assert!(
                error.starts_with("the SMTP URL ") && error.contains(expected),
                "{url}: {error}"
            );
        }
    }

    #[test]
    fn a_password_is_never_sent_or_shown_in_clear_text() {
        let error = parse("smtp://user:hunter2@mail.example?starttls=never").unwrap_err();
        assert!(error.contains("clear text"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let shown = format!("{:?}", parse("smtp://user:hunter2@mail.example").unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        let error = parse("smtp://user:hunter2@mail.example?starttls=maybe").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn a_sender_and_a_ca_file_are_checked_at_start() {
        let settings = parse("smtp://mail.example").unwrap();
        let error = Mailer::new(settings.clone(), "not an address", None).unwrap_err();
        assert!(
            error.to_string().contains("not an email address"),
            "{error}"
        );
        assert!(Mailer::new(settings.clone(), "Siaga <siaga@kedai.example>", None).is_ok());

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = Mailer::new(settings.clone(), "siaga@kedai.example", Some(&missing))
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing.pem"), "{error}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let error = Mailer::new(settings, "siaga@kedai.example", Some(&junk))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
    }

    #[test]
    fn headers_stay_on_one_line_whatever_the_summary() {
        let mailer = Mailer::new(
            parse("smtp://mail.example").unwrap(),
            "siaga@kedai.example",
            None,
        )
        .unwrap();
        let email = Email {
            to: "oncall@kedai.example".into(),
            subject: "disk full\r\nBcc: thief@evil.example".into(),
            text: "body".into(),
            message_id: "<1-0-0-oncall-email@siaga>".into(),
            headers: vec![("X-Siaga-Delivery".into(), "1-0-0\nX-Evil: 1".into())],
            date: "2026-11-02T09:00:00Z".parse().unwrap(),
        };
        let raw = String::from_utf8(mailer.message(&email).unwrap().formatted()).unwrap();
        let (head, _) = raw.split_once("\r\n\r\n").unwrap();
        assert!(
            !head
                .lines()
                .any(|l| l.starts_with("Bcc:") || l.starts_with("X-Evil:")),
            "{head}"
        );
        assert!(
            head.contains("Message-ID: <1-0-0-oncall-email@siaga>"),
            "{head}"
        );
        assert!(head.contains("Date: Mon, 02 Nov 2026 09:00:00"), "{head}");
    }

    #[test]
    fn message_ids_hold_only_what_a_message_id_may() {
        assert_eq!(
            message_id("12-0-1-oncall-default-email0", "siaga"),
            "<12-0-1-oncall-default-email0@siaga>"
        );
        assert_eq!(
            message_id("inc3-update-2026-11-02T09:00:00Z-x <y>", "siaga"),
            "<inc3-update-2026-11-02T09_00_00Z-x__y_@siaga>"
        );
        assert_eq!(message_id(".a..b.", "siaga"), "<_.a._.b._@siaga>");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_strings_never_panic(text in ".{0,80}") {
            let _ = MailSettings::parse(&text);
        }

        #[test]
        fn url_shaped_strings_never_panic(
            scheme in "(smtps?|ftp|)",
            user in "[a-z%@:]{0,6}",
            host in "[a-zA-Z0-9.:%\\[\\]-]{0,12}",
            port in "(:[0-9]{0,6})?",
            query in "(\\?[a-z=&%]{0,20})?",
        ) {
            let _ = MailSettings::parse(&format!("{scheme}://{user}@{host}{port}{query}"));
        }
    }
}
