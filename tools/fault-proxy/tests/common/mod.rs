//! Set-up shared by the tests: moto, a proxy in front of it, SDK clients through the proxy
//! (with or without retries) and clients straight to moto for checking what arrived.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use fault_proxy::FaultProxy;

pub const REGION: &str = "eu-west-2";

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{:x}-{}",
        std::process::id(),
        nanos & 0xffff_ffff,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Standard retries as the functions use them (3 attempts), with short back-offs so tests are quick.
pub fn standard_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(100))
}

/// Moto, a proxy in front of it, and configurations for both.
pub struct Stack {
    pub proxy: FaultProxy,
    /// Straight to moto: for set-up and for checking what arrived.
    pub direct: SdkConfig,
    /// Through the proxy.
    pub proxied: SdkConfig,
}

impl Stack {
    pub async fn new() -> Stack {
        let moto = sais_local::shared_moto_endpoint().expect("moto is available");
        let proxy = FaultProxy::start(&moto).await.expect("the proxy starts");
        Stack {
            direct: sais_shared::aws::local_sdk_config(&moto, REGION),
            proxied: sais_shared::aws::local_sdk_config(&proxy.endpoint(), REGION),
            proxy,
        }
    }

    pub fn ddb(&self, retry: RetryConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.proxied)
                .retry_config(retry)
                .build(),
        )
    }

    pub fn ddb_direct(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.direct)
    }

    pub fn sqs(&self, retry: RetryConfig) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&self.proxied)
                .retry_config(retry)
                .build(),
        )
    }

    pub fn sqs_direct(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.direct)
    }

    pub fn s3(&self, retry: RetryConfig) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.proxied)
                .force_path_style(true)
                .retry_config(retry)
                .build(),
        )
    }

    pub fn s3_direct(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.direct)
                .force_path_style(true)
                .build(),
        )
    }

    pub fn secrets(&self, retry: RetryConfig) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&self.proxied)
                .retry_config(retry)
                .build(),
        )
    }

    pub fn secrets_direct(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.direct)
    }

    /// A fresh table keyed by `pk` (a string).
    pub async fn table(&self) -> String {
        let name = unique("fp");
        self.ddb_direct()
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("the table is created");
        name
    }

    /// Whether moto holds the item `pk` in `table`.
    pub async fn has_item(&self, table: &str, pk: &str) -> bool {
        self.ddb_direct()
            .get_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("moto answers a GetItem")
            .item
            .is_some()
    }
}

/// A PutItem of `pk` (with one attribute) on `client`.
pub async fn put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Result<
    aws_sdk_dynamodb::operation::put_item::PutItemOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError>,
> {
    client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.to_owned()))
        .item("v", AttributeValue::N("1".to_owned()))
        .send()
        .await
}

/// A GetItem of `pk` on `client`.
pub async fn get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Result<
    aws_sdk_dynamodb::operation::get_item::GetItemOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError>,
> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .send()
        .await
}

/// The HTTP status of an SDK error's response, if there was one (any service: the SDKs share
/// one `SdkError`).
pub fn status<E>(err: &aws_sdk_dynamodb::error::SdkError<E>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}
