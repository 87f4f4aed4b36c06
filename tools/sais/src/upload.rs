//! `sais upload`: a file checked as `sais validate` checks it and, only when it would be
//! imported, put in the team's folder of the uploads bucket where its kind goes; then the
//! service's report on it awaited and printed as `sais validate` prints one. Uses the AWS
//! configuration of the environment (`AWS_PROFILE`, `AWS_REGION`, or `AWS_ENDPOINT_URL` for the
//! local stack).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use sais_shared::files::report::{FileIssue, Issue, Report, Status};
use sais_shared::uploads::{KeyClass, TeamCode, UploadKind, classify_key};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::validate::{Kind, Verdict, check_file, kind_of, print_report};

/// Exit code when the file could not be uploaded or its report did not come in time.
const EX_FAILED: u8 = 3;

/// Arguments of `sais upload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The team's code (its folder in the bucket), such as RYG-sais.
    #[arg(long)]
    team: String,
    /// The file's kind; taken from the path (`…/cohort/…`, `…/class-list/<URN>/…`,
    /// `…/campaigns/…`, `…/responses/…`, `…/objections/…`, `team.json`) when omitted.
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// The school of a class list; taken from the path's `class-list/<URN>/` when omitted.
    #[arg(long)]
    school_urn: Option<String>,
    /// The uploads bucket (default: UPLOADS_BUCKET).
    #[arg(long, env = "UPLOADS_BUCKET")]
    bucket: String,
    /// How long to wait for the service's report (such as 120s or 5m; 0 uploads without waiting).
    #[arg(long, default_value = "120s", value_parser = parse_wait)]
    wait: Duration,
    /// Print the report as JSON, exactly as the service wrote it.
    #[arg(long)]
    json: bool,
    /// The file to upload.
    file: PathBuf,
}

/// `120s`, `2m`, `1h` or a number of seconds.
fn parse_wait(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| "expected a duration such as 120s or 5m".to_owned())?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err("expected a duration such as 120s or 5m".to_owned()),
    };
    Ok(Duration::from_secs(seconds))
}

fn usage(message: &str) -> ExitCode {
    eprintln!("sais upload: {message}");
    ExitCode::from(crate::EX_USAGE)
}

/// Runs `sais upload`. Exit status as `sais validate`'s: 0 imported, 1 rejected for row errors,
/// 2 rejected for a file-level error (whether by the check here, when nothing is uploaded, or by
/// the service's report); 3 when the upload failed or no report came in time; 64 usage.
pub fn run(args: Args) -> ExitCode {
    let Some(team) = TeamCode::parse(&args.team) else {
        return usage("--team should be a team code such as RYG-sais");
    };
    let (kind, folder) = match kind_of(args.kind, args.school_urn.as_deref(), &args.file) {
        Ok(k) => k,
        Err(message) => return usage(message),
    };
    // team.json is always that name in the bucket; every other file keeps its own.
    let file_name = match kind {
        Kind::Team => "team.json".to_owned(),
        _ => args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let key = match upload_key(&team, kind, folder.as_deref(), &file_name) {
        Ok(key) => key,
        Err(message) => return usage(&message),
    };

    // The check `sais validate` makes, on the name the file will have in the bucket.
    let today = OffsetDateTime::now_utc().date();
    let checked = check_file(&args.file, &file_name, kind, folder.as_deref(), today);
    if checked.status == Status::Rejected {
        if let Err(e) = print_report(&checked, args.json, Verdict::WouldBe) {
            eprintln!("sais upload: could not print the report: {e}");
        }
        eprintln!("sais upload: not uploaded; fix the file and run sais upload again");
        return ExitCode::from(checked.exit_code() as u8);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sais upload: {e}");
            return ExitCode::from(EX_FAILED);
        }
    };
    let report_key = format!("{team}/reports/{file_name}.report.json");
    match runtime.block_on(upload_and_wait(&args, &key, &report_key)) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(report)) => {
            if let Err(e) = print_report(&report, args.json, Verdict::Was) {
                eprintln!("sais upload: could not print the report: {e}");
                return ExitCode::from(EX_FAILED);
            }
            if report.status == Status::Rejected {
                eprintln!(
                    "the rows with errors, as a spreadsheet: s3://{}/{team}/reports/{file_name}.errors.csv (sais reports --team {team} fetches it)",
                    args.bucket
                );
            }
            ExitCode::from(report.exit_code() as u8)
        }
        Err(e) => {
            eprintln!("sais upload: {e:#}");
            ExitCode::from(EX_FAILED)
        }
    }
}

