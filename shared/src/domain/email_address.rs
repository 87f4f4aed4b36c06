//! Email addresses, by GOV.UK Notify's rules (notifications-utils `validate_email_address`).

use compact_str::CompactString;

use super::Invalid;
use super::serde_str::string_serde;

const INVALID: Invalid = Invalid {
    code: "invalid_email",
    expected: "a valid email address such as name@example.com",
};

/// An email address Notify will accept, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(CompactString);

/// Characters Notify zero-width-strips from an address before checking it.
const OBSCURE_WHITESPACE: [char; 10] = [
    '\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{2028}', '\u{2029}',
    '\u{00A0}', '\u{202F}',
];

impl EmailAddress {
    /// Parses an address as Notify does, and lower-cases it.
    ///
    /// Notify IDNA-encodes a non-ASCII hostname; we accept only ASCII hostnames (punycode `xn--`
    /// labels included), so an address with a Unicode domain is rejected here.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.is_ascii() {
            return check(s).map(|()| Self(lower(s)));
        }
        // Notify removes invisible spaces pasted along with an address, then trims.
        let cleaned: String = s
            .chars()
            .filter(|c| !OBSCURE_WHITESPACE.contains(c))
            .collect();
        let cleaned = cleaned.trim_matches(|c: char| c.is_ascii_whitespace());
        if !cleaned.is_ascii() {
            return Err(INVALID);
        }
        check(cleaned).map(|()| Self(lower(cleaned)))
    }

    /// The address, lower-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_serde!(EmailAddress, EmailAddress::parse);

/// An ASCII address in lower case, inline when short enough.
fn lower(s: &str) -> CompactString {
    let mut out = CompactString::from(s);
    out.as_mut_str().make_ascii_lowercase();
    out
}

/// Notify's checks, on an ASCII address.
fn check(address: &str) -> Result<(), Invalid> {
    let bytes = address.as_bytes();
    // `^[local chars]+@([^.@][^@\s]+)$`, 320 characters at most, no `..` anywhere.
    let at = bytes.iter().position(|&b| b == b'@').ok_or(INVALID)?;
    let (local, hostname) = (&bytes[..at], &bytes[at + 1..]);
    let ok = !local.is_empty()
        && local.iter().all(|&b| is_local_char(b))
        && hostname.len() >= 2
        && hostname[0] != b'.'
        && !hostname
            .iter()
            .any(|&b| b == b'@' || b.is_ascii_whitespace())
        && bytes.len() <= 320
        && !bytes.windows(2).any(|w| matches!(w, [b'.', b'.']));
    if !ok || hostname.len() > 253 {
        return Err(INVALID);
    }
    // At least two labels, each 1–63 characters of `^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$`, any case.
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in hostname.split(|&b| b == b'.') {
        if !is_hostname_label(label) {
            return Err(INVALID);
        }
        labels += 1;
        last = label;
    }
    if labels < 2 || !is_top_level_domain(last) {
        return Err(INVALID);
    }
    Ok(())
}

/// Notify's local-part characters: `[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]`.
fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'.' | b'!'
                | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
                | b'-'
        )
}

/// `^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$` (case-insensitive), at most 63 long: runs of letters and
/// digits joined by one or two hyphens. (The `xn` branch adds nothing: `xn` is such a run.)
fn is_hostname_label(label: &[u8]) -> bool {
    (1..=63).contains(&label.len())
        && label[0].is_ascii_alphanumeric()
        && label[label.len() - 1].is_ascii_alphanumeric()
        && label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.windows(3).any(|w| matches!(w, [b'-', b'-', b'-']))
}

