//! Phone numbers, judged by libphonenumber's rules with GB as the default region.
//!
//! `phonenumber::parse` + `is_valid` costs around 10 µs a number (its regexes sit behind a
//! mutex-guarded LRU cache), far too slow for the reader's 300,000 rows a second. UK-shaped
//! numbers (`07…`, `+44…`, `0044…`, `447…`) therefore take a fast path: reduce them to the
//! national significant number and run libphonenumber's own +44 metadata patterns over it,
//! compiled once into anchored `regex` sets and applied exactly as the library applies them.
//! Anything else goes to the library itself.

use std::sync::LazyLock;

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use phonenumber::{Mode, Type, country};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::Invalid;
use super::serde_str::string_serde;

const INVALID: Invalid = Invalid {
    code: "invalid_phone",
    expected: "a valid phone number such as 07700 900123",
};

/// Longest E.164 number: `+` and 15 digits.
const E164_MAX: usize = 16;

/// More digits than any way of writing a valid number needs (`00` + 15 digits, say).
const MAX_DIGITS: usize = 20;

/// What a valid phone number is, which decides whether we may text it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    /// A UK mobile (including Ofcom's drama range `07700 900000`–`900999`): can be texted.
    UkMobile,
    /// Any other valid UK number (landline, `03`, `0800`, …): kept, but never texted.
    UkLandline,
    /// A valid non-UK number, Channel Islands and Isle of Man included; never texted by us (no
    /// international SMS: Notify bills and limits those as international).
    International,
}

/// A valid phone number, stored in E.164 form (`+447700900123`), with its kind.
// Held inline rather than as a `String`: the reader makes hundreds of thousands per second.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: [u8; E164_MAX],
    len: u8,
    kind: PhoneKind,
}

impl PhoneNumber {
    /// Parses a number written with digits, spaces and `()+-` only, GB being the default region.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let written = Written::scan(s)?;
        match written.uk_national_number() {
            Some(national) => Self::uk(national),
            None => Self::parse_with_library(s),
        }
    }

    /// The number in E.164 form, such as `+447700900123`; what Notify is sent.
    pub fn e164(&self) -> &str {
        std::str::from_utf8(&self.e164[..usize::from(self.len)]).expect("E.164 is ASCII")
    }

    /// Whether it is a UK mobile, a UK landline, or international.
    pub fn kind(&self) -> PhoneKind {
        self.kind
    }

    /// Whether we can text it: only UK mobiles.
    pub fn is_mobile(&self) -> bool {
        self.kind == PhoneKind::UkMobile
    }

    /// A UK number from its national significant number (no `0`, no `44`).
    fn uk(national: &[u8]) -> Result<Self, Invalid> {
        let kind = if is_drama_number(national) {
            // libphonenumber calls these invalid, but Notify accepts them and its simulated
            // recipients are drama numbers.
            PhoneKind::UkMobile
        } else {
            let national = std::str::from_utf8(national).map_err(|_| INVALID)?;
            match UK_NUMBERING.classify(national).ok_or(INVALID)? {
                (true, Type::Mobile) => PhoneKind::UkMobile,
                (true, _) => PhoneKind::UkLandline,
                (false, _) => PhoneKind::International,
            }
        };
        let mut e164 = [0u8; E164_MAX];
        e164[..3].copy_from_slice(b"+44");
        let digits = e164.get_mut(3..3 + national.len()).ok_or(INVALID)?;
        digits.copy_from_slice(national);
        Ok(Self {
            e164,
            len: (3 + national.len()) as u8,
            kind,
        })
    }

    /// The slow path, for numbers that are not UK-shaped: the library parses and validates.
    fn parse_with_library(s: &str) -> Result<Self, Invalid> {
        let number = phonenumber::parse(Some(country::GB), s).map_err(|_| INVALID)?;
        if number.code().value() == 44 {
            // Judged as on the fast path, so a drama number written oddly is accepted too.
            let national = number.national().to_string();
            return Self::uk(national.as_bytes());
        }
        if !number.is_valid() {
            return Err(INVALID);
        }
        let formatted = number.format().mode(Mode::E164).to_string();
        let mut e164 = [0u8; E164_MAX];
        e164.get_mut(..formatted.len())
            .ok_or(INVALID)?
            .copy_from_slice(formatted.as_bytes());
        Ok(Self {
            e164,
            len: formatted.len() as u8,
            kind: PhoneKind::International,
        })
    }
}

