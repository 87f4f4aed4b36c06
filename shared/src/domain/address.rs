//! Address lines, and the postal address GOV.UK Notify will print on a letter.

use compact_str::CompactString;

use super::serde_str::string_serde;
use super::{Invalid, Postcode};

/// Characters Notify refuses at the start of an address line (also spelt out in
/// [`AddressLine::parse`]). The same rule keeps out cells
/// that a spreadsheet would run as a formula (`=HYPERLINK(…)`, `@SUM(…)`).
const FORBIDDEN_FIRST: &[char] = &[
    '@', '(', ')', '=', '[', ']', '"', '\\', '/', ',', '<', '>', '~',
];

const INVALID_LINE: Invalid = Invalid {
    code: "invalid_address",
    expected: r#"a single line of text that does not start with any of @ ( ) = [ ] " \ / , < > ~"#,
};

/// One line of an address, or a town: a single line that Notify would print.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressLine(CompactString);

impl AddressLine {
    /// Parses a line that is not empty, has no control characters and starts acceptably.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let first = *s.as_bytes().first().ok_or(INVALID_LINE)?;
        // A line break inside a quoted cell would turn one address line into two. (The ASCII
        // control characters are those below a space, and DEL; only a line with a byte past
        // ASCII needs Unicode's list.)
        let control = if s.bytes().all(|b| (b' '..0x7f).contains(&b)) {
            false
        } else if s.is_ascii() {
            true
        } else {
            s.chars().any(char::is_control)
        };
        if matches!(
            first,
            b'@' | b'('
                | b')'
                | b'='
                | b'['
                | b']'
                | b'"'
                | b'\\'
                | b'/'
                | b','
                | b'<'
                | b'>'
                | b'~'
        ) || control
        {
            return Err(INVALID_LINE);
        }
        Ok(Self(CompactString::from(s)))
    }

    /// The line as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_serde!(AddressLine, AddressLine::parse);

const NO_LETTERS_TO_POSTCODE: Invalid = Invalid {
    code: "invalid_address",
    expected: "an address with a UK postcode that can receive letters",
};

const TOO_FEW_LINES: Invalid = Invalid {
    code: "invalid_address",
    expected: "an address of at least two lines as well as the postcode",
};

const TOO_MANY_LINES: Invalid = Invalid {
    code: "invalid_address",
    expected: "an address of at most six lines as well as the postcode",
};

const BAD_FIRST_CHARACTER: Invalid = Invalid {
    code: "invalid_address",
    expected: r#"an address whose lines do not start with any of @ ( ) = [ ] " \ / , < > ~"#,
};

const NO_LETTER_OR_DIGIT: Invalid = Invalid {
    code: "invalid_address",
    expected: "an address whose first two lines each contain a letter or digit",
};

const NO_FIXED_ABODE: Invalid = Invalid {
    code: "invalid_address",
    expected: "a fixed address, not NFA or no fixed abode",
};

/// The lines of a letter address, postcode last, that pass GOV.UK Notify's postal address rules.
///
/// Lines are tidied as Notify tidies them (whitespace collapsed, trailing spaces and commas
/// dropped, blank lines and a repeat of the postcode left out), then checked: 3 to 7 lines
/// with the postcode, a letter or digit in lines 1 and 2, no line starting with
/// `@()=[]"\/,<>~`, not "NFA" or "no fixed abode", and a postcode Royal Mail delivers to
/// (never a ZZ99 pseudo-postcode).
pub fn sanitise_letter_address(
    lines: &[&str],
    postcode: &Postcode,
) -> Result<Vec<String>, Invalid> {
    if !postcode.can_receive_letters() {
        return Err(NO_LETTERS_TO_POSTCODE);
    }
    let mut address = Vec::with_capacity(lines.len() + 1);
    for line in lines {
        let line = tidy(line);
        if !line.is_empty() && !is_same_postcode(&line, postcode) {
            address.push(line);
        }
    }
    if address.len() < 2 {
        return Err(TOO_FEW_LINES);
    }
    if address.len() > 6 {
        return Err(TOO_MANY_LINES);
    }
    if address
        .iter()
        .any(|line| line.starts_with(FORBIDDEN_FIRST) || line.chars().any(char::is_control))
    {
        return Err(BAD_FIRST_CHARACTER);
    }
    if !address[..2]
        .iter()
        .all(|line| line.chars().any(char::is_alphanumeric))
    {
        return Err(NO_LETTER_OR_DIGIT);
    }
    if address.iter().any(|line| is_no_fixed_abode(line)) {
        return Err(NO_FIXED_ABODE);
    }
    address.push(postcode.as_str().to_owned());
    Ok(address)
}

