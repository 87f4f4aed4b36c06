//! A parent's contact detail as the team records what is known about it (failed, opted out,
//! erased): one type makes every status key, so a detail is keyed the same wherever it is met.

use std::fmt;

use super::{EmailAddress, PhoneNumber};

/// An email address or phone number, in the canonical form it is stored and sent in (the
/// address as parsed; the number in E.164).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactDetail {
    /// An email address.
    Email(String),
    /// A phone number in E.164.
    Phone(String),
}

impl ContactDetail {
    /// A parsed email address.
    pub fn email(address: &EmailAddress) -> Self {
        Self::Email(address.as_str().to_owned())
    }

    /// A parsed phone number (keyed by its E.164 form, however it was written).
    pub fn phone(number: &PhoneNumber) -> Self {
        Self::Phone(number.e164().to_owned())
    }

    /// The key of the detail's status item: `email:<address>` or `phone:<E.164>`.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ContactDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Email(address) => write!(f, "email:{address}"),
            Self::Phone(number) => write!(f, "phone:{number}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_keyed_by_its_e164_form_however_it_was_written() {
        let written = PhoneNumber::parse("07700 900123").expect("valid");
        let international = PhoneNumber::parse("+44 7700 900123").expect("valid");
        assert_eq!(ContactDetail::phone(&written).key(), "phone:+447700900123");
        assert_eq!(
            ContactDetail::phone(&written),
            ContactDetail::phone(&international)
        );
        let email = EmailAddress::parse("sarah.smith@example.com").expect("valid");
        assert_eq!(
            ContactDetail::email(&email).key(),
            "email:sarah.smith@example.com"
        );
    }
}
