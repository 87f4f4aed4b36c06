//! `sais chaos`: the reliability suite. One scenario (`tests/chaos/scenario`, 22 families: every
//! rule of the channel policy and every failure path) runs on the local stack once without
//! faults for the reference outcome, then once per fault class: DynamoDB throttling and 500s on
//! each access pattern, SQS and S3 failures, dropped connections and latency (a fault proxy in
//! front of moto), Notify's 429 bursts, 500s, timeouts and latency spikes (the simulator), the
//! webhook answering 500 (a fault proxy in front of it; Notify's retries then apply) and a crash
//! at each step of ingest, send and receipt handling.
//!
//! Each run must end with every family's outcome identical to the reference: the same messages
//! on the same days with the same statuses and reasons, the same skips and follow-ups, no detail
//! marked failed or opted out that the reference did not mark, nothing sent twice (counted at
//! the simulator), nothing left in `intent` or in a dead-letter queue. And every fault must be
//! visible: a fault class that fired no fault, or whose faults left no trace (a retry, a DLQ
//! message, a report), fails.
//!
//! What AWS does between attempts is done here as the demo does it, within the simulated day:
//! a failed or unfinished SQS message becomes visible again (its visibility timeout has run
//! out) and intents' leases expire; a failed daily or hourly run is run again (EventBridge
//! Scheduler retries it); Notify retries callbacks the webhook did not answer 2xx. A crash is the
//! fault proxy holding a request unanswered while the handler's future is dropped, which is what
//! a process abort looks like from outside: nothing after that point runs, and nothing is
//! cleaned up.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use fault_proxy::{Fault, FaultProxy, Rule, Service};
use notify_sim::FaultMode;
use sais_local::{
    LocalNotify, LocalStack, REGION, serve_webhook, shared_moto_endpoint, start_notify_sim,
};
use sais_shared::aws::{AwsClients, local_sdk_config, with_lambda_defaults};
use sais_shared::campaign_report;
use sais_shared::dispatch::Dispatcher;
use sais_shared::domain::ContactDetail;
use sais_shared::ingest::Ingest;
use sais_shared::receipts::Receipts;
use sais_shared::schedule::CampaignDates;
use sais_shared::schedule::runner::Scheduler;
use sais_shared::uploads::TeamCode;
use sais_shared::webhook::Webhook;
use serde::Serialize;
use time::{Date, OffsetDateTime};

/// Arguments of `sais chaos`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario: a folder laid out as for `sais demo`.
    #[arg(long, default_value = "tests/chaos/scenario")]
    input: PathBuf,
    /// Run only these fault classes (comma-separated names; see --list).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run the subset that `make test` runs (the pacer, the intent put, Notify 500s, a crash).
    #[arg(long)]
    subset: bool,
    /// List the fault classes and exit.
    #[arg(long)]
    list: bool,
    /// Write the results table into this Markdown file (between its chaos-table markers).
    #[arg(long)]
    write: Option<PathBuf>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Runs at once (each has its own stack, proxy, simulator and webhook).
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// Write every function's JSON log lines (of every run, interleaved) to this file.
    #[arg(long)]
    log_file: Option<PathBuf>,
}

/// The classes `make test` runs: the pacer, the intent put, Notify 500s and one crash.
const SUBSET: [&str; 4] = [
    "ddb-pacer-throttle",
    "ddb-intent-put-500",
    "notify-500",
    "crash-send-after-notify-accepted",
];

/// How one class injects its faults.
#[derive(Clone)]
enum Injection {
    /// Rules on the proxy in front of moto.
    Aws(Vec<Rule>),
    /// Faults the Notify simulator serves (armed on the request day and the reminder day).
    Notify(Vec<notify_sim::Fault>),
    /// Rules on the proxy in front of the webhook.
    Webhook(Vec<Rule>),
    /// Notify refuses every send on the first day until the jobs are dead-lettered; the
    /// on-call engineer, alarmed, redrives the DLQ once Notify is back.
    NotifyOutage,
}

/// A fault class: a row of the table.
#[derive(Clone)]
struct FaultClass {
    name: &'static str,
    what: &'static str,
    injection: Injection,
}

fn ddb(fault: Fault) -> Rule {
    Rule::new(fault).service(Service::DynamoDb)
}

