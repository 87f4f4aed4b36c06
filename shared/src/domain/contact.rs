//! How a parent relates to the child, and how they would like to be contacted.

use super::Invalid;
use super::serde_str::string_serde;

const INVALID_PREFERENCE: Invalid = Invalid {
    code: "invalid_contact_preference",
    expected: "email, text, letter, any or blank",
};

/// The channel a parent asked to be contacted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactPreference {
    /// Email only.
    Email,
    /// Text message only.
    Text,
    /// Letter only.
    Letter,
    /// Any channel.
    Any,
}

impl ContactPreference {
    /// Parses `email`, `text` (or `sms`), `letter` or `any` in any case; blank means no preference.
    pub fn parse(s: &str) -> Result<Option<Self>, Invalid> {
        let is = |word: &str| s.eq_ignore_ascii_case(word);
        // By length first: this runs for every parent of every row.
        let preference = match s.len() {
            3 if is("sms") => Self::Text,
            3 if is("any") => Self::Any,
            4 if is("text") => Self::Text,
            5 if is("email") => Self::Email,
            6 if is("letter") => Self::Letter,
            _ if s.trim().is_empty() => return Ok(None),
            _ => return Err(INVALID_PREFERENCE),
        };
        Ok(Some(preference))
    }

    /// The canonical value: `email`, `text`, `letter` or `any`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Text => "text",
            Self::Letter => "letter",
            Self::Any => "any",
        }
    }
}

string_serde!(ContactPreference, |s| ContactPreference::parse(s)?
    .ok_or(INVALID_PREFERENCE));

/// How a parent is related to the child, as the upload put it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Relationship {
    /// Mother (`mum` or `mother`).
    Mother,
    /// Father (`dad` or `father`).
    Father,
    /// Guardian.
    Guardian,
    /// Carer.
    Carer,
    /// Not given (blank or `unknown`).
    Unknown,
    /// Anything else, kept as written (`Step-mum`, `Grandparent`, …).
    Other(String),
}

impl Relationship {
    /// Reads any text: the known words in any case, blank as unknown, and anything else kept.
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        let is = |word: &str| s.eq_ignore_ascii_case(word);
        // By length first: this runs for every parent of every row.
        match s.len() {
            0 => Self::Unknown,
            3 if is("mum") => Self::Mother,
            3 if is("dad") => Self::Father,
            5 if is("carer") => Self::Carer,
            6 if is("mother") => Self::Mother,
            6 if is("father") => Self::Father,
            7 if is("unknown") => Self::Unknown,
            8 if is("guardian") => Self::Guardian,
            _ => Self::Other(s.to_owned()),
        }
    }

    /// The canonical value (`mother`, `father`, `guardian`, `carer`, `unknown`) or the text kept.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Mother => "mother",
            Self::Father => "father",
            Self::Guardian => "guardian",
            Self::Carer => "carer",
            Self::Unknown => "unknown",
            Self::Other(text) => text,
        }
    }

    /// The relationship for people to read (`Mother`, …), or the text kept.
    pub fn label(&self) -> &str {
        match self {
            Self::Mother => "Mother",
            Self::Father => "Father",
            Self::Guardian => "Guardian",
            Self::Carer => "Carer",
            Self::Unknown => "Unknown",
            Self::Other(text) => text,
        }
    }
}

string_serde!(Relationship, |s| Ok(Relationship::parse(s)));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_preferences_are_read_in_any_case() {
        assert_eq!(
            ContactPreference::parse("email"),
            Ok(Some(ContactPreference::Email))
        );
        assert_eq!(
            ContactPreference::parse("Text"),
            Ok(Some(ContactPreference::Text))
        );
        assert_eq!(
            ContactPreference::parse("LETTER"),
            Ok(Some(ContactPreference::Letter))
        );
        assert_eq!(
            ContactPreference::parse("any"),
            Ok(Some(ContactPreference::Any))
        );
    }

    #[test]
    fn sms_means_text() {
        assert_eq!(
            ContactPreference::parse("SMS"),
            Ok(Some(ContactPreference::Text))
        );
    }

    #[test]
    fn a_blank_contact_preference_is_no_preference() {
        assert_eq!(ContactPreference::parse(""), Ok(None));
        assert_eq!(ContactPreference::parse("  "), Ok(None));
    }

    #[test]
    fn other_contact_preferences_are_rejected() {
        for s in ["phone", "e-mail", "post", "none"] {
            assert_eq!(ContactPreference::parse(s), Err(INVALID_PREFERENCE), "{s}");
        }
    }

    #[test]
    fn contact_preferences_serialise_as_their_canonical_value() {
        let json = serde_json::to_string(&ContactPreference::Text).unwrap();
        assert_eq!(json, "\"text\"");
        assert_eq!(
            serde_json::from_str::<ContactPreference>("\"sms\"").unwrap(),
            ContactPreference::Text
        );
        assert!(serde_json::from_str::<ContactPreference>("\"\"").is_err());
    }

    #[test]
    fn mum_and_dad_are_mother_and_father() {
        assert_eq!(Relationship::parse("Mum"), Relationship::Mother);
        assert_eq!(Relationship::parse("MOTHER"), Relationship::Mother);
        assert_eq!(Relationship::parse("dad"), Relationship::Father);
        assert_eq!(Relationship::parse("Father"), Relationship::Father);
        assert_eq!(Relationship::parse("Guardian"), Relationship::Guardian);
        assert_eq!(Relationship::parse("carer"), Relationship::Carer);
    }

    #[test]
    fn a_blank_or_unknown_relationship_is_unknown() {
        assert_eq!(Relationship::parse(""), Relationship::Unknown);
        assert_eq!(Relationship::parse("Unknown"), Relationship::Unknown);
    }

    #[test]
    fn any_other_relationship_is_kept_as_written() {
        let other = Relationship::parse("Step-mum");
        assert_eq!(other, Relationship::Other("Step-mum".to_owned()));
        assert_eq!(other.as_str(), "Step-mum");
        assert_eq!(other.label(), "Step-mum");
    }

    #[test]
    fn relationships_have_a_canonical_value_and_a_label() {
        assert_eq!(Relationship::parse("mum").as_str(), "mother");
        assert_eq!(Relationship::parse("mum").label(), "Mother");
    }

    #[test]
    fn relationships_round_trip_through_serde() {
        for r in [
            Relationship::Mother,
            Relationship::Unknown,
            Relationship::parse("Grandparent"),
        ] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Relationship>(&json).unwrap(), r);
        }
    }
}
