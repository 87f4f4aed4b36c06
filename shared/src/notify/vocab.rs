//! GOV.UK Notify's vocabulary in one place: notification types, statuses and error types, with
//! Notify's exact spellings, so a misspelt status or error name cannot compile.
//!
//! Mirrors `app/constants.py` in alphagov/notifications-api and the `Statuses` section of
//! `notify.md`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The three channels Notify sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
}

impl fmt::Display for NotificationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A notification's status as the API and delivery receipts report it.
///
/// Letters read through the API use their own names (`accepted`, `received`, …); emails and
/// texts share the rest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Status {
    /// Accepted by the API, not yet handed to a provider.
    Created,
    /// Handed to the provider, waiting for its receipt.
    Sending,
    /// Text messages: the provider has it and is still trying to deliver it.
    Pending,
    /// International texts: sent, and the provider will not report delivery.
    Sent,
    /// The provider confirmed delivery.
    Delivered,
    /// Could not be delivered and will not be retried (bad number, address or inbox).
    PermanentFailure,
    /// Could not be delivered for now (inbox full, phone off), or still `sending` after 72 hours.
    TemporaryFailure,
    /// Notify itself failed to send it.
    TechnicalFailure,
    /// Letters: accepted by the API, not yet printed.
    Accepted,
    /// Letters: printed and handed to the postal service.
    Received,
    /// Letters: cancelled before printing.
    Cancelled,
    /// Letters: refused by Notify's checks after the API accepted it.
    ValidationFailed,
    /// A status this client does not know; never final, so it never hides a later known status.
    Unknown(String),
}

impl Status {
    /// Notify's name for the status.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Sending => "sending",
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::PermanentFailure => "permanent-failure",
            Self::TemporaryFailure => "temporary-failure",
            Self::TechnicalFailure => "technical-failure",
            Self::Accepted => "accepted",
            Self::Received => "received",
            Self::Cancelled => "cancelled",
            Self::ValidationFailed => "validation-failed",
            Self::Unknown(other) => other,
        }
    }

    /// Reads Notify's name for a status; an unfamiliar name becomes [`Status::Unknown`].
    pub fn parse(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "sending" => Self::Sending,
            "pending" => Self::Pending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "permanent-failure" => Self::PermanentFailure,
            "temporary-failure" => Self::TemporaryFailure,
            "technical-failure" => Self::TechnicalFailure,
            "accepted" => Self::Accepted,
            "received" => Self::Received,
            "cancelled" => Self::Cancelled,
            "validation-failed" => Self::ValidationFailed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether the status is final (notify.md): nothing Notify reports afterwards changes it.
    ///
    /// `sent` is not final here although Notify counts it as "completed": notify.md does not
    /// list it, and a provider may still report delivery of an international text.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Delivered
                | Self::PermanentFailure
                | Self::TemporaryFailure
                | Self::TechnicalFailure
                | Self::Received
                | Self::Cancelled
                | Self::ValidationFailed
        )
    }

    /// How far along the lifecycle a status is; only non-final statuses are compared by it.
    fn progress(&self) -> u8 {
        match self {
            Self::Created => 0,
            // An unknown status is taken as "in progress": it moves on from `created` only.
            Self::Sending | Self::Accepted | Self::Unknown(_) => 1,
            Self::Pending | Self::Sent => 2,
            _ => 3,
        }
    }

    /// Whether `self`, arriving after `other` was recorded, should replace it.
    ///
    /// Delivery receipts arrive unordered and may repeat, so status only moves forward: a final
    /// status is never replaced (Notify never changes one), a repeat is not newer, and a
    /// non-final status is replaced only by one further along (`created` → `sending` →
    /// `pending`/`sent` → final).
    pub fn supersedes(&self, other: &Status) -> bool {
        !other.is_final() && self.progress() > other.progress()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

/// The `error` field of Notify's error responses (`{"status_code", "errors": [{"error", "message"}]}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// 400: a field failed validation (bad number, email or address, unknown field).
    ValidationError,
    /// 400: the request cannot be served as configured (template, permissions, trial mode).
    BadRequestError,
    /// 401/403: missing or invalid token, clock skew, revoked key.
    AuthError,
    /// 429: the per-minute rate limit.
    RateLimitError,
    /// 429: a daily send limit.
    TooManyRequestsError,
    /// 404: no notification with that id.
    NoResultFound,
    /// 400: current Notify's name for a phone number refused after schema validation.
    InvalidPhoneError,
    /// 400: current Notify's name for an email address refused after schema validation.
    InvalidEmailError,
    /// Anything else, such as the exception name of a 500; empty when the body named none.
    Other(String),
}

