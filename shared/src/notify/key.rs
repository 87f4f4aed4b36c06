//! Notify API keys: `{key_name}-{service_id}-{secret}`.

use std::fmt;

use uuid::Uuid;

/// What the deployed secret holds until someone pastes the real key in.
pub const PLACEHOLDER_API_KEY: &str = "REPLACE_ME_WITH_THE_NOTIFY_API_KEY";

/// Characters of `-{service_id}-{secret}` at the end of every key.
const IDS_LEN: usize = 73;
/// Characters of a hyphenated UUID.
const UUID_LEN: usize = 36;

/// The Notify client could not be set up. Messages never contain the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyConfigError {
    /// The secret still holds the deployment placeholder.
    #[error("the Notify API key has not been set (the secret still holds the placeholder)")]
    KeyNotSet,
    /// Too short to hold `{key_name}-{service_id}-{secret}`.
    #[error("the Notify API key is too short: expected {{key_name}}-{{service_id}}-{{secret}}")]
    KeyTooShort,
    /// The service id (characters −73..−37) is not a UUID, or is not followed by a hyphen.
    #[error("the Notify API key's service id (characters -73..-37) is not a UUID")]
    KeyServiceId,
    /// The secret (the last 36 characters) is not a UUID.
    #[error("the Notify API key's secret (the last 36 characters) is not a UUID")]
    KeySecret,
    /// The base URL is not an absolute http(s) URL.
    #[error("the Notify base URL is not an absolute http(s) URL")]
    BaseUrl,
    /// The HTTP client could not be built (TLS set-up).
    #[error("could not build the HTTP client for Notify: {0}")]
    HttpClient(String),
}

/// A parsed Notify API key; its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    name: String,
    service_id: Uuid,
    secret: String,
}

impl ApiKey {
    /// Parses `{key_name}-{service_id}-{secret}` from the end, as Notify's own clients do
    /// (service id = characters −73..−37, secret = the last 36), because key names contain
    /// hyphens. Surrounding whitespace (a trailing newline in a secret) is ignored.
    pub fn parse(key: &str) -> Result<Self, NotifyConfigError> {
        let key = key.trim();
        if key.starts_with(PLACEHOLDER_API_KEY) {
            return Err(NotifyConfigError::KeyNotSet);
        }
        let chars: Vec<char> = key.chars().collect();
        let n = chars.len();
        if n < IDS_LEN {
            return Err(NotifyConfigError::KeyTooShort);
        }
        let secret: String = chars[n - UUID_LEN..].iter().collect();
        let service: String = chars[n - IDS_LEN..n - UUID_LEN - 1].iter().collect();
        if chars[n - UUID_LEN - 1] != '-' {
            return Err(NotifyConfigError::KeyServiceId);
        }
        let service_id = Uuid::try_parse(&service).map_err(|_| NotifyConfigError::KeyServiceId)?;
        if Uuid::try_parse(&secret).is_err() {
            return Err(NotifyConfigError::KeySecret);
        }
        let name: String = chars[..n - IDS_LEN].iter().collect();
        Ok(Self {
            name: name.strip_suffix('-').unwrap_or(&name).to_owned(),
            service_id,
            // Kept exactly as written: Notify signs with the secret's characters, not the UUID.
            secret,
        })
    }

    /// The key's name, as shown in Notify's API keys page.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The service the key belongs to: the JWT `iss`.
    pub fn service_id(&self) -> Uuid {
        self.service_id
    }

    /// The signing secret.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("service_id", &self.service_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
    const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";

    #[test]
    fn a_key_name_with_hyphens_is_split_from_the_end() {
        let key = ApiKey::parse(&format!("sais-live-key-{SERVICE}-{SECRET}")).unwrap();
        assert_eq!(key.name(), "sais-live-key");
        assert_eq!(key.service_id().to_string(), SERVICE);
        assert_eq!(key.secret(), SECRET);
    }

    #[test]
    fn a_trailing_newline_in_the_secret_is_ignored() {
        let key = ApiKey::parse(&format!("test-{SERVICE}-{SECRET}\n")).unwrap();
        assert_eq!(key.name(), "test");
        assert_eq!(key.secret(), SECRET);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = ApiKey::parse(&format!("test-{SERVICE}-{SECRET}")).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(SECRET));
        assert!(shown.contains(SERVICE));
    }

    #[test]
    fn the_deployment_placeholder_says_the_key_has_not_been_set() {
        let err = ApiKey::parse(PLACEHOLDER_API_KEY).unwrap_err();
        assert_eq!(err, NotifyConfigError::KeyNotSet);
        assert!(err.to_string().contains("has not been set"));
    }

    #[test]
    fn a_key_too_short_for_two_uuids_is_refused() {
        assert_eq!(
            ApiKey::parse(&format!("{SERVICE}-{}", &SECRET[1..])),
            Err(NotifyConfigError::KeyTooShort)
        );
        assert_eq!(ApiKey::parse(""), Err(NotifyConfigError::KeyTooShort));
    }

    #[test]
    fn a_secret_one_character_short_shifts_the_ids_and_is_refused() {
        let err = ApiKey::parse(&format!("name-{SERVICE}-{}", &SECRET[1..])).unwrap_err();
        assert_eq!(err, NotifyConfigError::KeyServiceId);
    }

    #[test]
    fn a_secret_that_is_not_a_uuid_is_refused_without_echoing_it() {
        let bad = "zzzzzzzz-8d35-48ac-975b-e847b4f122b0";
        let err = ApiKey::parse(&format!("name-{SERVICE}-{bad}")).unwrap_err();
        assert_eq!(err, NotifyConfigError::KeySecret);
        assert!(!err.to_string().contains(bad));
    }

    #[test]
    fn a_key_without_a_name_is_accepted() {
        let key = ApiKey::parse(&format!("{SERVICE}-{SECRET}")).unwrap();
        assert_eq!(key.name(), "");
    }
}
