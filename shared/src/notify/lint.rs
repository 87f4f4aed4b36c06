//! Text-message templates checked before a campaign uses them (product.md, "Content rules";
//! `sais lint-template`): the length Notify will bill with every placeholder at the longest
//! value the service can send, placeholders the service does not fill, health details, and
//! links other than the team's own consent link.

use std::collections::BTreeMap;

use serde::Serialize;

use super::sms_length::{SmsEncoding, sms_length};

/// The longest first name counted for `((child_first_name))`: the NHS's Personal Demographics
/// Service holds given names of at most 35 characters.
pub const LONGEST_FIRST_NAME: usize = 35;

/// The longest date the service writes (`30 September 2026`).
pub const LONGEST_DATE: usize = 17;

/// Words that would tell a reader something about a child's health. Messages carry the
/// programme and the session, never health details.
const HEALTH_WORDS: &[&str] = &[
    "diagnos",
    "test result",
    "positive",
    "negative",
    "infection",
    "infected",
    "cancer",
    "hiv",
    "sexually transmitted",
    "pregnan",
    "illness",
    "medical condition",
    "medication",
    "allerg",
    "disabilit",
];

/// One problem or caution found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `over_one_fragment`, `over_two_fragments`, `unknown_placeholder`, `health_words`,
    /// `foreign_link`.
    pub code: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The verdict on a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintReport {
    /// `gsm7` or `unicode`, after Notify's downgrading.
    pub encoding: SmsEncoding,
    /// Characters at the longest personalisation.
    pub characters: u32,
    /// Fragments billed at the longest personalisation.
    pub fragments: u32,
    /// Cautions: the template may be used.
    pub warnings: Vec<Finding>,
    /// Problems: the template must be fixed.
    pub errors: Vec<Finding>,
}

/// The longest value the service sends for each placeholder it fills, given the campaign's
/// own personalisation values (which it sends as they are).
pub fn longest_values(campaign_values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    values.insert(
        "child_first_name".to_owned(),
        "a".repeat(LONGEST_FIRST_NAME),
    );
    values.insert("session_date".to_owned(), "a".repeat(LONGEST_DATE));
    values.insert("consent_deadline".to_owned(), "a".repeat(LONGEST_DATE));
    for (name, value) in campaign_values {
        values.insert(name.clone(), value.clone());
    }
    values
}

/// Checks a text-message template. `values` are the longest values per placeholder (see
/// [`longest_values`]); `consent_url` is the only link allowed to be written out.
pub fn lint_sms(
    template: &str,
    values: &BTreeMap<String, String>,
    consent_url: Option<&str>,
) -> LintReport {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut rendered = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("((") {
        rendered.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("))") else {
            rendered.push_str(&rest[start..]);
            rest = "";
            break;
        };
        // `((name??text))` shows `text` when `name` is yes; count the longer of the two.
        let inside = &after[..end];
        let (name, optional) = match inside.split_once("??") {
            Some((name, text)) => (name.trim(), Some(text)),
            None => (inside.trim(), None),
        };
        match (values.get(name), optional) {
            (_, Some(text)) => rendered.push_str(text),
            (Some(value), None) => rendered.push_str(value),
            (None, None) => {
                errors.push(Finding {
                    code: "unknown_placeholder",
                    message: format!(
                        "((…)) placeholder {name} is not one the service fills: use {} or a campaign personalisation name",
                        super::placeholders::per_child_names()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        rest = &after[end + 2..];
    }
    rendered.push_str(rest);

    let length = sms_length(&rendered);
    if length.fragments > 2 {
        errors.push(Finding {
            code: "over_two_fragments",
            message: format!(
                "At its longest the message is {} characters, {} fragments: more than 2 is not allowed; shorten it",
                length.characters, length.fragments
            ),
        });
    } else if length.fragments > 1 {
        warnings.push(Finding {
            code: "over_one_fragment",
            message: format!(
                "At its longest the message is {} characters: 2 fragments, so it costs double",
                length.characters
            ),
        });
    }
    let lower = template.to_lowercase();
    for word in HEALTH_WORDS {
        if lower.contains(word) {
            errors.push(Finding {
                code: "health_words",
                message: "The template mentions health details; say only the programme, the school and the session".into(),
            });
            break;
        }
    }
    for token in template.split_whitespace() {
        let t = token
            .trim_matches(|c: char| matches!(c, '(' | ')' | '.' | ',' | '!' | '?' | ';' | ':'));
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("www.")
        {
            let ours = consent_url.is_some_and(|url| {
                let url = url.to_ascii_lowercase();
                lower == url || lower.trim_end_matches('/') == url.trim_end_matches('/')
            });
            if !ours {
                errors.push(Finding {
                    code: "foreign_link",
                    message: "The template has a link that is not the team's consent link; parents are told to trust only that one (use ((consent_url)))".into(),
                });
            }
        }
    }
    LintReport {
        encoding: length.encoding,
        characters: length.characters,
        fragments: length.fragments,
        warnings,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, String> {
        longest_values(&BTreeMap::from([
            ("programme_name".to_owned(), "HPV".to_owned()),
            (
                "consent_url".to_owned(),
                "https://example.nhs.uk/c".to_owned(),
            ),
        ]))
    }

    fn lint(t: &str) -> LintReport {
        lint_sms(t, &values(), Some("https://example.nhs.uk/c"))
    }

    fn codes(r: &LintReport) -> (Vec<&str>, Vec<&str>) {
        (
            r.warnings.iter().map(|f| f.code).collect(),
            r.errors.iter().map(|f| f.code).collect(),
        )
    }

    #[test]
    fn a_placeholder_counts_at_the_longest_value_the_service_sends() {
        // 125 characters of text + a 35-character first name = 160: one fragment.
        let text = "a".repeat(125);
        let r = lint(&format!("((child_first_name)){text}"));
        assert_eq!((r.characters, r.fragments), (160, 1));
        assert_eq!(codes(&r), (vec![], vec![]));
        let r = lint(&format!("((child_first_name)){text}b"));
        assert_eq!((r.characters, r.fragments), (161, 2));
        assert_eq!(codes(&r), (vec!["over_one_fragment"], vec![]));
    }

    #[test]
    fn more_than_two_fragments_is_an_error() {
        assert_eq!(lint(&"a".repeat(306)).fragments, 2);
        let r = lint(&"a".repeat(307));
        assert_eq!(r.fragments, 3);
        assert_eq!(codes(&r), (vec![], vec!["over_two_fragments"]));
    }

    #[test]
    fn welsh_makes_a_unicode_text_with_its_own_boundaries() {
        let r = lint(&format!("Dŵr {}", "a".repeat(66)));
        assert_eq!(
            (r.encoding, r.characters, r.fragments),
            (SmsEncoding::Unicode, 70, 1)
        );
        let r = lint(&format!("Dŵr {}", "a".repeat(67)));
        assert_eq!((r.characters, r.fragments), (71, 2));
    }

    #[test]
    fn unknown_placeholders_health_words_and_other_links_are_errors() {
        let r = lint(
            "Hi ((parent_name)), ((child_first_name))'s test result is ready: https://bit.ly/x",
        );
        assert_eq!(
            codes(&r).1,
            ["unknown_placeholder", "health_words", "foreign_link"]
        );
        let r = lint("Consent for ((programme_name)): https://example.nhs.uk/c or ((consent_url))");
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
}