impl ErrorType {
    /// Notify's name for the error type.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ValidationError => "ValidationError",
            Self::BadRequestError => "BadRequestError",
            Self::AuthError => "AuthError",
            Self::RateLimitError => "RateLimitError",
            Self::TooManyRequestsError => "TooManyRequestsError",
            Self::NoResultFound => "NoResultFound",
            Self::InvalidPhoneError => "InvalidPhoneError",
            Self::InvalidEmailError => "InvalidEmailError",
            Self::Other(other) => other,
        }
    }

    /// Reads Notify's name for an error type.
    pub fn parse(s: &str) -> Self {
        match s {
            "ValidationError" => Self::ValidationError,
            "BadRequestError" => Self::BadRequestError,
            "AuthError" => Self::AuthError,
            "RateLimitError" => Self::RateLimitError,
            "TooManyRequestsError" => Self::TooManyRequestsError,
            "NoResultFound" => Self::NoResultFound,
            "InvalidPhoneError" => Self::InvalidPhoneError,
            "InvalidEmailError" => Self::InvalidEmailError,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(other) if other.is_empty() => f.write_str("(no error type)"),
            other => f.write_str(other.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_notifys_spelling() {
        for name in [
            "created",
            "sending",
            "pending",
            "sent",
            "delivered",
            "permanent-failure",
            "temporary-failure",
            "technical-failure",
            "accepted",
            "received",
            "cancelled",
            "validation-failed",
        ] {
            let status: Status = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert!(!matches!(status, Status::Unknown(_)), "{name} is known");
            assert_eq!(serde_json::to_value(&status).unwrap(), name);
        }
    }

    #[test]
    fn an_unfamiliar_status_is_kept_and_is_not_final() {
        let status: Status = serde_json::from_value(serde_json::json!("returned-letter")).unwrap();
        assert_eq!(status, Status::Unknown("returned-letter".into()));
        assert!(!status.is_final());
        assert_eq!(status.to_string(), "returned-letter");
    }

    #[test]
    fn final_statuses_are_the_ones_notify_md_lists() {
        use Status::*;
        for s in [
            Delivered,
            PermanentFailure,
            TemporaryFailure,
            TechnicalFailure,
            Received,
            Cancelled,
            ValidationFailed,
        ] {
            assert!(s.is_final(), "{s} is final");
        }
        for s in [Created, Sending, Pending, Sent, Accepted] {
            assert!(!s.is_final(), "{s} is not final");
        }
    }

    #[test]
    fn delivered_is_not_superseded_by_a_late_sending() {
        assert!(!Status::Sending.supersedes(&Status::Delivered));
        assert!(!Status::Created.supersedes(&Status::Delivered));
    }

    #[test]
    fn a_final_status_is_never_replaced_even_by_another_final_one() {
        assert!(!Status::Delivered.supersedes(&Status::PermanentFailure));
        assert!(!Status::TemporaryFailure.supersedes(&Status::Delivered));
        assert!(!Status::Unknown("x".into()).supersedes(&Status::Received));
    }

    #[test]
    fn a_repeated_status_is_not_newer() {
        assert!(!Status::Delivered.supersedes(&Status::Delivered));
        assert!(!Status::PermanentFailure.supersedes(&Status::PermanentFailure));
        assert!(!Status::Sending.supersedes(&Status::Sending));
    }

    #[test]
    fn status_moves_forward_from_created_through_sending_to_delivered() {
        assert!(Status::Sending.supersedes(&Status::Created));
        assert!(Status::Delivered.supersedes(&Status::Sending));
        assert!(Status::Delivered.supersedes(&Status::Created));
        assert!(Status::Pending.supersedes(&Status::Sending));
        assert!(Status::PermanentFailure.supersedes(&Status::Pending));
        assert!(!Status::Sending.supersedes(&Status::Pending));
    }

    #[test]
    fn letters_move_from_accepted_to_received() {
        assert!(Status::Received.supersedes(&Status::Accepted));
        assert!(Status::Cancelled.supersedes(&Status::Accepted));
        assert!(!Status::Accepted.supersedes(&Status::Received));
    }

    #[test]
    fn error_types_keep_notifys_names() {
        assert_eq!(
            ErrorType::parse("RateLimitError"),
            ErrorType::RateLimitError
        );
        assert_eq!(ErrorType::parse("Exception").as_str(), "Exception");
        assert_eq!(
            ErrorType::parse("TooManyRequestsError").to_string(),
            "TooManyRequestsError"
        );
    }
}
