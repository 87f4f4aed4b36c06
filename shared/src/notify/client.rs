//! The HTTP client: a base URL, a key and a timeout, built once per process.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::NotifyError;
use super::key::{ApiKey, NotifyConfigError};
use super::messages::{
    EmailRequest, LetterRequest, ListBody, MAX_ADDRESS_LINES, NotificationBody, NotificationStatus,
    Personalisation, PreviewRequest, SentBody, SentNotification, SmsRequest, Template,
    TemplatePreview,
};
use super::vocab::{ErrorType, NotificationType};

/// GOV.UK Notify's production API.
pub const NOTIFY_BASE_URL: &str = "https://api.notifications.service.gov.uk";

/// Sent as `User-Agent`, so Notify's logs can tell our requests apart.
pub const USER_AGENT: &str = concat!("sais-parent-contact/", env!("CARGO_PKG_VERSION"));

/// Keeps an error's `message` short enough to hold when the body is not Notify's JSON.
const MAX_RAW_MESSAGE: usize = 500;

/// A GOV.UK Notify API v2 client.
///
/// It makes exactly one HTTP request per call and never retries: the dispatcher owns retry and
/// reconciliation policy (see [`NotifyError::action`] and [`NotifyError::may_have_been_created`]).
/// Each request carries a fresh JWT, so clock-skew rejections cannot build up over a long run.
#[derive(Clone)]
pub struct NotifyClient {
    base_url: String,
    http: reqwest::Client,
    key: ApiKey,
    signing_key: EncodingKey,
    timeout: Duration,
}

/// The JWT claims Notify reads.
#[derive(Serialize)]
struct Claims {
    iss: String,
    iat: u64,
}

