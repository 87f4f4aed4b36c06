//! `sais demo`: the whole service on the local stack, day by day, over a folder that mirrors a
//! team's S3 prefix (`cohort/`, `class-list/<URN>/`, `responses/`, `objections/`,
//! `campaigns/`, `team.json`). Files under `day-<N>/` are uploaded at the start of simulated
//! day N (day 0 is the earliest consent-request day), and `day-<N>/inbound-sms.csv`
//! (`FROM,MESSAGE`) sends texts in through the Notify simulator that day. Each day runs the real
//! ingest, the daily schedule, the dispatcher against the simulator, the webhook over local HTTP
//! and the hourly due work; at the end, the campaign reports are written and summarised, and
//! everything in the team's `reports/` folder is copied to a local folder (`--out`,
//! `demo-output/` by default) whose campaign page the last line names.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use sais_local::{
    LocalNotify, LocalStack, example_campaign, serve_webhook, shared_moto_endpoint,
    start_notify_sim,
};
use sais_shared::campaign_report;
use sais_shared::ingest::Ingest;
use sais_shared::receipts::Receipts;
use sais_shared::schedule::CampaignDates;
use sais_shared::schedule::runner::Scheduler;
use sais_shared::uploads::TeamCode;
use sais_shared::webhook::Webhook;
use serde_json::json;
use time::{Date, OffsetDateTime};

/// Arguments of `sais demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A folder laid out like a team's prefix: `cohort/`, `class-list/<URN>/`, `day-<N>/`, ….
    #[arg(long)]
    input: PathBuf,
    /// The team code the files are uploaded under.
    #[arg(long, default_value = "DEMO-sais")]
    team: String,
    /// Simulate this many days (default: from the first request day to the last session).
    #[arg(long)]
    days: Option<u32>,
    /// Print the outcome as JSON: the summary and, per child, every message and skip.
    #[arg(long)]
    json: bool,
    /// Write every function's JSON log lines to this file.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// The prefix of the local resources' names (the SAM template's `Prefix`); tests running
    /// demos side by side on one moto server give each its own.
    #[arg(long, default_value = "sais")]
    stack_prefix: String,
    /// Where to leave every report the run made, as in the team's folder (`reports/…`):
    /// created if missing, and a previous demo's reports there removed first.
    #[arg(long, default_value = "demo-output")]
    out: PathBuf,
}

/// The file that marks a folder as a demo's output, so a later run may replace its reports.
const OUT_MARKER: &str = ".sais-demo";

/// Makes `out` ready for this run's reports: created if missing, a previous demo's `reports/`
/// removed. A `reports/` folder that no demo wrote is left alone, and the run refused.
fn prepare_out(out: &Path) -> Result<(), String> {
    let reports = out.join("reports");
    if reports.exists() {
        if !out.join(OUT_MARKER).exists() {
            return Err(format!(
                "{} holds a reports/ folder no demo wrote; choose another --out",
                out.display()
            ));
        }
        std::fs::remove_dir_all(&reports)
            .map_err(|e| format!("cannot remove the last run's {}: {e}", reports.display()))?;
    }
    std::fs::create_dir_all(out)
        .and_then(|()| {
            std::fs::write(
                out.join(OUT_MARKER),
                "Written by `sais demo`: its reports/ folder is replaced at each run.\n",
            )
        })
        .map_err(|e| format!("cannot write to {}: {e}", out.display()))
}

/// Runs `sais demo`.
pub fn run(args: Args) -> ExitCode {
    if let Some(path) = &args.log_file {
        match std::fs::File::create(path) {
            Ok(file) => sais_shared::telemetry::init_json_logs_to_file(file),
            Err(e) => {
                eprintln!("sais demo: cannot write the log file: {e}");
                return ExitCode::from(crate::EX_USAGE);
            }
        }
    }
    if let Err(e) = prepare_out(&args.out) {
        eprintln!("sais demo: {e}");
        return ExitCode::from(crate::EX_USAGE);
    }
    crate::block_on("sais demo", demo(&args))
}

pub(crate) fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Prints (unless quiet) and says something to the person watching.
macro_rules! say {
    ($quiet:expr, $($arg:tt)*) => {
        if !$quiet {
            println!($($arg)*);
        }
    };
}

