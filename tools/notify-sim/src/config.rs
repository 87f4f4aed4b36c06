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

/// One simulated Notify service: its API key and what Notify configures per service.
///
/// The simulator always has a first (default) service, described by [`Config`]'s own fields;
/// [`Config::with_service`] adds more. Each service has its own token bucket, daily counts,
/// callback URL and token, templates, notifications, faults and callback log, and a request
/// is served by the service whose id is its JWT's `iss`.
#[derive(Clone)]
pub struct ServiceConfig {
    /// The service's API key: `{key_name}-{service_id}-{secret}`; the service id identifies it.
    pub api_key: String,
    /// Requests per 60 s before `RateLimitError` (token bucket, as Notify).
    pub rate_limit_per_min: u32,
    /// Per-channel daily limits before `TooManyRequestsError`.
    pub daily_limits: DailyLimits,
    /// Where this service's delivery receipts and inbound texts are POSTed (none: no callbacks).
    pub callback_url: Option<String>,
    /// Sent as `Authorization: Bearer <token>` with this service's callbacks.
    pub callback_bearer_token: Option<String>,
}

impl ServiceConfig {
    /// A service with Notify's default limits and no callbacks.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            rate_limit_per_min: DEFAULT_RATE_LIMIT_PER_MIN,
            daily_limits: DailyLimits::default(),
            callback_url: None,
            callback_bearer_token: None,
        }
    }

    /// Parses the CLI form `KEY[,rate=N][,daily=E:S:L][,callback=URL][,token=T]`, e.g.
    /// `other-<service id>-<secret>,rate=60,callback=http://127.0.0.1:9000/cb,token=abc`.
    /// Unknown settings are refused; `callback` needs `token` (as `--callback-url` needs
    /// `--callback-bearer-token`). A URL may not contain a comma.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = s.split(',').map(str::trim);
        let key = parts.next().filter(|k| !k.is_empty()).ok_or_else(|| {
            "expected KEY[,rate=N][,daily=E:S:L][,callback=URL][,token=T]".to_owned()
        })?;
        crate::auth::ApiKey::parse(key)?;
        let mut service = Self::new(key);
        for part in parts.filter(|p| !p.is_empty()) {
            // Never echo the part: it may be (part of) a secret.
            let (name, value) = part
                .split_once('=')
                .ok_or("expected name=value settings after the key")?;
            match name.trim() {
                "rate" => {
                    service.rate_limit_per_min = value
                        .trim()
                        .parse()
                        .map_err(|_| format!("rate {value:?} is not a whole number"))?;
                }
                "daily" => service.daily_limits = DailyLimits::parse(&value.replace(':', ","))?,
                "callback" => service.callback_url = Some(value.trim().to_owned()),
                "token" => service.callback_bearer_token = Some(value.trim().to_owned()),
                _ => {
                    return Err(
                        "unknown service setting: use rate, daily, callback or token".into(),
                    );
                }
            }
        }
        if service.callback_url.is_some() && service.callback_bearer_token.is_none() {
            return Err("a service's callback needs a token".into());
        }
        Ok(service)
    }
}

// Hand-written so the API key secret and the bearer token never reach a log line.
impl fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("api_key", &"<redacted>")
            .field("rate_limit_per_min", &self.rate_limit_per_min)
            .field("daily_limits", &self.daily_limits)
            .field("callback_url", &self.callback_url)
            .field(
                "callback_bearer_token",
                &self.callback_bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Everything the simulator needs to start; [`Config::new`] gives Notify's defaults.
///
/// `api_key`, `rate_limit_per_min`, `daily_limits`, `callback_url` and
/// `callback_bearer_token` describe the first (default) service; `extra_services` adds more
/// (see [`ServiceConfig`]). The timing settings apply to every service.
#[derive(Clone)]
pub struct Config {
    /// The default service's API key: `{key_name}-{service_id}-{secret}`.
    pub api_key: String,
    /// The default service's requests per 60 s before `RateLimitError` (token bucket, as Notify).
    pub rate_limit_per_min: u32,
    /// The default service's per-channel daily limits before `TooManyRequestsError`.
    pub daily_limits: DailyLimits,
    /// Where the default service's delivery receipts and inbound texts are POSTed (none: no callbacks).
    pub callback_url: Option<String>,
    /// Sent as `Authorization: Bearer <token>` with every callback of the default service.
    pub callback_bearer_token: Option<String>,
    /// Time from creation to the final status (and its callback).
    pub callback_delay: Duration,
    /// Wait between callback retries (Notify: 5 minutes).
    pub callback_retry_interval: Duration,
    /// Added to every `/v2` response, to mimic Notify's response time.
    pub latency: Duration,
    /// More services besides the default one, each with its own key (and so service id),
    /// limits and callbacks. Service ids must all differ.
    pub extra_services: Vec<ServiceConfig>,
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
            extra_services: Vec::new(),
        }
    }

    /// Adds another service (builder style): `Config::new(key).with_service(ServiceConfig::new(other))`.
    pub fn with_service(mut self, service: ServiceConfig) -> Self {
        self.extra_services.push(service);
        self
    }

    /// The default service, as a [`ServiceConfig`].
    pub fn default_service(&self) -> ServiceConfig {
        ServiceConfig {
            api_key: self.api_key.clone(),
            rate_limit_per_min: self.rate_limit_per_min,
            daily_limits: self.daily_limits,
            callback_url: self.callback_url.clone(),
            callback_bearer_token: self.callback_bearer_token.clone(),
        }
    }

    /// Every service, the default one first.
    pub fn services(&self) -> Vec<ServiceConfig> {
        std::iter::once(self.default_service())
            .chain(self.extra_services.iter().cloned())
            .collect()
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
            .field("extra_services", &self.extra_services)
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

    fn key() -> String {
        crate::auth::make_api_key("other", uuid::Uuid::new_v4(), uuid::Uuid::new_v4())
    }

    #[test]
    fn service_flag_parses_its_settings() {
        let k = key();
        let s = ServiceConfig::parse(&format!(
            "{k},rate=60,daily=1:2:3,callback=http://127.0.0.1:9/cb,token=tok-123"
        ))
        .unwrap();
        assert_eq!(s.api_key, k);
        assert_eq!(s.rate_limit_per_min, 60);
        assert_eq!(
            s.daily_limits,
            DailyLimits {
                email: 1,
                sms: 2,
                letter: 3
            }
        );
        assert_eq!(s.callback_url.as_deref(), Some("http://127.0.0.1:9/cb"));
        assert_eq!(s.callback_bearer_token.as_deref(), Some("tok-123"));
        let plain = ServiceConfig::parse(&k).unwrap();
        assert_eq!(plain.rate_limit_per_min, DEFAULT_RATE_LIMIT_PER_MIN);
        assert!(ServiceConfig::parse("short").is_err());
        assert!(ServiceConfig::parse(&format!("{k},colour=red")).is_err());
        assert!(ServiceConfig::parse(&format!("{k},rate=x")).is_err());
        assert!(ServiceConfig::parse(&format!("{k},callback=http://x")).is_err());
        assert!(!format!("{s:?}").contains("tok-123"));
    }

    #[test]
    fn services_lists_the_default_first() {
        let other = key();
        let c = Config::new(key()).with_service(ServiceConfig::new(other.clone()));
        let all = c.services();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].api_key, c.api_key);
        assert_eq!(all[1].api_key, other);
    }
}
