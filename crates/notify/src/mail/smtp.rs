//! Sending over SMTP with lettre (tokio, rustls).

use std::error::Error as _;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use percent_encoding::percent_decode_str;
use url::{Host, Url};

use super::{Email, MailError, Mailer, NAME_MAX_CHARS, SUBJECT_MAX_CHARS, header_safe};

/// Where and how to send: the service's SMTP settings.
#[derive(Clone)]
pub struct SmtpConfig {
    /// `smtp://host[:port]` (no TLS; port 25), `smtp://host[:port]?tls=starttls` (STARTTLS
    /// required; port 587), `smtps://host[:port]` (TLS from the first byte; port 465), each with
    /// an optional `user:password@` (URL-encoded) to log in.
    pub url: String,
    /// The sender, a mailbox such as `tasktrail <noreply@example.com>`.
    pub from: String,
    /// A PEM file of CA certificates trusted besides the system's (a private relay's CA).
    pub ca_file: Option<PathBuf>,
    /// Longest one email may take: connecting, TLS, login and the transfer together.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &redacted(&self.url))
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The URL without its password, for logs; unparsable URLs are not shown at all.
fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "<not a URL>".to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls,
    Implicit,
}

/// An SMTP URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    security: Security,
    user: Option<String>,
    password: Option<String>,
}

impl Target {
    fn parse(raw: &str) -> anyhow::Result<Target> {
        let url =
            Url::parse(raw.trim()).map_err(|e| anyhow::anyhow!("SMTP_URL {} is not a URL: {e}", redacted(raw)))?;
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), tls) {
                ("tls", None) => tls = Some(value.into_owned()),
                _ => bail!("SMTP_URL: unknown or repeated query parameter {key:?} (only ?tls=starttls is known)"),
            }
        }
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtp", None) => Security::Plain,
            // `required` is lettre's own spelling of the same.
            ("smtp", Some("starttls" | "required")) => Security::StartTls,
            ("smtps", None) => Security::Implicit,
            ("smtp" | "smtps", Some(other)) => bail!(
                "SMTP_URL: tls={other:?} is not known: use smtp://host:587?tls=starttls for STARTTLS or smtps://host:465 for TLS from the start"
            ),
            (scheme, _) => {
                bail!("SMTP_URL: scheme {scheme:?} is not known: use smtp:// or smtps://")
            }
        };
        let host = match url.host() {
            Some(Host::Domain(name)) if !name.is_empty() => name.to_string(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            _ => bail!("SMTP_URL {} names no host", redacted(raw)),
        };
        if !matches!(url.path(), "" | "/") {
            bail!("SMTP_URL {} has a path; it takes none", redacted(raw));
        }
        let port = url.port().unwrap_or(match security {
            Security::Plain => 25,
            Security::StartTls => 587,
            Security::Implicit => 465,
        });
        let decode = |s: &str| -> anyhow::Result<String> {
            Ok(percent_decode_str(s)
                .decode_utf8()
                .context("SMTP_URL: the user or password is not UTF-8 once decoded")?
                .into_owned())
        };
        let user = match url.username() {
            "" => None,
            user => Some(decode(user)?),
        };
        let password = url.password().map(decode).transpose()?;
        if password.is_some() && user.is_none() {
            bail!("SMTP_URL has a password but no user");
        }
        Ok(Target {
            host,
            port,
            security,
            user,
            password,
        })
    }

    fn describe(&self) -> String {
        let scheme = if self.security == Security::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let security = match self.security {
            Security::Plain => "no TLS",
            Security::StartTls => "STARTTLS",
            Security::Implicit => "TLS",
        };
        let login = match &self.user {
            Some(user) => format!(", login as {user}"),
            None => String::new(),
        };
        format!("SMTP {scheme}://{host}:{} ({security}{login})", self.port)
    }
}

/// Sends each email over its own SMTP connection (emails are rare: one per completed task).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    description: String,
}

