//! Phone numbers as the v2 API validates them: notifications-utils' `validate_phone_number(number,
//! international=True)` with the legacy v2 messages (`InvalidPhoneError.LEGACY_V2_API_ERROR_MESSAGES`).

/// A number that passed the schema check, normalised to digits with the country code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneNumber {
    /// A UK mobile, e.g. `447700900123`.
    UkMobile(String),
    /// A plausible international number; the simulated service may not send to it.
    International(String),
}

impl PhoneNumber {
    /// The normalised digits (`447700900123`), used to match simulated recipients.
    pub fn normalised(&self) -> &str {
        match self {
            Self::UkMobile(n) | Self::International(n) => n,
        }
    }
}

/// Message for characters other than digits, spaces, brackets, dashes and `+`.
pub const LETTERS_OR_SYMBOLS: &str = "Must not contain letters or symbols";
/// Message for a UK number that is not a `07…` mobile.
pub const NOT_UK_MOBILE: &str = "Not a UK mobile number";
/// Message for too many digits.
pub const TOO_LONG: &str = "Too many digits";
/// Message for too few digits.
pub const TOO_SHORT: &str = "Not enough digits";
/// Message for an international number with an unassigned country code.
pub const BAD_COUNTRY: &str = "Not a valid country prefix";

/// Zero-width characters Notify strips as whitespace (notifications-utils `OBSCURE_ZERO_WIDTH_WHITESPACE`).
const ZERO_WIDTH: &[char] = &[
    '\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}',
];

/// Validates a submitted number; the error is Notify's message (the API prefixes `phone_number `).
pub fn validate(number: &str) -> Result<PhoneNumber, &'static str> {
    if is_uk_phone_number(number)? {
        return validate_uk(number).map(PhoneNumber::UkMobile);
    }
    let digits = normalise(number)?;
    if digits.len() < 8 {
        return Err(TOO_SHORT);
    }
    if digits.len() > 15 {
        return Err(TOO_LONG);
    }
    if !has_country_prefix(&digits) {
        return Err(BAD_COUNTRY);
    }
    Ok(PhoneNumber::International(digits))
}

/// `normalise_phone_number`: drop whitespace, brackets, dashes and `+`, insist on digits, strip leading zeros.
fn normalise(number: &str) -> Result<String, &'static str> {
    let kept: String = number
        .chars()
        .filter(|c| !(c.is_whitespace() || ZERO_WIDTH.contains(c) || "()-+".contains(*c)))
        .collect();
    if !kept.chars().all(|c| c.is_ascii_digit()) {
        return Err(LETTERS_OR_SYMBOLS);
    }
    Ok(kept.trim_start_matches('0').to_owned())
}

/// `is_uk_phone_number`: a leading single `0`, a `44` prefix, or a short number starting `7`.
fn is_uk_phone_number(number: &str) -> Result<bool, &'static str> {
    if number.starts_with('0') && !number.starts_with("00") {
        return Ok(true);
    }
    let digits = normalise(number)?;
    Ok(digits.starts_with("44") || (digits.starts_with('7') && digits.len() < 11))
}

/// `validate_uk_phone_number`. Python's `lstrip("44")` strips every leading `4`; kept for fidelity.
fn validate_uk(number: &str) -> Result<String, &'static str> {
    let digits = normalise(number)?;
    let national = digits.trim_start_matches('4').trim_start_matches('0');
    if !national.starts_with('7') {
        return Err(NOT_UK_MOBILE);
    }
    if national.len() > 10 {
        return Err(TOO_LONG);
    }
    if national.len() < 10 {
        return Err(TOO_SHORT);
    }
    Ok(format!("44{national}"))
}

/// ITU-T E.164 country calling codes (Notify checks against its billing-rates list, which covers these).
fn has_country_prefix(digits: &str) -> bool {
    const CODES: &[u16] = &[
        1, 7, 20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53,
        54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
        211, 212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 230, 231, 232,
        233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250,
        251, 252, 253, 254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269,
        290, 291, 297, 298, 299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372,
        373, 374, 375, 376, 377, 378, 379, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423,
        500, 501, 502, 503, 504, 505, 506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597,
        598, 599, 670, 672, 673, 674, 675, 676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687,
        688, 689, 690, 691, 692, 850, 852, 853, 855, 856, 880, 886, 960, 961, 962, 963, 964, 965,
        966, 967, 968, 970, 971, 972, 973, 974, 975, 976, 977, 992, 993, 994, 995, 996, 998,
    ];
    (1..=3).any(|len| {
        digits
            .get(..len)
            .and_then(|p| p.parse::<u16>().ok())
            .is_some_and(|p| CODES.contains(&p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_mobiles_in_any_common_format_normalise_to_the_same_digits() {
        for n in [
            "07700900002",
            "07700 900002",
            "+447700900002",
            "+44 (0)7700 900-002",
            "447700900002",
            "7700900002",
        ] {
            assert_eq!(
                validate(n),
                Ok(PhoneNumber::UkMobile("447700900002".into())),
                "{n}"
            );
        }
    }

    #[test]
    fn notify_legacy_messages_are_returned() {
        assert_eq!(validate("08515111111"), Err(NOT_UK_MOBILE));
        assert_eq!(validate("07515111*11"), Err(LETTERS_OR_SYMBOLS));
        assert_eq!(validate("notaphoneumber"), Err(LETTERS_OR_SYMBOLS));
        assert_eq!(validate("077009001234"), Err(TOO_LONG));
        assert_eq!(validate("0770090012"), Err(TOO_SHORT));
        assert_eq!(validate(""), Err(TOO_SHORT));
    }

    #[test]
    fn international_numbers_pass_the_schema_but_are_marked() {
        assert_eq!(
            validate("+33 1 23 45 67 89"),
            Ok(PhoneNumber::International("33123456789".into()))
        );
        assert_eq!(
            validate("+1 202 555 0123").map(|p| p.normalised().len()),
            Ok(11)
        );
        assert_eq!(validate("+999 1234 5678"), Err(BAD_COUNTRY));
        assert_eq!(validate("+33 12"), Err(TOO_SHORT));
    }
}