/// Where a file of `kind` named `file_name` goes in the team's folder (the layout of
/// `sais_shared::uploads`), or why it cannot go there.
fn upload_key(
    team: &TeamCode,
    kind: Kind,
    folder: Option<&str>,
    file_name: &str,
) -> Result<String, String> {
    let (key, expected) = match kind {
        Kind::Cohort => (format!("{team}/cohort/{file_name}"), UploadKind::Cohort),
        Kind::ClassList => {
            let folder = folder.unwrap_or_default();
            (
                format!("{team}/class-list/{folder}/{file_name}"),
                UploadKind::ClassList {
                    folder: folder.to_owned(),
                },
            )
        }
        Kind::Campaign => (
            format!("{team}/campaigns/{file_name}"),
            UploadKind::Campaign,
        ),
        Kind::Responses => (
            format!("{team}/responses/{file_name}"),
            UploadKind::Responses,
        ),
        Kind::Objections => (
            format!("{team}/objections/{file_name}"),
            UploadKind::Objections,
        ),
        Kind::Team => (format!("{team}/team.json"), UploadKind::TeamSettings),
    };
    if file_name.is_empty() || folder.is_some_and(|f| f.is_empty() || f.contains('/')) {
        return Err("the file needs a name (and a class list a school folder)".to_owned());
    }
    match classify_key(&key) {
        KeyClass::Upload(upload) if upload.kind == expected => Ok(key),
        KeyClass::Unsupported { reason, .. } => Err(format!("{key} would not be read: {reason}")),
        _ => Err(format!("{key} would not be read as a {kind:?} file")),
    }
}

/// What identifies one write of an object: its version, ETag and time.
type ObjectState = (Option<String>, Option<String>, Option<DateTime>);

/// The object's state, or none when there is no such object.
async fn head(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<ObjectState>> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(Some((
            o.version_id().map(str::to_owned),
            o.e_tag().map(str::to_owned),
            o.last_modified().copied(),
        ))),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(e) => Err(anyhow!(
            "reading s3://{bucket}/{key}: {}",
            DisplayErrorContext(e)
        )),
    }
}

/// Uploads the file to `key` and waits for a report at `report_key` written after it (none when
/// not waiting).
async fn upload_and_wait(args: &Args, key: &str, report_key: &str) -> Result<Option<Report>> {
    let s3 = crate::reports::s3_from_environment().await;
    let bucket = &args.bucket;
    let before = head(&s3, bucket, report_key).await?;
    let body = ByteStream::from_path(&args.file)
        .await
        .with_context(|| format!("reading {}", args.file.display()))?;
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "uploading to s3://{bucket}/{key}: {}",
                DisplayErrorContext(e)
            )
        })?;
    if args.wait.is_zero() {
        eprintln!("uploaded to s3://{bucket}/{key}; its report will be s3://{bucket}/{report_key}");
        return Ok(None);
    }
    eprintln!(
        "uploaded to s3://{bucket}/{key}; waiting up to {}s for its report",
        args.wait.as_secs()
    );
    let uploaded_at = head(&s3, bucket, key)
        .await?
        .and_then(|(_, _, at)| at)
        .ok_or_else(|| anyhow!("s3://{bucket}/{key} is not there after uploading it"))?;
    let deadline = Instant::now() + args.wait;
    loop {
        if let Some(state) = head(&s3, bucket, report_key).await?
            && before.as_ref() != Some(&state)
            && state.2.is_some_and(|at| at.secs() >= uploaded_at.secs())
        {
            break;
        }
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "uploaded, but no report after {}s: is the ingest function running? (The local \
                 stack's emulator does not read again a file identical to one it has read under \
                 the same name.) The report will be s3://{bucket}/{report_key}",
                args.wait.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(report_key)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "reading s3://{bucket}/{report_key}: {}",
                DisplayErrorContext(e)
            )
        })?
        .body
        .collect()
        .await
        .context("reading the report")?
        .into_bytes();
    let wire: WireReport = serde_json::from_slice(&body)
        .with_context(|| format!("s3://{bucket}/{report_key} is not a report"))?;
    Ok(Some(wire.into_report()))
}

