//! `sais`: the command SAIS staff and operators run — validate a file before uploading it,
//! report on a campaign, generate test data, run the benchmarks.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod bench_dispatch;
mod chaos;
mod demo;
mod governance;
mod lint;
mod report;
mod reports;
mod templates;
mod up;
mod upload;
mod validate;

/// Exit code for a usage error (BSD's EX_USAGE).
const EX_USAGE: u8 = 64;

/// Runs a command's async work on a runtime: exit 0 when it succeeds, 2 (with the error on
/// stderr, prefixed by the command's name) when it fails.
fn block_on(
    command: &str,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{command}: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{command}: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "sais",
    version,
    about = "The SAIS parent contact service's command line"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a file (cohort, class list, campaign, responses, objections, team settings) exactly
    /// as the service would, without uploading it. Exit status: 0 would be imported, 1 rejected for row errors, 2 file-level error, 64 usage.
    Validate(validate::Args),
    /// Check a file as `sais validate` does and, only if it would be imported, upload it to
    /// the team's folder, wait for the service's report and print it. Exit status as `sais
    /// validate`'s (0 imported, 1 row errors, 2 file-level error, 64 usage), 3 when the upload
    /// failed or no report came in time.
    Upload(upload::Args),
    /// Fetch everything in the team's reports folder (file reports, errors, campaign reports)
    /// into a local folder.
    Reports(reports::Args),
    /// Run the service on the local stack over a folder laid out like a team's S3 prefix.
    Demo(demo::Args),
    Chaos(chaos::Args),
    /// Make a campaign's report now (CSV, summary, HTML in the team's reports folder) and
    /// print its summary.
    Report(report::Args),
    /// Everything held about a child (subject access), as JSON.
    Sar(governance::SarArgs),
    /// Erase an email address or phone number from every record (serious harm, or a correction).
    Erase(governance::EraseArgs),
    /// Check a text-message template: encoding, characters and fragments at the longest
    /// personalisation, unknown placeholders, health words, links. Exit 1 on errors.
    LintTemplate(lint::Args),
    /// The Notify templates the service sends, per purpose and channel, and the placeholders
    /// it fills in each (with a campaign file: the ids it names).
    Templates(templates::Args),
    /// Keep the local stack running for trying the service by hand (`make up`).
    Up(up::Args),
    /// Generate synthetic test data.
    #[command(subcommand)]
    Generate(bench::Generate),
    /// Run a benchmark of benchmarks.md and print its figures.
    #[command(subcommand)]
    Bench(bench::Bench),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EX_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Upload(args) => upload::run(args),
        Command::Reports(args) => reports::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Chaos(args) => chaos::run(args),
        Command::Report(args) => report::run(args),
        Command::Sar(args) => governance::sar(args),
        Command::Erase(args) => governance::erase(args),
        Command::Up(args) => up::run(args),
        Command::LintTemplate(args) => lint::run(args),
        Command::Templates(args) => templates::run(args),
        Command::Generate(command) => bench::generate(command),
        Command::Bench(command) => bench::bench(command),
    }
}
