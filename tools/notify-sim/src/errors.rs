//! Notify's v2 error responses: `{"status_code": N, "errors": [{"error": "<Type>", "message": "…"}]}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::vocab::NotificationType;

/// Every error the `/v2` API answers with, named and worded as notifications-api does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401/403 `AuthError` (`app/authentication/auth.py`).
    #[error("AuthError {status}: {message}")]
    Auth {
        /// 401 for a missing header or scheme, 403 for a bad token.
        status: StatusCode,
        /// Notify's message.
        message: &'static str,
    },
    /// 400 `ValidationError`: every schema problem at once, or one address problem.
    #[error("ValidationError: {0:?}")]
    Validation(Vec<String>),
    /// 400 `BadRequestError` (unparseable JSON, international number, …).
    #[error("BadRequestError: {0}")]
    BadRequest(String),
    /// 429 `RateLimitError` from the token bucket.
    #[error("RateLimitError: limit {limit}")]
    RateLimit {
        /// The service's per-minute limit, quoted in the message.
        limit: u32,
    },
    /// 429 `TooManyRequestsError` once a daily limit is used up.
    #[error("TooManyRequestsError: {kind:?} limit {limit}")]
    TooManyRequests {
        /// Which channel's limit.
        kind: NotificationType,
        /// The limit, quoted in the message.
        limit: u32,
    },
    /// 404 `NoResultFound` for an unknown notification id.
    #[error("NoResultFound")]
    NoResultFound,
    /// 500 as Notify's catch-all handler words it (used by fault injection).
    #[error("Internal server error")]
    Internal,
}

impl ApiError {
    /// A 401 `AuthError`.
    pub fn unauthorized(message: &'static str) -> Self {
        Self::Auth {
            status: StatusCode::UNAUTHORIZED,
            message,
        }
    }

    /// A 403 `AuthError`.
    pub fn forbidden(message: &'static str) -> Self {
        Self::Auth {
            status: StatusCode::FORBIDDEN,
            message,
        }
    }

    /// The HTTP status Notify answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Auth { status, .. } => *status,
            Self::Validation(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::RateLimit { .. } | Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NoResultFound => StatusCode::NOT_FOUND,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `errors` list: one entry per problem.
    fn entries(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Auth { message, .. } => vec![("AuthError", (*message).to_owned())],
            Self::Validation(messages) => messages
                .iter()
                .map(|m| ("ValidationError", m.clone()))
                .collect(),
            Self::BadRequest(message) => vec![("BadRequestError", message.clone())],
            // Notify speaks of "normal" keys as LIVE in this message (app/v2/errors.py).
            Self::RateLimit { limit } => vec![(
                "RateLimitError",
                format!("Exceeded rate limit for key type LIVE of {limit} requests per 60 seconds"),
            )],
            Self::TooManyRequests { kind, limit } => vec![(
                "TooManyRequestsError",
                format!(
                    "Exceeded send limits ({}: {limit}) for today",
                    kind.as_str()
                ),
            )],
            Self::NoResultFound => vec![("NoResultFound", "No result found".to_owned())],
            Self::Internal => vec![("Exception", "Internal server error".to_owned())],
        }
    }

    /// The JSON body Notify sends for this error.
    pub fn body(&self) -> serde_json::Value {
        let errors: Vec<_> = self
            .entries()
            .into_iter()
            .map(|(error, message)| json!({ "error": error, "message": message }))
            .collect();
        json!({ "status_code": self.status().as_u16(), "errors": errors })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_error_is_worded_as_notify_words_it() {
        let body = ApiError::RateLimit { limit: 3000 }.body();
        assert_eq!(
            body,
            json!({"status_code": 429, "errors": [{"error": "RateLimitError",
                "message": "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"}]})
        );
    }

    #[test]
    fn validation_errors_are_all_listed() {
        let body = ApiError::Validation(vec!["a".into(), "b".into()]).body();
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(2));
        assert_eq!(body["status_code"], 400);
    }
}
