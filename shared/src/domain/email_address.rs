//! Email addresses, by GOV.UK Notify's rules (notifications-utils `validate_email_address`).

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use super::Invalid;
use super::serde_str::string_serde;

const INVALID: Invalid = Invalid {
    code: "invalid_email",
    expected: "a valid email address such as name@example.com",
};

/// Addresses up to this long (nearly all of them) are held inline, without a heap allocation.
const INLINE: usize = 46;

/// An email address Notify will accept, stored lower-case.
#[derive(Clone)]
pub struct EmailAddress(Repr);

#[derive(Clone)]
enum Repr {
    /// ASCII bytes, `len` of them.
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

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
        // `check` accepts ASCII only, so what passes needs no cleaning.
        if check(s).is_ok() {
            return Ok(lower(s));
        }
        if s.is_ascii() {
            return Err(INVALID);
        }
        // Notify removes invisible spaces pasted along with an address, then trims.
        let cleaned: String = s
            .chars()
            .filter(|c| !OBSCURE_WHITESPACE.contains(c))
            .collect();
        let cleaned = cleaned.trim_matches(|c: char| c.is_ascii_whitespace());
        check(cleaned).map(|()| lower(cleaned))
    }

    /// The address, lower-case.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let ascii = &bytes[..usize::from(*len)];
                debug_assert!(ascii.is_ascii());
                // SAFETY: only `lower` makes an inline address, from the bytes of a `&str` that
                // `check` accepted, which are ASCII (lower-casing keeps them so); ASCII is UTF-8.
                unsafe { std::str::from_utf8_unchecked(ascii) }
            }
            Repr::Heap(s) => s,
        }
    }
}

impl PartialEq for EmailAddress {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for EmailAddress {}

impl Hash for EmailAddress {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for EmailAddress {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EmailAddress {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EmailAddress").field(&self.as_str()).finish()
    }
}

string_serde!(EmailAddress, EmailAddress::parse);

/// An address `check` accepted (so ASCII), in lower case.
fn lower(s: &str) -> EmailAddress {
    if s.len() <= INLINE {
        let mut bytes = [0; INLINE];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        bytes.make_ascii_lowercase();
        return EmailAddress(Repr::Inline {
            len: s.len() as u8,
            bytes,
        });
    }
    EmailAddress(Repr::Heap(s.to_ascii_lowercase().into_boxed_str()))
}

/// Notify's local-part characters: `[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]`.
const LOCAL_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(
            b as u8,
            b'a'..=b'z'
                | b'A'..=b'Z'
                | b'0'..=b'9'
                | b'.'
                | b'!'
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
        );
        b += 1;
    }
    table
};

/// Notify's checks: `^[local chars]+@([^.@][^@\s]+)$`, 320 characters at most, no `..`
/// anywhere, and a hostname of at most 253 characters in two or more labels, each 1–63
/// characters of `^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$` (any case), the last a top-level domain.
/// (The label rule already refuses in the hostname what the first pattern does: `.` first,
/// `@`, white space and `..`.) Only ASCII passes.
fn check(address: &str) -> Result<(), Invalid> {
    let bytes = address.as_bytes();
    if bytes.len() > 320 {
        return Err(INVALID);
    }
    // The local part, up to the first `@`, in one pass.
    let mut at = None;
    let mut after_dot = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'@' {
            at = Some(i);
            break;
        }
        let dot = b == b'.';
        if !LOCAL_CHARS[usize::from(b)] || (dot && after_dot) {
            return Err(INVALID);
        }
        after_dot = dot;
    }
    let at = at.filter(|&at| at > 0).ok_or(INVALID)?;
    let hostname = &bytes[at + 1..];
    if hostname.len() < 2 || hostname.len() > 253 {
        return Err(INVALID);
    }
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

/// `^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$` (case-insensitive), at most 63 long: runs of letters and
/// digits joined by one or two hyphens. (The `xn` branch adds nothing: `xn` is such a run.)
fn is_hostname_label(label: &[u8]) -> bool {
    let (Some(first), Some(last)) = (label.first(), label.last()) else {
        return false;
    };
    if label.len() > 63 || !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return false;
    }
    let mut hyphens = 0;
    for &b in label {
        if b == b'-' {
            hyphens += 1;
            if hyphens == 3 {
                return false;
            }
        } else if b.is_ascii_alphanumeric() {
            hyphens = 0;
        } else {
            return false;
        }
    }
    true
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
    fn addresses_of_every_length_are_kept_whole_and_compare_by_their_text() {
        // Either side of the inline size, and far past it.
        for local in [INLINE - 13, INLINE - 12, INLINE - 11, 200] {
            let written = format!("{}@Example.com", "Ab".repeat(local).split_at(local).0);
            let parsed = EmailAddress::parse(&written).unwrap();
            assert_eq!(parsed.as_str(), written.to_ascii_lowercase());
            assert_eq!(
                parsed,
                EmailAddress::parse(&written.to_ascii_uppercase()).unwrap()
            );
        }
        let short = EmailAddress::parse("a@example.com").unwrap();
        let long = EmailAddress::parse(&format!("{}@example.com", "b".repeat(60))).unwrap();
        assert_eq!(short.cmp(&long), std::cmp::Ordering::Less);
        assert_ne!(short, long);
    }

    #[test]
    fn a_dot_either_side_of_the_at_is_not_a_double_dot() {
        assert_eq!(ok("john.@example.com"), "john.@example.com");
        bad("john@.example.com");
        bad("john.@.example.com");
    }

    /// Notify's `validate_email_address`, written out as its Python reads (regexes and all), for
    /// an ASCII address with nothing to strip.
    fn notify_accepts(address: &str) -> bool {
        use regex::Regex;
        use std::sync::LazyLock;
        static WHOLE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+@([^.@][^@\s]+)$").unwrap()
        });
        static PART: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"(?i)^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$").unwrap());
        static TLD: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"(?i)^([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)$").unwrap()
        });
        let (part, tld) = (&*PART, &*TLD);
        let Some(found) = WHOLE.captures(address) else {
            return false;
        };
        if address.len() > 320 || address.contains("..") {
            return false;
        }
        let hostname = &found[1];
        let parts: Vec<&str> = hostname.split('.').collect();
        hostname.len() <= 253
            && parts.len() >= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 63 && part.is_match(p))
            && tld.is_match(parts[parts.len() - 1])
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_check_agrees_with_notifys_regexes(
            address in proptest::prop_oneof![
                // Mostly well formed, with the edges of each rule within reach.
                "[a-zA-Z0-9._+-]{1,6}@([a-zA-Z0-9]{1,4}(--?[a-zA-Z0-9]{1,3})?\\.){1,3}([a-zA-Z]{2,4}|xn--[a-z0-9]{1,3}-?[a-z0-9]{1,3}|[a-z0-9-]{1,3})",
                // Anything of the same characters.
                "[a-zA-Z0-9.!_+ -]{0,6}@?@?([a-zA-Z0-9 -]{0,4}(xn--)?[a-zA-Z0-9-]{0,3}\\.{1,2}){0,3}[a-zA-Z0-9-]{0,6}(\\.xn--[a-z0-9-]{0,5})?",
            ]
        ) {
            let parsed = EmailAddress::parse(&address);
            proptest::prop_assert_eq!(parsed.is_ok(), notify_accepts(&address), "{:?}", address);
            if let Ok(parsed) = parsed {
                proptest::prop_assert_eq!(parsed.as_str(), address.to_ascii_lowercase());
            }
        }
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
