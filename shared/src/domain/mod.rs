//! Domain types that cannot hold invalid values: each has one `parse` constructor.
//!
//! "Parse, don't validate": the CSV reader turns each cell into one of these types, and nothing
//! downstream re-checks strings. Deserialising goes through the same `parse`, so a value read
//! back from storage is as valid as one read from an upload.

mod address;
mod child;
mod clock;
mod contact;
mod detail;
mod email_address;
mod name;
mod nhs_number;
mod phone_number;
mod postcode;
mod school_urn;
mod serde_str;
mod team;

pub use address::{AddressLine, sanitise_letter_address};
pub use child::{DateOfBirth, Gender, YearGroup, parse_flag};
pub use clock::{Clock, rfc3339};
pub use contact::{ContactPreference, Relationship};
pub use detail::ContactDetail;
pub use email_address::EmailAddress;
pub use name::{ParentName, PersonName};
pub use nhs_number::NhsNumber;
pub use phone_number::{PhoneKind, PhoneNumber};
pub use postcode::{Parsed, Postcode};
pub use school_urn::SchoolUrn;
pub use team::TeamCode;

/// Why a cell was rejected: the report's error code and what the column should hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{code}: should be {expected}")]
pub struct Invalid {
    /// The report's error code, such as `invalid_nhs_number`.
    pub code: &'static str,
    /// What the cell should hold, worded to follow "should be"; never contains the cell's value.
    pub expected: &'static str,
}
