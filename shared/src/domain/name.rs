//! People's names.

use super::Invalid;
use compact_str::CompactString;

use super::serde_str::string_serde;

const INVALID: Invalid = Invalid {
    code: "invalid_name",
    expected: "a name made of letters, spaces, hyphens, apostrophes and full stops",
};

/// A child's first, last or preferred name: letters (accented Latin ones too), spaces, apostrophes, hyphens, full stops.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonName(CompactString);

/// A parent's full name (`John Smith`), held to the same character rule as a child's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParentName(CompactString);

impl PersonName {
    /// Parses a name: allowed characters only, and at least one letter.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check(s).map(|()| Self(CompactString::from(s)))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ParentName {
    /// Parses a parent's name: allowed characters only, and at least one letter.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        check(s).map(|()| Self(CompactString::from(s)))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_serde!(PersonName, PersonName::parse);
string_serde!(ParentName, ParentName::parse);

const LETTER: u8 = 2;

/// For each byte: [`LETTER`], 1 for the other ASCII characters a name may have, or 0.
const ASCII_NAME_BYTES: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => LETTER,
            b' ' | b'\'' | b'`' | b'-' | b'.' => 1,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// Letters (accented Latin letters included), space, `'` `’` `ʼ` `` ` ``, `-` and `.`, with at
/// least one letter; so `J£mmy`, `Sm©th` and digits are rejected.
fn check(s: &str) -> Result<(), Invalid> {
    let mut has_letter = false;
    // Most names are ASCII: check bytes (without a branch per byte: every byte must be allowed,
    // and one a letter), and decode only a name with a byte the table refuses that is not ASCII.
    let mut allowed = true;
    for &b in s.as_bytes() {
        let class = ASCII_NAME_BYTES[usize::from(b)];
        allowed &= class != 0;
        has_letter |= class == LETTER;
    }
    if !allowed && s.is_ascii() {
        return Err(INVALID);
    }
    if !allowed {
        has_letter = false;
        let mut after_letter = false;
        for c in s.chars() {
            if is_latin_letter(c) {
                has_letter = true;
                after_letter = true;
            } else if is_combining_accent(c) && after_letter {
                // A decomposed accent (macOS writes `é` as `e` + U+0301) belongs to its letter.
            } else if matches!(c, ' ' | '\'' | '’' | 'ʼ' | '`' | '-' | '.') {
                after_letter = false;
            } else {
                return Err(INVALID);
            }
        }
    }
    if has_letter { Ok(()) } else { Err(INVALID) }
}

/// A letter of the Latin script as names are written in the UK: ASCII, Latin-1 Supplement,
/// Latin Extended-A and -B, and Latin Extended Additional (Welsh ẃ, Vietnamese ễ).
fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        // Every Latin-1 Supplement character from `À` is a letter but for `×` and `÷`.
        || (matches!(c, '\u{C0}'..='\u{FF}') && c != '×' && c != '÷')
        || (matches!(c, '\u{100}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}') && c.is_alphabetic())
}

/// Combining diacritical marks, as in a name typed on a system that decomposes accents.
fn is_combining_accent(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ascii_character_is_a_letter_allowed_or_refused() {
        for b in 0..128u8 {
            let c = char::from(b);
            let letter = c.is_ascii_alphabetic();
            let allowed = letter || " '`-.".contains(c);
            assert_eq!(check(&format!("A{c}")).is_ok(), allowed, "{c:?}");
            assert_eq!(check(&format!("{c}")).is_ok(), letter, "{c:?}");
        }
    }

    #[test]
    fn latin_letters_are_the_alphabetic_characters_of_their_blocks() {
        for c in ('\u{0}'..='\u{2000}').filter(|c| !c.is_ascii()) {
            let expected = matches!(c, '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}')
                && c != '×'
                && c != '÷'
                && c.is_alphabetic();
            assert_eq!(is_latin_letter(c), expected, "{c:?}");
        }
    }

    #[test]
    fn plain_names_are_accepted_as_written() {
        for s in [
            "Jennifer",
            "Clarke",
            "Thorne-Smith",
            "O'Brien",
            "St. John",
            "Mary Ann",
            "DRIVER",
        ] {
            assert_eq!(PersonName::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn accented_latin_letters_are_accepted() {
        for s in [
            "Jalapeño-Pérez",
            "Zoë",
            "Łukasz",
            "Siân",
            "Dvořák",
            "Nguyễn",
            "Ŵyn",
            "Øyvind",
            "Ætheling",
        ] {
            assert!(PersonName::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn a_decomposed_accent_after_a_letter_is_accepted() {
        assert!(PersonName::parse("Zoe\u{308}").is_ok());
        assert_eq!(PersonName::parse("\u{308}Zoe"), Err(INVALID));
    }

    #[test]
    fn every_kind_of_apostrophe_is_accepted() {
        for s in ["O'Neil", "O’Neil", "Oʼneil", "O`Neil"] {
            assert!(PersonName::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn symbols_digits_and_other_scripts_are_rejected() {
        for s in [
            "J£mmy",
            "Sm©th",
            "Jimmy2",
            "Ann_Marie",
            "Jo/Jo",
            "Zoë×",
            "Ивана",
            "李",
            "Jo\tJo",
            "=SUM(A1)",
        ] {
            assert_eq!(PersonName::parse(s), Err(INVALID), "{s}");
        }
    }

    #[test]
    fn a_name_needs_at_least_one_letter() {
        for s in ["-", "' .", "   "] {
            assert_eq!(PersonName::parse(s), Err(INVALID), "{s:?}");
        }
    }

    #[test]
    fn a_parents_full_name_follows_the_same_rule() {
        assert_eq!(
            ParentName::parse("John Smith").unwrap().as_str(),
            "John Smith"
        );
        assert_eq!(
            ParentName::parse("Mr Conor Jones").unwrap().as_str(),
            "Mr Conor Jones"
        );
        assert_eq!(ParentName::parse("J£mmy Smith"), Err(INVALID));
    }

    #[test]
    fn serde_round_trips_and_revalidates() {
        let n = PersonName::parse("Zoë").unwrap();
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<PersonName>(&json).unwrap(), n);
        assert!(serde_json::from_str::<PersonName>("\"J£mmy\"").is_err());
        assert!(serde_json::from_str::<ParentName>("\"John 2\"").is_err());
    }
}
