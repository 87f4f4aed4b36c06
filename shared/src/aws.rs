//! AWS SDK clients, built once per process and shared by every invocation.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The SDK clients a function uses. Cheap to clone (each client is an `Arc` inside).
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// S3: uploads in, reports out.
    pub s3: aws_sdk_s3::Client,
    /// DynamoDB: the contacts table.
    pub dynamodb: crate::store::Client,
    /// SQS: the send queue.
    pub sqs: aws_sdk_sqs::Client,
    /// Secrets Manager: each team's Notify key and callback token.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    /// Clients from an explicit SDK configuration.
    pub fn from_config(config: &SdkConfig) -> Self {
        // Path-style addressing works against both AWS and a local endpoint on 127.0.0.1,
        // where virtual-hosted bucket names cannot resolve.
        let path_style = config.endpoint_url().is_some();
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            dynamodb: crate::store::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

/// The SDK configuration inside a Lambda function: the region and the role's credentials from
/// the environment Lambda sets (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), and `AWS_ENDPOINT_URL` when set; standard retries and a 3.1 s connect
/// timeout, as `aws_config::load_defaults` gives.
///
/// `aws_config::load_defaults` would find the same values, but links its whole provider chain
/// (profile files, SSO, web identity through STS, ECS, instance metadata) into every function,
/// where only the environment is ever used; the functions' size target is 8 MB.
pub fn lambda_sdk_config() -> Result<SdkConfig, crate::config::MissingEnv> {
    sdk_config_from(|name| std::env::var(name).ok())
}

fn sdk_config_from(
    var: impl Fn(&str) -> Option<String>,
) -> Result<SdkConfig, crate::config::MissingEnv> {
    let region = var("AWS_REGION")
        .filter(|r| !r.is_empty())
        .ok_or(crate::config::MissingEnv("AWS_REGION"))?;
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            credentials,
        ));
    if let Some(url) = var("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()) {
        builder = builder.endpoint_url(url);
    }
    Ok(with_lambda_defaults(builder.build()))
}

/// `config` with the retries and timeouts the functions run with: as `load_defaults` sets
/// them, standard retries (3 attempts, backoff; throttling retried) and a 3.1 s connect timeout,
/// stated rather than left to the behaviour version. The chaos suite gives its functions the same.
pub fn with_lambda_defaults(config: SdkConfig) -> SdkConfig {
    config
        .to_builder()
        .retry_config(aws_config::retry::RetryConfig::standard())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(3100))
                .build(),
        )
        .build()
}

/// An SDK configuration for a local endpoint (moto) with dummy credentials.
pub fn local_sdk_config(endpoint_url: &str, region: &str) -> SdkConfig {
    let credentials =
        aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "local");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint_url)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}

/// The string value of a secret (`secret_id`: its name or ARN). The error says what went wrong
/// without the secret's value.
pub async fn secret_string(config: &SdkConfig, secret_id: &str) -> Result<String, String> {
    secret_value(&aws_sdk_secretsmanager::Client::new(config), secret_id)
        .await
        .map_err(|e| e.reason)
}

/// A secret could not be read: why, in words (never the value), and whether it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReadError {
    /// What went wrong.
    pub reason: String,
    /// Secrets Manager has no secret of that name (`ResourceNotFoundException`): a name to
    /// fix, not a failure to retry.
    pub not_found: bool,
}