/// Every fault class, in the table's order.
fn classes() -> Vec<FaultClass> {
    use Fault::{
        CrashAfterForward, CrashBeforeForward, DropConnection, Latency, ServerError, Throttle,
        ThrottlingException,
    };
    let pacer = |f: Fault| vec![ddb(f).pattern("PACER").times(12)];
    let intent = |f: Fault| vec![ddb(f).operation("PutItem").pattern(INTENT).times(6)];
    let status = |f: Fault| {
        vec![
            ddb(f)
                .operation("UpdateItem")
                .pattern(STATUS_UPDATE)
                .times(8),
        ]
    };
    let batch_read = |f: Fault| vec![ddb(f).operation("BatchGetItem").times(8)];
    let index = |f: Fault| vec![ddb(f).operation("Query").pattern("IndexName").times(8)];
    let batch_write = |f: Fault| vec![ddb(f).operation("BatchWriteItem").times(6)];
    let webhook_update = |f: Fault| {
        vec![
            ddb(f)
                .operation("UpdateItem")
                .pattern(RECEIPT_UPDATE)
                .times(8),
        ]
    };
    let sqs_send = |f: Fault| {
        vec![
            Rule::new(f)
                .service(Service::Sqs)
                .operation("SendMessage")
                .times(6),
            Rule::new(f)
                .service(Service::Sqs)
                .operation("SendMessageBatch")
                .times(4),
        ]
    };
    let sqs = |f: Fault, op: &str, n: u32| {
        vec![
            Rule::new(f)
                .service(Service::Sqs)
                .operation(op.to_owned())
                .times(n),
        ]
    };
    let s3 = |f: Fault, op: &str, n: u32| {
        vec![
            Rule::new(f)
                .service(Service::S3)
                .operation(op.to_owned())
                .times(n),
        ]
    };
    let crash = |f: Fault, op: &str, pattern: &str, n: u32| {
        let mut rule = ddb(f).operation(op.to_owned()).times(n);
        if !pattern.is_empty() {
            rule = rule.pattern(pattern.to_owned());
        }
        Injection::Aws(vec![rule])
    };
    let notify = |faults: Vec<notify_sim::Fault>| Injection::Notify(faults);
    let c = |name, what, injection| FaultClass {
        name,
        what,
        injection,
    };
    vec![
        c(
            "ddb-pacer-throttle",
            "DynamoDB throttles the pacer's item (12 requests)",
            Injection::Aws(pacer(Throttle)),
        ),
        c(
            "ddb-pacer-500",
            "DynamoDB 500s on the pacer's item (12 requests)",
            Injection::Aws(pacer(ServerError)),
        ),
        c(
            "ddb-intent-put-throttle",
            "DynamoDB throttles the intent's conditional put",
            Injection::Aws(intent(Throttle)),
        ),
        c(
            "ddb-intent-put-500",
            "DynamoDB 500s on the intent's conditional put",
            Injection::Aws(intent(ServerError)),
        ),
        c(
            "ddb-status-update-throttle",
            "DynamoDB throttles message status updates",
            Injection::Aws(status(Throttle)),
        ),
        c(
            "ddb-status-update-500",
            "DynamoDB 500s on message status updates",
            Injection::Aws(status(ServerError)),
        ),
        c(
            "ddb-batch-read-throttle",
            "DynamoDB throttles the batch reads at send time (ThrottlingException)",
            Injection::Aws(batch_read(ThrottlingException)),
        ),
        c(
            "ddb-batch-read-500",
            "DynamoDB 500s on the batch reads at send time",
            Injection::Aws(batch_read(ServerError)),
        ),
        c(
            "ddb-index-query-throttle",
            "DynamoDB throttles the schedule's index queries",
            Injection::Aws(index(Throttle)),
        ),
        c(
            "ddb-index-query-500",
            "DynamoDB 500s on the schedule's index queries",
            Injection::Aws(index(ServerError)),
        ),
        c(
            "ddb-batch-write-throttle",
            "DynamoDB throttles ingest's batch writes",
            Injection::Aws(batch_write(Throttle)),
        ),
        c(
            "ddb-batch-write-500",
            "DynamoDB 500s on ingest's batch writes",
            Injection::Aws(batch_write(ServerError)),
        ),
        c(
            "ddb-webhook-update-throttle",
            "DynamoDB throttles the webhook's conditional updates",
            Injection::Aws(webhook_update(Throttle)),
        ),
        c(
            "ddb-webhook-update-500",
            "DynamoDB 500s on the webhook's conditional updates",
            Injection::Aws(webhook_update(ServerError)),
        ),
        c(
            "ddb-dropped-connections",
            "DynamoDB connections dropped without an answer (10 requests)",
            Injection::Aws(vec![ddb(DropConnection).times(10)]),
        ),
        c(
            "ddb-throttle-storm",
            "Every DynamoDB request throttled for 4 s (a new on-demand table under a burst)",
            Injection::Aws(vec![ddb(Throttle).for_duration(Duration::from_secs(4))]),
        ),
        c(
            "ddb-latency",
            "1.5 s added to 20 DynamoDB requests",
            Injection::Aws(vec![ddb(Latency(Duration::from_millis(1500))).times(20)]),
        ),
        c(
            "sqs-send-throttle",
            "SQS throttles sends (RequestThrottled)",
            Injection::Aws(sqs_send(Throttle)),
        ),
        c(
            "sqs-send-500",
            "SQS 500s on sends",
            Injection::Aws(sqs_send(ServerError)),
        ),
        c(
            "sqs-receive-throttle",
            "SQS throttles receives",
            Injection::Aws(sqs(Throttle, "ReceiveMessage", 8)),
        ),
        c(
            "sqs-delete-500",
            "SQS 500s on deletes (the job is delivered again)",
            Injection::Aws(sqs(ServerError, "DeleteMessage", 8)),
        ),
        c(
            "s3-get-throttle",
            "S3 throttles object reads (SlowDown)",
            Injection::Aws(s3(Throttle, "GetObject", 6)),
        ),
        c(
            "s3-head-500",
            "S3 500s on HeadObject",
            Injection::Aws(s3(ServerError, "HeadObject", 6)),
        ),
        c(
            "s3-put-500",
            "S3 500s on report writes",
            Injection::Aws(s3(ServerError, "PutObject", 6)),
        ),
        c(
            "s3-list-reports-500",
            "S3 500s listing the reports an erasure makes again",
            Injection::Aws(s3(ServerError, "ListObjectsV2", 6)),
        ),
        c(
            "s3-list-versions-500",
            "S3 500s listing the reports' earlier versions an erasure deletes",
            Injection::Aws(s3(ServerError, "ListObjectVersions", 6)),
        ),
        c(
            "notify-429-burst",
            "Notify answers 429 RateLimitError to a burst of 20 sends",
            notify(vec![notify_sim::Fault::new(FaultMode::Error429).count(20)]),
        ),
        c(
            "notify-500",
            "Notify answers 500 to 10 sends",
            notify(vec![notify_sim::Fault::new(FaultMode::Error500).count(10)]),
        ),
        c(
            "notify-timeouts",
            "Notify times out: 3 sends never created, 3 created then no answer, 2 reconciling reads",
            notify(vec![
                notify_sim::Fault::new(FaultMode::Timeout)
                    .count(3)
                    .hold(NOTIFY_HOLD),
                notify_sim::Fault::new(FaultMode::TimeoutAfterCreate)
                    .count(3)
                    .hold(NOTIFY_HOLD),
                notify_sim::Fault::new(FaultMode::Timeout)
                    .on(notify_sim::FaultOn::Get)
                    .count(2)
                    .hold(NOTIFY_HOLD),
            ]),
        ),
        c(
            "notify-latency-spike",
            "Notify takes 1.5 s to answer 10 sends",
            notify(vec![
                notify_sim::Fault::new(FaultMode::Latency)
                    .count(10)
                    .hold(Duration::from_millis(1500)),
            ]),
        ),
        c(
            "notify-outage-to-dlq",
            "Notify answers 500 to every send on day 0 until the jobs are dead-lettered; the DLQ is then redriven",
            Injection::NotifyOutage,
        ),
        c(
            "webhook-500",
            "The webhook answers 500 to 15 callbacks (Notify retries them)",
            Injection::Webhook(vec![Rule::new(ServerError).times(15)]),
        ),
        c(
            "crash-ingest-after-batch-write",
            "Ingest dies after its first batch write landed",
            crash(CrashAfterForward, "BatchWriteItem", "", 1),
        ),
        c(
            "crash-ingest-before-report",
            "Ingest dies before its report is written",
            Injection::Aws(vec![
                Rule::new(CrashBeforeForward)
                    .service(Service::S3)
                    .operation("PutObject")
                    .pattern("report.json")
                    .times(1),
            ]),
        ),
        c(
            "crash-send-after-intent",
            "The dispatcher dies after recording the intent, before Notify",
            crash(CrashAfterForward, "PutItem", INTENT, 2),
        ),
        c(
            "crash-send-after-notify-accepted",
            "The dispatcher dies after Notify accepted, before recording it",
            crash(CrashBeforeForward, "UpdateItem", MARK_SENT, 2),
        ),
        c(
            "crash-send-after-recorded",
            "The dispatcher dies after recording the send, before SQS's delete",
            crash(CrashAfterForward, "UpdateItem", MARK_SENT, 2),
        ),
        c(
            "crash-receipt-before-status",
            "The webhook dies after acting on a receipt, before recording its status",
            crash(CrashBeforeForward, "UpdateItem", RECEIPT_UPDATE, 3),
        ),
        c(
            "crash-receipt-after-status",
            "The webhook dies after recording a receipt's status, before answering",
            crash(CrashAfterForward, "UpdateItem", RECEIPT_UPDATE, 3),
        ),
    ]
}