impl NotifyClient {
    /// A client for the Notify API at `base_url` (normally [`NOTIFY_BASE_URL`]); every request
    /// gives up after `timeout`, body included.
    pub fn new(base_url: &str, key: ApiKey, timeout: Duration) -> Result<Self, NotifyConfigError> {
        let base_url = base_url.trim().trim_end_matches('/');
        let parsed = reqwest::Url::parse(base_url).map_err(|_| NotifyConfigError::BaseUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
            return Err(NotifyConfigError::BaseUrl);
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .build()
            .map_err(|e| NotifyConfigError::HttpClient(e.to_string()))?;
        let signing_key = EncodingKey::from_secret(key.secret().as_bytes());
        Ok(Self {
            base_url: base_url.to_owned(),
            http,
            key,
            signing_key,
            timeout,
        })
    }

    /// The Notify service this client's key belongs to.
    pub fn service_id(&self) -> Uuid {
        self.key.service_id()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends an email (`POST /v2/notifications/email`).
    pub async fn send_email(
        &self,
        request: &EmailRequest,
    ) -> Result<SentNotification, NotifyError> {
        self.send(NotificationType::Email, request).await
    }

    /// Sends a text message (`POST /v2/notifications/sms`).
    pub async fn send_sms(&self, request: &SmsRequest) -> Result<SentNotification, NotifyError> {
        self.send(NotificationType::Sms, request).await
    }

    /// Sends a letter (`POST /v2/notifications/letter`). An address of more than seven lines
    /// (postcode included) is refused without a request: Notify would silently leave lines out.
    pub async fn send_letter(
        &self,
        request: &LetterRequest,
    ) -> Result<SentNotification, NotifyError> {
        if request.line_count() > MAX_ADDRESS_LINES {
            return Err(NotifyError::InvalidRequest(
                "a letter address has at most 7 lines, postcode included",
            ));
        }
        self.send(NotificationType::Letter, request).await
    }

    /// One notification's current status (`GET /v2/notifications/{id}`); an unknown id is a
    /// 404 `NoResultFound` ([`NotifyError::is_not_found`]).
    pub async fn get_notification(&self, id: Uuid) -> Result<NotificationStatus, NotifyError> {
        let url = format!("{}/v2/notifications/{id}", self.base_url);
        let (status, body) = self.execute(self.http.get(url)).await?;
        let notification: NotificationBody = decode(status, &body)?;
        Ok(notification.into())
    }

    /// One of the service's templates (`GET /v2/template/{id}`); a template the service does
    /// not have is a 404 `NoResultFound` ([`NotifyError::is_not_found`]).
    pub async fn get_template(&self, id: Uuid) -> Result<Template, NotifyError> {
        let url = format!("{}/v2/template/{id}", self.base_url);
        let (status, body) = self.execute(self.http.get(url)).await?;
        decode(status, &body)
    }

    /// The template filled with `personalisation` as Notify would send it
    /// (`POST /v2/template/{id}/preview`); a placeholder without a value is a 400
    /// `BadRequestError` "Missing personalisation: …".
    pub async fn preview_template(
        &self,
        id: Uuid,
        personalisation: &Personalisation,
    ) -> Result<TemplatePreview, NotifyError> {
        let url = format!("{}/v2/template/{id}/preview", self.base_url);
        let request = PreviewRequest { personalisation };
        let (status, body) = self.execute(self.http.post(url).json(&request)).await?;
        decode(status, &body)
    }

    /// Every notification sent with `reference`, newest first, following `links.next` to the
    /// end; empty when none matches.
    ///
    /// This is how a send in doubt (a timeout, see [`NotifyError::may_have_been_created`]) is
    /// reconciled. Notify lists only notifications sent with the same key type and still within
    /// the service's data retention (7 days by default).
    pub async fn find_by_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<NotificationStatus>, NotifyError> {
        let url = format!("{}/v2/notifications", self.base_url);
        let mut found = Vec::new();
        let mut older_than: Option<String> = None;
        loop {
            let mut query = vec![("reference", reference)];
            if let Some(id) = &older_than {
                query.push(("older_than", id));
            }
            let (status, body) = self.execute(self.http.get(&url).query(&query)).await?;
            let page: ListBody = decode(status, &body)?;
            if page.notifications.is_empty() {
                break;
            }
            found.extend(page.notifications.into_iter().map(NotificationStatus::from));
            // As Notify's own clients do: take `older_than` from the next link and ask again at
            // our base URL (the link's host is whatever Notify thinks it is called).
            let next = page.links.next.as_deref().and_then(older_than_in);
            match next {
                Some(id) if older_than.as_ref() != Some(&id) => older_than = Some(id),
                _ => break,
            }
        }
        Ok(found)
    }

    async fn send<T: Serialize>(
        &self,
        kind: NotificationType,
        request: &T,
    ) -> Result<SentNotification, NotifyError> {
        let url = format!("{}/v2/notifications/{}", self.base_url, kind.as_str());
        let result = self
            .execute(self.http.post(url).json(request))
            .await
            .and_then(|(status, body)| decode::<SentBody>(status, &body));
        match result {
            Ok(sent) => {
                let sent = SentNotification::from(sent);
                tracing::debug!(notification_id = %sent.id, notification_type = %kind, "Notify accepted the notification");
                Ok(sent)
            }
            Err(e) => {
                tracing::debug!(
                    notification_type = %kind,
                    status = e.status(),
                    error = %e,
                    may_have_been_created = e.may_have_been_created(),
                    "Notify send failed"
                );
                Err(e)
            }
        }
    }

    /// Sends one request with a fresh token; a non-2xx answer becomes [`NotifyError::Api`].
    async fn execute(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), NotifyError> {
        let response = request
            .bearer_auth(self.token())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(transport)?.to_vec();
        if (200..300).contains(&status) {
            Ok((status, body))
        } else {
            Err(api_error(status, &body, retry_after))
        }
    }

    /// A JWT for one request: header `{"typ":"JWT","alg":"HS256"}`, claims `iss` and `iat`.
    fn token(&self) -> String {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let claims = Claims {
            iss: self.key.service_id().to_string(),
            iat,
        };
        // HS256 over a two-field JSON object cannot fail; if it somehow did, Notify's 403
        // AuthError would surface it as a configuration error.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.signing_key)
            .unwrap_or_else(|_| {
                tracing::error!("could not sign the Notify token");
                String::new()
            })
    }
}

impl fmt::Debug for NotifyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyClient")
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A failed exchange: timeouts are told apart because the dispatcher reconciles after them.
/// The URL is dropped from the error (a list query carries the reference).
fn transport(e: reqwest::Error) -> NotifyError {
    if e.is_timeout() {
        NotifyError::Timeout
    } else {
        NotifyError::Transport(e.without_url())
    }
}

/// Reads a 2xx body; the serde error's position is kept, never its text (which can quote values).
fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, NotifyError> {
    serde_json::from_slice(body).map_err(|e| NotifyError::UnexpectedResponse {
        status,
        detail: format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

/// `{"status_code": N, "errors": [{"error", "message"}]}`, or the older `{"error"|"result",
/// "message"}` shape some handlers use.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: serde_json::Value,
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn api_error(status: u16, body: &[u8], retry_after: Option<Duration>) -> NotifyError {
    let (error, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) if !parsed.errors.is_empty() => {
            let messages: Vec<String> = parsed.errors.iter().map(|e| text(&e.message)).collect();
            (
                ErrorType::parse(&parsed.errors[0].error),
                messages.join("; "),
            )
        }
        Ok(parsed) => {
            let error = match &parsed.error {
                Some(serde_json::Value::String(name)) => ErrorType::parse(name),
                _ => ErrorType::Other(String::new()),
            };
            (error, parsed.message.as_ref().map(text).unwrap_or_default())
        }
        Err(_) => {
            let raw: String = String::from_utf8_lossy(body)
                .chars()
                .take(MAX_RAW_MESSAGE)
                .collect();
            (ErrorType::Other(String::new()), raw)
        }
    };
    NotifyError::Api {
        status,
        error,
        message,
        retry_after,
    }
}

/// The `older_than` id in a `links.next` URL.
fn older_than_in(link: &str) -> Option<String> {
    let url = reqwest::Url::parse(link).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "older_than")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifys_error_body_gives_the_first_error_type_and_every_message() {
        let body = br#"{"status_code": 400, "errors": [
            {"error": "ValidationError", "message": "phone_number is a required property"},
            {"error": "ValidationError", "message": "template_id is not a valid UUID"}]}"#;
        let NotifyError::Api { error, message, .. } = api_error(400, body, None) else {
            panic!("an API error");
        };
        assert_eq!(error, ErrorType::ValidationError);
        assert_eq!(
            message,
            "phone_number is a required property; template_id is not a valid UUID"
        );
    }

    #[test]
    fn a_gateway_page_instead_of_json_is_still_an_api_error_to_retry() {
        let err = api_error(502, b"<html>Bad Gateway</html>", None);
        assert_eq!(err.action(), super::super::SenderAction::RetryLater);
        assert_eq!(err.to_string(), "Notify answered 502 (no error type)");
    }

    #[test]
    fn the_next_page_is_found_from_older_than_in_the_link() {
        let link = "http://x/v2/notifications?reference=a+b&older_than=740e5834-3a29-46b4-9a6f-16142fde533a";
        assert_eq!(
            older_than_in(link).as_deref(),
            Some("740e5834-3a29-46b4-9a6f-16142fde533a")
        );
        assert_eq!(older_than_in("http://x/v2/notifications?reference=a"), None);
    }

    #[test]
    fn a_token_carries_the_service_id_and_the_current_time() {
        let key = ApiKey::parse(
            "test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0",
        )
        .unwrap();
        let client = NotifyClient::new("http://127.0.0.1:1/", key, Duration::from_secs(1)).unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:1");
        let token = client.token();
        // base64url of {"typ":"JWT","alg":"HS256"}, exactly as Notify's clients send it.
        assert!(token.starts_with("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"3d844edf-8d35-48ac-975b-e847b4f122b0"),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.header.typ.as_deref(), Some("JWT"));
        assert_eq!(
            decoded.claims["iss"],
            "26785a09-ab16-4eb0-8407-a37497a57506"
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(decoded.claims["iat"].as_u64().unwrap().abs_diff(now) <= 2);
    }

    #[test]
    fn a_base_url_that_is_not_http_is_refused() {
        let key = ApiKey::parse(
            "test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0",
        )
        .unwrap();
        assert!(matches!(
            NotifyClient::new("notify.example", key, Duration::from_secs(1)),
            Err(NotifyConfigError::BaseUrl)
        ));
    }
}
