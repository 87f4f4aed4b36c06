//! The simulator's settings, with Notify's production values as defaults.

use std::fmt;
use std::time::Duration;

/// Notify's default per-service rate limit (requests per 60 s, per key type).
pub const DEFAULT_RATE_LIMIT_PER_MIN: u32 = 3000;
/// Notify waits five minutes between callback retries (`default_retry_delay=300`).
pub const DEFAULT_CALLBACK_RETRY: Duration = Duration::from_secs(300);
/// How long the simulated provider takes to report a final status.
pub const DEFAULT_CALLBACK_DELAY: Duration = Duration::from_millis(1000);

/// Per-channel daily send limits; Notify resets them at midnight UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyLimits {
    /// Emails per day.
    pub email: u32,
    /// Text messages per day.
    pub sms: u32,
    /// Letters per day.
    pub letter: u32,
}

impl Default for DailyLimits {
    fn default() -> Self {
        Self {
            email: 250_000,
            sms: 250_000,
            letter: 20_000,
        }
    }
}

impl DailyLimits {
    /// Parses the CLI form `EMAIL,SMS,LETTER`, e.g. `250000,250000,20000`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [email, sms, letter] = parts.as_slice() else {
            return Err(format!(
                "expected EMAIL,SMS,LETTER (three numbers), got {s:?}"
            ));
        };
        let num = |name: &str, v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("{name} limit {v:?} is not a whole number"))
        };
        Ok(Self {
            email: num("email", email)?,
            sms: num("sms", sms)?,
            letter: num("letter", letter)?,
        })
    }
}

/// Everything the simulator needs to start; [`Config::new`] gives Notify's defaults.
#[derive(Clone)]
pub struct Config {
    /// The one API key the simulated service has: `{key_name}-{service_id}-{secret}`.
    pub api_key: String,
    /// Requests per 60 s before `RateLimitError` (token bucket, as Notify).
    pub rate_limit_per_min: u32,
    /// Per-channel daily limits before `TooManyRequestsError`.
    pub daily_limits: DailyLimits,
    /// Where delivery receipts and inbound texts are POSTed (none: no callbacks).
    pub callback_url: Option<String>,
    /// Sent as `Authorization: Bearer <token>` with every callback.
    pub callback_bearer_token: Option<String>,
    /// Time from creation to the final status (and its callback).
    pub callback_delay: Duration,
    /// Wait between callback retries (Notify: 5 minutes).
    pub callback_retry_interval: Duration,
    /// Added to every `/v2` response, to mimic Notify's response time.
    pub latency: Duration,
}

impl Config {
    /// A configuration with the CLI's defaults (Notify's production limits, 1 s to final status).
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            rate_limit_per_min: DEFAULT_RATE_LIMIT_PER_MIN,
            daily_limits: DailyLimits::default(),
            callback_url: None,
            callback_bearer_token: None,
            callback_delay: DEFAULT_CALLBACK_DELAY,
            callback_retry_interval: DEFAULT_CALLBACK_RETRY,
            latency: Duration::ZERO,
        }
    }
}

// Hand-written so the API key secret and the bearer token never reach a log line.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &"<redacted>")
            .field("rate_limit_per_min", &self.rate_limit_per_min)
            .field("daily_limits", &self.daily_limits)
            .field("callback_url", &self.callback_url)
            .field(
                "callback_bearer_token",
                &self.callback_bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("callback_delay", &self.callback_delay)
            .field("callback_retry_interval", &self.callback_retry_interval)
            .field("latency", &self.latency)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_limits_parse_from_three_numbers() {
        assert_eq!(
            DailyLimits::parse("1,2,3"),
            Ok(DailyLimits {
                email: 1,
                sms: 2,
                letter: 3
            })
        );
        assert!(DailyLimits::parse("1,2").is_err());
        assert!(DailyLimits::parse("1,x,3").is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut c = Config::new("secret-key");
        c.callback_bearer_token = Some("token-value".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret-key"));
        assert!(!shown.contains("token-value"));
    }
}
