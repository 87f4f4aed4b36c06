//! The error answers a fault gives: each service's own status, headers and body, as the AWS SDK
//! for Rust parses them (see the crate's README for which SDK error each becomes).

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;

use crate::Service;
use crate::classify::{Classified, Protocol};

/// Which error a fault answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The service's own throttling error.
    Throttle,
    /// `ThrottlingException`, in the service's protocol.
    ThrottlingException,
    /// The service's own internal (500) error.
    ServerError,
}

struct AwsError {
    status: StatusCode,
    /// The code: `__type`'s shape name, S3's `<Code>`, the query protocol's `<Code>`.
    code: &'static str,
    /// The JSON `__type` namespace (`com.amazonaws.dynamodb.v20120810`), if any.
    namespace: Option<&'static str>,
    /// SQS's `x-amzn-query-error` fault: `Sender` or `Receiver`.
    fault: &'static str,
    message: &'static str,
}

fn error_for(service: &Service, kind: ErrorKind) -> AwsError {
    use ErrorKind::*;
    let (status, code, namespace, fault, message) = match (service, kind) {
        (Service::DynamoDb, Throttle) => (
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            Some("com.amazonaws.dynamodb.v20120810"),
            "Sender",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        ),
        (Service::DynamoDb, ThrottlingException) => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            Some("com.amazon.coral.availability"),
            "Sender",
            "Rate of requests exceeds the allowed throughput.",
        ),
        (Service::DynamoDb, ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            Some("com.amazonaws.dynamodb.v20120810"),
            "Receiver",
            "Internal server error",
        ),
        (Service::Sqs, Throttle) => (
            StatusCode::BAD_REQUEST,
            "RequestThrottled",
            Some("com.amazonaws.sqs"),
            "Sender",
            "Request is throttled.",
        ),
        (Service::Sqs, ThrottlingException) => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            Some("com.amazonaws.sqs"),
            "Sender",
            "Rate exceeded",
        ),
        (Service::Sqs, ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            Some("com.amazonaws.sqs"),
            "Receiver",
            "We encountered an internal error. Please try again.",
        ),
        (Service::S3, Throttle) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            None,
            "Sender",
            "Please reduce your request rate.",
        ),
        (Service::S3, ThrottlingException) => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            None,
            "Sender",
            "Rate exceeded",
        ),
        (Service::S3, ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            None,
            "Receiver",
            "We encountered an internal error. Please try again.",
        ),
        (Service::SecretsManager, Throttle | ThrottlingException)
        | (Service::Other(_), Throttle | ThrottlingException) => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            None,
            "Sender",
            "Rate exceeded",
        ),
        (Service::SecretsManager, ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServiceError",
            None,
            "Receiver",
            "An error occurred on the server side.",
        ),
        (Service::Other(_), ServerError) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            None,
            "Receiver",
            "The request processing has failed because of an unknown error.",
        ),
    };
    AwsError {
        status,
        code,
        namespace,
        fault,
        message,
    }
}

/// The error answer for `kind` to a request classified as `request` (`method` is the request's:
/// S3 answers a HEAD with the status alone).
pub(crate) fn error_response(
    request: &Classified,
    method: &Method,
    kind: ErrorKind,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let error = error_for(&request.service, kind);
    let mut builder = Response::builder().status(error.status);
    let body = match request.protocol {
        Protocol::Json => {
            let type_ = match error.namespace {
                Some(ns) => format!("{ns}#{}", error.code),
                None => error.code.to_owned(),
            };
            builder = builder
                .header("content-type", request.json_content_type)
                .header("x-amzn-requestid", request_id);
            if request.service == Service::Sqs {
                // SQS's JSON protocol is "query compatible": the SDK takes the code from here.
                builder = builder.header(
                    "x-amzn-query-error",
                    format!("{};{}", error.code, error.fault),
                );
            }
            format!(r#"{{"__type":"{type_}","message":"{}"}}"#, error.message)
        }
        Protocol::Query => {
            builder = builder
                .header("content-type", "text/xml")
                .header("x-amzn-requestid", request_id);
            format!(
                "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>{}</Type><Code>{}</Code>\
                 <Message>{}</Message><Detail/></Error><RequestId>{request_id}</RequestId>\
                 </ErrorResponse>",
                error.fault, error.code, error.message
            )
        }
        Protocol::RestXml => {
            builder = builder
                .header("content-type", "application/xml")
                .header("x-amz-request-id", request_id)
                .header("x-amz-id-2", request_id);
            if method == Method::HEAD {
                String::new()
            } else {
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code>\
                     <Message>{}</Message><RequestId>{request_id}</RequestId>\
                     <HostId>{request_id}</HostId></Error>",
                    error.code, error.message
                )
            }
        }
    };
    let mut response = builder
        .body(Full::new(Bytes::from(body)))
        .expect("static status and headers are valid");
    if method == Method::HEAD {
        response
            .headers_mut()
            .insert("content-length", HeaderValue::from_static("0"));
    }
    response
}
