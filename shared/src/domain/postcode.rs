//! UK postcodes.

use super::Invalid;
use super::serde_str::string_serde;

const INVALID: Invalid = Invalid {
    code: "invalid_postcode",
    expected: "a full UK postcode such as SW1A 1AA",
};

/// A parsed value, and whether the input had to be corrected to get it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parsed<T> {
    /// The value.
    pub value: T,
    /// True when a letter O or I was read as the digit 0 or 1 (the report's `postcode_corrected`).
    pub corrected: bool,
}

/// A full UK postcode, upper case, written `OUTWARD INWARD` with one space (`SW1A 1AA`).
// Held inline rather than as a `String`: the reader makes hundreds of thousands per second.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postcode {
    bytes: [u8; 8],
    len: u8,
}

/// The outward-code shapes: `L` a letter, `D` a digit. Order breaks ties between corrections.
const OUTWARD_FORMATS: [&[u8]; 6] = [b"LD", b"LDD", b"LLD", b"LDL", b"LLDD", b"LLDL"];

/// Postcode areas Royal Mail delivers to, as GOV.UK Notify lists them (`uk-postcode-zones.txt`,
/// less `GIR`), sorted for binary search.
const AREAS: &[&[u8]] = &[
    b"AB", b"AL", b"B", b"BA", b"BB", b"BD", b"BF", b"BH", b"BL", b"BN", b"BR", b"BS", b"BT",
    b"BX", b"CA", b"CB", b"CF", b"CH", b"CM", b"CO", b"CR", b"CT", b"CV", b"CW", b"DA", b"DD",
    b"DE", b"DG", b"DH", b"DL", b"DN", b"DT", b"DY", b"E", b"EC", b"EH", b"EN", b"EX", b"FK",
    b"FY", b"G", b"GL", b"GU", b"GY", b"HA", b"HD", b"HG", b"HP", b"HR", b"HS", b"HU", b"HX",
    b"IG", b"IM", b"IP", b"IV", b"JE", b"KA", b"KT", b"KW", b"KY", b"L", b"LA", b"LD", b"LE",
    b"LL", b"LN", b"LS", b"LU", b"M", b"ME", b"MK", b"ML", b"N", b"NE", b"NG", b"NN", b"NP", b"NR",
    b"NW", b"OL", b"OX", b"PA", b"PE", b"PH", b"PL", b"PO", b"PR", b"RG", b"RH", b"RM", b"S",
    b"SA", b"SE", b"SG", b"SK", b"SL", b"SM", b"SN", b"SO", b"SP", b"SR", b"SS", b"ST", b"SW",
    b"SY", b"TA", b"TD", b"TF", b"TN", b"TQ", b"TR", b"TS", b"TW", b"UB", b"W", b"WA", b"WC",
    b"WD", b"WF", b"WN", b"WR", b"WS", b"WV", b"YO", b"ZE",
];

impl Postcode {
    /// Parses a postcode in any case and spacing, reading O or I as 0 or 1 where a digit must be.
    pub fn parse(s: &str) -> Result<Parsed<Self>, Invalid> {
        // Upper-cased, with every space (including the no-break space Excel pastes) removed.
        let mut compact = [0u8; 7];
        let mut len = 0;
        let mut bytes = s.as_bytes().iter().copied().peekable();
        while let Some(b) = bytes.next() {
            if b.is_ascii_whitespace() {
                continue;
            }
            if b == 0xC2 && bytes.peek() == Some(&0xA0) {
                bytes.next();
                continue;
            }
            if !b.is_ascii_alphanumeric() {
                return Err(INVALID);
            }
            *compact.get_mut(len).ok_or(INVALID)? = b.to_ascii_uppercase();
            len += 1;
        }
        // GIR 0AA (Girobank's old non-geographic code) is rejected, not "corrected" to G1R 0AA.
        if len < 5 || &compact[..len] == b"GIR0AA" {
            return Err(INVALID);
        }
        let (outward, inward) = compact[..len].split_at(len - 3);

        // The inward code is always digit, letter, letter.
        let (sector, sector_corrected) = as_digit(inward[0]).ok_or(INVALID)?;
        if !inward[1].is_ascii_uppercase() || !inward[2].is_ascii_uppercase() {
            return Err(INVALID);
        }

        let (outward, outward_corrections) = read_outward(outward, [sector, inward[1], inward[2]])?;

        let mut bytes = [0u8; 8];
        let n = outward.len();
        bytes[..n].copy_from_slice(&outward);
        bytes[n] = b' ';
        bytes[n + 1..n + 4].copy_from_slice(&[sector, inward[1], inward[2]]);
        Ok(Parsed {
            value: Self {
                bytes,
                len: (n + 4) as u8,
            },
            corrected: sector_corrected || outward_corrections > 0,
        })
    }

