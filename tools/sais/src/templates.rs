//! `sais templates [--campaign FILE]`: the Notify templates a team writes in its service, one
//! per purpose and channel, and the placeholders the service fills in each. With a campaign
//! file, the template ids it names and its own personalisation names. Exit 0, or 2 when the
//! campaign file cannot be read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use sais_shared::campaign::Campaign;
use sais_shared::notify::placeholders::{Placeholder, filled};
use sais_shared::policy::{Channel, Purpose};
use serde::Serialize;

/// Arguments of `sais templates`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A campaign file: show the template ids it names and fill its personalisation names.
    #[arg(long)]
    campaign: Option<PathBuf>,
    /// Print a JSON list of `{"purpose","channel","template_id","placeholders"}`.
    #[arg(long)]
    json: bool,
}

/// One template the service sends.
#[derive(Debug, Serialize)]
struct Expected {
    purpose: &'static str,
    /// What the message is for, in words.
    about: &'static str,
    channel: &'static str,
    /// The campaign's template for it (none without a campaign, or when it names none).
    template_id: Option<String>,
    placeholders: Vec<Placeholder>,
}

const PURPOSES: [(Purpose, &str); 3] = [
    (
        Purpose::ConsentRequest,
        "asks the parent for consent, with the link to the consent form",
    ),
    (
        Purpose::ConsentReminder,
        "reminds a parent who has not answered, before the consent deadline",
    ),
    (
        Purpose::SessionReminder,
        "tells a parent who gave consent that the session is tomorrow",
    ),
];

/// Runs `sais templates`.
pub fn run(args: Args) -> ExitCode {
    let campaign = match &args.campaign {
        None => None,
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.kind().to_string())
            .and_then(|b| {
                serde_json::from_slice::<Campaign>(&b).map_err(|_| "not a valid campaign".into())
            }) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("sais templates: the campaign file: {e} (check it with sais validate)");
                return ExitCode::from(2);
            }
        },
    };
    let values = campaign
        .as_ref()
        .map(|c| c.personalisation.clone())
        .unwrap_or_default();
    let expected = expected(campaign.as_ref(), &values);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&expected).unwrap_or_default()
        );
    } else {
        print!("{}", as_text(&expected, campaign.is_some()));
    }
    ExitCode::SUCCESS
}

fn expected(campaign: Option<&Campaign>, values: &BTreeMap<String, String>) -> Vec<Expected> {
    let mut out = Vec::new();
    for (purpose, about) in PURPOSES {
        for channel in [Channel::Email, Channel::Sms, Channel::Letter] {
            out.push(Expected {
                purpose: purpose.as_str(),
                about,
                channel: channel.as_str(),
                template_id: campaign
                    .and_then(|c| c.templates.for_purpose(purpose).for_channel(channel))
                    .map(|id| id.to_string()),
                placeholders: filled(channel, values),
            });
        }
    }
    out
}

fn as_text(expected: &[Expected], with_campaign: bool) -> String {
    let mut text = String::new();
    let mut described: Vec<&Placeholder> = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        if i == 0 || expected[i - 1].purpose != e.purpose {
            text.push_str(&format!("\n{}: {}\n", e.purpose, e.about));
        }
        let id = match (&e.template_id, with_campaign) {
            (Some(id), _) => id.clone(),
            (None, true) => "not set: this channel is not used".to_owned(),
            (None, false) => "a template of type ".to_owned() + e.channel,
        };
        let names: Vec<String> = e
            .placeholders
            .iter()
            .map(|p| format!("(({}))", p.name))
            .collect();
        text.push_str(&format!(
            "  {:<7} {id}\n          fills {}\n",
            e.channel,
            names.join(" ")
        ));
        for p in &e.placeholders {
            if !described.iter().any(|d| d.name == p.name) {
                described.push(p);
            }
        }
    }
    if !with_campaign {
        text.push_str(
            "\nEach also fills the campaign file's own personalisation names (programme_name, \
             consent_url, …): give --campaign FILE to list them.\n",
        );
    }
    text.push_str("\nWhat the service fills each placeholder with:\n");
    for p in described {
        text.push_str(&format!("  (({})): {}\n", p.name, p.filled_with));
    }
    text.push_str(
        "\nA template may use only these placeholders; a text message should stay within 1 fragment \
         at the longest values (check it with sais lint-template).\n",
    );
    text
}