/// The intent's conditional put carries the item's `state`.
const INTENT: &str = r#""state":{"S":"intent"}"#;
/// Every update of a message's status appends to its history.
const STATUS_UPDATE: &str = "status_history";
/// The dispatcher's own update after Notify accepted (`mark_sent`).
const MARK_SENT: &str = "#status = :intent";
/// The webhook's conditional update of a message's status (`apply_status`).
const RECEIPT_UPDATE: &str = "#status = :expected";
/// How long a Notify timeout fault holds a request: longer than the dispatcher waits.
const NOTIFY_HOLD: Duration = Duration::from_secs(7);
/// The dispatcher's timeout for Notify in these runs.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);
/// Rounds of redelivery within one simulated day (SQS's maxReceiveCount is 5).
const ROUNDS: usize = 8;
/// Attempts at a daily or hourly run (EventBridge Scheduler retries it).
const RUN_ATTEMPTS: usize = 4;
/// The team the scenario is uploaded under.
const TEAM: &str = "CHS-sais";
/// The bearer token between the simulator and the local webhook.
const TOKEN: &str = "local-chaos-callback-token";

/// What happened to one family: the messages (day, purpose, channel, status, reason), skips,
/// whether it is on the follow-up list, and the statuses of its contact details.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
struct Outcome {
    messages: Vec<(u32, String, String, String, String)>,
    skipped: BTreeSet<String>,
    follow_up: bool,
    details: BTreeMap<String, String>,
}

/// A table item.
type Item = HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// One run's result, for the table.
#[derive(Debug, Clone, Default, Serialize)]
struct RunResult {
    class: String,
    what: String,
    families: usize,
    identical: usize,
    lost: usize,
    duplicated: usize,
    wrongly_blamed: usize,
    stuck: usize,
    faults_fired: u64,
    retries: u64,
    crashes: u64,
    dead_lettered: u64,
    notify_received: usize,
    seconds: f64,
    /// Families whose outcome differs, with what differs (names from the scenario only).
    differences: Vec<String>,
    /// Each family's message records as stored (purpose, channel, state, status history,
    /// whether its letter is still polled): shown for the families that differ.
    #[serde(skip)]
    trails: BTreeMap<String, Vec<String>>,
    error: Option<String>,
}