impl PhoneNumber {
    /// A number as the service stored it: its E.164 form and whether it was a UK mobile (as
    /// judged when its file was read). Checked for shape only — `+`, then 8 to 15 digits, `+44`
    /// for a UK mobile — so reading a record never needs libphonenumber's database, which a
    /// function that only reads records would otherwise carry (1.7 MB).
    pub fn from_stored(e164: &str, uk_mobile: bool) -> Result<Self, Invalid> {
        let digits = e164.strip_prefix('+').ok_or(INVALID)?;
        if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(INVALID);
        }
        let uk = digits.starts_with("44");
        let kind = match (uk_mobile, uk) {
            (true, true) => PhoneKind::UkMobile,
            (true, false) => return Err(INVALID),
            (false, true) => PhoneKind::UkLandline,
            (false, false) => PhoneKind::International,
        };
        let mut stored = [0u8; E164_MAX];
        stored[..e164.len()].copy_from_slice(e164.as_bytes());
        Ok(Self {
            e164: stored,
            len: e164.len() as u8,
            kind,
        })
    }

    /// The canonical string, for serde.
    fn as_str(&self) -> &str {
        self.e164()
    }
}

string_serde!(PhoneNumber, PhoneNumber::parse);

/// Ofcom's range for drama, `07700 900000`–`07700 900999`.
fn is_drama_number(national: &[u8]) -> bool {
    national.len() == 10 && national.starts_with(b"7700900")
}

/// The digits of a number as written, and whether it began with `+`.
struct Written {
    digits: [u8; MAX_DIGITS],
    len: usize,
    /// A `+` before the first digit: what follows is a country code.
    plus: bool,
    /// A `+` anywhere else, which the fast path leaves to the library to make sense of.
    odd_plus: bool,
}

impl Written {
    /// Checks the characters (Notify's rule: digits, spaces and `()+-` only) and keeps the digits.
    fn scan(s: &str) -> Result<Self, Invalid> {
        let mut written = Self {
            digits: [0; MAX_DIGITS],
            len: 0,
            plus: false,
            odd_plus: false,
        };
        for &b in s.as_bytes() {
            match b {
                b'0'..=b'9' => {
                    *written.digits.get_mut(written.len).ok_or(INVALID)? = b;
                    written.len += 1;
                }
                b'+' if written.len == 0 && !written.plus => written.plus = true,
                b'+' => written.odd_plus = true,
                b' ' | b'(' | b')' | b'-' => {}
                _ => return Err(INVALID),
            }
        }
        if written.len == 0 {
            return Err(INVALID);
        }
        Ok(written)
    }

    /// The national significant number if the number is plainly a UK one, else `None`.
    ///
    /// Only shapes whose reading libphonenumber would not second-guess: `+44`/`0044` then an
    /// optional `(0)`, a `0` trunk prefix, or `44` on a 12-digit number (Excel drops the `+`);
    /// and 9 or 10 national digits, the lengths of GB numbers other than a few short codes.
    fn uk_national_number(&self) -> Option<&[u8]> {
        if self.odd_plus {
            return None;
        }
        let digits = &self.digits[..self.len];
        let national = if self.plus {
            strip_trunk_zero(digits.strip_prefix(b"44")?)
        } else if let Some(rest) = digits.strip_prefix(b"0044") {
            strip_trunk_zero(rest)
        } else if digits.starts_with(b"00") {
            // Another country's code after the international prefix.
            return None;
        } else if let Some(rest) = digits.strip_prefix(b"0") {
            rest
        } else if digits.len() == 12 && digits.starts_with(b"44") {
            &digits[2..]
        } else if digits.len() == 13 && digits.starts_with(b"440") {
            &digits[3..]
        } else {
            return None;
        };
        // `180020` is the Text Relay prefix, which the library strips as a national prefix.
        let plain = matches!(national.len(), 9 | 10)
            && national[0] != b'0'
            && !national.starts_with(b"180020");
        plain.then_some(national)
    }
}

