//! The send job: what the schedule, the webhook and the dispatcher pass each other on the send
//! queue (the SQS message body, as JSON).

use serde::{Deserialize, Serialize};

use crate::domain::TeamCode;
use crate::policy::{Channel, Purpose};

/// Who made a send job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// The daily schedule (a consent request, a reminder, a session notice).
    #[default]
    Campaign,
    /// The webhook, after a permanent failure: the next channel.
    Fallback,
    /// The webhook, after a temporary failure: the same message again, later.
    Retry,
}

impl JobKind {
    /// As stored and sent (`campaign`, `fallback`, `retry`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Campaign => "campaign",
            Self::Fallback => "fallback",
            Self::Retry => "retry",
        }
    }
}

/// A send job: one child, one purpose, one campaign. The SQS message body, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendJob {
    /// Format version (1).
    pub version: u32,
    /// The team (a job naming no valid team is refused as it is read off the queue).
    pub team: TeamCode,
    /// The campaign.
    pub campaign_id: String,
    /// The child's opaque id.
    pub child_id: String,
    /// Why.
    pub purpose: Purpose,
    /// `campaign` (from the schedule), `fallback` or `retry` (from the webhook).
    #[serde(default)]
    pub kind: JobKind,
    /// Channels that already failed permanently for this child and purpose (fallback jobs).
    #[serde(default)]
    pub failed_channels: Vec<Channel>,
    /// For `retry` jobs: the message being tried again. Only its channel and recipient are
    /// sent to, and only if the policy still allows it at send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// For `retry` jobs: which attempt this is (1, 2, …). Part of the new message's id, so a
    /// retry is a new Notify message and still sent exactly once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// Which time this purpose is being sent when a campaign sends it more than once: the
    /// reminder's date, or the session's date for a session reminder. Part of the message id,
    /// so each reminder goes once — and only once. None for the consent request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occasion: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SendJob {
    /// The first-attempt job for a child and purpose.
    pub fn new(
        team: &TeamCode,
        campaign_id: &str,
        child_id: &str,
        purpose: Purpose,
        kind: JobKind,
    ) -> Self {
        Self {
            version: 1,
            team: team.clone(),
            campaign_id: campaign_id.to_owned(),
            child_id: child_id.to_owned(),
            purpose,
            kind,
            failed_channels: Vec::new(),
            retry_of: None,
            attempt: 0,
            occasion: None,
        }
    }

    /// The same job for a later or repeated occasion (see [`SendJob::occasion`]).
    pub fn on(mut self, occasion: Option<String>) -> Self {
        self.occasion = occasion;
        self
    }
}