impl RunResult {
    fn passed(&self) -> bool {
        self.error.is_none()
            && self.identical == self.families
            && self.lost + self.duplicated + self.wrongly_blamed + self.stuck == 0
            // A class whose faults never fired tested nothing.
            && (self.class == "reference" || self.faults_fired > 0)
    }
}

/// Runs `sais chaos`.
pub fn run(args: Args) -> ExitCode {
    if args.list {
        for c in classes() {
            println!("{:<36} {}", c.name, c.what);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(path) = &args.log_file {
        match std::fs::File::create(path) {
            Ok(file) => sais_shared::telemetry::init_json_logs_to_file(file),
            Err(e) => {
                eprintln!("sais chaos: cannot write the log file: {e}");
                return ExitCode::from(crate::EX_USAGE);
            }
        }
    }
    let mut failed = false;
    let code = crate::block_on("sais chaos", async {
        failed = !suite(&args).await?;
        Ok(())
    });
    if code != ExitCode::SUCCESS {
        return code;
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn suite(args: &Args) -> Result<bool> {
    let all = classes();
    let chosen: Vec<FaultClass> = if args.subset {
        all.into_iter()
            .filter(|c| SUBSET.contains(&c.name))
            .collect()
    } else if !args.only.is_empty() {
        for name in &args.only {
            if !all.iter().any(|c| c.name == name) {
                bail!("no fault class named {name:?} (see sais chaos --list)");
            }
        }
        all.into_iter()
            .filter(|c| args.only.iter().any(|n| n == c.name))
            .collect()
    } else {
        all
    };
    let started = Instant::now();
    let endpoint = shared_moto_endpoint().context("starting moto")?;
    let scenario = Scenario::read(&args.input)?;
    let quiet = args.json;

    let (reference_result, reference) = run_once(&endpoint, &scenario, None, 0).await;
    let reference = match reference {
        Ok(r) => r,
        Err(e) => bail!("the reference run failed: {e:#}"),
    };
    if !quiet {
        println!(
            "reference: {} families, {} messages at Notify, {:.1} s",
            reference.len(),
            reference_result.notify_received,
            reference_result.seconds
        );
    }

    let mut results = vec![reference_result];
    let parallel = args.parallel.max(1);
    let mut pending = chosen.into_iter().enumerate().collect::<Vec<_>>();
    pending.reverse();
    while !pending.is_empty() {
        let batch: Vec<_> = (0..parallel).filter_map(|_| pending.pop()).collect();
        let runs = batch.iter().map(|(i, class)| {
            let endpoint = endpoint.clone();
            let scenario = &scenario;
            let reference = &reference;
            async move {
                let (mut result, outcomes) =
                    run_once(&endpoint, scenario, Some(class), i + 1).await;
                match outcomes {
                    Ok(outcomes) => compare(&mut result, reference, &outcomes),
                    Err(e) => result.error = Some(format!("{e:#}")),
                }
                result
            }
        });
        for result in futures::future::join_all(runs).await {
            if !quiet {
                print_row(&result);
            }
            results.push(result);
        }
    }
    let all_passed = results.iter().all(RunResult::passed);
    let total = started.elapsed().as_secs_f64();
    let table = table(&results, total);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"passed": all_passed, "seconds": total, "runs": results})
        );
    } else {
        println!("\n{table}");
        println!(
            "{} fault classes in {total:.0} s: {}",
            results.len() - 1,
            if all_passed {
                "every family's outcome identical to the reference"
            } else {
                "FAILED"
            }
        );
    }
    if let Some(path) = &args.write {
        write_table(path, &table)?;
    }
    Ok(all_passed)
}

fn print_row(r: &RunResult) {
    println!(
        "{:<36} {:>3}/{:<3} identical  lost {}  duplicated {}  wrongly blamed {}  stuck {}  faults {}  retries {}  crashes {}  DLQ {}  {:.0} s{}",
        r.class,
        r.identical,
        r.families,
        r.lost,
        r.duplicated,
        r.wrongly_blamed,
        r.stuck,
        r.faults_fired,
        r.retries,
        r.crashes,
        r.dead_lettered,
        r.seconds,
        match (&r.error, r.passed()) {
            (Some(e), _) => format!("  ERROR: {e}"),
            (None, false) => format!("  FAILED {}", r.differences.join("; ")),
            (None, true) => String::new(),
        }
    );
}

/// The Markdown table of every run.
fn table(results: &[RunResult], total: f64) -> String {
    let mut out = format!(
        "Run on {} with `make chaos` ({} fault classes, {total:.0} s).\n\n",
        OffsetDateTime::now_utc().date(),
        results.len().saturating_sub(1)
    );
    out.push_str("| fault class | what | families identical | lost | duplicated | wrongly blamed | stuck | faults fired | retries | crashes | DLQ | result |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        out.push_str(&format!(
            "| `{}` | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.class,
            r.what,
            r.identical,
            r.families,
            r.lost,
            r.duplicated,
            r.wrongly_blamed,
            r.stuck,
            r.faults_fired,
            r.retries,
            r.crashes,
            r.dead_lettered,
            if r.passed() { "pass" } else { "**FAIL**" }
        ));
    }
    out
}

const BEGIN: &str = "<!-- chaos-table:begin -->";
const END: &str = "<!-- chaos-table:end -->";

/// Writes the table between the file's markers (the prose around them stays).
fn write_table(path: &Path, table: &str) -> Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{table}{END}");
    let updated = match (current.find(BEGIN), current.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &current[..b], &current[e + END.len()..])
        }
        _ => format!("{current}\n{block}\n"),
    };
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