/// Drops the `0` of `+44 (0)20…`, as the library does.
fn strip_trunk_zero(national: &[u8]) -> &[u8] {
    national.strip_prefix(b"0").unwrap_or(national)
}

/// libphonenumber's metadata for +44 (GB, then Guernsey, the Isle of Man and Jersey), compiled
/// once into anchored regex sets.
static UK_NUMBERING: LazyLock<UkNumbering> = LazyLock::new(UkNumbering::load);

struct UkNumbering {
    regions: Vec<Region>,
}

/// One region's number types, in the order the library tests them.
struct Region {
    is_gb: bool,
    leading_digits: Option<Regex>,
    /// Matches each descriptor in `DESCRIPTOR_TYPES` order, anchored at the start (the library
    /// accepts a match that starts at 0, and checks the length separately).
    patterns: RegexSet,
    /// Each descriptor's possible lengths (empty: any), or `None` if the region lacks it.
    lengths: Vec<Option<Vec<u16>>>,
    fixed_line_is_mobile: bool,
}

const GENERAL: usize = 0;
const FIXED_LINE: usize = 9;
const MOBILE: usize = 10;

/// After `GENERAL`, the types the library checks before fixed line and mobile, in its order.
const EARLIER_TYPES: [(usize, Type); 8] = [
    (1, Type::PremiumRate),
    (2, Type::TollFree),
    (3, Type::SharedCost),
    (4, Type::Voip),
    (5, Type::PersonalNumber),
    (6, Type::Pager),
    (7, Type::Uan),
    (8, Type::Voicemail),
];

impl UkNumbering {
    fn load() -> Self {
        let regions = DATABASE
            .region(&44)
            .expect("libphonenumber knows +44")
            .into_iter()
            .map(|id| Region::load(DATABASE.by_id(id).expect("a +44 region has metadata")))
            .collect();
        Self { regions }
    }

    /// The region and type of a +44 national number, as `phonenumber`'s `is_valid` and
    /// `number_type` decide them; `None` if it is not valid.
    fn classify(&self, national: &str) -> Option<(bool, Type)> {
        for region in &self.regions {
            // The library settles on the first region whose leading digits match, or, for
            // regions without leading digits, the first where the number has a type.
            let number_type = match &region.leading_digits {
                Some(leading) if !leading.is_match(national) => continue,
                Some(_) => region.number_type(national),
                None => match region.number_type(national) {
                    Type::Unknown => continue,
                    number_type => number_type,
                },
            };
            return (number_type != Type::Unknown).then_some((region.is_gb, number_type));
        }
        None
    }
}

impl Region {
    fn load(meta: &Metadata) -> Self {
        let d = meta.descriptors();
        let descriptors = [
            Some(d.general()),
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        // A missing descriptor gets a pattern no national number matches; `lengths` says so too.
        let patterns = descriptors.iter().map(|descriptor| match descriptor {
            Some(descriptor) => anchored(descriptor.national_number().as_str()),
            None => "^$".to_owned(),
        });
        fn pattern_of(descriptor: Option<&Descriptor>) -> Option<&str> {
            descriptor.map(|descriptor| descriptor.national_number().as_str())
        }
        Self {
            is_gb: meta.id() == "GB",
            leading_digits: meta.leading_digits().map(|leading| {
                RegexBuilder::new(&anchored(leading.as_str()))
                    .ignore_whitespace(true)
                    .build()
                    .expect("libphonenumber's leading digits compile")
            }),
            patterns: RegexSetBuilder::new(patterns)
                // As the library compiles them: its metadata patterns are laid out over lines.
                .ignore_whitespace(true)
                .build()
                .expect("libphonenumber's patterns compile"),
            lengths: descriptors
                .iter()
                .map(|descriptor| descriptor.map(|d| d.possible_length().to_vec()))
                .collect(),
            fixed_line_is_mobile: pattern_of(d.fixed_line()) == pattern_of(d.mobile()),
        }
    }

    /// `phonenumber`'s `number_type` for this region, from one pass of the regex set.
    fn number_type(&self, national: &str) -> Type {
        let matched = self.patterns.matches(national);
        let len = national.len() as u16;
        let is = |index: usize| {
            self.lengths[index]
                .as_ref()
                .is_some_and(|lengths| lengths.is_empty() || lengths.contains(&len))
                && matched.matched(index)
        };
        if !is(GENERAL) {
            return Type::Unknown;
        }
        if let Some(&(_, number_type)) = EARLIER_TYPES.iter().find(|&&(index, _)| is(index)) {
            return number_type;
        }
        if is(FIXED_LINE) {
            if self.fixed_line_is_mobile || is(MOBILE) {
                return Type::FixedLineOrMobile;
            }
            return Type::FixedLine;
        }
        if is(MOBILE) {
            return Type::Mobile;
        }
        Type::Unknown
    }
}

fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id;

