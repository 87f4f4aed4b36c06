//! The dispatcher function: send jobs from SQS, the channel policy at send time, Notify exactly
//! once within each team's service's rate limit. All the work is in `sais_shared::dispatch`.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use sais_shared::aws::{AwsClients, erasure_key, team_services};
use sais_shared::config::required_env;
use sais_shared::dispatch::Dispatcher;
use sais_shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    sais_shared::telemetry::init_json_logs();
    sais_shared::telemetry::log_exit(run().await)
}

/// Start-up (configuration, clients and secrets once per process), then the runtime's loop.
async fn run() -> Result<(), Error> {
    let config = sais_shared::aws::lambda_sdk_config()?;
    let clients = AwsClients::from_config(&config);
    let table = required_env("TABLE_NAME")?;
    // The deployment's default service now; each team's own when it first sends.
    let services = team_services(&config, &clients, &table).await?;
    let dispatcher = Dispatcher::with_services(
        Store::new(clients.dynamodb.clone(), &table).with_erasure_key(erasure_key(&config).await?),
        clients.sqs.clone(),
        required_env("SEND_QUEUE_URL")?,
        services,
    );
    let dispatcher = &dispatcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        dispatcher
            .handle_batch(event.payload)
            .await
            .map_err(|e| -> Error { Box::new(e) })
    }))
    .await
}