/// Sets `result`'s counts from `outcomes` against the reference.
fn compare(
    result: &mut RunResult,
    reference: &BTreeMap<String, Outcome>,
    outcomes: &BTreeMap<String, Outcome>,
) {
    result.families = reference.len();
    result.identical = 0;
    for (family, want) in reference {
        let Some(got) = outcomes.get(family) else {
            result.lost += 1;
            result.differences.push(format!("{family}: missing"));
            continue;
        };
        if got == want {
            result.identical += 1;
            continue;
        }
        let missing = want.messages.iter().any(|m| !got.messages.contains(m));
        let extra = got.messages.iter().any(|m| !want.messages.contains(m))
            || got.messages.len() > want.messages.len();
        let blamed = got
            .details
            .iter()
            .any(|(detail, status)| want.details.get(detail) != Some(status));
        result.lost += usize::from(missing);
        result.duplicated += usize::from(extra);
        result.wrongly_blamed += usize::from(blamed);
        result.differences.push(format!(
            "{family}: want {:?} got {:?}; records {:?}",
            want.messages,
            got.messages,
            result.trails.get(family)
        ));
    }
}

/// The scenario's files by the day they arrive.
struct Scenario {
    by_day: BTreeMap<u32, Vec<(String, Vec<u8>)>>,
}

impl Scenario {
    fn read(dir: &Path) -> Result<Self> {
        let mut by_day: BTreeMap<u32, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        for path in crate::demo::files_under(dir)? {
            let relative = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let (day, relative) = crate::demo::day_of(&relative);
            let body =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            by_day.entry(day).or_default().push((relative, body));
        }
        if by_day.is_empty() {
            bail!("no files under {}", dir.display());
        }
        Ok(Self { by_day })
    }
}

/// Counts a run keeps while it goes.
#[derive(Default)]
struct Counters {
    retries: u64,
    crashes: u64,
}

/// The service on the local stack for one run: the functions' clients go through the fault
/// proxy; the harness's own (uploads, the redelivery AWS would do, observation) do not.
struct World {
    team: TeamCode,
    stack: LocalStack,
    observer: LocalStack,
    proxy: FaultProxy,
    webhook_proxy: FaultProxy,
    notify: LocalNotify,
    ingest: Ingest,
    dispatcher: Dispatcher,
    receipts: Receipts,
    scheduler: Scheduler,
    notify_client: sais_shared::notify::NotifyClient,
}

/// The SDK configuration the functions run with on Lambda (standard retries, a 3.1 s connect
/// timeout), pointed at `endpoint`.
fn lambda_like(endpoint: &str) -> aws_config::SdkConfig {
    with_lambda_defaults(local_sdk_config(endpoint, REGION))
}

impl World {
    async fn start(endpoint: &str, prefix: &str) -> Result<Self> {
        let team = TeamCode::parse(TEAM).context("the team code")?;
        let proxy = FaultProxy::start(endpoint)
            .await
            .context("starting the fault proxy")?;
        let observer = LocalStack::create(endpoint, prefix)
            .await
            .context("creating the template's resources on moto")?;
        let mut stack = observer.clone();
        stack.clients = AwsClients::from_config(&lambda_like(&proxy.endpoint()));

        let store = stack.store();
        let receipts = Receipts::new(
            store.clone(),
            stack.clients.sqs.clone(),
            stack.send_queue_url.clone(),
        )
        .with_technical_backoff(0);
        let base = serve_webhook(Webhook::new(receipts.clone(), TOKEN)).await?;
        let webhook_proxy = FaultProxy::start(&base)
            .await
            .context("starting the webhook's fault proxy")?;
        let callback = format!("{}/notify/{team}", webhook_proxy.endpoint());
        let notify = start_notify_sim(|c| {
            c.callback_url = Some(callback.clone());
            c.callback_bearer_token = Some(TOKEN.into());
            c.callback_delay = Duration::from_millis(50);
            c.callback_retry_interval = Duration::from_millis(300);
        })
        .await?;
        let notify_client = notify.client()?;
        let dispatcher = stack.dispatcher(
            &notify.sim.base_url(),
            &notify.api_key,
            3000,
            NOTIFY_TIMEOUT,
        )?;
        let scheduler = Scheduler::new(
            store,
            stack.clients.sqs.clone(),
            stack.send_queue_url.clone(),
        );
        Ok(Self {
            team,
            ingest: stack.ingest(),
            stack,
            observer,
            proxy,
            webhook_proxy,
            notify,
            dispatcher,
            receipts,
            scheduler,
            notify_client,
        })
    }

    fn arm(&self, injection: &Injection, day: u32) {
        match injection {
            Injection::Aws(rules) if day == 0 => {
                rules.iter().for_each(|r| self.proxy.add(r.clone()))
            }
            Injection::Webhook(rules) if day == 0 => {
                rules.iter().for_each(|r| self.webhook_proxy.add(r.clone()))
            }
            // Notify's bad minutes come on the busy days: the requests, and the reminders.
            Injection::Notify(faults) if day == 0 || day == 3 => {
                for f in faults {
                    self.notify.sim.inject_fault(*f);
                }
            }
            Injection::NotifyOutage if day == 0 => {
                self.notify.sim.inject(FaultMode::Error500, 100_000, None);
            }
            _ => {}
        }
    }