impl SmtpMailer {
    /// Checks every setting (the URL, the sender, the CA file) now, so that a mistake stops the
    /// service at start rather than failing each email.
    pub fn new(config: &SmtpConfig) -> anyhow::Result<SmtpMailer> {
        let target = Target::parse(&config.url)?;
        let from: Mailbox = config.from.trim().parse().map_err(|e| {
            anyhow::anyhow!(
                "SMTP_FROM {:?} is not a mailbox such as \"tasktrail <noreply@example.com>\": {e}",
                config.from
            )
        })?;
        if config.timeout.is_zero() {
            bail!("the SMTP timeout must be longer than zero");
        }

        // lettre's "dangerous" builder starts without TLS; the URL's TLS is set just below.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&target.host)
            .port(target.port)
            .timeout(Some(config.timeout));
        if target.security != Security::Plain {
            let mut tls = TlsParameters::builder(target.host.clone());
            if let Some(path) = &config.ca_file {
                let pem =
                    std::fs::read(path).with_context(|| format!("SMTP_CA_FILE {}: cannot read it", path.display()))?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    bail!("SMTP_CA_FILE {} holds no PEM certificate", path.display());
                }
                let certificate =
                    Certificate::from_pem(&pem).map_err(|e| anyhow::anyhow!("SMTP_CA_FILE {}: {e}", path.display()))?;
                tls = tls.add_root_certificate(certificate);
            }
            let tls = tls.build().context("SMTP TLS settings")?;
            builder = builder.tls(match target.security {
                Security::StartTls => Tls::Required(tls),
                _ => Tls::Wrapper(tls),
            });
        } else if config.ca_file.is_some() {
            bail!("SMTP_CA_FILE is set but SMTP_URL uses no TLS (add ?tls=starttls or use smtps://)");
        }
        if let Some(user) = &target.user {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                target.password.clone().unwrap_or_default(),
            ));
        }
        let description = format!("{}, from {from}", target.describe());
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
            timeout: config.timeout,
            description,
        })
    }

    fn message(&self, email: &Email) -> Result<Message, MailError> {
        let address: Address = email
            .to
            .trim()
            .parse()
            .map_err(|e| MailError::Permanent(format!("the recipient {:?} is not an address: {e}", email.to)))?;
        let name = header_safe(&email.to_name, NAME_MAX_CHARS);
        let to = Mailbox::new((!name.is_empty()).then_some(name), address);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(header_safe(&email.subject, SUBJECT_MAX_CHARS))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Permanent(format!("cannot build the message: {e}")))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = self.message(email)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
            // Once the message was handed over, the server may have taken it: a retry after
            // this can deliver it twice, a window SMTP itself leaves open.
            Err(_) => Err(MailError::Transient(format!(
                "no answer from the SMTP server within {}",
                humanize(self.timeout)
            ))),
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Transient: the server was not reached or not in time, or answered 4xx. Permanent: it
/// answered 5xx, or the connection can never work as configured (TLS refused the server's
/// certificate, the server does not speak TLS or SMTP).
fn classify(e: &lettre::transport::smtp::Error) -> MailError {
    let text = e.to_string();
    if e.is_permanent() {
        return MailError::Permanent(text);
    }
    if e.is_transient() || e.is_timeout() || e.is_transport_shutdown() {
        return MailError::Transient(text);
    }
    let io_kind = std::iter::successors(e.source(), |s| (*s).source())
        .find_map(|s| s.downcast_ref::<io::Error>())
        .map(io::Error::kind);
    match io_kind {
        // tokio-rustls reports a failed handshake (an untrusted or misnamed certificate, a
        // server that is not speaking TLS) as invalid data.
        Some(io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput) => MailError::Permanent(text),
        Some(_) => MailError::Transient(text),
        None if e.is_client() || e.is_tls() => MailError::Permanent(text),
        // A garbled reply, or no reply: the next attempt may meet a sane server.
        None => MailError::Transient(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e:#}"))
    }

    #[test]
    fn smtp_urls_choose_port_tls_and_login() {
        let t = target("smtp://mail.example.com");
        assert_eq!(
            (t.host.as_str(), t.port, t.security),
            ("mail.example.com", 25, Security::Plain)
        );
        assert_eq!((t.user, t.password), (None, None));

        let t = target("smtp://127.0.0.1:1025");
        assert_eq!(
            (t.host.as_str(), t.port, t.security),
            ("127.0.0.1", 1025, Security::Plain)
        );

        let t = target("smtp://apikey:s%40cret%3Aword%2F@smtp.example.com?tls=starttls");
        assert_eq!((t.port, t.security), (587, Security::StartTls));
        assert_eq!(t.user.as_deref(), Some("apikey"));
        assert_eq!(t.password.as_deref(), Some("s@cret:word/"));

        assert_eq!(target("smtp://h:2525?tls=required").security, Security::StartTls);

        let t = target("smtps://ada%40example.com:pw@[::1]");
        assert_eq!((t.host.as_str(), t.port, t.security), ("::1", 465, Security::Implicit));
        assert_eq!(t.user.as_deref(), Some("ada@example.com"));
        assert_eq!(t.describe(), "SMTP smtps://[::1]:465 (TLS, login as ada@example.com)");
    }

    #[test]
    fn wrong_smtp_urls_are_refused_without_showing_the_password() {
        for url in [
            "mail.example.com:25",
            "http://mail.example.com",
            "smtp://:25",
            "smtp://h?tls=opportunistic",
            "smtps://h?tls=starttls",
            "smtp://h?tls=starttls&tls=starttls",
            "smtp://h?tsl=starttls",
            "smtp://h/path",
            "smtp://:secret@h",
        ] {
            let error = Target::parse(url).expect_err(url);
            assert!(!error.to_string().contains("secret"), "{url}: {error}");
        }
        let error = Target::parse("smtp://u:secret@h/x").unwrap_err().to_string();
        assert!(error.contains("***") && !error.contains("secret"), "{error}");
    }

    #[test]
    fn a_mailer_is_checked_at_start() {
        let config = |url: &str, from: &str, ca: Option<&str>| SmtpConfig {
            url: url.into(),
            from: from.into(),
            ca_file: ca.map(PathBuf::from),
            timeout: Duration::from_secs(5),
        };
        let ok = SmtpMailer::new(&config(
            "smtp://u:pw@127.0.0.1:1025",
            "tasktrail <noreply@example.com>",
            None,
        ))
        .unwrap();
        assert_eq!(
            ok.describe(),
            "SMTP smtp://127.0.0.1:1025 (no TLS, login as u), from tasktrail <noreply@example.com>"
        );
        assert!(format!("{:?}", config("smtp://u:pw@h", "a@b.c", None)).contains("u:***@h"));
        for (url, from, ca) in [
            ("smtp://h", "not a mailbox", None),
            ("smtp://h", "x <a@b.c>\r\nBcc: e@f.g", None),
            ("smtp://h", "a@b.c", Some("/etc/hostname")),
            ("smtps://h", "a@b.c", Some("/nonexistent/ca.pem")),
            ("smtps://h", "a@b.c", Some("/etc/hostname")),
        ] {
            assert!(SmtpMailer::new(&config(url, from, ca)).is_err(), "{url} {from} {ca:?}");
        }
    }
}