/// Whitespace collapsed to single spaces (invisible characters removed), then trailing
/// spaces and commas dropped, as Notify normalises a line before checking it.
fn tidy(line: &str) -> String {
    let mut tidy = String::with_capacity(line.len());
    for word in line
        .split(|c: char| c.is_whitespace())
        .map(|word| {
            word.replace(
                ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'],
                "",
            )
        })
        .filter(|word| !word.is_empty())
    {
        if !tidy.is_empty() {
            tidy.push(' ');
        }
        tidy.push_str(&word);
    }
    let kept = tidy.trim_end_matches([' ', ',']).len();
    tidy.truncate(kept);
    tidy
}

fn is_same_postcode(line: &str, postcode: &Postcode) -> bool {
    let compact = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    compact(line) == compact(postcode.as_str())
}

/// Notify's test: a line that is just "NFA", or "no fixed abode" / "no fixed address" anywhere.
fn is_no_fixed_abode(line: &str) -> bool {
    let lower = line.to_lowercase();
    lower == "nfa" || lower.contains("no fixed abode") || lower.contains("no fixed address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_refused_for_its_first_character_or_a_control_character() {
        for c in ('\u{0}'..='\u{3000}').chain(['\u{FEFF}', '\u{1F600}']) {
            let refused_first = FORBIDDEN_FIRST.contains(&c) || c.is_control();
            assert_eq!(
                AddressLine::parse(&format!("{c}a")).is_err(),
                refused_first,
                "{c:?} first"
            );
            assert_eq!(
                AddressLine::parse(&format!("a{c}")).is_err(),
                c.is_control(),
                "{c:?} inside"
            );
        }
    }

    fn postcode(s: &str) -> Postcode {
        Postcode::parse(s).unwrap().value
    }

    #[test]
    fn an_ordinary_address_line_is_kept_as_written() {
        assert_eq!(
            AddressLine::parse("10 Downing Street").unwrap().as_str(),
            "10 Downing Street"
        );
        assert_eq!(
            AddressLine::parse("Flat 2/3, Block A").unwrap().as_str(),
            "Flat 2/3, Block A"
        );
    }

    #[test]
    fn a_line_starting_with_a_character_notify_refuses_is_rejected() {
        for s in [
            "@home",
            "(rear)",
            ")",
            "=1+1",
            "[a]",
            "]",
            "\"Quoted\"",
            "\\x",
            "/x",
            ", London",
            "<b>",
            ">",
            "~x",
        ] {
            assert_eq!(AddressLine::parse(s), Err(INVALID_LINE), "{s}");
        }
    }

    #[test]
    fn a_spreadsheet_formula_is_rejected() {
        assert_eq!(
            AddressLine::parse("=HYPERLINK(\"http://evil.example\",\"Click\")"),
            Err(INVALID_LINE)
        );
    }

    #[test]
    fn a_line_starting_with_plus_or_minus_is_allowed_as_notify_allows_it() {
        assert!(AddressLine::parse("+ Annexe").is_ok());
        assert!(AddressLine::parse("-1 Basement Flat").is_ok());
    }

    #[test]
    fn a_line_with_a_line_break_or_other_control_character_is_rejected() {
        for s in ["10 Downing\nStreet", "10\tDowning Street", ""] {
            assert_eq!(AddressLine::parse(s), Err(INVALID_LINE), "{s:?}");
        }
    }

    #[test]
    fn address_lines_round_trip_through_serde() {
        let line = AddressLine::parse("38A Battersea Rise").unwrap();
        let json = serde_json::to_string(&line).unwrap();
        assert_eq!(serde_json::from_str::<AddressLine>(&json).unwrap(), line);
        assert!(serde_json::from_str::<AddressLine>("\"=cmd\"").is_err());
    }

    #[test]
    fn a_letter_address_ends_with_the_postcode() {
        let lines =
            sanitise_letter_address(&["10 Downing Street", "", "London"], &postcode("sw1a 2aa"));
        assert_eq!(lines.unwrap(), ["10 Downing Street", "London", "SW1A 2AA"]);
    }

    #[test]
    fn letter_address_lines_are_tidied_as_notify_tidies_them() {
        let lines = sanitise_letter_address(
            &[
                "  10   Downing Street, ",
                "Westminster ,",
                "London\u{200B}",
                "SW1A2AA",
            ],
            &postcode("SW1A 2AA"),
        );
        assert_eq!(
            lines.unwrap(),
            ["10 Downing Street", "Westminster", "London", "SW1A 2AA"]
        );
    }

    #[test]
    fn a_letter_address_needs_two_lines_besides_the_postcode() {
        let one_line =
            sanitise_letter_address(&["10 Downing Street", " , "], &postcode("SW1A 2AA"));
        assert_eq!(one_line, Err(TOO_FEW_LINES));
    }

    #[test]
    fn a_letter_address_has_at_most_seven_lines() {
        let six = ["a", "b", "c", "d", "e", "f"];
        assert_eq!(
            sanitise_letter_address(&six, &postcode("SW1A 2AA"))
                .unwrap()
                .len(),
            7
        );
        let seven = ["a", "b", "c", "d", "e", "f", "g"];
        assert_eq!(
            sanitise_letter_address(&seven, &postcode("SW1A 2AA")),
            Err(TOO_MANY_LINES)
        );
    }

    #[test]
    fn the_first_two_lines_need_a_letter_or_digit() {
        let lines =
            sanitise_letter_address(&["10 Downing Street", "-", "London"], &postcode("SW1A 2AA"));
        assert_eq!(lines, Err(NO_LETTER_OR_DIGIT));
        let third =
            sanitise_letter_address(&["10 Downing Street", "London", "-"], &postcode("SW1A 2AA"));
        assert!(third.is_ok());
    }

    #[test]
    fn no_letter_line_may_start_with_a_character_notify_refuses() {
        let lines =
            sanitise_letter_address(&["10 Downing Street", "=London"], &postcode("SW1A 2AA"));
        assert_eq!(lines, Err(BAD_FIRST_CHARACTER));
    }

    #[test]
    fn no_fixed_abode_is_not_an_address() {
        for lines in [
            ["NFA", "London"],
            ["Jane Smith", "nfa"],
            ["No Fixed Abode", "London"],
            ["Currently of no fixed address", "London"],
        ] {
            assert_eq!(
                sanitise_letter_address(&lines, &postcode("SW1A 2AA")),
                Err(NO_FIXED_ABODE),
                "{lines:?}"
            );
        }
        assert!(sanitise_letter_address(&["Nfant Lane", "London"], &postcode("SW1A 2AA")).is_ok());
    }

    #[test]
    fn pseudo_postcodes_and_unknown_areas_cannot_receive_letters() {
        for pc in ["ZZ99 3VZ", "ZZ99 3WZ", "ZZ99 3CZ", "XX1 1AA"] {
            let lines = sanitise_letter_address(&["10 Downing Street", "London"], &postcode(pc));
            assert_eq!(lines, Err(NO_LETTERS_TO_POSTCODE), "{pc}");
        }
    }
}