    fn faults_fired(&self) -> u64 {
        // The simulator's `server-error@` address fires in the reference run too: not a fault.
        let notify = self.notify.sim.fault_stats().fired;
        self.proxy.fired() + self.webhook_proxy.fired() + notify.total()
            - notify.server_error_address
    }

    /// Runs an SQS-fed function as Lambda's event source mapping does, until the queue is
    /// quiet: failed and unfinished messages come back (their visibility timeout has run out,
    /// and intents' leases with it) until they succeed or SQS dead-letters them.
    async fn settle_queue<F, Fut>(
        &self,
        queue_url: &str,
        counters: &mut Counters,
        handle: F,
    ) -> Result<()>
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = Result<SqsBatchResponse>>,
    {
        for _round in 0..ROUNDS {
            let crashes = counters.crashes;
            let unfinished = self.poll(queue_url, counters, &handle).await?;
            if unfinished.is_empty() {
                return Ok(());
            }
            if counters.crashes > crashes {
                // On AWS, minutes pass before SQS delivers a dead invocation's messages again:
                // a request it had in flight to Notify is long finished by then.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            counters.retries += unfinished.len() as u64;
            // Time passes: visibility timeouts and the intents' 2-minute leases run out.
            self.stack.clock.advance(time::Duration::minutes(6));
            for receipt in unfinished {
                // The harness's own client: this is SQS's clock, not a call of ours.
                let _ = self
                    .observer
                    .clients
                    .sqs
                    .change_message_visibility()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
        }
        Ok(())
    }

    /// Receives and handles until two empty receives in a row with no callbacks outstanding;
    /// returns the receipt handles of messages that were not deleted.
    async fn poll<F, Fut>(
        &self,
        queue_url: &str,
        counters: &mut Counters,
        handle: &F,
    ) -> Result<Vec<String>>
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = Result<SqsBatchResponse>>,
    {
        let mut unfinished = Vec::new();
        let mut idle = 0;
        let mut failed_receives = 0;
        while idle < 2 {
            self.notify
                .sim
                .wait_callbacks_idle(Duration::from_secs(60))
                .await;
            let received = match self
                .stack
                .clients
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
            {
                Ok(r) => r,
                Err(_) if failed_receives < 20 => {
                    // Lambda's poller retries a failed receive.
                    failed_receives += 1;
                    counters.retries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Err(e) => return Err(e).context("receiving from a queue"),
            };
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                idle += 1;
                continue;
            }
            idle = 0;
            let (event, handles) = crate::demo::sqs_event(messages);
            let mut crashed = self.proxy.crashed();
            crashed.borrow_and_update();
            let response = tokio::select! {
                r = handle(event) => Some(r),
                // The function died mid-batch: nothing after that point ran.
                _ = crashed.changed() => None,
            };
            let failed: Vec<String> = match response {
                None => {
                    counters.crashes += 1;
                    handles.iter().map(|(id, _)| id.clone()).collect()
                }
                // The whole invocation failed: Lambda returns every message to the queue.
                Some(Err(_)) => handles.iter().map(|(id, _)| id.clone()).collect(),
                Some(Ok(r)) => r
                    .batch_item_failures
                    .iter()
                    .map(|f| f.item_identifier.clone())
                    .collect(),
            };
            for (id, receipt) in handles {
                if failed.contains(&id) {
                    unfinished.push(receipt);
                    continue;
                }
                let deleted = self
                    .stack
                    .clients
                    .sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(&receipt)
                    .send()
                    .await;
                if deleted.is_err() {
                    // SQS will deliver it again: the job must do nothing the second time.
                    unfinished.push(receipt);
                }
            }
        }
        Ok(unfinished)
    }

    /// Moves every message in the send DLQ back to the send queue (SQS's DLQ redrive, done by
    /// the on-call engineer); returns how many.
    async fn redrive(&self) -> Result<u64> {
        let sqs = &self.observer.clients.sqs;
        let mut moved = 0;
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.observer.send_dlq_url)
                .max_number_of_messages(10)
                .send()
                .await
                .context("receiving from the send DLQ")?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(moved);
            }
            for m in messages {
                sqs.send_message()
                    .queue_url(&self.observer.send_queue_url)
                    .message_body(m.body.unwrap_or_default())
                    .send()
                    .await
                    .context("redriving a send job")?;
                sqs.delete_message()
                    .queue_url(&self.observer.send_dlq_url)
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .context("deleting a redriven job")?;
                moved += 1;
            }
        }
    }

    /// A daily or hourly run, retried as EventBridge Scheduler retries a failed invocation.
    async fn with_retries<T, Fut>(
        &self,
        counters: &mut Counters,
        run: impl Fn() -> Fut,
    ) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut last = None;
        for _ in 0..RUN_ATTEMPTS {
            let mut crashed = self.proxy.crashed();
            crashed.borrow_and_update();
            let outcome = tokio::select! {
                r = run() => Some(r),
                _ = crashed.changed() => None,
            };
            match outcome {
                Some(Ok(v)) => return Ok(v),
                Some(Err(e)) => last = Some(e),
                None => {
                    counters.crashes += 1;
                    last = Some(anyhow::anyhow!("crashed"));
                }
            }
            counters.retries += 1;
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
    }
}

