//! `sais sar` (subject access: everything held about a child, as JSON) and `sais erase`
//! (remove a contact detail from every record: serious harm, or a correction). Both use the
//! AWS configuration of the environment (`AWS_PROFILE`, `AWS_REGION`, or `AWS_ENDPOINT_URL`
//! for the local stack) and the contacts table named by `--table` or `TABLE_NAME`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sais_shared::aws::AwsClients;
use sais_shared::campaign_report::ReportPublisher;
use sais_shared::domain::{ContactDetail, EmailAddress, NhsNumber, PhoneNumber};
use sais_shared::sar::{Subject, export};
use sais_shared::store::{ErasureKey, ErasureReason, Store};
use sais_shared::uploads::TeamCode;

/// Arguments of `sais sar`.
#[derive(Debug, clap::Args)]
pub struct SarArgs {
    /// The team's code, such as RYG-sais.
    #[arg(long)]
    team: String,
    /// The child's NHS number.
    #[arg(long, conflicts_with_all = ["first_name", "last_name", "date_of_birth", "postcode"])]
    nhs_number: Option<String>,
    /// The child's first name (with --last-name, --date-of-birth and --postcode).
    #[arg(long, requires_all = ["last_name", "date_of_birth", "postcode"])]
    first_name: Option<String>,
    /// The child's last name.
    #[arg(long, requires = "first_name")]
    last_name: Option<String>,
    /// The child's date of birth, YYYY-MM-DD.
    #[arg(long, requires = "first_name")]
    date_of_birth: Option<String>,
    /// The child's postcode.
    #[arg(long, requires = "first_name")]
    postcode: Option<String>,
    /// The contacts table (default: the TABLE_NAME environment variable).
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    /// The secret holding the erasure key (default: ERASURE_KEY_SECRET_ARN); the local stack's
    /// key is used when AWS_ENDPOINT_URL points at 127.0.0.1.
    #[arg(long, env = "ERASURE_KEY_SECRET_ARN")]
    erasure_key_secret: Option<String>,
}

/// Arguments of `sais erase`.
#[derive(Debug, clap::Args)]
pub struct EraseArgs {
    /// The team's code, such as RYG-sais.
    #[arg(long)]
    team: String,
    /// The email address to erase.
    #[arg(long, required_unless_present = "phone", conflicts_with = "phone")]
    email: Option<String>,
    /// The phone number to erase.
    #[arg(long)]
    phone: Option<String>,
    /// Who is erasing it (recorded with the erasure), such as "J Smith, SAIS nurse".
    #[arg(long)]
    by: String,
    /// Why: serious-harm or correction.
    #[arg(long, value_parser = ["serious-harm", "correction"])]
    reason: String,
    /// The contacts table (default: the TABLE_NAME environment variable).
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    /// The secret holding the erasure key (default: ERASURE_KEY_SECRET_ARN); the local stack's
    /// key is used when AWS_ENDPOINT_URL points at 127.0.0.1.
    #[arg(long, env = "ERASURE_KEY_SECRET_ARN")]
    erasure_key_secret: Option<String>,
    /// The uploads bucket, whose reports are made again without the detail (default:
    /// UPLOADS_BUCKET).
    #[arg(long, env = "UPLOADS_BUCKET")]
    bucket: String,
}