/// `report.json` as read back (the service's `Report` holds its codes as static text).
#[derive(Debug, Deserialize)]
struct WireReport {
    file: String,
    kind: String,
    status: Status,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    rows: u64,
    #[serde(default)]
    rows_valid: u64,
    #[serde(default)]
    file_errors: Vec<WireFileIssue>,
    #[serde(default)]
    errors: Vec<WireIssue>,
    #[serde(default)]
    warnings: Vec<WireIssue>,
    #[serde(default)]
    processed_at: String,
}

#[derive(Debug, Deserialize)]
struct WireFileIssue {
    code: String,
    message: String,
}

#[derive(Debug, Deserialize)]
struct WireIssue {
    #[serde(default)]
    row: Option<u64>,
    #[serde(default)]
    column: Option<String>,
    code: String,
    message: String,
}

impl WireReport {
    fn into_report(self) -> Report {
        // A report has a handful of distinct codes: each is kept once for the process's life.
        let mut codes: HashMap<String, &'static str> = HashMap::new();
        let mut code = |c: String| -> &'static str {
            if let Some(known) = codes.get(&c) {
                return known;
            }
            let kept: &'static str = Box::leak(c.clone().into_boxed_str());
            codes.insert(c, kept);
            kept
        };
        let mut issues = |list: Vec<WireIssue>| -> Vec<Issue> {
            list.into_iter()
                .map(|i| Issue {
                    row: i.row,
                    column: i.column.map(Into::into),
                    code: code(i.code),
                    message: i.message.into(),
                })
                .collect()
        };
        let errors = issues(self.errors);
        let warnings = issues(self.warnings);
        let file_errors = self
            .file_errors
            .into_iter()
            .map(|f| FileIssue::new(Box::leak(f.code.into_boxed_str()), f.message))
            .collect();
        Report {
            file: self.file,
            kind: self.kind,
            status: self.status,
            encoding: self.encoding,
            rows: self.rows,
            rows_valid: self.rows_valid,
            file_errors,
            errors,
            warnings,
            processed_at: self.processed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_read_in_seconds_minutes_or_hours() {
        assert_eq!(parse_wait("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_wait("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_wait("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_wait("0"), Ok(Duration::ZERO));
        assert!(parse_wait("soon").is_err());
        assert!(parse_wait("5d").is_err());
    }

    #[test]
    fn each_kind_goes_to_its_folder() {
        let team = TeamCode::parse("RYG-sais").unwrap();
        assert_eq!(
            upload_key(&team, Kind::Cohort, None, "y8.csv").unwrap(),
            "RYG-sais/cohort/y8.csv"
        );
        assert_eq!(
            upload_key(&team, Kind::ClassList, Some("123456"), "Class 9X.csv").unwrap(),
            "RYG-sais/class-list/123456/Class 9X.csv"
        );
        assert_eq!(
            upload_key(&team, Kind::Campaign, None, "hpv.json").unwrap(),
            "RYG-sais/campaigns/hpv.json"
        );
        assert_eq!(
            upload_key(&team, Kind::Responses, None, "w1.csv").unwrap(),
            "RYG-sais/responses/w1.csv"
        );
        assert_eq!(
            upload_key(&team, Kind::Objections, None, "w1.csv").unwrap(),
            "RYG-sais/objections/w1.csv"
        );
        assert_eq!(
            upload_key(&team, Kind::Team, None, "team.json").unwrap(),
            "RYG-sais/team.json"
        );
        assert!(upload_key(&team, Kind::Cohort, None, "y8.xlsx").is_err());
        assert!(upload_key(&team, Kind::Campaign, None, "hpv.csv").is_err());
    }

    #[test]
    fn a_report_read_back_prints_as_the_service_wrote_it() {
        let json = r#"{"file":"c.csv","kind":"cohort","status":"rejected","encoding":"utf-8",
            "rows":2,"rows_valid":1,"file_errors":[],
            "errors":[{"row":3,"column":"CHILD_NHS_NUMBER","code":"invalid_nhs_number","message":"Not an NHS number"}],
            "warnings":[],"processed_at":"2027-01-01T00:00:00Z"}"#;
        let report = serde_json::from_str::<WireReport>(json)
            .unwrap()
            .into_report();
        assert_eq!(report.exit_code(), 1);
        assert_eq!(report.errors[0].code, "invalid_nhs_number");
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
