//! The ingest function: S3 notifications arrive through SQS; each upload is validated whole,
//! written only when valid, and answered with a report in the bucket. All the work is in
//! `sais_shared::ingest`; this file wires it to Lambda.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sais_shared::aws::{AwsClients, erasure_key, team_services};
use sais_shared::config::{parsed_env, required_env};
use sais_shared::ingest::Ingest;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sais_shared::telemetry::init_json_logs();
    sais_shared::telemetry::log_exit(run().await)
}

/// Start-up (configuration, clients and secrets once per process), then the runtime's loop.
async fn run() -> Result<(), Error> {
    // Clients and configuration once per process, shared by every invocation.
    let config = sais_shared::aws::lambda_sdk_config()?;
    let clients = AwsClients::from_config(&config);
    let table = required_env("TABLE_NAME")?;
    // A campaign's templates are checked against its team's Notify service when uploaded.
    let services = Arc::new(team_services(&config, &clients, &table).await?);
    let s3 = clients.s3.clone();
    let ingest = Ingest::new(clients, &table)
        .with_erasure_key(erasure_key(&config).await?)
        .with_default_upload_days(parsed_env("UPLOAD_RETENTION_DAYS")?)
        .with_team_secret_prefix(required_env("TEAM_SECRET_PREFIX")?)
        .with_template_check(services)
        // An erasure makes the team's reports again without the detail.
        .with_report_rewrites(s3, required_env("UPLOADS_BUCKET")?);
    let ingest = &ingest;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        ingest
            .handle_batch(event.payload)
            .await
            .map_err(|e| -> Error { Box::new(e) })
    }))
    .await
}
