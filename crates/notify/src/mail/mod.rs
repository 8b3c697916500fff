//! Emails and the ways to send them: [`completion_email`] writes the message for a completed
//! task; a [`Mailer`] delivers it, over SMTP ([`SmtpMailer`]) or, when no SMTP server is
//! configured, into the log ([`LogMailer`]). Who gets which email, and exactly once, is decided
//! by the notification flow, not here.

mod smtp;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use smtp::{SmtpConfig, SmtpMailer};

/// One email to one recipient. Every field may hold user-written text: the mailers make the
/// header fields safe again before sending, whoever built the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient's address (`ada@example.com`).
    pub to: String,
    /// The recipient's display name in the To header; empty for none.
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why an email was not sent, and whether sending it again later may work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The server could not be reached or answered in time, or it said "try again later"
    /// (SMTP 4xx): worth retrying.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The server refused the email (SMTP 5xx: an unknown recipient, a refused sender or
    /// login), or it can never be sent as it is (an invalid address, an untrusted TLS
    /// certificate): retrying the same email will fail the same way.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Transient(_))
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one email; returns once the server has accepted it (or refused it).
    async fn send(&self, email: &Email) -> Result<(), MailError>;
    /// Where emails go, for the log at start (never a password).
    fn describe(&self) -> String;
}

/// Writes each email to the log instead of sending it: what the service does when no SMTP
/// server is configured, so that a newcomer sees what would have been sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        tracing::info!(
            to = %email.to,
            subject = %header_safe(&email.subject, SUBJECT_MAX_CHARS),
            text = %email.text,
            "email written to the log, not sent (no SMTP_URL configured)"
        );
        Ok(())
    }

    fn describe(&self) -> String {
        "the log (no SMTP_URL set: emails are written to the log, not sent)".to_string()
    }
}

/// Longest subject sent, in characters (ellipsis included); the title inside it is cut first.
pub const SUBJECT_MAX_CHARS: usize = 150;
/// Longest task title quoted in a subject.
const SUBJECT_TITLE_MAX_CHARS: usize = 120;
/// Longest display name in the To header.
pub const NAME_MAX_CHARS: usize = 100;

/// The email to the owner of a task that was completed at `completed_at`, linking to the UI at
/// `public_url`.
pub fn completion_email(
    to: &str,
    owner_name: &str,
    task_title: &str,
    completed_at: DateTime<Utc>,
    public_url: &str,
) -> Email {
    compose(
        to,
        owner_name,
        task_title,
        public_url,
        Wording {
            subject: "Completed",
            before_title: "Your task ",
            after_title: format!(" was completed on {}.", long_time(completed_at)),
            why: "tasktrail sends this email when one of your tasks is completed.",
        },
    )
}

/// The email to the owner of a task whose reminder is due; `late` when it goes out more than
/// a minute after its time.
pub fn reminder_email(
    to: &str,
    owner_name: &str,
    task_title: &str,
    due_date: Option<DateTime<Utc>>,
    late: bool,
    public_url: &str,
) -> Email {
    let due = due_date.map(|due| format!(" It is due {}.", long_time(due)));
    let lateness = if late {
        " This reminder is late: the service was not running when it was due."
    } else {
        ""
    };
    compose(
        to,
        owner_name,
        task_title,
        public_url,
        Wording {
            subject: if late { "Reminder (late)" } else { "Reminder" },
            before_title: "A reminder for your task ",
            after_title: format!(".{}{lateness}", due.unwrap_or_default()),
            why: "tasktrail sends this email because you set a reminder on this task.",
        },
    )
}

/// What differs between our emails: the subject's word, the sentence around the task's title,
/// and the footer saying why it was sent.
struct Wording {
    subject: &'static str,
    before_title: &'static str,
    after_title: String,
    why: &'static str,
}

fn long_time(at: DateTime<Utc>) -> String {
    at.format("%A, %-d %B %Y at %H:%M UTC").to_string()
}

