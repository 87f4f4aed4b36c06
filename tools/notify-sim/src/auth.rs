//! API keys and JWT checks, with the precedence and wording of notifications-api's
//! `app/authentication/auth.py` and the Python client's `authentication.py` (PyJWT, leeway 30 s).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::errors::ApiError;

/// Notify rejects tokens whose `iat` is more than this many seconds from its clock.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// Shown for tokens that are not JWTs at all, or fail a claim Notify does not name.
const GENERAL_TOKEN_ERROR: &str = "Invalid token: make sure your API token matches the example at https://docs.notifications.service.gov.uk/rest-api.html#authorisation-header";
const MISSING_HEADER: &str = "Unauthorized: authentication token must be provided";
const WRONG_SCHEME: &str = "Unauthorized: authentication bearer scheme must be used";
const NO_ISS: &str = "Invalid token: iss field not provided";
const BAD_SERVICE_ID: &str = "Invalid token: service id is not the right data type";
pub(crate) const SERVICE_NOT_FOUND: &str = "Invalid token: service not found";
const CLOCK: &str = "Error: Your system clock must be accurate to within 30 seconds";
const NOT_HS256: &str = "Invalid token: algorithm used is not HS256";
const KEY_NOT_FOUND: &str = "Invalid token: API key not found";

/// PyJWT pads and decodes leniently; so do we, so a padded segment is not an error here either.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A Notify API key split into its parts.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The human-readable name before the ids (may contain hyphens).
    pub name: String,
    /// The service the key belongs to; it is the JWT `iss`.
    pub service_id: Uuid,
    /// The signing secret (the last 36 characters).
    pub secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("service_id", &self.service_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl ApiKey {
    /// Splits `{key_name}-{service_id}-{secret}` from the end, as the official clients do
    /// (service id = characters −73..−37, secret = the last 36), because names contain hyphens.
    pub fn parse(key: &str) -> Result<Self, String> {
        let chars: Vec<char> = key.trim().chars().collect();
        if chars.len() < 73 {
            return Err("API key too short: expected {key_name}-{service_id}-{secret}".into());
        }
        let n = chars.len();
        let secret: String = chars[n - 36..].iter().collect();
        let service: String = chars[n - 73..n - 37].iter().collect();
        if chars[n - 37] != '-' {
            return Err("API key must end with -{service_id}-{secret}".into());
        }
        let service_id = Uuid::parse_str(&service)
            .map_err(|_| "API key's service id part is not a UUID".to_string())?;
        let name: String = if n >= 74 {
            chars[..n - 74].iter().collect()
        } else {
            String::new()
        };
        Ok(Self {
            name,
            service_id,
            secret,
        })
    }
}

/// Builds an API key the way Notify shows it: `{name}-{service_id}-{secret}`.
pub fn make_api_key(name: &str, service_id: Uuid, secret: Uuid) -> String {
    format!("{name}-{service_id}-{secret}")
}

/// Signs a Notify JWT (`{"typ":"JWT","alg":"HS256"}`, claims `iss` and `iat`) with the key's secret.
pub fn make_jwt(service_id: Uuid, secret: Uuid, iat: i64) -> String {
    let claims = serde_json::json!({ "iss": service_id.to_string(), "iat": iat });
    // HS256 signing of a JSON object with a non-empty key cannot fail.
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.to_string().as_bytes()),
    )
    .unwrap_or_default()
}

/// Checks `Authorization` headers against the simulated services' API keys (one per service).
#[derive(Clone)]
pub struct Authenticator {
    keys: Vec<(Uuid, Vec<u8>)>,
}

