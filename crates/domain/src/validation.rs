use serde::Serialize;

/// A rule broken by user input; the API answers 422 with `field` named in the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

pub const TITLE_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 1000;
pub const TAG_MAX_CHARS: usize = 50;
pub const TAGS_MAX: usize = 20;

/// Titles are trimmed, then must hold 1..=200 characters (Unicode scalar values, not bytes).
pub fn title(raw: &str) -> Result<String, ValidationError> {
    let title = raw.trim();
    let chars = title.chars().count();
    if chars == 0 {
        return Err(ValidationError::new("title", "must not be empty"));
    }
    if chars > TITLE_MAX_CHARS {
        return Err(ValidationError::new(
            "title",
            format!("must be at most {TITLE_MAX_CHARS} characters (got {chars})"),
        ));
    }
    reject_control_chars("title", title)?;
    Ok(title.to_string())
}

pub fn description(raw: &str) -> Result<String, ValidationError> {
    let chars = raw.chars().count();
    if chars > DESCRIPTION_MAX_CHARS {
        return Err(ValidationError::new(
            "description",
            format!("must be at most {DESCRIPTION_MAX_CHARS} characters (got {chars})"),
        ));
    }
    reject_control_chars_in_text("description", raw)?;
    Ok(raw.to_string())
}

/// Tags are trimmed, lower-cased and de-duplicated, keeping the first-seen order.
pub fn tags(raw: &[String]) -> Result<Vec<String>, ValidationError> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        let chars = tag.chars().count();
        if chars == 0 || chars > TAG_MAX_CHARS {
            return Err(ValidationError::new(
                "tags",
                format!("each tag must hold 1 to {TAG_MAX_CHARS} characters"),
            ));
        }
        reject_control_chars("tags", &tag)?;
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > TAGS_MAX {
        return Err(ValidationError::new("tags", format!("at most {TAGS_MAX} tags")));
    }
    Ok(out)
}

/// For one-line values (titles, tags, names): no control character at all. PostgreSQL refuses
/// NUL in text, and the others have no business in a line of text.
pub fn reject_control_chars(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// Whether free text holds a control character other than tab and line breaks (LF, and the
/// CR of CRLF).
pub fn has_control_chars_in_text(value: &str) -> bool {
    value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// For free text (descriptions, chat messages): tab and line breaks are allowed; any other
/// control character is not.
pub fn reject_control_chars_in_text(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if has_control_chars_in_text(value) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters other than tab and line breaks",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_counts_characters_not_bytes() {
        assert!(title(&"é".repeat(200)).is_ok());
        assert_eq!(title(&"é".repeat(201)).unwrap_err().field, "title");
        assert!(title("   ").is_err());
        assert_eq!(title("  buy milk ").unwrap(), "buy milk");
    }

    #[test]
    fn description_limit_is_1000_characters() {
        assert!(description(&"x".repeat(1000)).is_ok());
        assert!(description(&"x".repeat(1001)).is_err());
    }

    #[test]
    fn control_characters_are_refused_except_tab_and_line_breaks_in_text() {
        for bad in ["a\0b", "a\u{7}b", "a\u{1b}[31m", "a\u{7f}", "a\u{85}b", "a\tb", "a\nb"] {
            assert_eq!(title(bad).unwrap_err().field, "title", "{bad:?}");
            assert_eq!(tags(&[bad.into()]).unwrap_err().field, "tags", "{bad:?}");
        }
        for bad in ["a\0b", "a\u{7}b", "a\u{1b}[31m", "a\u{7f}", "a\u{85}b"] {
            assert_eq!(description(bad).unwrap_err().field, "description", "{bad:?}");
        }
        assert_eq!(description("one\ttwo\nthree\r\n").unwrap(), "one\ttwo\nthree\r\n");
        // Surrounding whitespace of a title is trimmed before the check.
        assert_eq!(title("\tbuy milk\n").unwrap(), "buy milk");
    }

    #[test]
    fn tags_are_normalised() {
        assert_eq!(
            tags(&["Home".into(), "home ".into(), "work".into()]).unwrap(),
            vec!["home", "work"]
        );
        assert!(tags(&["".into()]).is_err());
        assert!(tags(&(0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()).is_err());
    }
}