/// `^([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)$` (case-insensitive).
fn is_top_level_domain(label: &[u8]) -> bool {
    if label.len() >= 4 && label[..4].eq_ignore_ascii_case(b"xn--") {
        let rest = &label[4..];
        return !rest.is_empty()
            && rest[rest.len() - 1].is_ascii_alphanumeric()
            && rest.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            && !rest.windows(2).any(|w| matches!(w, [b'-', b'-']))
            && rest[0] != b'-';
    }
    (2..=63).contains(&label.len()) && label.iter().all(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        EmailAddress::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .as_str()
            .to_owned()
    }

    fn bad(s: &str) {
        assert_eq!(EmailAddress::parse(s), Err(INVALID), "{s:?}");
    }

    #[test]
    fn ordinary_addresses_are_accepted_and_lower_cased() {
        assert_eq!(ok("john@example.com"), "john@example.com");
        assert_eq!(ok("John.Smith@Example.CO.UK"), "john.smith@example.co.uk");
        assert_eq!(ok("stella@example.co.uk"), "stella@example.co.uk");
    }

    #[test]
    fn notifys_local_part_characters_are_accepted() {
        assert_eq!(
            ok("a.b!#$%&'*+/=?^_`{|}~-z@example.com"),
            "a.b!#$%&'*+/=?^_`{|}~-z@example.com"
        );
        assert_eq!(
            ok("firstname-o'surname@example.com"),
            "firstname-o'surname@example.com"
        );
        // Notify does not mind a leading or trailing dot in the local part.
        assert_eq!(ok(".john.@example.com"), ".john.@example.com");
    }

    #[test]
    fn other_local_part_characters_are_rejected() {
        for s in [
            "jo hn@example.com",
            "john\"@example.com",
            "john;@example.com",
            "jo(hn)@example.com",
        ] {
            bad(s);
        }
    }

    #[test]
    fn an_address_needs_exactly_one_at_and_a_local_part() {
        for s in [
            "invalid",
            "@example.com",
            "john@@example.com",
            "john@smith@example.com",
            "john@",
        ] {
            bad(s);
        }
    }

    #[test]
    fn consecutive_dots_are_rejected_anywhere() {
        bad("john..smith@example.com");
        bad("john@example..com");
    }

    #[test]
    fn the_hostname_needs_two_labels_and_a_real_looking_tld() {
        for s in [
            "john@localhost",
            "john@example.c",
            "john@example.c0m",
            "john@example.123",
            "john@.example.com",
            "john@example.com.",
            "john@192.168.0.1",
            "john@[127.0.0.1]",
        ] {
            bad(s);
        }
        assert_eq!(ok("john@example.museum"), "john@example.museum");
    }

    #[test]
    fn hostname_labels_allow_one_or_two_hyphens_between_letters_and_digits() {
        assert_eq!(ok("john@my-school.org.uk"), "john@my-school.org.uk");
        assert_eq!(ok("john@a--b.com"), "john@a--b.com");
        assert_eq!(ok("john@123.com"), "john@123.com");
        for s in [
            "john@a---b.com",
            "john@-school.com",
            "john@school-.com",
            "john@sch_ool.com",
        ] {
            bad(s);
        }
    }

    #[test]
    fn label_and_hostname_lengths_are_limited() {
        let label63 = "a".repeat(63);
        assert!(EmailAddress::parse(&format!("john@{label63}.com")).is_ok());
        bad(&format!("john@{}.com", "a".repeat(64)));
        // 4 × 63 + 3 dots + ".com" = 259 > 253.
        let long_host = [label63.as_str(); 4].join(".");
        bad(&format!("john@{long_host}.com"));
        let long_local = "a".repeat(310);
        bad(&format!("{long_local}@example.com"));
    }

    #[test]
    fn punycode_hostnames_are_accepted_but_unicode_ones_are_not() {
        assert_eq!(
            ok("john@xn--r8jz45g.xn--zckzah"),
            "john@xn--r8jz45g.xn--zckzah"
        );
        assert_eq!(
            ok("john@XN--bcher-kva.example"),
            "john@xn--bcher-kva.example"
        );
        bad("john@例え.テスト");
        bad("jöhn@example.com");
        bad("john@example.xn--");
        bad("john@example.xn---abc");
    }

    #[test]
    fn invisible_spaces_pasted_with_an_address_are_removed() {
        assert_eq!(ok("john@example.com\u{200B}"), "john@example.com");
        assert_eq!(ok("\u{FEFF}jo\u{200D}hn@example.com"), "john@example.com");
    }

    #[test]
    fn serde_round_trips_and_revalidates() {
        let e = EmailAddress::parse("Jane@Example.com").unwrap();
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, "\"jane@example.com\"");
        assert_eq!(serde_json::from_str::<EmailAddress>(&json).unwrap(), e);
        assert!(serde_json::from_str::<EmailAddress>("\"jane\"").is_err());
    }
}
