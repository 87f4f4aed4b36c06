//! The placeholders the service fills in a campaign's Notify templates, per channel: what a
//! team must (and may only) use when it writes the templates in its Notify service
//! (`sais templates`). One list, read by the text-message linter too.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::policy::Channel;

/// A placeholder the service sends a value for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placeholder {
    /// The name written in the template as `((name))`.
    pub name: String,
    /// What the service fills it with, in words.
    pub filled_with: String,
}

/// The placeholders filled for every child, whatever the channel.
const PER_CHILD: &[(&str, &str)] = &[
    (
        "child_first_name",
        "the child's preferred first name, or their first name",
    ),
    (
        "session_date",
        "the date of the campaign's first session, e.g. 30 September 2026",
    ),
    (
        "consent_deadline",
        "the consent deadline (by default the day before the first session)",
    ),
];

/// The highest `address_line_N` Notify prints (the postcode is the last line given).
pub const LETTER_ADDRESS_LINES: usize = 7;

/// The names the service fills for every child (not the campaign's own values).
pub fn per_child_names() -> impl Iterator<Item = &'static str> {
    PER_CHILD.iter().map(|(name, _)| *name)
}

/// Every placeholder the service fills on `channel`, with the campaign's own personalisation
/// names (sent as the campaign file gives them). A letter's address lines are filled too, but
/// Notify prints them in the address block: a template does not write them.
pub fn filled(channel: Channel, campaign_values: &BTreeMap<String, String>) -> Vec<Placeholder> {
    let mut out: Vec<Placeholder> = PER_CHILD
        .iter()
        .map(|(name, words)| Placeholder {
            name: (*name).to_owned(),
            filled_with: (*words).to_owned(),
        })
        .collect();
    for name in campaign_values.keys() {
        if out.iter().any(|p| &p.name == name) {
            continue;
        }
        out.push(Placeholder {
            name: name.clone(),
            filled_with: "the campaign file's personalisation value".to_owned(),
        });
    }
    if channel == Channel::Letter {
        out.push(Placeholder {
            name: format!("address_line_1 … address_line_{LETTER_ADDRESS_LINES}"),
            filled_with:
                "the child's address, postcode last (Notify prints it in the address block)"
                    .to_owned(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_gets_the_childs_values_and_the_campaigns_and_letters_their_address() {
        let campaign = BTreeMap::from([
            (
                "consent_url".to_owned(),
                "https://example.nhs.uk".to_owned(),
            ),
            (
                "child_first_name".to_owned(),
                "ignored duplicate".to_owned(),
            ),
        ]);
        let names =
            |c| -> Vec<String> { filled(c, &campaign).into_iter().map(|p| p.name).collect() };
        assert_eq!(
            names(Channel::Sms),
            [
                "child_first_name",
                "session_date",
                "consent_deadline",
                "consent_url"
            ]
        );
        assert_eq!(names(Channel::Email), names(Channel::Sms));
        let letter = names(Channel::Letter);
        assert_eq!(letter.len(), 5);
        assert!(letter[4].starts_with("address_line_1"));
    }
}