    /// The postcode as `SW1A 1AA`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("a postcode is ASCII")
    }

    /// A ZZ99 pseudo-postcode (`ZZ99 3VZ` no fixed abode, `ZZ99 3WZ` address not known,
    /// `ZZ99 3CZ` England, not otherwise specified), which NHS systems use when there is no real address.
    pub fn is_pseudo(&self) -> bool {
        // Every ZZ99 code is a pseudo-postcode (the others stand for countries); ZZ is no area.
        self.outward() == b"ZZ99"
    }

    /// Whether Royal Mail (and so GOV.UK Notify) would accept it as the last line of a letter.
    pub fn can_receive_letters(&self) -> bool {
        !self.is_pseudo() && is_real(self.outward(), self.inward())
    }

    fn outward(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len) - 4]
    }

    fn inward(&self) -> &[u8] {
        &self.bytes[usize::from(self.len) - 3..usize::from(self.len)]
    }
}

string_serde!(Postcode, |s| Postcode::parse(s).map(|p| p.value));

/// A character where a digit must be: the digit itself, or O / I read as 0 / 1 (corrected).
fn as_digit(b: u8) -> Option<(u8, bool)> {
    match b {
        b'0'..=b'9' => Some((b, false)),
        b'O' => Some((b'0', true)),
        b'I' => Some((b'1', true)),
        _ => None,
    }
}

/// Reads an outward code against each format of its length.
///
/// Where the formats disagree, the reading is chosen by, in turn: letters only where Royal Mail
/// puts those letters (never I second, nor O or I as the letter after the district digit, so
/// `LS2O` is `LS20`); no correction at all (a letter is never "corrected" where it is valid);
/// a known postcode area; the fewest corrections; the order of `OUTWARD_FORMATS`.
fn read_outward(outward: &[u8], inward: [u8; 3]) -> Result<(Vec4, u8), Invalid> {
    let readings = OUTWARD_FORMATS
        .iter()
        .filter(|format| format.len() == outward.len())
        .filter_map(|format| read_format(outward, format));
    // Nearly every postcode reads as written; skip the ranking (and its area look-ups) then.
    if let Some((reading, _, _)) = readings
        .clone()
        .find(|&(_, corrections, plausible)| plausible && corrections == 0)
    {
        return Ok((reading, 0));
    }
    readings
        // `min_by_key` keeps the first of equals, so the format order breaks ties.
        .min_by_key(|(reading, corrections, plausible)| {
            (
                !plausible,
                *corrections != 0,
                !is_real(reading, &inward),
                *corrections,
            )
        })
        .map(|(reading, corrections, _)| (reading, corrections))
        .ok_or(INVALID)
}

/// An outward code of at most four bytes, kept on the stack.
#[derive(Clone, Copy)]
struct Vec4 {
    bytes: [u8; 4],
    len: usize,
}

