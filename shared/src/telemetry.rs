//! Logging: JSON lines via `tracing`, carrying ids and counts only — never personal data.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log format used by every function (`RUST_LOG` sets the level; default info).
///
/// Each line carries its innermost span (`"span"`): an SQS record's message id while the
/// record is handled (`sqs_batch`), the runtime's request id otherwise.
pub fn init_json_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Lambda adds its own timestamp and request id fields; keep the line flat and small.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
}

/// A function's exit: when its `main` fails (at start-up, a missing or unusable variable or
/// secret, which the error names), one JSON line says why before the process exits non-zero
/// and Lambda reports the failed start.
pub fn log_exit<E: std::fmt::Display>(result: Result<(), E>) -> Result<(), E> {
    if let Err(error) = &result {
        tracing::error!(%error, "the function cannot run");
    }
    result
}

/// The same JSON log lines, appended to a file (the local demo's `--log-file`: every function's
/// lines in one place, to check what the service would log).
pub fn init_json_logs_to_file(file: std::fs::File) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}