/// One run of the scenario, with `class`'s faults or none; returns each family's outcome.
async fn run_once(
    endpoint: &str,
    scenario: &Scenario,
    class: Option<&FaultClass>,
    index: usize,
) -> (RunResult, Result<BTreeMap<String, Outcome>>) {
    let started = Instant::now();
    let mut result = RunResult {
        class: class.map_or("reference", |c| c.name).to_owned(),
        what: class.map_or("no faults", |c| c.what).to_owned(),
        ..RunResult::default()
    };
    let prefix = format!("chaos{}x{index}", std::process::id());
    let outcome = tokio::time::timeout(
        Duration::from_secs(600),
        run_scenario(endpoint, &prefix, scenario, class, &mut result),
    )
    .await
    .unwrap_or_else(|_| Err(anyhow::anyhow!("the run did not finish in 10 minutes")));
    result.seconds = started.elapsed().as_secs_f64();
    if let Ok(outcomes) = &outcome {
        result.families = outcomes.len();
        result.identical = outcomes.len();
    }
    (result, outcome)
}

async fn run_scenario(
    endpoint: &str,
    prefix: &str,
    scenario: &Scenario,
    class: Option<&FaultClass>,
    result: &mut RunResult,
) -> Result<BTreeMap<String, Outcome>> {
    let w = World::start(endpoint, prefix).await?;
    let mut counters = Counters::default();
    let mut by_day = scenario.by_day.clone();

    // Day 0's files set up the campaign; its dates give the days to simulate.
    let mut campaign: Option<sais_shared::campaign::Campaign> = None;
    let (mut first, mut days) = (Date::MIN, 1);
    let mut message_day: HashMap<String, u32> = HashMap::new();
    let mut day = 0;
    while day < days {
        if day > 0 {
            // The night: the one clock moves to the next day (leases and visibility timeouts
            // run out); the day's files are judged on that day.
            w.stack
                .clock
                .set_date(first + time::Duration::days(i64::from(day)));
        }
        for (relative, body) in by_day.remove(&day).unwrap_or_default() {
            if relative == "inbound-sms.csv" {
                for (from, message) in crate::demo::inbound_texts(&body)? {
                    w.notify.text_in(&from, &message).await?;
                }
            } else {
                // Staff upload with their own client: not the functions' calls.
                w.observer
                    .upload(&format!("{}/{relative}", w.team), body)
                    .await
                    .with_context(|| format!("uploading {relative}"))?;
            }
        }
        if let Some(class) = class {
            w.arm(&class.injection, day);
        }
        let ingest = &w.ingest;
        w.settle_queue(
            &w.stack.ingest_queue_url,
            &mut counters,
            |event| async move { Ok(ingest.handle_batch(event).await?) },
        )
        .await?;
        if campaign.is_none() {
            let c = read_campaign(&w).await?;
            let dates = CampaignDates::of(&c).context("the campaign has no session date")?;
            first = dates.requests_on;
            days = ((dates.last_send_day() - first).whole_days() + 1).max(1) as u32;
            campaign = Some(c);
        }
        let date = first + time::Duration::days(i64::from(day));
        if day == 0 {
            w.stack.clock.start_day(date);
        }
        let now = w.stack.clock.now();
        w.with_retries(&mut counters, || async {
            Ok::<_, anyhow::Error>(w.scheduler.run_all(date).await?)
        })
        .await
        .context("the daily run failed every attempt")?;
        w.with_retries(&mut counters, || async {
            w.receipts.release_due(now).await?;
            w.receipts.poll_letters(&w.notify_client, now).await?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .context("the hourly run failed every attempt")?;
        let dispatcher = &w.dispatcher;
        w.settle_queue(&w.stack.send_queue_url, &mut counters, |event| async move {
            Ok(dispatcher.handle_batch(event).await?)
        })
        .await?;
        if day == 0 && matches!(class.map(|c| &c.injection), Some(Injection::NotifyOutage)) {
            // Notify is back; the send DLQ's alarm brought the on-call engineer, who redrives it.
            w.notify.sim.clear_faults();
            result.dead_lettered += w.redrive().await?;
            w.settle_queue(&w.stack.send_queue_url, &mut counters, |event| async move {
                Ok(dispatcher.handle_batch(event).await?)
            })
            .await?;
        }
        // The letters' statuses after today's sends (Notify's hourly poll, later that day).
        w.with_retries(&mut counters, || async {
            w.receipts.poll_letters(&w.notify_client, now).await?;
            Ok::<_, anyhow::Error>(())
        })
        .await
        .context("the letter poll failed every attempt")?;
        w.settle_queue(&w.stack.send_queue_url, &mut counters, |event| async move {
            Ok(dispatcher.handle_batch(event).await?)
        })
        .await?;
        for m in w.observer.items_of_type("message").await? {
            let sent = m
                .get("state")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|s| s != "intent");
            if let Some(id) = m.get("message_id").and_then(|v| v.as_s().ok())
                && sent
            {
                message_day.entry(id.clone()).or_insert(day);
            }
        }
        day += 1;
    }
    let campaign = campaign.context("no campaign")?;

    // The outcome, read without faults.
    result.faults_fired = w.faults_fired();
    w.proxy.clear();
    w.webhook_proxy.clear();
    w.notify.sim.clear_faults();
    result.retries = counters.retries;
    result.crashes = counters.crashes;
    outcomes(&w, &campaign, &message_day, result).await
}

/// The scenario's campaign, as ingest saved it (read without faults).
async fn read_campaign(w: &World) -> Result<sais_shared::campaign::Campaign> {
    let store = w.observer.store();
    for c in store.active_campaigns(Date::MIN).await? {
        if c.team == w.team
            && let Some(campaign) = store.campaign(&w.team, &c.campaign_id).await?
        {
            return Ok(campaign);
        }
    }
    bail!("the scenario's campaign file was not imported")
}

async fn queue_depth(stack: &LocalStack, url: &str) -> Result<u64> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    let attrs = out.attributes.unwrap_or_default();
    let n = |a: A| {
        attrs
            .get(&a)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible))
}