/// A JWT split into its decoded parts (PyJWS `_load`).
struct RawToken {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

impl Authenticator {
    /// Accepts tokens signed for any of these keys, each its service's only key.
    pub fn new(keys: &[ApiKey]) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|k| (k.service_id, k.secret.as_bytes().to_vec()))
                .collect(),
        }
    }

    /// Authenticates a request from its `Authorization` header, `now` being epoch seconds;
    /// `Ok` names the service the token was issued for.
    pub fn check(&self, header: Option<&[u8]>, now: i64) -> Result<Uuid, ApiError> {
        let header = header.map(String::from_utf8_lossy).unwrap_or_default();
        if header.is_empty() {
            return Err(ApiError::unauthorized(MISSING_HEADER));
        }
        // Notify title-cases the first seven characters and compares with "Bearer ".
        let scheme: String = header.chars().take(7).collect();
        if !scheme.eq_ignore_ascii_case("bearer ") {
            return Err(ApiError::unauthorized(WRONG_SCHEME));
        }
        let token: String = header.chars().skip(7).collect();

        // get_token_issuer: decode without verifying; any structural problem is the general error.
        let raw =
            decode_segments(token.as_bytes()).ok_or(ApiError::forbidden(GENERAL_TOKEN_ERROR))?;
        let Some(iss) = raw.claims.get("iss") else {
            return Err(ApiError::forbidden(NO_ISS));
        };
        let service_id = iss
            .as_str()
            .and_then(parse_python_uuid)
            .ok_or(ApiError::forbidden(BAD_SERVICE_ID))?;
        let Some((_, secret)) = self.keys.iter().find(|(id, _)| *id == service_id) else {
            return Err(ApiError::forbidden(SERVICE_NOT_FOUND));
        };
        verify(secret, &raw, now).map(|()| service_id)
    }
}

/// decode_jwt_token + validate_jwt_token for the service's (only) key.
fn verify(secret: &[u8], raw: &RawToken, now: i64) -> Result<(), ApiError> {
    // PyJWT checks the algorithm before the signature; an absent alg is "not allowed" too.
    if raw.header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(ApiError::forbidden(NOT_HS256));
    }
    let expected = jsonwebtoken::crypto::sign(
        &raw.signing_input,
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .ok()
    .and_then(|sig| B64.decode(sig).ok());
    if expected.as_deref() != Some(raw.signature.as_slice()) {
        // Notify tries each of the service's keys; none matching reads "API key not found".
        return Err(ApiError::forbidden(KEY_NOT_FOUND));
    }

    // PyJWT's own claim checks (leeway 30 s), in its order.
    if let Some(iat) = raw.claims.get("iat") {
        match python_int(iat) {
            Some(iat) if iat > now + CLOCK_SKEW_SECS => return Err(ApiError::forbidden(CLOCK)),
            Some(_) => {}
            None => return Err(ApiError::forbidden(CLOCK)),
        }
    }
    if let Some(nbf) = raw.claims.get("nbf") {
        match python_int(nbf) {
            Some(nbf) if nbf > now + CLOCK_SKEW_SECS => return Err(ApiError::forbidden(CLOCK)),
            Some(_) => {}
            None => return Err(ApiError::forbidden(KEY_NOT_FOUND)),
        }
    }
    if let Some(exp) = raw.claims.get("exp") {
        match python_int(exp) {
            Some(exp) if exp <= now - CLOCK_SKEW_SECS => {
                return Err(ApiError::forbidden(GENERAL_TOKEN_ERROR));
            }
            Some(_) => {}
            None => return Err(ApiError::forbidden(KEY_NOT_FOUND)),
        }
    }
    if raw.claims.get("aud").is_some_and(python_truthy) {
        return Err(ApiError::forbidden(GENERAL_TOKEN_ERROR));
    }

    // Notify's validate_jwt_token: iat is required and must be within 30 s either way. A
    // missing iat surfaces as "API key not found" (Notify's TODO in _decode_jwt_token).
    let iat = raw
        .claims
        .get("iat")
        .and_then(python_int)
        .ok_or(ApiError::forbidden(KEY_NOT_FOUND))?;
    if now > iat + CLOCK_SKEW_SECS || iat > now + CLOCK_SKEW_SECS {
        return Err(ApiError::forbidden(CLOCK));
    }
    Ok(())
}

