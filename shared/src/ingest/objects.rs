//! The upload bucket in S3: [`UploadObjects`] for the real thing.

use std::io::Read;

use tokio::runtime::Handle;
use tokio_util::io::SyncIoBridge;

use super::IngestError;
use super::ports::{Head, OpenError, UploadObjects};
use crate::uploads::ObjectCreated;

/// The bucket through the S3 SDK.
#[derive(Debug, Clone)]
pub struct S3Objects {
    s3: aws_sdk_s3::Client,
}

impl S3Objects {
    /// The bucket through `s3`.
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self { s3 }
    }

    /// The request for exactly the object version the event announced (by version id, or by
    /// ETag when the bucket is not versioned).
    fn get_announced(
        &self,
        object: &ObjectCreated,
    ) -> aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder {
        let (version_id, if_match) = announced(object);
        self.s3
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(version_id)
            .set_if_match(if_match)
    }
}

impl IngestError {
    /// An S3 call that failed, carrying the SDK's error as its source.
    fn s3<E: std::error::Error + Send + Sync + 'static>(
        operation: &'static str,
        e: aws_sdk_s3::error::SdkError<E>,
    ) -> Self {
        Self::S3 {
            operation,
            message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            source: Some(Box::new(e)),
        }
    }

    /// An S3 call that could not be made or finished.
    fn s3_other(operation: &'static str, message: String) -> Self {
        Self::S3 {
            operation,
            message,
            source: None,
        }
    }
}

impl UploadObjects for S3Objects {
    async fn head(&self, object: &ObjectCreated) -> Result<Head, IngestError> {
        let (version_id, if_match) = announced(object);
        let request = self
            .s3
            .head_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(version_id)
            .set_if_match(if_match);
        match request.send().await {
            Ok(head) => Ok(Head::Present {
                last_modified: head.last_modified.map(|d| d.secs()),
            }),
            Err(e)
                if e.raw_response()
                    .is_some_and(|r| matches!(r.status().as_u16(), 404 | 412)) =>
            {
                Ok(Head::Gone)
            }
            Err(e) => Err(IngestError::s3("HeadObject", e)),
        }
    }

    fn open(&self, object: &ObjectCreated) -> Result<Box<dyn Read + Send>, OpenError> {
        let handle = Handle::current();
        let output =
            handle
                .block_on(self.get_announced(object).send())
                .map_err(|e| match is_gone(&e) {
                    true => OpenError::Gone,
                    false => OpenError::Failed(std::io::Error::other(
                        aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                    )),
                })?;
        let reader = SyncIoBridge::new_with_handle(output.body.into_async_read(), handle);
        Ok(Box::new(std::io::BufReader::with_capacity(
            256 * 1024,
            reader,
        )))
    }

    async fn read_small(
        &self,
        object: &ObjectCreated,
        limit: usize,
    ) -> Result<Option<Vec<u8>>, IngestError> {
        let output = match self.get_announced(object).send().await {
            Ok(output) => output,
            Err(e) if is_gone(&e) => return Ok(None),
            Err(e) => return Err(IngestError::s3("GetObject", e)),
        };
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(
            &mut tokio::io::AsyncReadExt::take(output.body.into_async_read(), limit as u64),
            &mut bytes,
        )
        .await
        .map_err(|e| IngestError::s3_other("GetObject", e.to_string()))?;
        Ok(Some(bytes))
    }

    async fn tag(&self, object: &ObjectCreated, key: &str, value: &str) -> Result<(), IngestError> {
        let tagging_error = |e: aws_sdk_s3::error::BuildError| {
            IngestError::s3_other("PutObjectTagging", e.to_string())
        };
        let tag = aws_sdk_s3::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(tagging_error)?;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(tagging_error)?;
        self.s3
            .put_object_tagging()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(announced(object).0)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| IngestError::s3("PutObjectTagging", e))?;
        Ok(())
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), IngestError> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map_err(|e| IngestError::s3("PutObject", e))?;
        Ok(())
    }

    async fn delete(&self, bucket: &str, key: &str) -> Result<(), IngestError> {
        self.s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| IngestError::s3("DeleteObject", e))?;
        Ok(())
    }
}

/// How to ask S3 for exactly the announced object: its version id, or, when the bucket is not
/// versioned, an `If-Match` on its ETag.
fn announced(object: &ObjectCreated) -> (Option<String>, Option<String>) {
    match (&object.version_id, &object.etag) {
        (Some(v), _) if !v.is_empty() && v != "null" => (Some(v.clone()), None),
        (_, Some(etag)) => (None, Some(format!("\"{}\"", etag.trim_matches('"')))),
        _ => (None, None),
    }
}

/// Whether a `GetObject` failed because that version is no longer there (replaced or deleted).
fn is_gone(
    e: &aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::get_object::GetObjectError,
        aws_sdk_s3::config::http::HttpResponse,
    >,
) -> bool {
    e.as_service_error().is_some_and(|s| s.is_no_such_key())
        || e.raw_response()
            .is_some_and(|r| matches!(r.status().as_u16(), 404 | 412))
}