    fn parsed(s: &str) -> (String, PhoneKind) {
        let p = PhoneNumber::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (p.e164().to_owned(), p.kind())
    }

    fn mobile(e164: &str) -> (String, PhoneKind) {
        (e164.to_owned(), PhoneKind::UkMobile)
    }

    #[test]
    fn a_uk_mobile_is_stored_as_plus_447() {
        assert_eq!(parsed("07412 345678"), mobile("+447412345678"));
        assert_eq!(parsed("07412345678"), mobile("+447412345678"));
        assert!(PhoneNumber::parse("07412345678").unwrap().is_mobile());
    }

    #[test]
    fn every_common_way_of_writing_a_uk_mobile_works() {
        for s in [
            "+447412345678",
            "+44 7412 345678",
            "+44 (0)7412 345678",
            "+44 (0) 7412-345-678",
            "447412345678",
            "44 7412 345678",
            "0044 7412 345678",
            "(07412) 345678",
            "0 7412 345 678",
        ] {
            assert_eq!(parsed(s), mobile("+447412345678"), "{s}");
        }
    }

    #[test]
    fn the_drama_range_is_a_uk_mobile_though_libphonenumber_calls_it_invalid() {
        for s in [
            "07700 900000",
            "07700900123",
            "+447700900999",
            "447700900002",
            "+44 (0)7700 900111",
        ] {
            assert_eq!(parsed(s).1, PhoneKind::UkMobile, "{s}");
        }
        assert_eq!(parsed("07700 900123"), mobile("+447700900123"));
        // Just outside the range, and nowhere else in 07700, are not numbers.
        assert_eq!(PhoneNumber::parse("07700 901000"), Err(INVALID));
    }

    #[test]
    fn a_uk_landline_is_valid_but_not_a_mobile() {
        for (s, e164) in [
            ("01234 567890", "+441234567890"),
            ("020 7946 0000", "+442079460000"),
            ("016977 2345", "+44169772345"),
            ("0300 123 4567", "+443001234567"),
            ("0800 123 4567", "+448001234567"),
        ] {
            assert_eq!(parsed(s), (e164.to_owned(), PhoneKind::UkLandline), "{s}");
        }
        assert!(!PhoneNumber::parse("01234 567890").unwrap().is_mobile());
    }

    #[test]
    fn international_numbers_are_valid_but_never_texted() {
        for (s, e164) in [
            ("+33 6 12 34 56 78", "+33612345678"),
            ("0033 6 12 34 56 78", "+33612345678"),
            ("+1 (202) 555-0123", "+12025550123"),
            ("+353 87 123 4567", "+353871234567"),
            // Jersey and the Isle of Man share +44 but are not the UK.
            ("07797 123456", "+447797123456"),
            ("+44 7624 123456", "+447624123456"),
        ] {
            assert_eq!(
                parsed(s),
                (e164.to_owned(), PhoneKind::International),
                "{s}"
            );
            assert!(!PhoneNumber::parse(s).unwrap().is_mobile());
        }
    }