/// Which simulated day a file belongs to: `day-<N>/…` is day N, anything else day 0.
pub(crate) fn day_of(relative: &str) -> (u32, String) {
    if let Some(rest) = relative.strip_prefix("day-")
        && let Some((n, path)) = rest.split_once('/')
        && let Ok(n) = n.parse()
    {
        return (n, path.to_owned());
    }
    (0, relative.to_owned())
}

struct Demo<'a> {
    args: &'a Args,
    stack: LocalStack,
    ingest: Ingest,
    quiet: bool,
    /// A day's heading, printed before the first thing that happens that day (a day on which
    /// nothing happens is not shown).
    heading: RefCell<Option<String>>,
}

impl Demo<'_> {
    /// Says something to the person watching (unless quiet), under the pending heading.
    fn say(&self, line: impl std::fmt::Display) {
        if self.quiet {
            return;
        }
        if let Some(heading) = self.heading.take() {
            println!("{heading}");
        }
        println!("{line}");
    }

    async fn upload(&self, relative: &str, body: Vec<u8>) -> Result<()> {
        let key = format!("{}/{relative}", self.args.team);
        self.stack
            .upload(&key, body)
            .await
            .with_context(|| format!("uploading {key}"))?;
        self.say(format_args!("  uploaded {key}"));
        Ok(())
    }

    /// Runs the ingest function on what S3 announced, and prints each new report.
    async fn ingest_uploads(&self, seen: &mut Vec<String>) -> Result<Vec<serde_json::Value>> {
        let ingest = &self.ingest;
        drain(
            &self.stack,
            &self.stack.ingest_queue_url,
            None,
            |event| async move { Ok(ingest.handle_batch(event).await?) },
        )
        .await?;
        let listed = self
            .stack
            .clients
            .s3
            .list_objects_v2()
            .bucket(self.stack.bucket())
            .prefix(format!("{}/reports/", self.args.team))
            .send()
            .await?;
        let mut reports = Vec::new();
        for object in listed.contents() {
            let Some(key) = object.key() else { continue };
            if !key.ends_with(".report.json") || seen.iter().any(|k| k == key) {
                continue;
            }
            seen.push(key.to_owned());
            let body = self
                .stack
                .clients
                .s3
                .get_object()
                .bucket(self.stack.bucket())
                .key(key)
                .send()
                .await?
                .body
                .collect()
                .await?
                .into_bytes();
            let report: serde_json::Value = serde_json::from_slice(&body)?;
            self.say(format_args!(
                "  {:<45} {:<10} {:>6} rows  {:>4} errors  {:>5} warnings",
                report["file"].as_str().unwrap_or(""),
                report["status"].as_str().unwrap_or(""),
                report["rows"],
                report["errors"].as_array().map_or(0, Vec::len)
                    + report["file_errors"].as_array().map_or(0, Vec::len),
                report["warnings"].as_array().map_or(0, Vec::len),
            ));
            reports
                .push(json!({"report": key, "status": report["status"], "rows": report["rows"]}));
        }
        Ok(reports)
    }
}

