//! `sais report`: a campaign's report, made from the table now and written to the team's
//! `reports/campaigns/` folder, with its summary printed. Uses the AWS configuration of the
//! environment (`AWS_PROFILE`, `AWS_REGION`, or `AWS_ENDPOINT_URL` for the local stack).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sais_shared::aws::AwsClients;
use sais_shared::campaign_report;
use sais_shared::store::Store;
use sais_shared::uploads::TeamCode;

/// Arguments of `sais report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The team's code (its folder in the bucket), such as RYG-sais.
    #[arg(long)]
    team: String,
    /// The campaign's id.
    #[arg(long)]
    campaign: String,
    /// The contacts table (default: the TABLE_NAME environment variable).
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    /// The uploads bucket the report is written to (default: UPLOADS_BUCKET).
    #[arg(long, env = "UPLOADS_BUCKET")]
    bucket: String,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `sais report`.
pub fn run(args: Args) -> ExitCode {
    let Some(team) = TeamCode::parse(&args.team) else {
        eprintln!("sais report: --team should be a team code such as RYG-sais");
        return ExitCode::from(crate::EX_USAGE);
    };
    crate::block_on("sais report", report(&args, &team))
}

async fn report(args: &Args, team: &TeamCode) -> Result<()> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clients = AwsClients::from_config(&config);
    let store = Store::new(clients.dynamodb.clone(), &args.table);
    let Some(campaign) = store
        .campaign(team, &args.campaign)
        .await
        .context("reading the campaign")?
    else {
        bail!("no campaign {} for team {team}", args.campaign);
    };
    let (made, keys) =
        campaign_report::ReportPublisher::new(store, clients.s3.clone(), &args.bucket)
            .make(team, &campaign)
            .await
            .context("making the report")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&made.summary)?);
        return Ok(());
    }
    print_summary(&made.summary);
    print_follow_up(&made);
    for key in keys {
        println!("  s3://{}/{key}", args.bucket);
    }
    Ok(())
}

/// The summary as a person reads it.
pub fn print_summary(s: &campaign_report::Summary) {
    println!(
        "Campaign {} (team {}), {}",
        s.campaign_id, s.team, s.generated_at
    );
    println!(
        "  children {}, contacted {}, reached {}, nobody could reach {}",
        s.children, s.children_contacted, s.children_reached, s.children_unreachable
    );
    for (channel, statuses) in &s.messages {
        for (status, n) in statuses {
            println!("  {channel:<7} {status:<20} {n:>6}");
        }
    }
    for (reason, n) in &s.not_contacted {
        println!(
            "  not contacted: {n:>4}  {} ({reason})",
            campaign_report::reason_in_words(reason)
        );
    }
    println!(
        "  letters sent {}, text fragments {}, estimated cost £{:.2} ({})",
        s.letters_sent,
        s.estimated_cost.sms_fragments,
        s.estimated_cost.total_gbp,
        s.estimated_cost.basis
    );
}

/// The children a person must follow up, by name, each with the reason in plain words (what the
/// page's first table shows; staff output, never a log line).
pub fn print_follow_up(report: &campaign_report::CampaignReport) {
    if report.follow_up.is_empty() {
        println!("  children to follow up: none");
        return;
    }
    println!("  children to follow up: {}", report.follow_up.len());
    for entry in &report.follow_up {
        let year = entry
            .year_group
            .map(|y| format!(", year {y}"))
            .unwrap_or_default();
        println!(
            "    {} (born {}, school {}{year}): {} ({})",
            entry.name(),
            entry.date_of_birth,
            entry.school_urn,
            campaign_report::reason_in_words(&entry.reason),
            entry.reason
        );
    }
}
