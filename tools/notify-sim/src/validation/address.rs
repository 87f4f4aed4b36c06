//! Letter addresses as notifications-utils' `PostalAddress` and notifications-api's
//! `validate_address` judge them (UK addresses only: international letters are out of scope).

use serde_json::{Map, Value};

use super::pyrepr::py_str;

/// Fewer lines than this (postcode included) is refused.
pub const MIN_LINES: usize = 3;
/// More lines than this is refused.
pub const MAX_LINES: usize = 7;
/// No address line may start with one of these (a requirement of Notify's printer).
const INVALID_FIRST_CHARS: &str = "@()=[]\"\\/,<>~";

/// Message for fewer than three lines.
pub const TOO_FEW_LINES: &str = "Address must be at least 3 lines";
/// Message for more than seven lines.
pub const TOO_MANY_LINES: &str = "Address must be no more than 7 lines";
/// Message when the last line is not a UK postcode (and the service cannot post abroad).
pub const NOT_A_POSTCODE: &str = "Must be a real UK postcode";
/// Notify's wording; its list omits `~` although `~` is refused too.
pub const BAD_FIRST_CHARACTER: &str =
    "Address lines must not start with any of the following characters: @ ( ) = [ ] ” \\ / , < >";
/// Message for "no fixed abode" addresses.
pub const NO_FIXED_ABODE: &str = "Must be a real address";
/// notify.md's rule that the first two lines carry a letter or digit; the wording is the simulator's own.
pub const LINES_1_2_EMPTY: &str =
    "Address lines 1 and 2 must contain at least one letter or number";

/// UK country lines Notify recognises and drops (a small subset of its country synonyms).
const UK_NAMES: &[&str] = &[
    "uk",
    "united kingdom",
    "united kingdom of great britain and northern ireland",
    "great britain",
    "gb",
    "britain",
    "england",
    "scotland",
    "wales",
    "cymru",
    "northern ireland",
    "isle of man",
    "jersey",
    "guernsey",
    "alderney",
    "sark",
    "isle of wight",
    "isles of scilly",
    "orkney",
    "shetland",
];

/// Royal Mail postcode areas (notifications-utils `uk-postcode-zones.txt`).
const POSTCODE_AREAS: &[&str] = &[
    "AB", "AL", "B", "BA", "BB", "BD", "BF", "BH", "BL", "BN", "BR", "BS", "BT", "BX", "CA", "CB",
    "CF", "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL", "DN", "DT",
    "DY", "E", "EC", "EH", "EN", "EX", "FK", "FY", "G", "GL", "GU", "GY", "HA", "HD", "HG", "HP",
    "HR", "HS", "HU", "HX", "IG", "IM", "IP", "IV", "JE", "KA", "KT", "KW", "KY", "L", "GIR", "LA",
    "LD", "LE", "LL", "LN", "LS", "LU", "M", "ME", "MK", "ML", "N", "NE", "NG", "NN", "NP", "NR",
    "NW", "OL", "OX", "PA", "PE", "PH", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SA", "SE", "SG",
    "SK", "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ",
    "TR", "TS", "TW", "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE",
];

/// Checks the address in a letter's personalisation; `Err` is Notify's one message.
pub fn validate(personalisation: &Map<String, Value>) -> Result<(), &'static str> {
    let lines = normalised_lines(personalisation);
    // An empty address is one empty line, which Python's splitlines() counts as zero lines.
    let count = if lines.len() == 1 && lines[0].is_empty() {
        0
    } else {
        lines.len()
    };
    if count < MIN_LINES {
        return Err(TOO_FEW_LINES);
    }
    if count > MAX_LINES {
        return Err(TOO_MANY_LINES);
    }
    let last = lines.last().map(String::as_str).unwrap_or_default();
    if !is_real_uk_postcode(last) {
        return Err(NOT_A_POSTCODE);
    }
    if lines
        .iter()
        .any(|l| l.starts_with(|c| INVALID_FIRST_CHARS.contains(c)))
    {
        return Err(BAD_FIRST_CHARACTER);
    }
    let joined = lines.join("\n").to_lowercase();
    if lines.iter().any(|l| l.eq_ignore_ascii_case("nfa"))
        || joined.contains("no fixed abode")
        || joined.contains("no fixed address")
    {
        return Err(NO_FIXED_ABODE);
    }
    // Judged on the normalised lines (blank keys skipped), so only addresses whose first two
    // printed lines are punctuation alone are refused.
    if !lines.iter().take(2).all(|l| has_letter_or_digit(l)) {
        return Err(LINES_1_2_EMPTY);
    }
    Ok(())
}

