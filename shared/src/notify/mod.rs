//! The GOV.UK Notify API v2 client: send emails, texts and letters, read statuses back, and find
//! a notification by our reference when a send's outcome is in doubt.
//!
//! The contract is `notify.md`. [`NotifyClient`] is a small struct with its base URL, key and
//! timeout injected (tests point it at `notify-sim`); it never retries and never logs personal
//! data, only notification ids, status codes and error types. Every failure says what the
//! sender should do ([`NotifyError::action`]) and whether the send may have been created
//! anyway ([`NotifyError::may_have_been_created`]).

mod client;
mod error;
mod key;
pub mod lint;
mod messages;
pub mod placeholders;
pub mod sms_length;
pub mod template_check;
pub mod vocab;

pub use client::{NOTIFY_BASE_URL, NotifyClient, USER_AGENT};
pub use error::{NotifyError, SenderAction};
pub use key::{ApiKey, NotifyConfigError, PLACEHOLDER_API_KEY};
pub use messages::{
    EmailRequest, LetterRequest, MAX_ADDRESS_LINES, NotificationStatus, Personalisation,
    SentNotification, SmsRequest, Template, TemplatePreview,
};
pub use vocab::{ErrorType, NotificationType, Status};
