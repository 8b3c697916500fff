//! The mailers against a real SMTP server: Mailpit, started per test on loopback ports and read
//! back through its HTTP API. Plain SMTP, login, STARTTLS and TLS with a private CA, refused
//! and unreachable servers, and header injection.

mod mailpit;

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use mailpit::Mailpit;
use serde_json::{Value, json};
use tasktrail_notify::mail::{Email, LogMailer, MailError, Mailer, SmtpConfig, SmtpMailer, completion_email};

const FROM: &str = "tasktrail <noreply@example.com>";

/// Every test is over within a minute, whatever hangs.
async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test took longer than 60 s");
}

fn mailer(url: &str, ca_file: Option<&Path>) -> SmtpMailer {
    mailer_with_timeout(url, ca_file, Duration::from_secs(10))
}

fn mailer_with_timeout(url: &str, ca_file: Option<&Path>, timeout: Duration) -> SmtpMailer {
    SmtpMailer::new(&SmtpConfig {
        url: url.to_string(),
        from: FROM.to_string(),
        ca_file: ca_file.map(Path::to_path_buf),
        timeout,
    })
    .unwrap_or_else(|e| panic!("{url}: {e:#}"))
}

fn milk_email(to: &str) -> Email {
    completion_email(
        to,
        "Ada Lovelace",
        "buy milk",
        Utc.with_ymd_and_hms(2026, 11, 29, 14, 30, 0).unwrap(),
        "http://tasktrail.test:8080",
    )
}

fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| a.iter().map(|m| m["Address"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Asserts the message is the completion email for "buy milk" to Ada, and no more.
async fn assert_milk_email(mailpit: &Mailpit, message: &Value) {
    assert_eq!(
        message["From"],
        json!({"Name": "tasktrail", "Address": "noreply@example.com"})
    );
    assert_eq!(
        message["To"],
        json!([{"Name": "Ada Lovelace", "Address": "ada@example.com"}])
    );
    assert_eq!(addresses(&message["Cc"]), Vec::<String>::new());
    assert_eq!(addresses(&message["Bcc"]), Vec::<String>::new());
    assert_eq!(message["Subject"], "Completed: buy milk");
    let text = message["Text"].as_str().unwrap();
    let html = message["HTML"].as_str().unwrap();
    for body in [text, html] {
        assert!(body.contains("buy milk"), "{body}");
        assert!(body.contains("Sunday, 29 November 2026 at 14:30 UTC"), "{body}");
    }
    assert!(text.contains("Open tasktrail: http://tasktrail.test:8080/"), "{text}");
    assert!(
        html.contains(r#"<a href="http://tasktrail.test:8080/">Open tasktrail</a>"#),
        "{html}"
    );
    let headers = mailpit.headers(message).await;
    let content_type = headers["Content-Type"][0].as_str().unwrap();
    assert!(content_type.starts_with("multipart/alternative"), "{content_type}");
}

#[tokio::test]
async fn a_completion_email_arrives_whole_over_plain_smtp() {
    bounded(async {
        let mailpit = Mailpit::start(&[]).await;
        let plain = mailer(&format!("smtp://127.0.0.1:{}", mailpit.smtp_port), None);
        plain.send(&milk_email("ada@example.com")).await.unwrap();

        // STARTTLS asked for and not offered: nothing goes out in the clear.
        let error = mailer(&format!("smtp://127.0.0.1:{}?tls=starttls", mailpit.smtp_port), None)
            .send(&milk_email("ada@example.com"))
            .await
            .expect_err("a server without STARTTLS");
        assert!(matches!(error, MailError::Permanent(_)), "{error:?}");

        let messages = mailpit.expect_messages(1).await;
        assert_milk_email(&mailpit, &messages[0]).await;
        assert_eq!(messages[0]["Username"], "", "no login was asked for");
    })
    .await;
}

#[tokio::test]
async fn login_uses_the_url_decoded_user_and_password() {
    bounded(async {
        let dir = mailpit::new_dir();
        // Mailpit's password file: user:password, plain text allowed (no white space: Mailpit
        // splits the file at it).
        std::fs::write(dir.join("passwords"), "ada@example.com:p@ss/w:rd%\n").unwrap();
        let mailpit = Mailpit::start_in(
            dir,
            &["--smtp-auth-file", "{dir}/passwords", "--smtp-auth-allow-insecure"],
        )
        .await;
        let port = mailpit.smtp_port;

        let good = mailer(
            &format!("smtp://ada%40example.com:p%40ss%2Fw%3Ard%25@127.0.0.1:{port}"),
            None,
        );
        good.send(&milk_email("ada@example.com")).await.unwrap();

        for (url, case) in [
            (
                format!("smtp://ada%40example.com:wrong@127.0.0.1:{port}"),
                "a wrong password",
            ),
            (format!("smtp://127.0.0.1:{port}"), "no login"),
        ] {
            let error = mailer(&url, None)
                .send(&milk_email("ada@example.com"))
                .await
                .expect_err(case);
            assert!(matches!(error, MailError::Permanent(_)), "{case}: {error:?}");
            assert!(error.to_string().contains("(53"), "{case}: 530/535 expected: {error}");
        }

        let messages = mailpit.expect_messages(1).await;
        assert_eq!(messages[0]["Username"], "ada@example.com");
        assert_milk_email(&mailpit, &messages[0]).await;
    })
    .await;
}

/// A CA of the test's own and a certificate it signed for 127.0.0.1, written to `dir` as
/// ca.pem, cert.pem and key.pem.
fn private_ca(dir: &Path) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tasktrail test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    dir.join("ca.pem")
}

#[tokio::test]
async fn starttls_with_a_private_ca_and_a_login() {
    bounded(async {
        let dir = mailpit::new_dir();
        let ca = private_ca(&dir);
        let other_dir = mailpit::new_dir();
        let other_ca = private_ca(&other_dir);
        // The server refuses mail before STARTTLS, and takes any login (only over TLS).
        let mailpit = Mailpit::start_in(
            dir,
            &[
                "--smtp-tls-cert",
                "{dir}/cert.pem",
                "--smtp-tls-key",
                "{dir}/key.pem",
                "--smtp-require-starttls",
                "--smtp-auth-accept-any",
            ],
        )
        .await;
        let port = mailpit.smtp_port;

        mailer(&format!("smtp://ada:secret@127.0.0.1:{port}?tls=starttls"), Some(&ca))
            .send(&milk_email("ada@example.com"))
            .await
            .unwrap();

        // The certificate is checked: not trusted without the CA, nor with another CA.
        for (ca_file, case) in [(None, "no CA file"), (Some(other_ca.as_path()), "another CA")] {
            let error = mailer(&format!("smtp://127.0.0.1:{port}?tls=starttls"), ca_file)
                .send(&milk_email("ada@example.com"))
                .await
                .expect_err(case);
            assert!(matches!(error, MailError::Permanent(_)), "{case}: {error:?}");
            assert!(error.to_string().contains("certificate"), "{case}: {error}");
        }
        // And the server really wants TLS: without STARTTLS it refuses the mail.
        let error = mailer(&format!("smtp://127.0.0.1:{port}"), None)
            .send(&milk_email("ada@example.com"))
            .await
            .expect_err("plain SMTP to a server that requires STARTTLS");
        assert!(matches!(error, MailError::Permanent(_)), "{error:?}");

        let messages = mailpit.expect_messages(1).await;
        assert_eq!(messages[0]["Username"], "ada");
        assert_milk_email(&mailpit, &messages[0]).await;
        let _ = std::fs::remove_dir_all(other_dir);
    })
    .await;
}

#[tokio::test]
async fn implicit_tls_with_a_private_ca() {
    bounded(async {
        let dir = mailpit::new_dir();
        let ca = private_ca(&dir);
        let mailpit = Mailpit::start_in(
            dir,
            &[
                "--smtp-tls-cert",
                "{dir}/cert.pem",
                "--smtp-tls-key",
                "{dir}/key.pem",
                "--smtp-require-tls",
            ],
        )
        .await;
        let port = mailpit.smtp_port;

        mailer(&format!("smtps://127.0.0.1:{port}"), Some(&ca))
            .send(&milk_email("ada@example.com"))
            .await
            .unwrap();
        let error = mailer(&format!("smtps://127.0.0.1:{port}"), None)
            .send(&milk_email("ada@example.com"))
            .await
            .expect_err("an untrusted certificate");
        assert!(matches!(error, MailError::Permanent(_)), "{error:?}");

        let messages = mailpit.expect_messages(1).await;
        assert_milk_email(&mailpit, &messages[0]).await;
    })
    .await;
}

#[tokio::test]
async fn header_injection_adds_no_header_and_no_recipient() {
    bounded(async {
        let mailpit = Mailpit::start(&[]).await;
        let mailer = mailer(&format!("smtp://127.0.0.1:{}", mailpit.smtp_port), None);
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 14, 30, 0).unwrap();

        // Through the email's own builder ...
        let built = completion_email(
            "ada@example.com",
            "Ada\r\nCc: evil@example.com",
            "Buy milk\r\nBcc: evil@example.com",
            at,
            "http://tasktrail.test:8080",
        );
        mailer.send(&built).await.unwrap();
        // ... and an email made by hand, which the mailer must make safe itself.
        let by_hand = Email {
            to: "ada@example.com".into(),
            to_name: "Ada\nBcc: evil@example.com".into(),
            subject: "Hello\r\nBcc: evil@example.com\r\nX-Injected: yes".into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
        };
        mailer.send(&by_hand).await.unwrap();
        // A recipient with a line break is no address at all.
        let error = mailer
            .send(&Email {
                to: "ada@example.com\r\nRCPT TO:<evil@example.com>".into(),
                ..by_hand.clone()
            })
            .await
            .expect_err("an address with CR/LF");
        assert!(matches!(error, MailError::Permanent(_)), "{error:?}");

        let messages = mailpit.expect_messages(2).await;
        for message in &messages {
            // Mailpit lists every envelope recipient missing from the headers as Bcc: one
            // recipient in To and nobody else means no recipient was added either.
            assert_eq!(addresses(&message["To"]), ["ada@example.com"], "{message:#}");
            assert_eq!(addresses(&message["Cc"]), Vec::<String>::new(), "{message:#}");
            assert_eq!(addresses(&message["Bcc"]), Vec::<String>::new(), "{message:#}");
            let headers = mailpit.headers(message).await;
            for name in ["Bcc", "Cc", "X-Injected"] {
                assert!(!headers.contains_key(name), "{name} in {headers:#?}");
            }
            let raw = mailpit.raw(message).await;
            let head = raw.split("\r\n\r\n").next().unwrap();
            assert!(
                !head.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
                "{head}"
            );
        }
        let subjects: Vec<&str> = messages.iter().map(|m| m["Subject"].as_str().unwrap()).collect();
        // Newest first.
        assert_eq!(
            subjects,
            [
                "Hello Bcc: evil@example.com X-Injected: yes",
                "Completed: Buy milk Bcc: evil@example.com"
            ]
        );
        assert_eq!(messages[1]["To"][0]["Name"], "Ada Cc: evil@example.com");
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_quick_retryable_error() {
    bounded(async {
        // A port bound and never listened on refuses connections, and no other test can take
        // it meanwhile.
        let closed = tokio::net::TcpSocket::new_v4().unwrap();
        closed.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let port = closed.local_addr().unwrap().port();
        let started = Instant::now();
        let error = mailer(&format!("smtp://127.0.0.1:{port}"), None)
            .send(&milk_email("ada@example.com"))
            .await
            .expect_err("nothing listens");
        assert!(error.is_retryable(), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

        // A server that takes the connection and never answers: the timeout bounds the send.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let started = Instant::now();
        let error = mailer_with_timeout(&format!("smtp://127.0.0.1:{port}"), None, Duration::from_secs(1))
            .send(&milk_email("ada@example.com"))
            .await
            .expect_err("the server never answers");
        let took = started.elapsed();
        assert!(error.is_retryable(), "{error:?}");
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(4),
            "{took:?}"
        );
        drop(silent);
    })
    .await;
}

#[tokio::test]
async fn a_refused_recipient_is_a_permanent_error() {
    bounded(async {
        let mailpit = Mailpit::start(&["--smtp-allowed-recipients", r"^ada@example\.com$"]).await;
        let mailer = mailer(&format!("smtp://127.0.0.1:{}", mailpit.smtp_port), None);

        let error = mailer
            .send(&milk_email("bob@example.com"))
            .await
            .expect_err("bob is refused");
        assert!(matches!(error, MailError::Permanent(_)), "{error:?}");
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("550"), "{error}");

        mailer.send(&milk_email("ada@example.com")).await.unwrap();
        let messages = mailpit.expect_messages(1).await;
        assert_milk_email(&mailpit, &messages[0]).await;
    })
    .await;
}

#[tokio::test]
async fn a_try_again_later_answer_is_retryable() {
    bounded(async {
        let mailpit = Mailpit::start(&["--enable-chaos"]).await;
        let mailer = mailer(&format!("smtp://127.0.0.1:{}", mailpit.smtp_port), None);
        // Mailpit's chaos triggers answer every recipient with 451 "try again later".
        mailpit
            .set_chaos(json!({"Recipient": {"ErrorCode": 451, "Probability": 100}}))
            .await;
        let error = mailer.send(&milk_email("ada@example.com")).await.expect_err("451");
        assert!(matches!(error, MailError::Transient(_)), "{error:?}");
        assert!(error.to_string().contains("451"), "{error}");
        mailpit.expect_messages(0).await;

        // Later the server takes it.
        mailpit.set_chaos(json!({})).await;
        mailer.send(&milk_email("ada@example.com")).await.unwrap();
        let messages = mailpit.expect_messages(1).await;
        assert_milk_email(&mailpit, &messages[0]).await;
    })
    .await;
}

#[tokio::test]
async fn the_same_mailer_sends_again_once_the_server_is_back() {
    bounded(async {
        let mut mailpit = Mailpit::start(&[]).await;
        let mailer = mailer(&format!("smtp://127.0.0.1:{}", mailpit.smtp_port), None);
        mailpit.stop();
        let error = mailer
            .send(&milk_email("ada@example.com"))
            .await
            .expect_err("SMTP is down");
        assert!(error.is_retryable(), "{error:?}");

        mailpit.restart().await;
        mailer.send(&milk_email("ada@example.com")).await.unwrap();
        let messages = mailpit.expect_messages(1).await;
        assert_milk_email(&mailpit, &messages[0]).await;
    })
    .await;
}

/// The log mailer writes what would have been sent: recipient, subject and the text.
#[tokio::test]
async fn without_smtp_the_email_is_written_to_the_log() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    // The test runs on one thread: the subscriber sees the mailer's event.
    let _guard = tracing::subscriber::set_default(subscriber);
    LogMailer.send(&milk_email("ada@example.com")).await.unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("to=ada@example.com"), "{log}");
    assert!(log.contains("subject=Completed: buy milk"), "{log}");
    assert!(log.contains("Sunday, 29 November 2026 at 14:30 UTC"), "{log}");
    assert!(log.contains("http://tasktrail.test:8080/"), "{log}");
    assert!(LogMailer.describe().contains("log"));
}
