//! Why a call to Notify failed, and what the sender should do about it.

use std::fmt;
use std::time::Duration;

use super::vocab::ErrorType;

/// What a sender does after a failed send, per notify.md's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenderAction {
    /// The recipient's details will never work (bad number, email or address): record it,
    /// mark the contact detail, fall back to another channel.
    PermanentForRecipient,
    /// Our set-up is wrong (template, permissions, API key): stop the campaign's sends and
    /// alarm. Keep the message and retry later once fixed; never drop it.
    ConfigurationError,
    /// A passing problem (rate limit, Notify fault, timeout): retry with backoff. After a
    /// [`NotifyError::may_have_been_created`] error, look the reference up first.
    RetryLater,
    /// The daily limit is used up: hold the message until after midnight UTC.
    HoldUntilTomorrow,
}

/// A call to Notify that did not succeed.
///
/// `Display` shows only the HTTP status and Notify's error type, never Notify's message:
/// validation messages can echo what was sent (a phone number, a reference, an address line),
/// and errors end up in logs. The message stays available in [`NotifyError::Api`] for code
/// that needs it; `Debug` hides it too.
#[derive(thiserror::Error)]
pub enum NotifyError {
    /// Notify answered with an error status.
    #[error("Notify answered {status} {error}")]
    Api {
        /// The HTTP status (Notify's `status_code`).
        status: u16,
        /// Notify's error type (the first error's, when it lists several).
        error: ErrorType,
        /// Notify's messages, joined with "; ". May contain what was sent: do not log it.
        message: String,
        /// The `Retry-After` header, if the answer had one (Notify itself does not send it).
        retry_after: Option<Duration>,
    },
    /// No complete answer within the client's timeout: the request may or may not have reached
    /// Notify, so a send may have been created.
    #[error("no answer from Notify within the timeout")]
    Timeout,
    /// The connection failed. Unless it failed while connecting, the request may have reached
    /// Notify, so a send may have been created.
    #[error("could not talk to Notify")]
    Transport(#[source] reqwest::Error),
    /// Notify answered with a body this client cannot read. After a 2xx the send was created.
    #[error("Notify answered {status} with a body this client cannot read")]
    UnexpectedResponse {
        /// The HTTP status.
        status: u16,
        /// Where reading failed (never the body's content).
        detail: String,
    },
    /// The request was not sent: the client refused it (a letter address of more than seven lines).
    #[error("request not sent to Notify: {0}")]
    InvalidRequest(&'static str),
}

impl NotifyError {
    /// What the sender should do, per notify.md's table; decided by status and error type,
    /// never by message text.
    pub fn action(&self) -> SenderAction {
        match self {
            Self::Api { status, error, .. } => action_for(*status, error),
            Self::Timeout | Self::Transport(_) => SenderAction::RetryLater,
            Self::UnexpectedResponse { status, .. } if (400..500).contains(status) => {
                SenderAction::ConfigurationError
            }
            Self::UnexpectedResponse { .. } => SenderAction::RetryLater,
            Self::InvalidRequest(_) => SenderAction::PermanentForRecipient,
        }
    }

    /// Whether a send that failed this way may nevertheless have created the notification.
    /// If so, look it up by reference ([`super::NotifyClient::find_by_reference`]) before
    /// sending again, or the parent gets it twice.
    ///
    /// True for timeouts, connection failures after connecting, 5xx answers (a gateway's 502
    /// or 504 can hide a send that went through) and unreadable answers other than 4xx.
    pub fn may_have_been_created(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status >= 500,
            Self::Timeout => true,
            Self::Transport(e) => !e.is_connect(),
            Self::UnexpectedResponse { status, .. } => !(400..500).contains(status),
            Self::InvalidRequest(_) => false,
        }
    }

    /// The HTTP status Notify answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::UnexpectedResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Notify's error type, if it answered with one.
    pub fn error_type(&self) -> Option<&ErrorType> {
        match self {
            Self::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether Notify has no notification with that id (`GET` by id).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
    }
}

fn action_for(status: u16, error: &ErrorType) -> SenderAction {
    use ErrorType as E;
    match (status, error) {
        // Current Notify reports some recipient problems as Invalid{Phone,Email}Error after
        // schema validation; they are as permanent for the recipient as a ValidationError.
        (400, E::ValidationError | E::InvalidPhoneError | E::InvalidEmailError) => {
            SenderAction::PermanentForRecipient
        }
        (429, E::TooManyRequestsError) => SenderAction::HoldUntilTomorrow,
        // RateLimitError, and any other 429: back off.
        (429, _) => SenderAction::RetryLater,
        (408, _) | (500..=599, _) => SenderAction::RetryLater,
        // 400 BadRequestError, 401/403 AuthError, and any other 4xx: something about our
        // requests or set-up is wrong, and retrying unchanged will not help. Alarm, keep the
        // message, never drop it.
        _ => SenderAction::ConfigurationError,
    }
}

// Hand-written so Notify's message (which may echo personal data) stays out of logs.
impl fmt::Debug for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                status,
                error,
                message,
                retry_after,
            } => f
                .debug_struct("Api")
                .field("status", status)
                .field("error", error)
                .field(
                    "message",
                    &format_args!("<{} chars>", message.chars().count()),
                )
                .field("retry_after", retry_after)
                .finish(),
            Self::Timeout => f.write_str("Timeout"),
            Self::Transport(e) => f.debug_tuple("Transport").field(e).finish(),
            Self::UnexpectedResponse { status, detail } => f
                .debug_struct("UnexpectedResponse")
                .field("status", status)
                .field("detail", detail)
                .finish(),
            Self::InvalidRequest(why) => f.debug_tuple("InvalidRequest").field(why).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, error: &str) -> NotifyError {
        NotifyError::Api {
            status,
            error: ErrorType::parse(error),
            message: "phone_number 07700900123 Not a UK mobile number".into(),
            retry_after: None,
        }
    }

    #[test]
    fn each_row_of_notifys_error_table_maps_to_its_action() {
        use SenderAction::*;
        assert_eq!(api(400, "ValidationError").action(), PermanentForRecipient);
        assert_eq!(api(400, "BadRequestError").action(), ConfigurationError);
        assert_eq!(api(401, "AuthError").action(), ConfigurationError);
        assert_eq!(api(403, "AuthError").action(), ConfigurationError);
        assert_eq!(api(429, "RateLimitError").action(), RetryLater);
        assert_eq!(api(429, "TooManyRequestsError").action(), HoldUntilTomorrow);
        assert_eq!(api(500, "Exception").action(), RetryLater);
        assert_eq!(api(504, "").action(), RetryLater);
        assert_eq!(NotifyError::Timeout.action(), RetryLater);
    }

    #[test]
    fn display_and_debug_never_show_notifys_message() {
        let err = api(400, "ValidationError");
        assert_eq!(err.to_string(), "Notify answered 400 ValidationError");
        assert!(!format!("{err:?}").contains("07700900123"));
    }

    #[test]
    fn only_answers_that_might_hide_a_created_send_call_for_reconciliation() {
        assert!(NotifyError::Timeout.may_have_been_created());
        assert!(api(502, "").may_have_been_created());
        assert!(!api(400, "ValidationError").may_have_been_created());
        assert!(!api(429, "RateLimitError").may_have_been_created());
    }
}
