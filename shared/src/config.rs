//! Resource names and per-process configuration read from the environment.
//!
//! Physical names follow one convention so that the SAM template (`infra/template.yaml`) and the
//! local stack create exactly the same resources; a test checks the template against it.

use std::env;

/// The physical names of every AWS resource the service uses, derived from one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// The stack's prefix, e.g. `sais` (the `Prefix` template parameter).
    pub prefix: String,
    /// The account id and region suffix that makes the bucket name globally unique.
    pub bucket_suffix: String,
}

impl ResourceNames {
    /// Names for a stack with this prefix in this account and region.
    pub fn new(prefix: impl Into<String>, account_id: &str, region: &str) -> Self {
        Self {
            prefix: prefix.into(),
            bucket_suffix: format!("{account_id}-{region}"),
        }
    }

    /// The uploads bucket: `<prefix>-uploads-<account>-<region>`.
    pub fn uploads_bucket(&self) -> String {
        format!("{}-uploads-{}", self.prefix, self.bucket_suffix)
    }

    /// The single DynamoDB table holding children, parents, contact statuses and messages.
    pub fn table(&self) -> String {
        format!("{}-contacts", self.prefix)
    }

    /// The queue S3 notifies when a file is uploaded.
    pub fn ingest_queue(&self) -> String {
        format!("{}-ingest", self.prefix)
    }

    /// Where ingest messages go after repeated failures.
    pub fn ingest_dlq(&self) -> String {
        format!("{}-ingest-dlq", self.prefix)
    }

    /// The queue of send jobs the dispatcher consumes.
    pub fn send_queue(&self) -> String {
        format!("{}-send", self.prefix)
    }

    /// Where send jobs go after repeated failures.
    pub fn send_dlq(&self) -> String {
        format!("{}-send-dlq", self.prefix)
    }

    /// Where failed scheduled invocations of the reminders function go.
    pub fn schedule_dlq(&self) -> String {
        format!("{}-schedule-dlq", self.prefix)
    }

    /// The secret holding the Notify API key.
    pub fn notify_api_key_secret(&self) -> String {
        format!("{}/notify-api-key", self.prefix)
    }

    /// The secret holding the bearer token Notify sends with callbacks.
    pub fn callback_token_secret(&self) -> String {
        format!("{}/notify-callback-token", self.prefix)
    }

    /// The path under which each team's own secrets live, one folder a team
    /// (`<prefix>/teams/<team>/…`): what the functions may read (`TEAM_SECRET_PREFIX`).
    pub fn team_secret_prefix(&self) -> String {
        format!("{}/teams/", self.prefix)
    }
}

/// A required environment variable was missing or empty.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} must be set")]
pub struct MissingEnv(pub &'static str);

/// Reads a required, non-empty environment variable.
pub fn required_env(name: &'static str) -> Result<String, MissingEnv> {
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(MissingEnv(name)),
    }
}

/// Why a function could not start: each names the variable or secret to fix, never a value.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A required variable is missing or empty.
    #[error(transparent)]
    Missing(#[from] MissingEnv),
    /// A variable is set but cannot be used.
    #[error("environment variable {name} is not valid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it (never its value).
        reason: String,
    },
    /// The secret a variable names cannot be read, or holds something unusable.
    #[error("secret {secret_id} (named by {var}) {reason}")]
    Secret {
        /// The variable naming the secret.
        var: &'static str,
        /// The secret's id or ARN as the variable gives it.
        secret_id: String,
        /// What went wrong (never the secret's value).
        reason: String,
    },
}

/// Reads a required variable and parses it, naming the variable when it cannot be.
pub fn parsed_env<T>(name: &'static str) -> Result<T, StartupError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    required_env(name)?
        .trim()
        .parse()
        .map_err(|e: T::Err| StartupError::Invalid {
            name,
            reason: e.to_string(),
        })
}

/// The stack's teams from a comma-separated variable (the template's `Teams`): none when it is
/// unset or empty; a code that is not one names the variable.
pub fn teams_env(name: &'static str) -> Result<Vec<crate::uploads::TeamCode>, StartupError> {
    let value = env::var(name).unwrap_or_default();
    value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            crate::uploads::TeamCode::parse(t).ok_or_else(|| StartupError::Invalid {
                name,
                reason: "a team code is 1-64 letters, digits and -, separated by commas".into(),
            })
        })
        .collect()
}

/// What every function needs to find its resources (set by the template's `Globals`).
#[derive(Debug, Clone)]
pub struct FunctionEnv {
    /// The DynamoDB table name (`TABLE_NAME`).
    pub table: String,
    /// The uploads bucket (`UPLOADS_BUCKET`).
    pub bucket: String,
    /// The send queue's URL (`SEND_QUEUE_URL`).
    pub send_queue_url: String,
}

impl FunctionEnv {
    /// Reads `TABLE_NAME`, `UPLOADS_BUCKET` and `SEND_QUEUE_URL`.
    pub fn from_env() -> Result<Self, MissingEnv> {
        Ok(Self {
            table: required_env("TABLE_NAME")?,
            bucket: required_env("UPLOADS_BUCKET")?,
            send_queue_url: required_env("SEND_QUEUE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_templates_convention() {
        let n = ResourceNames::new("sais", "123456789012", "eu-west-2");
        assert_eq!(n.uploads_bucket(), "sais-uploads-123456789012-eu-west-2");
        assert_eq!(n.table(), "sais-contacts");
        assert_eq!(n.send_queue(), "sais-send");
        assert_eq!(n.send_dlq(), "sais-send-dlq");
        assert_eq!(n.notify_api_key_secret(), "sais/notify-api-key");
    }

    #[test]
    fn a_variable_that_does_not_parse_is_named_without_its_value() {
        // A name no other test sets, so the process environment is ours here.
        let name = "SAIS_TEST_PARSED_ENV_LIMIT";
        // SAFETY: no other thread reads or writes this variable.
        unsafe { env::set_var(name, "lots-of-secret-text") };
        let error = parsed_env::<u32>(name).unwrap_err().to_string();
        assert!(error.starts_with("environment variable SAIS_TEST_PARSED_ENV_LIMIT is not valid"));
        assert!(!error.contains("lots-of-secret-text"));
        unsafe { env::remove_var(name) };
        assert_eq!(
            parsed_env::<u32>(name).unwrap_err().to_string(),
            "environment variable SAIS_TEST_PARSED_ENV_LIMIT must be set"
        );
    }
}