    #[test]
    fn characters_other_than_digits_spaces_and_brackets_plus_hyphen_are_rejected() {
        for s in [
            "invalid",
            "07412.345678",
            "07412 345678 ext 1",
            "07412/345678",
            "＋447412345678",
        ] {
            assert_eq!(PhoneNumber::parse(s), Err(INVALID), "{s}");
        }
    }

    #[test]
    fn numbers_that_are_not_valid_are_rejected() {
        for s in [
            "",
            "()",
            "07412 34567",
            "074123456789",
            "012345678",
            "06123 456789",
            "+44",
            "+999 1234567",
            "1234",
            "0761234567",
            "123456789012345678901234",
        ] {
            assert_eq!(PhoneNumber::parse(s), Err(INVALID), "{s}");
        }
    }

    /// The library alone, as the spec states the rule: the oracle for the fast path.
    fn library_only(s: &str) -> Option<(String, PhoneKind)> {
        let number = phonenumber::parse(Some(Id::GB), s).ok()?;
        if !number.is_valid() {
            return None;
        }
        let kind = if number.country().id() != Some(Id::GB) {
            PhoneKind::International
        } else if number.number_type(&DATABASE) == Type::Mobile {
            PhoneKind::UkMobile
        } else {
            PhoneKind::UkLandline
        };
        Some((number.format().mode(Mode::E164).to_string(), kind))
    }

    #[test]
    fn the_fast_path_agrees_with_libphonenumber_outside_the_drama_range() {
        let numbers = [
            "07412345678",
            "+447412345678",
            "+44 (0)7412 345678",
            "0044 7412 345678",
            "447412345678",
            "4407412345678",
            "07911 123456",
            "07457 012345",
            "07624 123456",
            "07797 123456",
            "07781 123456",
            "07839 123456",
            "01481 123456",
            "01534 123456",
            "01624 123456",
            "01234 567890",
            "020 7946 0000",
            "0113 496 0000",
            "016977 2345",
            "013873 12345",
            "0300 123 4567",
            "0800 123 4567",
            "0808 157 0000",
            "0845 464 7000",
            "0900 123 4567",
            "07012 345678",
            "07640 123456",
            "05612 345678",
            "05512 345678",
            "07412 34567",
            "074123456789",
            "012345678",
            "06123 456789",
            "07701 000000",
            "447412345",
            "+44 1800 20123",
            "(+44) 7412 345678",
            "07412 +345678",
            "7412345678",
            "+33 6 12 34 56 78",
            "+1 202 555 0123",
            "00 353 87 123 4567",
        ];
        let mut fast = 0;
        for s in numbers {
            let ours = PhoneNumber::parse(s)
                .ok()
                .map(|p| (p.e164().to_owned(), p.kind()));
            assert_eq!(ours, library_only(s), "{s}");
            if Written::scan(s).unwrap().uk_national_number().is_some() {
                fast += 1;
            }
        }
        // Most of the list should have been decided without the library.
        assert!(fast >= 30, "only {fast} numbers took the fast path");
    }

    #[test]
    fn a_stored_number_reads_back_as_it_was_judged_without_the_library() {
        for written in ["07700 900123", "020 7946 0018", "+33 6 12 34 56 78"] {
            let p = PhoneNumber::parse(written).unwrap();
            let back = PhoneNumber::from_stored(p.e164(), p.is_mobile()).unwrap();
            assert_eq!(back, p, "{written}");
        }
        for stored in [
            "07700900123",
            "+44 7700 900123",
            "+4477",
            "+12345678901234567",
        ] {
            assert!(PhoneNumber::from_stored(stored, false).is_err(), "{stored}");
        }
        assert!(
            PhoneNumber::from_stored("+33612345678", true).is_err(),
            "only a UK number is a UK mobile"
        );
    }

    #[test]
    fn serde_round_trips_and_revalidates() {
        for s in ["07700 900123", "01234 567890", "+33 6 12 34 56 78"] {
            let p = PhoneNumber::parse(s).unwrap();
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.e164()));
            assert_eq!(serde_json::from_str::<PhoneNumber>(&json).unwrap(), p);
        }
        assert!(serde_json::from_str::<PhoneNumber>("\"07412 34567\"").is_err());
    }
}