/// Splits and decodes `header.payload.signature`; `None` wherever PyJWT raises `DecodeError`.
fn decode_segments(token: &[u8]) -> Option<RawToken> {
    let dot = token.iter().rposition(|b| *b == b'.')?;
    let (signing_input, crypto) = (&token[..dot], &token[dot + 1..]);
    let first = signing_input.iter().position(|b| *b == b'.')?;
    let (header_seg, payload_seg) = (&signing_input[..first], &signing_input[first + 1..]);
    let header: Value = serde_json::from_slice(&B64.decode(header_seg).ok()?).ok()?;
    let Value::Object(header) = header else {
        return None;
    };
    let payload = B64.decode(payload_seg).ok()?;
    let signature = B64.decode(crypto).ok()?;
    let Value::Object(claims) = serde_json::from_slice::<Value>(&payload).ok()? else {
        return None;
    };
    Some(RawToken {
        header,
        claims,
        signing_input: signing_input.to_vec(),
        signature,
    })
}

/// Python's `int(value)` for JSON values, `None` where Python would raise.
fn python_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f.trunc() as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Python truthiness of a JSON value.
fn python_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `uuid.UUID(str)`: tolerates `urn:uuid:`, braces and hyphens anywhere, needs 32 hex digits.
pub fn parse_python_uuid(s: &str) -> Option<Uuid> {
    let hex = s.replace("urn:", "").replace("uuid:", "");
    let hex = hex.trim_matches(|c| c == '{' || c == '}').replace('-', "");
    if hex.chars().count() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok().map(Uuid::from_u128)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Authenticator, Uuid, Uuid) {
        let service = Uuid::new_v4();
        let secret = Uuid::new_v4();
        let key = ApiKey::parse(&make_api_key("my-test-key", service, secret)).unwrap();
        (
            Authenticator::new(std::slice::from_ref(&key)),
            service,
            secret,
        )
    }

    fn sign(header: &str, claims: &str, secret: &[u8]) -> String {
        let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
        let sig = jsonwebtoken::crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{input}.{sig}")
    }

    fn message(r: Result<Uuid, ApiError>) -> &'static str {
        match r {
            Err(ApiError::Auth { message, .. }) => message,
            other => panic!("expected an auth error, got {other:?}"),
        }
    }

    #[test]
    fn api_key_is_parsed_from_the_end_so_names_may_contain_hyphens() {
        let service = Uuid::new_v4();
        let secret = Uuid::new_v4();
        let key = ApiKey::parse(&make_api_key("a-b-c", service, secret)).unwrap();
        assert_eq!(key.name, "a-b-c");
        assert_eq!(key.service_id, service);
        assert_eq!(key.secret, secret.to_string());
        assert!(ApiKey::parse("too-short").is_err());
    }

    #[test]
    fn a_fresh_token_is_accepted() {
        let (auth, service, secret) = setup();
        let token = make_jwt(service, secret, 1_000_000);
        let header = format!("Bearer {token}");
        assert_eq!(auth.check(Some(header.as_bytes()), 1_000_000), Ok(service));
        let lower = format!("bearer {token}");
        assert_eq!(auth.check(Some(lower.as_bytes()), 1_000_030), Ok(service));
    }

    #[test]
    fn each_service_is_checked_against_its_own_secret() {
        let (a, a_secret) = (Uuid::new_v4(), Uuid::new_v4());
        let (b, b_secret) = (Uuid::new_v4(), Uuid::new_v4());
        let keys = [
            ApiKey::parse(&make_api_key("a", a, a_secret)).unwrap(),
            ApiKey::parse(&make_api_key("b", b, b_secret)).unwrap(),
        ];
        let auth = Authenticator::new(&keys);
        let header = |service, secret| format!("Bearer {}", make_jwt(service, secret, 1000));
        assert_eq!(
            auth.check(Some(header(a, a_secret).as_bytes()), 1000),
            Ok(a)
        );
        assert_eq!(
            auth.check(Some(header(b, b_secret).as_bytes()), 1000),
            Ok(b)
        );
        assert_eq!(
            message(auth.check(Some(header(b, a_secret).as_bytes()), 1000)),
            KEY_NOT_FOUND
        );
    }

    #[test]
    fn missing_header_and_wrong_scheme_are_401() {
        let (auth, ..) = setup();
        let err = auth.check(None, 0).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(message(Err(err)), MISSING_HEADER);
        assert_eq!(message(auth.check(Some(b"Basic abc"), 0)), WRONG_SCHEME);
    }

    #[test]
    fn iat_more_than_30_seconds_away_either_way_is_a_clock_error() {
        let (auth, service, secret) = setup();
        let old = format!("Bearer {}", make_jwt(service, secret, 1000 - 31));
        assert_eq!(message(auth.check(Some(old.as_bytes()), 1000)), CLOCK);
        let future = format!("Bearer {}", make_jwt(service, secret, 1000 + 31));
        assert_eq!(message(auth.check(Some(future.as_bytes()), 1000)), CLOCK);
    }

    #[test]
    fn wrong_secret_wrong_iss_and_garbage_are_told_apart() {
        let (auth, service, _) = setup();
        let wrong_secret = format!("Bearer {}", make_jwt(service, Uuid::new_v4(), 1000));
        assert_eq!(
            message(auth.check(Some(wrong_secret.as_bytes()), 1000)),
            KEY_NOT_FOUND
        );
        let other_service = format!("Bearer {}", make_jwt(Uuid::new_v4(), Uuid::new_v4(), 1000));
        assert_eq!(
            message(auth.check(Some(other_service.as_bytes()), 1000)),
            SERVICE_NOT_FOUND
        );
        assert_eq!(
            message(auth.check(Some(b"Bearer not-a-jwt"), 1000)),
            GENERAL_TOKEN_ERROR
        );
    }

    #[test]
    fn missing_iss_non_uuid_iss_missing_iat_and_other_algorithms() {
        let (auth, service, secret) = setup();
        let s = secret.to_string();
        let no_iss = sign(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"iat":1000}"#,
            s.as_bytes(),
        );
        assert_eq!(
            message(auth.check(Some(format!("Bearer {no_iss}").as_bytes()), 1000)),
            NO_ISS
        );
        let bad_iss = sign(
            r#"{"alg":"HS256"}"#,
            r#"{"iss":"x","iat":1000}"#,
            s.as_bytes(),
        );
        assert_eq!(
            message(auth.check(Some(format!("Bearer {bad_iss}").as_bytes()), 1000)),
            BAD_SERVICE_ID
        );
        let no_iat = sign(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"iss":"{service}"}}"#),
            s.as_bytes(),
        );
        assert_eq!(
            message(auth.check(Some(format!("Bearer {no_iat}").as_bytes()), 1000)),
            KEY_NOT_FOUND
        );
        let hs512 = sign(
            r#"{"alg":"HS512"}"#,
            &format!(r#"{{"iss":"{service}","iat":1000}}"#),
            s.as_bytes(),
        );
        assert_eq!(
            message(auth.check(Some(format!("Bearer {hs512}").as_bytes()), 1000)),
            NOT_HS256
        );
    }

    #[test]
    fn python_uuid_parsing_accepts_notifys_lenient_forms() {
        let id = Uuid::new_v4();
        assert_eq!(parse_python_uuid(&id.to_string()), Some(id));
        assert_eq!(parse_python_uuid(&id.simple().to_string()), Some(id));
        assert_eq!(parse_python_uuid(&format!("{{{id}}}")), Some(id));
        assert_eq!(parse_python_uuid("not-a-uuid"), None);
    }
}
