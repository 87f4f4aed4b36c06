//! Notify's vocabulary in one place: notification types, statuses and the timestamp format.
//!
//! Mirrors `app/constants.py` in alphagov/notifications-api so a misspelt status cannot compile.

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

/// The three channels Notify sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationType {
    /// An email.
    Email,
    /// A text message.
    Sms,
    /// A printed letter.
    Letter,
}

impl NotificationType {
    /// Notify's name for the type, as used in URLs, payloads and limits.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Letter => "letter",
        }
    }

    /// Parses Notify's name for the type.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            "letter" => Some(Self::Letter),
            _ => None,
        }
    }
}

/// The raw status Notify stores for a notification (letters are shown differently, see [`Status::api_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Accepted by the API, not yet handed to a provider.
    Created,
    /// Handed to the provider, waiting for its receipt.
    Sending,
    /// The provider confirmed delivery (for letters: printed and posted).
    Delivered,
    /// The provider could not deliver and will not retry (bad number or address).
    PermanentFailure,
    /// The provider could not deliver for now (inbox full, phone off).
    TemporaryFailure,
    /// Notify itself failed to send. No simulated recipient produces it, but status filters name it.
    #[allow(dead_code)]
    TechnicalFailure,
}

/// Every status name `GET /v2/notifications?status=` accepts (Notify's list plus the letter names).
pub const FILTERABLE_STATUSES: &[&str] = &[
    "cancelled",
    "created",
    "sending",
    "sent",
    "delivered",
    "pending",
    "failed",
    "technical-failure",
    "temporary-failure",
    "permanent-failure",
    "pending-virus-check",
    "validation-failed",
    "virus-scan-failed",
    "returned-letter",
    "accepted",
    "received",
];

impl Status {
    /// The raw status name, as sent in delivery-receipt callbacks.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Sending => "sending",
            Self::Delivered => "delivered",
            Self::PermanentFailure => "permanent-failure",
            Self::TemporaryFailure => "temporary-failure",
            Self::TechnicalFailure => "technical-failure",
        }
    }

    /// The status the API shows: letters read `accepted` until printed and `received` after
    /// (Notify's `Notification.get_letter_status`).
    pub fn api_name(self, kind: NotificationType) -> &'static str {
        match (kind, self) {
            (NotificationType::Letter, Self::Created | Self::Sending) => "accepted",
            (NotificationType::Letter, Self::Delivered) => "received",
            _ => self.as_str(),
        }
    }

    /// Whether Notify counts the status as complete (it then reports `completed_at`).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Created | Self::Sending)
    }

    /// Whether a `status=` filter value selects this raw status (Notify's `substitute_status`:
    /// `failed` means every failure, `accepted` means created or sending, `received` means delivered).
    pub fn matches_filter(self, filter: &str) -> bool {
        match filter {
            "failed" => matches!(
                self,
                Self::PermanentFailure | Self::TemporaryFailure | Self::TechnicalFailure
            ),
            "accepted" => matches!(self, Self::Created | Self::Sending),
            "received" => self == Self::Delivered,
            other => self.as_str() == other,
        }
    }
}

/// Notify's `DATETIME_FORMAT` (`%Y-%m-%dT%H:%M:%S.%fZ`), always UTC with microseconds.
const NOTIFY_DATETIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// Formats a timestamp the way Notify does in API responses and callbacks, e.g. `2017-05-14T12:15:30.000000Z`.
pub fn format_timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(NOTIFY_DATETIME)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00.000000Z"))
}

/// Serde helper: a timestamp in Notify's format.
pub fn serialize_timestamp<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(*at))
}

/// Serde helper: an optional timestamp in Notify's format.
pub fn serialize_opt_timestamp<S: Serializer>(
    at: &Option<OffsetDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&format_timestamp(*at)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_use_notifys_microsecond_utc_format() {
        let at = datetime!(2017-05-14 13:15:30.5 +01:00);
        assert_eq!(format_timestamp(at), "2017-05-14T12:15:30.500000Z");
    }

    #[test]
    fn letters_show_accepted_and_received_instead_of_raw_statuses() {
        assert_eq!(
            Status::Sending.api_name(NotificationType::Letter),
            "accepted"
        );
        assert_eq!(
            Status::Delivered.api_name(NotificationType::Letter),
            "received"
        );
        assert_eq!(
            Status::Delivered.api_name(NotificationType::Sms),
            "delivered"
        );
    }

    #[test]
    fn failed_filter_selects_every_failure() {
        assert!(Status::TemporaryFailure.matches_filter("failed"));
        assert!(Status::PermanentFailure.matches_filter("failed"));
        assert!(!Status::Delivered.matches_filter("failed"));
        assert!(Status::Created.matches_filter("accepted"));
    }
}