async fn outcomes(
    w: &World,
    campaign: &sais_shared::campaign::Campaign,
    message_day: &HashMap<String, u32>,
    result: &mut RunResult,
) -> Result<BTreeMap<String, Outcome>> {
    let stack = &w.observer;
    let store = stack.store();
    let report = campaign_report::build(&store, &w.team, campaign).await?;

    let mut by_child: HashMap<String, String> = HashMap::new();
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut family_of_message: HashMap<String, String> = HashMap::new();
    let mut family_of_detail: HashMap<String, String> = HashMap::new();
    for row in &report.rows {
        by_child.insert(row.child_id.clone(), row.first_name.clone());
        let o = outcomes.entry(row.first_name.clone()).or_default();
        o.follow_up |= row.manual_follow_up;
        if row.message_id.is_empty() {
            o.skipped.insert(format!("{}:{}", row.purpose, row.reason));
        } else {
            o.messages.push((
                message_day
                    .get(&row.message_id)
                    .copied()
                    .unwrap_or(u32::MAX),
                row.purpose.clone(),
                row.channel.clone(),
                row.status.clone(),
                row.reason.clone(),
            ));
            family_of_message.insert(row.message_id.clone(), row.first_name.clone());
            let detail = match row.channel.as_str() {
                "email" => ContactDetail::Email(row.recipient.clone()).key(),
                "sms" => ContactDetail::Phone(row.recipient.clone()).key(),
                _ => String::new(),
            };
            if !detail.is_empty() {
                family_of_detail.insert(detail, row.first_name.clone());
            }
        }
    }
    for o in outcomes.values_mut() {
        o.messages.sort();
    }
    // Contact-detail statuses (failed, opted out), each to its family.
    for item in stack.items_of_type("contact_status").await? {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let (Some(detail), Some(status)) = (text("detail"), text("status")) else {
            continue;
        };
        let family = family_of_detail
            .get(&detail)
            .cloned()
            .unwrap_or_else(|| "(no family)".to_owned());
        outcomes
            .entry(family)
            .or_default()
            .details
            .insert(detail, status);
    }
    // Nothing sent twice: every reference reached Notify once.
    let received = w.notify.sim.received();
    result.notify_received = received.len();
    let mut references: HashMap<String, u32> = HashMap::new();
    for n in &received {
        *references
            .entry(n.reference.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let mut duplicated: BTreeSet<String> = BTreeSet::new();
    let records: HashMap<String, Item> = stack
        .items_of_type("message")
        .await?
        .into_iter()
        .filter_map(|m| Some((m.get("message_id")?.as_s().ok()?.clone(), m)))
        .collect();
    for (reference, count) in &references {
        if *count > 1 {
            let family = family_of_message
                .get(reference)
                .cloned()
                .unwrap_or_else(|| "(no family)".to_owned());
            let record = records.get(reference);
            let text = |name: &str| {
                record
                    .and_then(|r| r.get(name))
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            result.differences.push(format!(
                "{family}: {} {} {} sent {count} times (record {}/{})",
                text("purpose"),
                text("channel"),
                &reference[..8.min(reference.len())],
                text("state"),
                text("status"),
            ));
            duplicated.insert(family);
        }
    }
    result.duplicated += duplicated.len();
    // What each family's records hold, to explain a difference.
    let open: BTreeSet<String> = store
        .open_letters()
        .await?
        .into_iter()
        .map(|l| l.message_id)
        .collect();
    for item in stack.items_of_type("message").await? {
        let Ok(m) = serde_dynamo::from_item::<_, sais_shared::store::MessageRecord>(item) else {
            continue;
        };
        let family = by_child.get(&m.child_id).cloned().unwrap_or_default();
        let history: Vec<&str> = m.status_history.iter().map(|c| c.status.as_str()).collect();
        result.trails.entry(family).or_default().push(format!(
            "{} {} {} {} {:?}{}",
            m.purpose.as_str(),
            m.channel.as_str(),
            &m.message_id[..8.min(m.message_id.len())],
            m.state,
            history,
            if open.contains(&m.message_id) {
                " (polled)"
            } else {
                ""
            }
        ));
    }
    // Nothing stuck: no intent left, nothing dead-lettered, nothing left on a queue.
    let mut stuck: BTreeSet<String> = BTreeSet::new();
    for m in stack.items_of_type("message").await? {
        if m.get("state")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            == Some("intent")
        {
            let child = m
                .get("child_id")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            stuck.insert(by_child.get(&child).cloned().unwrap_or(child));
        }
    }
    let dlq = queue_depth(stack, &stack.send_dlq_url).await?
        + queue_depth(stack, &stack.ingest_dlq_url).await?;
    result.dead_lettered += dlq;
    let left = queue_depth(stack, &stack.send_queue_url).await?
        + queue_depth(stack, &stack.ingest_queue_url).await?;
    if dlq + left > 0 {
        stuck.insert(format!("({dlq} dead-lettered, {left} left on a queue)"));
    }
    result.stuck += stuck.len();
    for s in stuck {
        result.differences.push(format!("{s}: stuck"));
    }
    Ok(outcomes)
}
