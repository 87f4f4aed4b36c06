//! Which AWS service and operation a request is: from the SigV4 credential scope, the
//! `X-Amz-Target` header, an `Action=` form field, or (S3) the method, path and query.

use http::request::Parts;
use http::{HeaderMap, Method};

use crate::Service;

/// Which wire protocol a request used, so a fault answers in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// AWS JSON 1.0 / 1.1 (`X-Amz-Target`): DynamoDB, SQS, Secrets Manager.
    Json,
    /// AWS query (`Action=` in a form body or the query string): the older SQS protocol.
    Query,
    /// REST-XML: S3.
    RestXml,
}

/// What is known about one request.
#[derive(Debug, Clone)]
pub(crate) struct Classified {
    pub service: Service,
    pub operation: String,
    pub protocol: Protocol,
    /// The `content-type` of a JSON request (`application/x-amz-json-1.0` or `-1.1`).
    pub json_content_type: &'static str,
}

/// Classifies a request from its head and (whole) body.
pub(crate) fn classify(parts: &Parts, body: &[u8]) -> Classified {
    let service = service_of(parts);
    let target = header(&parts.headers, "x-amz-target");
    let json_content_type = match header(&parts.headers, "content-type") {
        Some(ct) if ct.contains("1.1") => "application/x-amz-json-1.1",
        Some(_) | None => match service {
            Service::SecretsManager => "application/x-amz-json-1.1",
            _ => "application/x-amz-json-1.0",
        },
    };
    if let Some(target) = target {
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        return Classified {
            service,
            operation,
            protocol: Protocol::Json,
            json_content_type,
        };
    }
    let query = parts.uri.query().unwrap_or("");
    if let Some(action) = form_field(query, "Action").or_else(|| {
        let is_form = header(&parts.headers, "content-type")
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            form_field(&String::from_utf8_lossy(body), "Action")
        } else {
            None
        }
    }) {
        return Classified {
            service,
            operation: action,
            protocol: Protocol::Query,
            json_content_type,
        };
    }
    if service == Service::S3 {
        return Classified {
            operation: s3_operation(parts),
            service,
            protocol: Protocol::RestXml,
            json_content_type,
        };
    }
    Classified {
        service,
        operation: parts.method.as_str().to_owned(),
        protocol: Protocol::Json,
        json_content_type,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The service named in the SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`),
/// from the `Authorization` header or a presigned URL's `X-Amz-Credential`.
fn service_of(parts: &Parts) -> Service {
    let scope = header(&parts.headers, "authorization")
        .and_then(|auth| {
            let start = auth.find("Credential=")? + "Credential=".len();
            let rest = &auth[start..];
            Some(rest[..rest.find([',', ' ']).unwrap_or(rest.len())].to_owned())
        })
        .or_else(|| {
            form_field(parts.uri.query().unwrap_or(""), "X-Amz-Credential")
                .map(|c| c.replace("%2F", "/").replace("%2f", "/"))
        });
    let Some(scope) = scope else {
        return Service::Other("unknown".to_owned());
    };
    // AKID / date / region / service / aws4_request
    let service = scope.split('/').nth(3).unwrap_or("unknown");
    Service::from_signing_name(service)
}

/// The value of `name` in an `a=1&b=2` string (not percent-decoded: the names we read need none).
fn form_field(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| value.to_owned())
    })
}

/// The S3 operation of a path-style request (`/bucket/key?subresource`).
fn s3_operation(parts: &Parts) -> String {
    let path = parts.uri.path().trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let query = parts.uri.query().unwrap_or("");
    let has = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split_once('=').map_or(pair, |(k, _)| k) == name)
    };
    let method = &parts.method;
    let op = if bucket.is_empty() {
        match *method {
            Method::GET => Some("ListBuckets"),
            _ => None,
        }
    } else if key.is_empty() {
        match *method {
            Method::GET if query.split('&').any(|p| p == "list-type=2") => Some("ListObjectsV2"),
            Method::GET if has("versions") => Some("ListObjectVersions"),
            Method::GET if query.is_empty() || has("prefix") || has("marker") => {
                Some("ListObjects")
            }
            Method::HEAD => Some("HeadBucket"),
            Method::PUT if query.is_empty() => Some("CreateBucket"),
            Method::DELETE if query.is_empty() => Some("DeleteBucket"),
            Method::POST if has("delete") => Some("DeleteObjects"),
            _ => None,
        }
    } else {
        match *method {
            Method::GET if has("tagging") => Some("GetObjectTagging"),
            Method::GET => Some("GetObject"),
            Method::HEAD => Some("HeadObject"),
            Method::PUT if has("tagging") => Some("PutObjectTagging"),
            Method::PUT if has("partNumber") && has("uploadId") => Some("UploadPart"),
            Method::PUT if parts.headers.contains_key("x-amz-copy-source") => Some("CopyObject"),
            Method::PUT => Some("PutObject"),
            Method::DELETE if has("tagging") => Some("DeleteObjectTagging"),
            Method::DELETE if has("uploadId") => Some("AbortMultipartUpload"),
            Method::DELETE => Some("DeleteObject"),
            Method::POST if has("uploads") => Some("CreateMultipartUpload"),
            Method::POST if has("uploadId") => Some("CompleteMultipartUpload"),
            _ => None,
        }
    };
    op.map_or_else(|| method.as_str().to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20261203/eu-west-2/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc"
        )
    }

    #[test]
    fn json_services_are_named_by_scope_and_target() {
        for (service, target, expected, op) in [
            (
                "dynamodb",
                "DynamoDB_20120810.PutItem",
                Service::DynamoDb,
                "PutItem",
            ),
            ("sqs", "AmazonSQS.SendMessage", Service::Sqs, "SendMessage"),
            (
                "secretsmanager",
                "secretsmanager.GetSecretValue",
                Service::SecretsManager,
                "GetSecretValue",
            ),
        ] {
            let p = parts(
                "POST",
                "/",
                &[("authorization", &auth(service)), ("x-amz-target", target)],
            );
            let c = classify(&p, b"{}");
            assert_eq!(c.service, expected);
            assert_eq!(c.operation, op);
            assert_eq!(c.protocol, Protocol::Json);
        }
    }

    #[test]
    fn sqs_query_protocol_reads_the_action_from_the_form() {
        let p = parts(
            "POST",
            "/",
            &[
                ("authorization", &auth("sqs")),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
        );
        let c = classify(&p, b"Action=SendMessage&QueueUrl=x&Version=2012-11-05");
        assert_eq!(c.service, Service::Sqs);
        assert_eq!(c.operation, "SendMessage");
        assert_eq!(c.protocol, Protocol::Query);
    }

    #[test]
    fn s3_operations_come_from_method_path_and_query() {
        let a = auth("s3");
        let h = [("authorization", a.as_str())];
        for (method, uri, op) in [
            ("GET", "/b/k/1.csv", "GetObject"),
            ("HEAD", "/b/k", "HeadObject"),
            ("PUT", "/b/k", "PutObject"),
            ("PUT", "/b/k?tagging", "PutObjectTagging"),
            ("GET", "/b/k?tagging", "GetObjectTagging"),
            ("GET", "/b?list-type=2&prefix=x", "ListObjectsV2"),
            ("GET", "/b?versions&prefix=x", "ListObjectVersions"),
            (
                "GET",
                "/b?versions=&prefix=x&key-marker=k",
                "ListObjectVersions",
            ),
            ("DELETE", "/b/k", "DeleteObject"),
            ("POST", "/b?delete", "DeleteObjects"),
            ("POST", "/b?delete=", "DeleteObjects"),
            ("PUT", "/b", "CreateBucket"),
            ("PUT", "/b?notification", "PUT"),
        ] {
            let c = classify(&parts(method, uri, &h), b"");
            assert_eq!(c.service, Service::S3);
            assert_eq!(c.operation, op, "{method} {uri}");
            assert_eq!(c.protocol, Protocol::RestXml);
        }
    }

    #[test]
    fn unsigned_and_unknown_requests_fall_back_to_the_method() {
        let c = classify(&parts("GET", "/moto-api/", &[]), b"");
        assert_eq!(c.service, Service::Other("unknown".to_owned()));
        assert_eq!(c.operation, "GET");
        let c = classify(&parts("POST", "/", &[("authorization", &auth("kms"))]), b"");
        assert_eq!(c.service, Service::Other("kms".to_owned()));
        assert_eq!(c.operation, "POST");
    }

    #[test]
    fn presigned_urls_name_their_service() {
        let p = parts(
            "GET",
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261203%2Feu-west-2%2Fs3%2Faws4_request&X-Amz-Signature=abc",
            &[],
        );
        let c = classify(&p, b"");
        assert_eq!(c.service, Service::S3);
        assert_eq!(c.operation, "GetObject");
    }
}