/// `PostalAddress.from_personalisation(...).normalised_lines` for a UK address.
fn normalised_lines(personalisation: &Map<String, Value>) -> Vec<String> {
    // A line 7 replaces the postcode key, as in Notify.
    let mut keys: Vec<String> = (1..=6).map(|i| format!("address_line_{i}")).collect();
    keys.push(if personalisation.contains_key("address_line_7") {
        "address_line_7".into()
    } else {
        "postcode".into()
    });
    let raw = keys
        .iter()
        .map(|k| address_value(personalisation, k))
        .collect::<Vec<_>>()
        .join("\n");
    let mut lines: Vec<String> = python_splitlines(&raw)
        .into_iter()
        .map(|l| normalise_whitespace(&l))
        .filter_map(|l| {
            let trimmed = l.trim_end_matches([' ', ',']);
            (!trimmed.is_empty()).then(|| remove_whitespace_before_punctuation(trimmed))
        })
        .collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    // A last line naming the UK is dropped; the postcode is then the line before it.
    if lines.len() > 1 && lines.last().is_some_and(|l| is_uk_name(l)) {
        lines.pop();
    }
    lines
}

/// `str(personalisation.get(key) or "")`.
fn address_value(personalisation: &Map<String, Value>, key: &str) -> String {
    personalisation.get(key).map(py_str).unwrap_or_default()
}

/// Python's `str.splitlines()`: every Unicode line boundary, not just `\n`.
fn python_splitlines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut current));
            }
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => out.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `normalise_whitespace`: zero-width characters removed, runs of whitespace become one space.
fn normalise_whitespace(line: &str) -> String {
    line.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{180E}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
            )
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `remove_whitespace_before_punctuation`: "Flat 1 , High St" becomes "Flat 1, High St".
fn remove_whitespace_before_punctuation(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if ",.:;!?".contains(c) {
            while out.ends_with(char::is_whitespace) {
                out.pop();
            }
        }
        out.push(c);
    }
    out
}

/// Whether a line names the UK (so Notify treats it as the country, not the postcode).
fn is_uk_name(line: &str) -> bool {
    let key: String = line
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '.' | ','))
        .collect();
    UK_NAMES.contains(&key.trim())
}

/// `_is_a_real_uk_postcode`: area, then `[0-9][0-9A-Z]?[0-9][A-BD-HJLNP-UW-Z]{2}`, spaces ignored.
pub fn is_real_uk_postcode(postcode: &str) -> bool {
    let normalised: String = postcode
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    POSTCODE_AREAS.iter().any(|area| {
        normalised
            .strip_prefix(area)
            .is_some_and(|rest| postcode_tail_matches(rest.as_bytes()))
    })
}

fn postcode_tail_matches(rest: &[u8]) -> bool {
    let inward_letter = |b: u8| b.is_ascii_uppercase() && !b"CIKMOV".contains(&b);
    let tail_ok = |t: &[u8]| {
        t.len() == 3 && t[0].is_ascii_digit() && inward_letter(t[1]) && inward_letter(t[2])
    };
    match rest.len() {
        4 => rest[0].is_ascii_digit() && tail_ok(&rest[1..]),
        5 => {
            rest[0].is_ascii_digit()
                && (rest[1].is_ascii_digit() || rest[1].is_ascii_uppercase())
                && tail_ok(&rest[2..])
        }
        _ => false,
    }
}