async fn demo(args: &Args) -> Result<()> {
    let quiet = args.json;
    let team = TeamCode::parse(&args.team).context("the team code")?;
    let endpoint = shared_moto_endpoint().context("starting moto")?;
    let stack = LocalStack::create(&endpoint, &args.stack_prefix)
        .await
        .context("creating the template's resources on moto")?;
    say!(quiet, "Local stack: moto at {endpoint}");
    say!(
        quiet,
        "  bucket {}  table {}",
        stack.bucket(),
        stack.table()
    );

    // The files, by the day they arrive.
    let mut by_day: BTreeMap<u32, Vec<(String, PathBuf)>> = BTreeMap::new();
    for path in files_under(&args.input)? {
        let relative = path
            .strip_prefix(&args.input)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let (day, relative) = day_of(&relative);
        by_day.entry(day).or_default().push((relative, path));
    }

    // Notify (the simulator) calls the real webhook, served over local HTTP.
    // The demo does not wait out SQS delays: technical-failure retries go at once.
    let service = Service::start(&stack, &team, Duration::from_millis(50), 0).await?;
    // The templates the campaign files name, created in the simulated Notify service as a team
    // writes them in its own (`sais templates`): ingest checks each campaign against them.
    let created = create_templates(&service.notify, by_day.values().flatten())?;
    if created > 0 {
        say!(
            quiet,
            "Notify templates: {created} created in the simulator's service, as `sais templates` lists them"
        );
    }
    let services = stack.team_services(
        &service.notify.sim.base_url(),
        &service.notify.api_key,
        3000,
        Duration::from_secs(10),
    )?;
    let demo = Demo {
        args,
        ingest: stack
            .ingest()
            .with_template_check(std::sync::Arc::new(services)),
        stack,
        quiet,
        heading: RefCell::new(Some("Day 0 files:".to_owned())),
    };
    let stack = &demo.stack;
    let mut seen_reports = Vec::new();
    let mut uploads = Vec::new();
    for (relative, path) in by_day.remove(&0).unwrap_or_default() {
        let body = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        demo.upload(&relative, body).await?;
    }
    uploads.extend(demo.ingest_uploads(&mut seen_reports).await?);

    // The campaigns: those uploaded, or an example HPV campaign over every school.
    let store = stack.store();
    let mut campaigns = Vec::new();
    for c in store.active_campaigns(Date::MIN).await? {
        if c.team == team
            && let Some(campaign) = store.campaign(&team, &c.campaign_id).await?
        {
            campaigns.push(campaign);
        }
    }
    if campaigns.is_empty() {
        let mut schools: Vec<String> = stack
            .items_of_type("child")
            .await?
            .iter()
            .filter_map(|c| c.get("school_urn").and_then(|v| v.as_s().ok()).cloned())
            .collect();
        schools.sort();
        schools.dedup();
        let today = OffsetDateTime::now_utc().date();
        let mut campaign = example_campaign("demo-hpv", "hpv", today + time::Duration::days(21));
        campaign.schools = schools;
        store.put_campaign(&team, &campaign).await?;
        say!(
            quiet,
            "No campaign file: using an example HPV campaign over every school."
        );
        campaigns.push(campaign);
    }
    let dates: Vec<CampaignDates> = campaigns.iter().filter_map(CampaignDates::of).collect();
    let Some(first) = dates.iter().map(|d| d.requests_on).min() else {
        bail!("no campaign has a session date");
    };
    let last = dates
        .iter()
        .map(CampaignDates::last_send_day)
        .max()
        .unwrap_or(first);
    let days = args
        .days
        .unwrap_or(((last - first).whole_days() + 1).max(1) as u32);

    let Service {
        receipts,
        webhook,
        notify,
        notify_client,
        dispatcher,
        scheduler,
    } = &service;
    say!(
        quiet,
        "Notify simulator at {}; its callbacks go to the webhook at {webhook}",
        notify.sim.base_url()
    );

    // Day by day: files, inbound texts, the daily schedule, sending, receipts, due work.
    let mut message_day: HashMap<String, u32> = HashMap::new();
    let mut failed_jobs: Vec<String> = Vec::new();
    for day in 0..days {
        if day > 0 {
            overnight(stack, std::mem::take(&mut failed_jobs)).await?;
        }
        let date = first + time::Duration::days(i64::from(day));
        // The one clock the service runs on moves to the simulated day: files are judged on
        // it, leases and retries run on it.
        if day == 0 {
            stack.clock.start_day(date);
        } else {
            stack.clock.set_date(date);
        }
        let now = stack.clock.now();
        demo.heading.replace(Some(format!("\nDay {day} ({date}):")));
        for (relative, path) in by_day.remove(&day).unwrap_or_default() {
            let body =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            if relative == "inbound-sms.csv" {
                let texts = inbound_texts(&body)?;
                for (from, message) in &texts {
                    notify.text_in_at(from, message, Some(now)).await?;
                }
                notify
                    .sim
                    .wait_callbacks_idle(Duration::from_secs(30))
                    .await;
                demo.say(format_args!("  {} texts came in from parents", texts.len()));
            } else {
                demo.upload(&relative, body).await?;
            }
        }
        uploads.extend(demo.ingest_uploads(&mut seen_reports).await?);
        for run in scheduler.run_all(date).await? {
            for o in &run.occasions {
                let not_chased = o.not_chased.values().sum::<u64>();
                // An occasion that sent nobody and passed nobody over did nothing to show.
                if o.queued == 0 && not_chased == 0 {
                    continue;
                }
                demo.say(format_args!(
                    "  {}: {} queued {}, not chased {}",
                    run.campaign_id, o.purpose, o.queued, not_chased
                ));
            }
        }
        let retries = receipts.release_due(now).await?;
        let letters = receipts.poll_letters(notify_client, now).await?;
        if retries + letters > 0 {
            demo.say(format_args!(
                "  due work: {retries} retries queued, {letters} letters updated"
            ));
        }
        let drained = drain(
            stack,
            &stack.send_queue_url,
            Some(notify),
            |event| async move { Ok(dispatcher.handle_batch(event).await?) },
        )
        .await?;
        let jobs = drained.handled;
        if !drained.failed.is_empty() {
            demo.say(format_args!(
                "  {} jobs failed and wait for SQS to deliver them again",
                drained.failed.len()
            ));
        }
        failed_jobs = drained.failed;
        if jobs > 0 {
            demo.say(format_args!("  dispatcher ran {jobs} jobs"));
            // Messages are only made by the dispatcher: note the day each went to Notify
            // (an intent left by a failed attempt goes on a later day).
            for m in stack.items_of_type("message").await? {
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
        }
    }

    // The reports a team reads. (A last day on which nothing happened is not shown.)
    demo.heading.take();
    let mut summaries = Vec::new();
    // Each campaign's page, as the team's folder names it (`<team>/reports/campaigns/<id>.html`).
    let mut pages = Vec::new();
    // In the report's order (by last name), each child once.
    let mut children: Vec<serde_json::Value> = Vec::new();
    let mut child_index: HashMap<String, usize> = HashMap::new();
    let publisher = campaign_report::ReportPublisher::new(
        store.clone(),
        stack.clients.s3.clone(),
        stack.bucket(),
    );
    for campaign in &campaigns {
        let (report, keys) = publisher.make(&team, campaign).await?;
        pages.extend(keys.into_iter().filter(|k| k.ends_with(".html")));
        if !quiet {
            println!();
            crate::report::print_summary(&report.summary);
            crate::report::print_follow_up(&report);
        }
        for row in &report.rows {
            let index = *child_index.entry(row.child_id.clone()).or_insert_with(|| {
                children.push(json!({
                    "nhs_number": row.nhs_number,
                    "first_name": row.first_name,
                    "last_name": row.last_name,
                    "messages": [],
                    "manual_follow_up": false,
                    "skipped": [],
                }));
                children.len() - 1
            });
            let child = &mut children[index];
            if row.manual_follow_up {
                child["manual_follow_up"] = json!(true);
            }
            if row.message_id.is_empty() {
                child["skipped"]
                    .as_array_mut()
                    .expect("a list")
                    .push(json!({"purpose": row.purpose, "reason": row.reason}));
            } else {
                child["messages"]
                    .as_array_mut()
                    .expect("a list")
                    .push(json!({
                        "day": message_day.get(&row.message_id),
                        "purpose": row.purpose,
                        "channel": row.channel,
                        "recipient": row.recipient,
                        "status": row.status,
                        "reason": row.reason,
                    }));
            }
        }
        summaries.push(report.summary);
    }
    for child in &mut children {
        if let Some(messages) = child["messages"].as_array_mut() {
            messages.sort_by_key(|m| {
                (
                    m["day"].as_u64(),
                    m["purpose"].to_string(),
                    m["channel"].to_string(),
                )
            });
        }
    }
    // Nobody is sent the same message twice: every reference reached Notify once.
    let received = notify.sim.received();
    let mut references: HashMap<String, u32> = HashMap::new();
    for n in &received {
        *references
            .entry(n.reference.clone().unwrap_or_default())
            .or_default() += 1;
    }
    let duplicates: u32 = references.values().map(|c| c - 1).sum();
    say!(
        quiet,
        "\nNotify received {} messages; sent twice: {duplicates}.",
        received.len()
    );

    // Everything the run wrote to the team's reports folder, kept: the bucket goes with moto.
    let reports_dir = args.out.join("reports");
    let written = crate::reports::fetch(&stack.clients.s3, &stack.bucket(), &team, &reports_dir)
        .await
        .context("copying the reports out of the bucket")?;
    let reports_dir = crate::reports::display_dir(&reports_dir);
    let report_prefix = format!("{team}/reports/");
    let pages: Vec<String> = pages
        .iter()
        .filter_map(|key| key.strip_prefix(&report_prefix))
        .map(|relative| Path::new(&reports_dir).join(relative).display().to_string())
        .collect();
    say!(
        quiet,
        "\nThe reports, copied from the bucket to {reports_dir}/ ({} files):",
        written.len()
    );
    for path in &written {
        say!(quiet, "  {}", path.display());
    }
    say!(quiet, "");
    for page in &pages {
        say!(quiet, "Open the campaign page: {page}");
    }
    if args.json {
        let summary = if summaries.len() == 1 {
            serde_json::to_value(&summaries[0])?
        } else {
            serde_json::to_value(&summaries)?
        };
        println!(
            "{}",
            json!({
                "summary": summary,
                "notify_received": received.len(),
                "duplicates": duplicates,
                "uploads": uploads,
                "children": children,
                "out": crate::reports::display_dir(&args.out),
                "pages": pages,
            })
        );
    }
    Ok(())
}

/// The bearer token the local webhook accepts from the simulator.
pub(crate) const CALLBACK_TOKEN: &str = "local-demo-callback-token";

/// The service's functions on the local stack, wired as on AWS: the real webhook served over
/// local HTTP, the Notify simulator calling it, the dispatcher sending to the simulator, the
/// daily schedule and the due work (`receipts`).
pub(crate) struct Service {
    pub(crate) receipts: Receipts,
    /// The webhook's URL for the team, as configured in Notify.
    pub(crate) webhook: String,
    pub(crate) notify: LocalNotify,
    pub(crate) notify_client: sais_shared::notify::NotifyClient,
    pub(crate) dispatcher: sais_shared::dispatch::Dispatcher,
    pub(crate) scheduler: Scheduler,
}

impl Service {
    /// Starts the webhook and the simulator for `team`; `technical_backoff` is the first
    /// technical-failure retry's delay in seconds.
    pub(crate) async fn start(
        stack: &LocalStack,
        team: &TeamCode,
        callback_delay: Duration,
        technical_backoff: i32,
    ) -> Result<Self> {
        let store = stack.store();
        let receipts = Receipts::new(
            store.clone(),
            stack.clients.sqs.clone(),
            stack.send_queue_url.clone(),
        )
        .with_technical_backoff(technical_backoff);
        let base = serve_webhook(Webhook::new(receipts.clone(), CALLBACK_TOKEN)).await?;
        let webhook = format!("{base}/notify/{team}");
        let notify = start_notify_sim(|c| {
            c.callback_url = Some(webhook.clone());
            c.callback_bearer_token = Some(CALLBACK_TOKEN.into());
            c.callback_delay = callback_delay;
        })
        .await?;
        let notify_client = notify.client()?;
        let dispatcher = stack.dispatcher(
            &notify.sim.base_url(),
            &notify.api_key,
            3000,
            Duration::from_secs(10),
        )?;
        let scheduler = Scheduler::new(
            store,
            stack.clients.sqs.clone(),
            stack.send_queue_url.clone(),
        );
        Ok(Self {
            receipts,
            webhook,
            notify,
            notify_client,
            dispatcher,
            scheduler,
        })
    }
}

/// Creates in the simulator's service a template for each one the campaign files among `files`
/// name, of its channel's kind and using only placeholders the service fills; how many.
fn create_templates<'a>(
    notify: &LocalNotify,
    files: impl Iterator<Item = &'a (String, PathBuf)>,
) -> Result<usize> {
    use sais_shared::notify::placeholders::filled;
    use sais_shared::policy::Channel;
    let mut created = 0;
    for (relative, path) in files {
        if !(relative.starts_with("campaigns/") && relative.ends_with(".json")) {
            continue;
        }
        // A file that is not a campaign is ingest's to report; it names no templates here.
        let Ok(campaign) = serde_json::from_slice::<serde_json::Value>(&std::fs::read(path)?)
        else {
            continue;
        };
        let values: BTreeMap<String, String> = campaign["personalisation"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let Some(purposes) = campaign["templates"].as_object() else {
            continue;
        };
        for (purpose, channels) in purposes {
            for (channel, id) in channels.as_object().into_iter().flatten() {
                let Some(id) = id.as_str().and_then(|i| uuid::Uuid::parse_str(i).ok()) else {
                    continue;
                };
                let (kind, name) = match channel.as_str() {
                    "email" => (Channel::Email, format!("{purpose} email")),
                    "sms" => (Channel::Sms, format!("{purpose} text")),
                    "letter" => (Channel::Letter, format!("{purpose} letter")),
                    _ => continue,
                };
                let body: Vec<String> = filled(kind, &values)
                    .into_iter()
                    .filter(|p| !p.name.contains('…') && p.name != "consent_url")
                    .map(|p| format!("(({}))", p.name))
                    .collect();
                let body = format!("{} {}", body.join(" "), "Reply on the consent form.");
                let template = match kind {
                    Channel::Email => {
                        notify_sim::Template::email(id, &name, "About ((child_first_name))", &body)
                    }
                    Channel::Sms => notify_sim::Template::sms(id, &name, &body),
                    Channel::Letter => {
                        notify_sim::Template::letter(id, &name, "About ((child_first_name))", &body)
                    }
                };
                notify
                    .sim
                    .put_template(template)
                    .map_err(|e| anyhow::anyhow!("template {id}: {e}"))?;
                created += 1;
            }
        }
    }
    Ok(created)
}

/// The night between two simulated days: what hours of real time do on AWS. Send jobs that
/// failed become visible again (their 6-minute visibility timeout has run out); the clock's
/// move to the next day lets intents' 2-minute leases expire, so the next day's attempt may
/// reconcile with Notify and send.
async fn overnight(stack: &LocalStack, failed: Vec<String>) -> Result<()> {
    for receipt in failed {
        stack
            .clients
            .sqs
            .change_message_visibility()
            .queue_url(&stack.send_queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .context("making a failed send job visible again")?;
    }
    Ok(())
}

/// `FROM,MESSAGE` rows (a header first).
pub(crate) fn inbound_texts(body: &[u8]) -> Result<Vec<(String, String)>> {
    let mut reader = csv::Reader::from_reader(body);
    let mut texts = Vec::new();
    for record in reader.records() {
        let record = record.context("reading inbound-sms.csv")?;
        texts.push((
            record.get(0).unwrap_or_default().trim().to_owned(),
            record.get(1).unwrap_or_default().to_owned(),
        ));
    }
    Ok(texts)
}

/// The SQS event Lambda's event source mapping would deliver for `messages`, and each
/// message's (id, receipt handle) for deleting or returning it afterwards.
pub(crate) fn sqs_event(
    messages: Vec<aws_sdk_sqs::types::Message>,
) -> (SqsEvent, Vec<(String, String)>) {
    let mut event = SqsEvent::default();
    let mut receipts = Vec::new();
    for m in messages {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.body = m.body;
        receipts.push((
            m.message_id.unwrap_or_default(),
            m.receipt_handle.unwrap_or_default(),
        ));
        event.records.push(record);
    }
    (event, receipts)
}

/// What one drain of a queue did.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Messages handled and deleted.
    pub handled: usize,
    /// Receipt handles of messages whose handling failed: as on AWS they stay invisible until
    /// their visibility timeout runs out, then SQS delivers them again.
    pub failed: Vec<String>,
}

/// The local poller, as Lambda's SQS event source mapping: receives batches, hands them to
/// `handle`, deletes what succeeded. Stops after two empty receives in a row (and, with a
/// simulator, once its callbacks are done).
pub(crate) async fn drain<F, Fut>(
    stack: &LocalStack,
    queue_url: &str,
    notify: Option<&LocalNotify>,
    handle: F,
) -> Result<Drained>
where
    F: Fn(SqsEvent) -> Fut,
    Fut: std::future::Future<Output = Result<SqsBatchResponse>>,
{
    let mut drained = Drained::default();
    let mut idle = 0;
    // Two empty receives in a row, with no callbacks outstanding, and the queue is done: what
    // the handlers and the webhook queue is visible at once (the demo does not wait out SQS
    // delays, such as the backoff of a technical-failure retry).
    while idle < 2 {
        if let Some(notify) = notify {
            notify
                .sim
                .wait_callbacks_idle(Duration::from_secs(30))
                .await;
        }
        let received = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .context("receiving from a queue")?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        let (event, receipts) = sqs_event(messages);
        let response = handle(event).await?;
        for (id, receipt) in receipts {
            if response
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id)
            {
                drained.failed.push(receipt);
                continue;
            }
            stack
                .clients
                .sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(receipt)
                .send()
                .await?;
            drained.handled += 1;
        }
    }
    Ok(drained)
}
