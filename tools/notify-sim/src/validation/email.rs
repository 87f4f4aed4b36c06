//! Email addresses as notifications-utils' `validate_email_address` checks them.

/// Characters Notify allows in the local part (stricter than RFC 5322 to avoid SES failures).
const LOCAL_CHARS: &str = ".!#$%&'*+/=?^_`{|}~-";
/// Zero-width characters Notify removes before validating.
const ZERO_WIDTH: &[char] = &[
    '\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}',
];

/// Notify's one message for every email problem (the API prefixes `email_address `).
pub const NOT_VALID: &str = "Not a valid email address";

/// Whether Notify accepts the address.
pub fn is_valid(address: &str) -> bool {
    let address = strip_obscure_whitespace(address);
    // ^[local chars]+@([^.@][^@\s]+)$
    let Some((local, hostname)) = address.split_once('@') else {
        return false;
    };
    if local.is_empty()
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_CHARS.contains(c))
    {
        return false;
    }
    let mut host_chars = hostname.chars();
    match host_chars.next() {
        Some(first) if first != '.' && first != '@' => {}
        _ => return false,
    }
    let rest: Vec<char> = host_chars.collect();
    if rest.is_empty() || rest.iter().any(|c| *c == '@' || c.is_whitespace()) {
        return false;
    }
    if address.chars().count() > 320 || address.contains("..") {
        return false;
    }
    // Python encodes the hostname with IDNA; ASCII hostnames pass through unchanged.
    let hostname = if hostname.is_ascii() {
        hostname.to_owned()
    } else {
        match idna::domain_to_ascii(hostname) {
            Ok(h) => h,
            Err(_) => return false,
        }
    };
    let parts: Vec<&str> = hostname.split('.').collect();
    if hostname.len() > 253 || parts.len() < 2 {
        return false;
    }
    if !parts
        .iter()
        .all(|p| !p.is_empty() && p.len() <= 63 && is_hostname_part(p))
    {
        return false;
    }
    parts.last().is_some_and(|tld| is_tld(tld))
}

/// Lower-cased and stripped, as Notify compares addresses (`format_email_address`).
pub fn normalise(address: &str) -> String {
    strip_obscure_whitespace(&address.to_lowercase())
}

/// `strip_and_remove_obscure_whitespace`: zero-width characters anywhere, whitespace at the ends.
fn strip_obscure_whitespace(value: &str) -> String {
    let cleaned: String = value.chars().filter(|c| !ZERO_WIDTH.contains(c)).collect();
    cleaned.trim().to_owned()
}

/// `^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$`, case-insensitive.
fn is_hostname_part(part: &str) -> bool {
    let lower = part.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    // The leading alternative: one or more alphanumerics (which also covers "xn").
    let mut i = 0;
    while i < bytes.len() && alnum(bytes[i]) {
        i += 1;
    }
    if i == 0 {
        return false;
    }
    // Then groups of "-" or "--" followed by alphanumerics.
    while i < bytes.len() {
        let mut dashes = 0;
        while i < bytes.len() && bytes[i] == b'-' {
            dashes += 1;
            i += 1;
        }
        if dashes == 0 || dashes > 2 {
            return false;
        }
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    true
}

/// `^([a-z]{2,63}|xn--([a-z0-9]+-)*[a-z0-9]+)$`, case-insensitive.
fn is_tld(tld: &str) -> bool {
    let lower = tld.to_ascii_lowercase();
    if (2..=63).contains(&lower.len()) && lower.bytes().all(|b| b.is_ascii_lowercase()) {
        return true;
    }
    let Some(rest) = lower.strip_prefix("xn--") else {
        return false;
    };
    !rest.is_empty()
        && !rest.starts_with('-')
        && !rest.ends_with('-')
        && !rest.contains("--")
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_and_unusual_but_valid_addresses_pass() {
        for a in [
            "test@example.gov.uk",
            "firstname-o'surname@domain.com",
            "email@123.123.123.com",
            "a+b@sub.xn--example.org",
            "  padded@example.com  ",
            "perm-fail@simulator.notify",
            "user@bücher.example",
        ] {
            assert!(is_valid(a), "{a}");
        }
    }

    #[test]
    fn malformed_addresses_fail() {
        for a in [
            "example",
            "@example.com",
            "a@b",
            "a..b@example.com",
            "a@example..com",
            "a b@example.com",
            "a@-example.com",
            "a@example.c",
            "a@example.123",
            "\"quoted\"@example.com",
            "a@exa_mple.com",
            "a@b@c.com",
            "a@.example.com",
        ] {
            assert!(!is_valid(a), "{a}");
        }
    }
}