fn has_letter_or_digit(line: &str) -> bool {
    line.chars().any(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<(), &'static str> {
        validate(v.as_object().expect("object"))
    }

    #[test]
    fn three_lines_counting_the_postcode_is_enough() {
        assert_eq!(
            check(
                json!({"address_line_1": "The Occupier", "address_line_2": "123 High Street", "postcode": "SW14 6BH"})
            ),
            Ok(())
        );
        assert_eq!(
            check(
                json!({"address_line_1": "A", "address_line_2": "B", "postcode": "  sw1a  1aa "})
            ),
            Ok(())
        );
    }

    #[test]
    fn short_long_and_empty_addresses_are_refused() {
        assert_eq!(
            check(json!({"address_line_1": "A", "postcode": "SW1A 1AA"})),
            Err(TOO_FEW_LINES)
        );
        assert_eq!(
            check(json!({"address_line_1": "", "address_line_2": "", "postcode": ""})),
            Err(TOO_FEW_LINES)
        );
        assert_eq!(check(json!({})), Err(TOO_FEW_LINES));
        let eight = json!({"address_line_1": "1", "address_line_2": "2", "address_line_3": "3",
            "address_line_4": "4", "address_line_5": "5", "address_line_6": "6\n7", "postcode": "SW1A 1AA"});
        assert_eq!(check(eight), Err(TOO_MANY_LINES));
    }

    #[test]
    fn the_last_line_must_be_a_real_postcode() {
        assert_eq!(
            check(
                json!({"address_line_1": "A", "address_line_2": "B", "postcode": "not a real postcode"})
            ),
            Err(NOT_A_POSTCODE)
        );
        assert_eq!(
            check(json!({"address_line_1": "A", "address_line_2": "B", "postcode": "QQ1 1AA"})),
            Err(NOT_A_POSTCODE)
        );
        assert_eq!(
            check(
                json!({"address_line_1": "A", "address_line_2": "B", "address_line_3": "France"})
            ),
            Err(NOT_A_POSTCODE)
        );
        assert_eq!(
            check(
                json!({"address_line_1": "A", "address_line_2": "B", "address_line_3": "SW1A 1AA", "postcode": "United Kingdom"})
            ),
            Ok(())
        );
    }

    #[test]
    fn bad_first_characters_nfa_and_blank_first_lines_are_refused() {
        assert_eq!(
            check(
                json!({"address_line_1": "Her Royal Highness", "address_line_2": "]Buckingham Palace", "postcode": "SW1A 1AA"})
            ),
            Err(BAD_FIRST_CHARACTER)
        );
        assert_eq!(
            check(
                json!({"address_line_1": "No fixed abode", "address_line_2": "Somewhere", "postcode": "SW1A 1AA"})
            ),
            Err(NO_FIXED_ABODE)
        );
        assert_eq!(
            check(
                json!({"address_line_1": "NFA", "address_line_2": "Somewhere", "postcode": "SW1A 1AA"})
            ),
            Err(NO_FIXED_ABODE)
        );
        assert_eq!(
            check(
                json!({"address_line_1": "A", "address_line_2": "-", "address_line_3": "C", "postcode": "SW1A 1AA"})
            ),
            Err(LINES_1_2_EMPTY)
        );
    }

    #[test]
    fn postcode_shapes_follow_notifys_pattern() {
        for ok in [
            "SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "ec1a1bb",
        ] {
            assert!(is_real_uk_postcode(ok), "{ok}");
        }
        for bad in ["SW1A 1CA", "1AA", "SW1A", "XX1 1AA", "SW1A 1AAA"] {
            assert!(!is_real_uk_postcode(bad), "{bad}");
        }
    }
}