/// The string value of a secret through `client`; the error says what went wrong without the
/// secret's value.
pub async fn secret_value(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, SecretReadError> {
    match client.get_secret_value().secret_id(secret_id).send().await {
        Ok(out) => out.secret_string.ok_or_else(|| SecretReadError {
            reason: "holds no secret string".to_owned(),
            not_found: false,
        }),
        Err(e) => Err(SecretReadError {
            not_found: e
                .as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()),
            reason: format!(
                "cannot be read: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            ),
        }),
    }
}

/// The value of the secret named by the environment variable `var`, for a function's start-up:
/// the error names the variable and the secret.
pub async fn secret_from_env(
    config: &SdkConfig,
    var: &'static str,
) -> Result<String, crate::config::StartupError> {
    let secret_id = crate::config::required_env(var)?;
    secret_string(config, &secret_id)
        .await
        .map_err(|reason| crate::config::StartupError::Secret {
            var,
            secret_id,
            reason,
        })
}

/// The Notify API key in the secret named by the environment variable `var`.
pub async fn notify_api_key(
    config: &SdkConfig,
    var: &'static str,
) -> Result<crate::notify::ApiKey, crate::config::StartupError> {
    let value = secret_from_env(config, var).await?;
    crate::notify::ApiKey::parse(&value).map_err(|e| crate::config::StartupError::Secret {
        var,
        secret_id: crate::config::required_env(var).unwrap_or_default(),
        reason: format!("does not hold a Notify API key: {e}"),
    })
}

/// The deployment's Notify settings, for a function's start-up: the default key (the secret
/// named by `NOTIFY_API_KEY_SECRET_ARN`), `NOTIFY_BASE_URL`, and `NOTIFY_RATE_LIMIT_PER_MIN`
/// (Notify's default of 3,000 when unset).
pub async fn notify_defaults(
    config: &SdkConfig,
) -> Result<crate::teams::NotifyDefaults, crate::config::StartupError> {
    let key = notify_api_key(config, "NOTIFY_API_KEY_SECRET_ARN").await?;
    let base_url = crate::config::required_env("NOTIFY_BASE_URL")?;
    let rate_limit_per_min = match std::env::var("NOTIFY_RATE_LIMIT_PER_MIN") {
        Ok(v) if !v.trim().is_empty() => crate::config::parsed_env("NOTIFY_RATE_LIMIT_PER_MIN")?,
        _ => 3000,
    };
    let defaults = crate::teams::NotifyDefaults {
        base_url,
        key,
        rate_limit_per_min,
        timeout: std::time::Duration::from_secs(10),
    };
    // The URL is checked now, not at the first send.
    defaults
        .client()
        .map_err(|e| crate::config::StartupError::Invalid {
            name: "NOTIFY_BASE_URL",
            reason: e.to_string(),
        })?;
    Ok(defaults)
}

/// Each team's Notify service, for a function's start-up: the deployment's defaults
/// ([`notify_defaults`]), team settings from `table`, team secrets from Secrets Manager, only
/// under `TEAM_SECRET_PREFIX`.
pub async fn team_services(
    config: &SdkConfig,
    clients: &AwsClients,
    table: &str,
) -> Result<crate::teams::TeamServices, crate::config::StartupError> {
    Ok(crate::teams::TeamServices::new(
        std::sync::Arc::new(
            team_directory(clients, table)
                .with_secret_prefix(crate::config::required_env("TEAM_SECRET_PREFIX")?),
        ),
        notify_defaults(config).await?,
        clients.dynamodb.clone(),
        table,
    ))
}

/// Teams' settings (from `table`) and the secrets they name (from Secrets Manager).
pub fn team_directory(clients: &AwsClients, table: &str) -> crate::teams::TeamDirectory {
    crate::teams::TeamDirectory::new(
        crate::store::Store::new(clients.dynamodb.clone(), table),
        clients.secrets.clone(),
    )
}

/// The key erased contact details are remembered by, from the secret named by
/// `ERASURE_KEY_SECRET_ARN` (at least 32 characters).
pub async fn erasure_key(
    config: &SdkConfig,
) -> Result<crate::store::ErasureKey, crate::config::StartupError> {
    let var = "ERASURE_KEY_SECRET_ARN";
    let secret = secret_from_env(config, var).await?;
    crate::store::ErasureKey::new(secret.as_bytes()).ok_or_else(|| {
        crate::config::StartupError::Secret {
            var,
            secret_id: crate::config::required_env(var).unwrap_or_default(),
            reason: "is shorter than the 32 characters an erasure key needs".to_owned(),
        }
    })
}

/// Every key under `prefix` in `bucket`, page after page, in S3's order; the error as the SDK
/// gives it (`DisplayErrorContext` for a message).
pub async fn list_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<
    Vec<String>,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error>,
> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Ok(keys);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lambda_takes_its_region_and_endpoint_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let config = sdk_config_from(env(&[("AWS_REGION", "eu-west-2")])).unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-2"));
        assert_eq!(config.endpoint_url(), None);
        assert!(config.credentials_provider().is_some());
        let retry = config.retry_config().expect("retries configured");
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(retry.max_attempts(), 3);
        let timeouts = config.timeout_config().expect("timeouts configured");
        assert_eq!(
            timeouts.connect_timeout(),
            Some(std::time::Duration::from_millis(3100))
        );

        let local = sdk_config_from(env(&[
            ("AWS_REGION", "eu-west-2"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]))
        .unwrap();
        assert_eq!(local.endpoint_url(), Some("http://127.0.0.1:5000"));

        let missing = sdk_config_from(env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]));
        assert!(missing.is_err(), "no region is an error, not a guess");
    }
}
