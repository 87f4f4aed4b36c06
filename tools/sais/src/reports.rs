//! `sais reports`: everything the service wrote to a team's `reports/` folder — each upload's
//! `*.report.json` and `*.errors.csv`, the campaign CSVs, summaries and pages, the follow-up
//! list and the replies — fetched into a local folder, keeping the folder's layout. Uses the AWS
//! configuration of the environment (`AWS_PROFILE`, `AWS_REGION`, or `AWS_ENDPOINT_URL` for the
//! local stack).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use aws_sdk_s3::error::DisplayErrorContext;
use sais_shared::aws::AwsClients;
use sais_shared::uploads::TeamCode;

/// Arguments of `sais reports`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The team's code (its folder in the bucket), such as RYG-sais.
    #[arg(long)]
    team: String,
    /// The folder to write them to (created if missing; files of the same name are replaced).
    /// Default: `reports-<team>/`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The uploads bucket (default: UPLOADS_BUCKET).
    #[arg(long, env = "UPLOADS_BUCKET")]
    bucket: String,
}

/// Runs `sais reports`: exit 0 with the files written listed, 64 for a bad argument, 2 when the
/// bucket cannot be read or a file cannot be written.
pub fn run(args: Args) -> ExitCode {
    let Some(team) = TeamCode::parse(&args.team) else {
        eprintln!("sais reports: --team should be a team code such as RYG-sais");
        return ExitCode::from(crate::EX_USAGE);
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("reports-{team}")));
    crate::block_on("sais reports", async {
        let s3 = s3_from_environment().await;
        let written = fetch(&s3, &args.bucket, &team, &dir).await?;
        if written.is_empty() {
            println!("no reports under s3://{}/{team}/reports/", args.bucket);
            return Ok(());
        }
        println!(
            "{} file(s) from s3://{}/{team}/reports/ written to {}:",
            written.len(),
            args.bucket,
            display_dir(&dir)
        );
        for path in &written {
            println!("  {}", path.display());
        }
        Ok(())
    })
}

/// The S3 client of the environment's AWS configuration (path-style against a local endpoint).
pub(crate) async fn s3_from_environment() -> aws_sdk_s3::Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    AwsClients::from_config(&config).s3
}

/// The folder as it is best shown: absolute when it can be made so.
pub(crate) fn display_dir(dir: &Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

/// Downloads every object under `<team>/reports/` in `bucket` into `dir`, each at its path
/// below `reports/` (`campaigns/<id>.html`, `<file>.report.json`, …), creating folders as
/// needed; returns the paths written, relative to `dir`, in key order. A key whose path would
/// leave `dir` (a `..` or empty segment) is skipped, with a line on stderr.
pub(crate) async fn fetch(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    team: &TeamCode,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let prefix = format!("{team}/reports/");
    let mut keys = sais_shared::aws::list_keys(s3, bucket, &prefix)
        .await
        .map_err(|e| {
            anyhow::anyhow!("listing s3://{bucket}/{prefix}: {}", DisplayErrorContext(e))
        })?;
    keys.sort();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for key in keys {
        // A folder's placeholder object (as the S3 console makes) holds nothing to fetch.
        if key.ends_with('/') {
            continue;
        }
        let Ok(relative) = local_path(&key[prefix.len()..]) else {
            eprintln!("skipped s3://{bucket}/{key}: its name is not a plain path");
            continue;
        };
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("reading s3://{bucket}/{key}: {}", DisplayErrorContext(e))
            })?
            .body
            .collect()
            .await
            .with_context(|| format!("reading s3://{bucket}/{key}"))?
            .into_bytes();
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &body).with_context(|| format!("writing {}", path.display()))?;
        written.push(relative);
    }
    Ok(written)
}

/// The local path of a key's part below `reports/`: its `/`-separated segments, none of them
/// empty, `.` or `..` (so nothing is written outside the folder).
fn local_path(relative: &str) -> Result<PathBuf> {
    let mut path = PathBuf::new();
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\') {
            bail!("segment {segment:?}");
        }
        path.push(segment);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_keys_become_paths_inside_the_folder() {
        assert_eq!(
            local_path("campaigns/hpv.html").unwrap(),
            Path::new("campaigns").join("hpv.html")
        );
        assert_eq!(
            local_path("Class 9X.csv.report.json").unwrap(),
            PathBuf::from("Class 9X.csv.report.json")
        );
        for bad in ["../x", "a//b", "", "campaigns/", "./x", "a\\..\\b"] {
            assert!(local_path(bad).is_err(), "{bad:?}");
        }
    }
}
