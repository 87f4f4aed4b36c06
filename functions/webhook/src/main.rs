//! The webhook function behind a Lambda Function URL: Notify's delivery receipts and inbound
//! texts. All the work is in `sais_shared::webhook`; this file wires it to Lambda.

use lambda_http::{Body, Error, Request, Response, service_fn};
use std::sync::Arc;

use sais_shared::aws::{AwsClients, secret_from_env, team_directory};
use sais_shared::config::{required_env, teams_env};
use sais_shared::receipts::Receipts;
use sais_shared::store::Store;
use sais_shared::webhook::Webhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sais_shared::telemetry::init_json_logs();
    sais_shared::telemetry::log_exit(run().await)
}

/// Start-up (configuration, clients and secrets once per process), then the runtime's loop.
async fn run() -> Result<(), Error> {
    let config = sais_shared::aws::lambda_sdk_config()?;
    let clients = AwsClients::from_config(&config);
    let token = secret_from_env(&config, "CALLBACK_TOKEN_SECRET_ARN").await?;
    let table = required_env("TABLE_NAME")?;
    let receipts = Receipts::new(
        Store::new(clients.dynamodb.clone(), &table),
        clients.sqs.clone(),
        required_env("SEND_QUEUE_URL")?,
    );
    // The deployment's token for teams without their own; each team's own from its settings.
    let webhook = Webhook::new(receipts, token)
        .with_team_tokens(Arc::new(
            team_directory(&clients, &table)
                .with_secret_prefix(required_env("TEAM_SECRET_PREFIX")?),
        ))
        // Teams sharing a Notify service get its callbacks on one team's path.
        .with_stack_teams(teams_env("TEAMS")?);
    let webhook = &webhook;
    lambda_http::run(service_fn(move |request: Request| async move {
        let reply = sais_shared::webhook::handle_http(webhook, &request).await;
        Ok::<Response<Body>, Error>(reply)
    }))
    .await
}