/// Runs `sais sar`: exit 0 with the JSON on stdout (no children when nobody matches), 64 for
/// a bad argument, 2 when the table cannot be read.
pub fn sar(args: SarArgs) -> ExitCode {
    let Some(team) = TeamCode::parse(&args.team) else {
        return usage("sais sar", "--team should be a team code such as RYG-sais");
    };
    let subject = match (&args.nhs_number, &args.first_name) {
        (Some(n), _) => match NhsNumber::parse(n) {
            Ok(nhs) => Subject::NhsNumber(nhs),
            Err(_) => return usage("sais sar", "--nhs-number is not a valid NHS number"),
        },
        (None, Some(first)) => Subject::Details {
            first_name: first.clone(),
            last_name: args.last_name.clone().unwrap_or_default(),
            date_of_birth: args.date_of_birth.clone().unwrap_or_default(),
            postcode: args.postcode.clone().unwrap_or_default(),
        },
        (None, None) => {
            return usage(
                "sais sar",
                "give --nhs-number, or --first-name, --last-name, --date-of-birth and --postcode",
            );
        }
    };
    crate::block_on("sais sar", async {
        let (store, _) = store(&args.table, args.erasure_key_secret.as_deref()).await?;
        let document = export(&store, &team, &subject)
            .await
            .context("reading the child's records")?;
        println!("{}", serde_json::to_string_pretty(&document)?);
        Ok(())
    })
}

/// Runs `sais erase`: exit 0 with what was changed (counts) on stdout, 64 for a bad argument,
/// 2 when the table cannot be written.
pub fn erase(args: EraseArgs) -> ExitCode {
    let Some(team) = TeamCode::parse(&args.team) else {
        return usage(
            "sais erase",
            "--team should be a team code such as RYG-sais",
        );
    };
    let detail = match (&args.email, &args.phone) {
        (Some(e), None) => match EmailAddress::parse(e) {
            Ok(e) => ContactDetail::email(&e).key(),
            Err(_) => return usage("sais erase", "--email is not a valid email address"),
        },
        (None, Some(p)) => match PhoneNumber::parse(p) {
            Ok(p) => ContactDetail::phone(&p).key(),
            Err(_) => return usage("sais erase", "--phone is not a valid UK phone number"),
        },
        _ => return usage("sais erase", "give --email or --phone"),
    };
    if args.by.trim().is_empty() {
        return usage("sais erase", "--by should name who is erasing the detail");
    }
    let reason = if args.reason == "serious-harm" {
        ErasureReason::SeriousHarm
    } else {
        ErasureReason::Correction
    };
    crate::block_on("sais erase", async {
        let (store, s3) = store(&args.table, args.erasure_key_secret.as_deref()).await?;
        let erasure =
            sais_shared::erasure::erase_detail(&store, &team, &detail, args.by.trim(), reason, &[])
                .await
                .context("erasing the detail")?;
        // The reports staff download are made again without it; run the command again if this
        // fails (each step is safe to repeat).
        let reports = ReportPublisher::new(store, s3, &args.bucket)
            .after_erasure(&team, std::slice::from_ref(&detail))
            .await
            .context("making the team's reports again without the detail")?;
        let mut answer = serde_json::to_value(&erasure)?;
        answer["reports"] = serde_json::to_value(&reports)?;
        println!("{}", serde_json::to_string_pretty(&answer)?);
        Ok(())
    })
}

fn usage(command: &str, message: &str) -> ExitCode {
    eprintln!("{command}: {message}");
    ExitCode::from(crate::EX_USAGE)
}

/// The store with the erasure key: from the named secret, or the local stack's on 127.0.0.1.
async fn store(table: &str, secret: Option<&str>) -> Result<(Store, aws_sdk_s3::Client)> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clients = AwsClients::from_config(&config);
    let key = match secret {
        Some(id) => {
            let value = sais_shared::aws::secret_string(&config, id)
                .await
                .map_err(|e| anyhow::anyhow!("the erasure key secret {id} {e}"))?;
            ErasureKey::new(value.as_bytes()).context("the erasure key is too short")?
        }
        None => {
            let local = std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| {
                e.starts_with("http://127.0.0.1") || e.starts_with("http://localhost")
            });
            if !local {
                bail!(
                    "set --erasure-key-secret (or ERASURE_KEY_SECRET_ARN) to the stack's <prefix>/erasure-key secret"
                );
            }
            sais_local::LocalStack::erasure_key()
        }
    };
    Ok((
        Store::new(clients.dynamodb.clone(), table).with_erasure_key(key),
        clients.s3.clone(),
    ))
}