/// One email about one task: a greeting, the sentence, a link to the UI, the footer; as text
/// and as HTML (every value escaped), the title one line everywhere (it is in the UI too).
fn compose(to: &str, owner_name: &str, task_title: &str, public_url: &str, wording: Wording) -> Email {
    let title_line = header_safe(task_title, usize::MAX);
    let subject = format!(
        "{}: {}",
        wording.subject,
        header_safe(task_title, SUBJECT_TITLE_MAX_CHARS)
    );
    let name = header_safe(owner_name, NAME_MAX_CHARS);
    let link = format!("{}/", public_url.trim().trim_end_matches('/'));
    let greeting = if name.is_empty() {
        "Hello,".to_string()
    } else {
        format!("Hi {name},")
    };
    let Wording {
        before_title,
        after_title,
        why,
        ..
    } = wording;
    let text = format!(
        "{greeting}\n\n\
         {before_title}\"{title_line}\"{after_title}\n\n\
         Open tasktrail: {link}\n\n\
         -- \n\
         {why}\n"
    );
    let html = format!(
        "<!DOCTYPE html>\n\
         <html><head><meta charset=\"utf-8\"><title>{subject_html}</title></head>\n\
         <body style=\"font-family: system-ui, sans-serif; color: #1f2328; line-height: 1.5\">\n\
         <p>{greeting_html}</p>\n\
         <p>{before_html}<strong>{title_html}</strong>{after_html}</p>\n\
         <p><a href=\"{link_html}\">Open tasktrail</a></p>\n\
         <p style=\"color: #656d76; font-size: 0.9em\">{why_html}</p>\n\
         </body></html>\n",
        subject_html = escape_html(&subject),
        greeting_html = escape_html(&greeting),
        before_html = escape_html(before_title),
        title_html = escape_html(&title_line),
        after_html = escape_html(&after_title),
        link_html = escape_html(&link),
        why_html = escape_html(why),
    );
    Email {
        to: to.trim().to_string(),
        to_name: name,
        subject,
        text,
        html,
    }
}

/// `value` made fit for a header: every control character (CR and LF among them) and every
/// other kind of white space becomes one space, invisible direction and zero-width characters
/// are dropped, and what is left is cut to `max_chars` characters, the last one an ellipsis.
/// Nothing in the result can end a header line and start another.
pub fn header_safe(value: &str, max_chars: usize) -> String {
    let mut words = String::new();
    let mut space = false;
    for c in value.chars() {
        if c.is_control() || c.is_whitespace() {
            space = true;
        } else if is_invisible(c) {
            continue;
        } else {
            if space && !words.is_empty() {
                words.push(' ');
            }
            space = false;
            words.push(c);
        }
    }
    if words.chars().count() <= max_chars {
        return words;
    }
    let mut cut: String = words.chars().take(max_chars.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// Characters that change how text around them reads without showing themselves (direction
/// overrides, zero-width joiners and spaces, the byte order mark).
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 2, 4, 5).unwrap()
    }

    #[test]
    fn a_completion_email_names_the_task_the_time_and_the_link() {
        let email = completion_email(" ada@example.com ", "Ada", "buy milk", at(), "https://todo.example/");
        assert_eq!(email.to, "ada@example.com");
        assert_eq!(email.to_name, "Ada");
        assert_eq!(email.subject, "Completed: buy milk");
        for body in [&email.text, &email.html] {
            assert!(body.contains("buy milk"), "{body}");
            assert!(body.contains("Sunday, 29 November 2026 at 02:04 UTC"), "{body}");
            assert!(body.contains("https://todo.example/"), "{body}");
            assert!(!body.contains("todo.example//"), "{body}");
        }
        assert!(email.text.starts_with("Hi Ada,\n"));
        assert!(email.html.contains("<a href=\"https://todo.example/\">"));
    }

    #[test]
    fn user_written_text_is_escaped_in_html() {
        let email = completion_email(
            "a@example.com",
            "<b>Eve</b>",
            "<script>alert(1)</script> & \"q\"",
            at(),
            "http://127.0.0.1:8080",
        );
        assert!(!email.html.contains("<script>"), "{}", email.html);
        assert!(!email.html.contains("<b>"), "{}", email.html);
        assert!(
            email
                .html
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"),
            "{}",
            email.html
        );
        // The plain text part is text: nothing to escape there.
        assert!(email.text.contains("<script>alert(1)</script>"));
    }

    #[test]
    fn header_fields_never_hold_a_line_break() {
        let email = completion_email(
            "a@example.com",
            "Ada\r\nBcc: evil@example.com",
            "milk\r\nBcc: evil@example.com\n\rX-Evil:\u{2028}1\u{85}2\t3\u{202E}4",
            at(),
            "http://127.0.0.1:8080",
        );
        assert_eq!(email.subject, "Completed: milk Bcc: evil@example.com X-Evil: 1 2 34");
        assert_eq!(email.to_name, "Ada Bcc: evil@example.com");
        assert!(email.text.contains("\"milk Bcc: evil@example.com X-Evil: 1 2 34\""));
    }

    #[test]
    fn long_subjects_are_cut_with_an_ellipsis() {
        let title = "word ".repeat(100);
        let email = completion_email("a@example.com", "", &title, at(), "http://x");
        let chars = email.subject.chars().count();
        assert!(chars <= SUBJECT_MAX_CHARS, "{chars}");
        assert!(email.subject.ends_with("word…"), "{}", email.subject);
        assert!(email.subject.starts_with("Completed: word word"));
        // The body keeps the whole title.
        assert!(email.text.contains(title.trim()));
        assert!(email.text.starts_with("Hello,\n"));

        assert_eq!(header_safe("ééé", 3), "ééé");
        assert_eq!(header_safe("éééé", 3), "éé…");
        assert_eq!(header_safe("ab   cd", 4), "ab…");
        assert_eq!(header_safe("  \r\n ", 10), "");
    }
}
