//! `sais generate` and `sais bench`: synthetic data and the benchmarks of benchmarks.md. Every
//! benchmark measures its own baseline in the same run, so a busy machine does not change the
//! verdict, and prints JSON.

use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sais_local::LocalStack;
use sais_shared::files::children::ChildFileKind;
use sais_shared::files::report::Status;
use sais_shared::files::validate_child_file;
use sais_shared::generate::write_cohort;
use serde_json::json;
use time::OffsetDateTime;

/// `sais generate …`.
#[derive(Debug, clap::Subcommand)]
pub enum Generate {
    /// A realistic synthetic cohort CSV on stdout.
    Cohort {
        /// How many children.
        #[arg(long)]
        rows: u64,
        /// Seed for the generator (the same seed gives the same file).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Fraction of rows to break (0.0–1.0), each in one of several realistic ways.
        #[arg(long, default_value_t = 0.0)]
        invalid_rate: f64,
    },
}

/// `sais bench …`.
#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// Validation and normalisation speed against a bare CSV parse of the same bytes.
    Ingest {
        /// Rows in the generated file.
        #[arg(long, default_value_t = 200_000)]
        rows: u64,
        /// Timed runs of each side; the fastest counts.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// DynamoDB write requests per 1,000 rows through the real ingest on the local emulator.
    Store {
        /// Rows in the generated file.
        #[arg(long, default_value_t = 20_000)]
        rows: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sending through the real dispatcher code, SQS and DynamoDB on the emulator and the Notify
    /// simulator with that rate limit and latency; duplicates and losses counted at the simulator.
    Dispatch {
        /// Send jobs to queue (one email each).
        #[arg(long, default_value_t = 1000)]
        messages: u64,
        /// The Notify service's rate limit, per minute.
        #[arg(long, default_value_t = 1200)]
        rate_limit: u32,
        /// Notify's response time, in milliseconds.
        #[arg(long, default_value_t = 50)]
        latency_ms: u64,
        /// Dispatchers running at once.
        #[arg(long, default_value_t = 2)]
        dispatchers: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The daily schedule's request day for one campaign on the local emulator: children over
    /// several schools, every job queued; time, jobs and peak memory.
    Schedule {
        /// Children in the campaign.
        #[arg(long, default_value_t = 3000)]
        children: u64,
        /// Schools they are spread over.
        #[arg(long, default_value_t = 30)]
        schools: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Peak memory and speed of `sais validate` on a generated file, measured by the OS.
    Validate {
        /// Rows in the generated file.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `sais generate`.
pub fn generate(command: Generate) -> ExitCode {
    let Generate::Cohort {
        rows,
        seed,
        invalid_rate,
    } = command;
    if !(0.0..=1.0).contains(&invalid_rate) {
        eprintln!("sais generate: --invalid-rate must be between 0 and 1");
        return ExitCode::from(crate::EX_USAGE);
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    match write_cohort(&mut out, rows, seed, invalid_rate) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sais generate: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs `sais bench`.
pub fn bench(command: Bench) -> ExitCode {
    let result = match command {
        Bench::Ingest { rows, runs, json } => bench_ingest(rows, runs.max(1)).map(|v| (v, json)),
        Bench::Store { rows, json } => bench_store(rows).map(|v| (v, json)),
        Bench::Validate { rows, json } => bench_validate(rows).map(|v| (v, json)),
        Bench::Schedule {
            children,
            schools,
            json,
        } => bench_schedule(children, schools.max(1)).map(|v| (v, json)),
        Bench::Dispatch {
            messages,
            rate_limit,
            latency_ms,
            dispatchers,
            json,
        } => crate::bench_dispatch::run(messages, rate_limit, latency_ms, dispatchers.max(1))
            .map(|v| (v, json)),
    };
    match result {
        Ok((value, json)) => {
            if json {
                println!("{value}");
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sais bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn cohort_bytes(rows: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(rows as usize * 260);
    write_cohort(&mut bytes, rows, 42, 0.0).expect("writing to memory cannot fail");
    bytes
}

/// The process's peak resident set so far, from the OS, in MiB.
pub fn peak_rss_mib(who: i32) -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return f64::NAN;
    }
    // Linux reports kilobytes.
    usage.ru_maxrss as f64 / 1024.0
}

fn fastest(runs: u32, mut f: impl FnMut() -> u64) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..runs {
        let start = Instant::now();
        count = black_box(f());
        best = best.min(start.elapsed());
    }
    (best, count)
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn bench_ingest(rows: u64, runs: u32) -> Result<serde_json::Value> {
    let bytes = cohort_bytes(rows);
    let today = OffsetDateTime::now_utc().date();

    let (baseline, parsed) = fastest(runs, || {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(&bytes[..]);
        let mut record = csv::ByteRecord::new();
        let mut n = 0;
        while reader.read_byte_record(&mut record).unwrap_or(false) {
            black_box(&record);
            n += 1;
        }
        n
    });
    let (ingest, valid) = fastest(runs, || {
        let mut n = 0;
        let report = validate_child_file(
            "bench.csv",
            &ChildFileKind::Cohort,
            today,
            None,
            || Ok(&bytes[..]),
            |row| {
                black_box(&row);
                n += 1;
            },
        );
        assert_eq!(
            report.status,
            Status::Imported,
            "the generated file is valid"
        );
        n
    });
    if parsed != rows || valid != rows {
        bail!("expected {rows} rows; the baseline read {parsed} and ingest {valid}");
    }
    let per_s = |d: Duration| rows as f64 / d.as_secs_f64();
    Ok(json!({
        "rows": rows,
        "bytes": bytes.len(),
        "baseline_rows_per_s": per_s(baseline).round(),
        "ingest_rows_per_s": per_s(ingest).round(),
        "ratio": round(ingest.as_secs_f64() / baseline.as_secs_f64(), 3),
        "peak_rss_mib": round(peak_rss_mib(libc::RUSAGE_SELF), 1),
    }))
}

fn bench_store(rows: u64) -> Result<serde_json::Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async {
        let stack = LocalStack::isolated()
            .await
            .context("starting the local stack (moto)")?;
        let bytes = cohort_bytes(rows);
        let key = "BENCH/cohort/bench.csv";
        let object = stack
            .upload(key, bytes)
            .await
            .context("uploading the generated file")?;
        let ingest = stack.ingest();
        let start = Instant::now();
        let outcome = ingest.ingest_object(&object).await.context("ingest")?;
        let elapsed = start.elapsed();
        let stats = ingest.write_stats();
        if stats.items < rows {
            bail!(
                "only {} of {rows} rows were written ({outcome:?})",
                stats.items
            );
        }
        Ok(json!({
            "rows": rows,
            "write_requests": stats.requests,
            "requests_per_1000_rows": round(stats.requests as f64 * 1000.0 / rows as f64, 2),
            "unprocessed_retried": stats.unprocessed_retried,
            "rows_per_s": (rows as f64 / elapsed.as_secs_f64()).round(),
        }))
    })
}

fn bench_validate(rows: u64) -> Result<serde_json::Value> {
    let dir = std::env::temp_dir().join(format!("sais-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path: PathBuf = dir.join("cohort.csv");
    {
        let file = std::fs::File::create(&path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        write_cohort(&mut out, rows, 42, 0.0)?;
        out.flush()?;
    }
    let bytes = std::fs::metadata(&path)?.len();
    let exe = std::env::current_exe()?;
    let start = Instant::now();
    let status = Command::new(exe)
        .args(["validate", "--kind", "cohort", "--json"])
        .arg(&path)
        .stdout(Stdio::null())
        .status()
        .context("running sais validate")?;
    let elapsed = start.elapsed();
    // The only child this process has waited for is that `sais validate`.
    let peak = peak_rss_mib(libc::RUSAGE_CHILDREN);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "rows": rows,
        "bytes": bytes,
        "exit_code": status.code(),
        "seconds": round(elapsed.as_secs_f64(), 2),
        "rows_per_s": (rows as f64 / elapsed.as_secs_f64()).round(),
        "peak_rss_mib": round(peak, 1),
    }))
}

fn bench_schedule(children: u64, schools: u64) -> Result<serde_json::Value> {
    use sais_shared::generate::TestNhsNumbers;
    use sais_shared::schedule::runner::Scheduler;
    use sais_shared::uploads::TeamCode;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(async {
        let stack = LocalStack::isolated()
            .await
            .context("starting the local stack (moto)")?;
        let team = TeamCode::parse("BENCH-sais").expect("a team code");
        let mut csv = String::from(
            "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_YEAR_GROUP,PARENT_1_NAME,PARENT_1_EMAIL\n",
        );
        for (i, nhs) in TestNhsNumbers::default().take(children as usize).enumerate() {
            let urn = 200_000 + (i as u64 % schools);
            csv.push_str(&format!(
                "Child,Bench,2013-01-01,SW1A 1AA,{urn},{nhs},8,Parent Bench,p{i}@example.com\n"
            ));
        }
        stack
            .put_and_ingest(&stack.ingest(), "BENCH-sais/cohort/bench.csv", csv.into_bytes())
            .await
            .context("ingest")?;
        let first_session = time::macros::date!(2027 - 02 - 10);
        let mut campaign =
            sais_local::example_campaign("bench", "hpv", first_session);
        campaign.schools = (0..schools).map(|s| (200_000 + s).to_string()).collect();
        campaign.year_groups = vec![8];
        stack.store().put_campaign(&team, &campaign).await?;
        let scheduler = Scheduler::new(
            stack.store(),
            stack.clients.sqs.clone(),
            stack.send_queue_url.clone(),
        );
        let rss_before = peak_rss_mib(libc::RUSAGE_SELF);
        let start = Instant::now();
        let run = scheduler
            .run_campaign(&team, "bench", first_session - time::Duration::days(21))
            .await
            .context("the run")?;
        let elapsed = start.elapsed().as_secs_f64();
        let queued: u64 = run.occasions.iter().map(|o| o.queued).sum();
        if queued != children {
            bail!("queued {queued} of {children} children");
        }
        let per_school = children.div_ceil(schools);
        Ok(json!({
            "children": children,
            "schools": schools,
            "queued": queued,
            "elapsed_s": round(elapsed, 2),
            "children_per_s": (children as f64 / elapsed).round(),
            // What the run asks of AWS, from its shape: one Query page per school and year
            // group (more for big schools), a BatchGetItem per 100 children, a
            // SendMessageBatch per 10 jobs.
            "requests": {
                "query": schools * per_school.div_ceil(1000).max(1),
                "batch_get_item": schools * per_school.div_ceil(100),
                "send_message_batch": schools * per_school.div_ceil(10),
            },
            "peak_rss_mib_before": round(rss_before, 1),
            "peak_rss_mib": round(peak_rss_mib(libc::RUSAGE_SELF), 1),
        }))
    })
}
