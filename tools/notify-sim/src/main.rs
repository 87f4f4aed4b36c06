//! `notify-sim` command line: start the simulator and print its URL on stdout.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use notify_sim::{Config, DailyLimits, ServiceConfig};
use tracing_subscriber::EnvFilter;

/// A local stand-in for GOV.UK Notify's API v2.
#[derive(Parser, Debug)]
#[command(name = "notify-sim", version)]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The (default) service's API key: {key_name}-{service_id}-{secret}.
    #[arg(long)]
    api_key: String,
    /// Another service, repeatable: KEY[,rate=N][,daily=E:S:L][,callback=URL][,token=T]
    /// (callback needs token; a URL may not contain a comma). --rate-limit-per-min,
    /// --daily-limits, --callback-url and --callback-bearer-token configure the default
    /// service (--api-key's); the delays and latency apply to every service.
    #[arg(long = "service", value_name = "SPEC")]
    services: Vec<String>,
    /// Requests per 60 s before RateLimitError (Notify's token bucket).
    #[arg(long, default_value_t = 3000)]
    rate_limit_per_min: u32,
    /// Daily limits as EMAIL,SMS,LETTER.
    #[arg(long, default_value = "250000,250000,20000", value_parser = DailyLimits::parse)]
    daily_limits: DailyLimits,
    /// Where delivery receipts and inbound texts are POSTed.
    #[arg(long, requires = "callback_bearer_token")]
    callback_url: Option<String>,
    /// Bearer token sent with callbacks.
    #[arg(long)]
    callback_bearer_token: Option<String>,
    /// Milliseconds from creation to the final status and its callback.
    #[arg(long, default_value_t = 1000)]
    callback_delay_ms: u64,
    /// Milliseconds between callback retries (Notify: 5 minutes).
    #[arg(long, default_value_t = 300_000)]
    callback_retry_ms: u64,
    /// Milliseconds added to every /v2 response.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr so stdout carries only the "listening on" line scripts wait for.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("notify_sim=info")),
        )
        .init();

    let args = Args::parse();
    // Parsed here rather than by clap, whose errors would repeat the value (and its secret).
    let mut extra_services = Vec::new();
    for (i, spec) in args.services.iter().enumerate() {
        match ServiceConfig::parse(spec) {
            Ok(service) => extra_services.push(service),
            Err(e) => Args::command()
                .error(
                    clap::error::ErrorKind::ValueValidation,
                    format!("--service #{}: {e}", i + 1),
                )
                .exit(),
        }
    }
    let config = Config {
        rate_limit_per_min: args.rate_limit_per_min,
        daily_limits: args.daily_limits,
        callback_url: args.callback_url,
        callback_bearer_token: args.callback_bearer_token,
        callback_delay: Duration::from_millis(args.callback_delay_ms),
        callback_retry_interval: Duration::from_millis(args.callback_retry_ms),
        latency: Duration::from_millis(args.latency_ms),
        extra_services,
        ..Config::new(args.api_key)
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let handle = notify_sim::spawn(config, listener).await?;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "notify-sim listening on {}", handle.base_url())?;
    stdout.flush()?;
    drop(stdout);

    wait_for_signal().await;
    tracing::info!("shutting down");
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