impl std::ops::Deref for Vec4 {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Reads an outward code as one format: the reading, its corrections, and whether Royal Mail
/// could have issued its letters where they are.
fn read_format(outward: &[u8], format: &[u8]) -> Option<(Vec4, u8, bool)> {
    let mut reading = Vec4 {
        bytes: [0; 4],
        len: outward.len(),
    };
    let mut corrections = 0;
    let mut plausible = true;
    let last = format.len() - 1;
    for (i, (&b, &kind)) in outward.iter().zip(format).enumerate() {
        reading.bytes[i] = if kind == b'L' {
            if !b.is_ascii_uppercase() {
                return None;
            }
            let trailing_letter = i == last && i >= 2;
            plausible &= !((b == b'I' && i == 1) || (trailing_letter && (b == b'I' || b == b'O')));
            b
        } else {
            let (digit, corrected) = as_digit(b)?;
            corrections += u8::from(corrected);
            digit
        };
    }
    Some((reading, corrections, plausible))
}

/// GOV.UK Notify's "real UK postcode": a known area, and inward letters Royal Mail uses
/// (never C, I, K, M, O or V).
fn is_real(outward: &[u8], inward: &[u8]) -> bool {
    let area_len = outward
        .iter()
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    AREAS.binary_search(&&outward[..area_len]).is_ok()
        && inward[1..]
            .iter()
            .all(|b| b.is_ascii_uppercase() && !b"CIKMOV".contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> (String, bool) {
        let p = Postcode::parse(s).unwrap();
        (p.value.as_str().to_owned(), p.corrected)
    }

    fn ok(s: &str) -> String {
        let (postcode, corrected) = parsed(s);
        assert!(!corrected, "{s} should not need correcting");
        postcode
    }

    #[test]
    fn every_uk_format_is_accepted() {
        assert_eq!(ok("M1 1AE"), "M1 1AE");
        assert_eq!(ok("B33 8TH"), "B33 8TH");
        assert_eq!(ok("CR2 6XH"), "CR2 6XH");
        assert_eq!(ok("DN55 1PT"), "DN55 1PT");
        assert_eq!(ok("W1A 0AX"), "W1A 0AX");
        assert_eq!(ok("EC1A 1BB"), "EC1A 1BB");
    }

    #[test]
    fn any_case_and_spacing_is_normalised() {
        assert_eq!(ok("sw1a1aa"), "SW1A 1AA");
        assert_eq!(ok("Sw1A   1aA"), "SW1A 1AA");
        assert_eq!(ok("S W 1 A 1 A A"), "SW1A 1AA");
        assert_eq!(ok("SW1A\u{a0}1AA"), "SW1A 1AA");
        assert_eq!(ok("ls27 8rt"), "LS27 8RT");
    }

    #[test]
    fn o_where_the_inward_code_needs_a_digit_is_read_as_zero() {
        assert_eq!(parsed("st1 oqs"), ("ST1 0QS".to_owned(), true));
    }

    #[test]
    fn o_and_i_in_outward_digit_positions_are_read_as_digits() {
        assert_eq!(parsed("SWIA 1AA"), ("SW1A 1AA".to_owned(), true));
        assert_eq!(parsed("MI 1AE"), ("M1 1AE".to_owned(), true));
        assert_eq!(parsed("sw1a oaa"), ("SW1A 0AA".to_owned(), true));
    }

    #[test]
    fn o_or_i_where_royal_mail_never_puts_them_are_read_as_digits() {
        // A letter after the district digit is never O or I, and I is never second.
        assert_eq!(parsed("LS2O 1AA"), ("LS20 1AA".to_owned(), true));
        assert_eq!(parsed("B1O 1AA"), ("B10 1AA".to_owned(), true));
        assert_eq!(parsed("SI1 1AA"), ("S11 1AA".to_owned(), true));
    }

    #[test]
    fn an_unusual_letter_is_kept_when_no_digit_reading_fits() {
        assert_eq!(ok("SI1A 1AA"), "SI1A 1AA");
    }

    #[test]
    fn letters_are_never_corrected_where_a_letter_is_valid() {
        // O and I are real letters in area codes: Oldham, Oxford, Ipswich, Portsmouth.
        assert_eq!(ok("OL1 1AA"), "OL1 1AA");
        assert_eq!(ok("BO1 1AA"), "BO1 1AA");
        assert_eq!(ok("OX1 1AA"), "OX1 1AA");
        assert_eq!(ok("IP1 1AA"), "IP1 1AA");
        assert_eq!(ok("PO1 1AA"), "PO1 1AA");
        // The inward letters are letters, even O or I.
        assert_eq!(ok("SW1A 1OI"), "SW1A 1OI");
    }

    #[test]
    fn an_ambiguous_correction_prefers_the_reading_that_is_a_real_postcode() {
        // "BOO": B00 (area B), BO0 (no area BO) and B0O all fit a format; B00 is a real area.
        assert_eq!(parsed("BOO 1AA"), ("B00 1AA".to_owned(), true));
        // "SOO": SO0 (Southampton, one correction) beats S00 (two corrections).
        assert_eq!(parsed("SOO 1AA"), ("SO0 1AA".to_owned(), true));
    }

    #[test]
    fn the_zz99_pseudo_postcodes_are_accepted_but_cannot_receive_letters() {
        // The other ZZ99 codes (countries of residence) are pseudo-postcodes too.
        for s in ["ZZ99 3VZ", "zz993wz", "ZZ99 3CZ", "ZZ99 1WZ"] {
            let p = Postcode::parse(s).unwrap().value;
            assert!(p.is_pseudo(), "{s}");
            assert!(!p.can_receive_letters(), "{s}");
        }
    }

    #[test]
    fn real_postcodes_can_receive_letters() {
        let p = Postcode::parse("SW1A 1AA").unwrap().value;
        assert!(!p.is_pseudo());
        assert!(p.can_receive_letters());
    }

    #[test]
    fn well_formed_postcodes_royal_mail_would_not_deliver_to_cannot_receive_letters() {
        // No area XX; C is never an inward letter.
        for s in ["XX1 1AA", "AB1 2CD"] {
            let p = Postcode::parse(s).unwrap().value;
            assert!(!p.can_receive_letters(), "{s}");
        }
    }

    #[test]
    fn malformed_postcodes_are_rejected() {
        for s in [
            "invalid",
            "SW1A",
            "SW1A 1A",
            "1W1A 1AA",
            "SW1A 11A",
            "SW1AA 1AA",
            "SW1A-1AA",
            "GIR 0AA",
            "BFPO 123",
            "SW1A 1AÉ",
            "",
        ] {
            assert_eq!(Postcode::parse(s), Err(INVALID), "{s}");
        }
    }

    #[test]
    fn the_area_list_is_sorted_for_binary_search() {
        assert!(AREAS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn serde_round_trips_and_revalidates() {
        let p = Postcode::parse("sw1a 1aa").unwrap().value;
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"SW1A 1AA\"");
        assert_eq!(serde_json::from_str::<Postcode>(&json).unwrap(), p);
        assert!(serde_json::from_str::<Postcode>("\"nowhere\"").is_err());
    }
}
