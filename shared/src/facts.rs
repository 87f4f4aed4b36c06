//! What the channel policy and the templates need from a child's records, worked out from the
//! [`Facts`] a send job read: the policy's input, the letter's address, the personalisation.
//! Pure code: the store reads the facts, this says what they mean.

use crate::campaign::Campaign;
use crate::domain::{AddressLine, sanitise_letter_address};
use crate::domain::{ContactDetail, ContactPreference};
use crate::notify::Personalisation;
use crate::policy::{
    CampaignFacts, Channel, ChildFacts, DetailStatus, ParentFacts, PolicyInput, Preference,
};
pub use crate::store::Facts;

fn preference(p: Option<ContactPreference>) -> Preference {
    match p {
        Some(ContactPreference::Email) => Preference::Email,
        Some(ContactPreference::Text) => Preference::Text,
        Some(ContactPreference::Letter) => Preference::Letter,
        Some(ContactPreference::Any) | None => Preference::Any,
    }
}

fn format_date(d: time::Date) -> String {
    format!("{} {} {}", d.day(), d.month(), d.year())
}

impl Facts {
    fn status(&self, key: &str) -> DetailStatus {
        self.statuses
            .get(key)
            .copied()
            .unwrap_or(DetailStatus::Usable)
    }

    /// The policy's input for a purpose.
    pub fn policy_input(
        &self,
        purpose: crate::policy::Purpose,
        campaign: &Campaign,
        failed_channels: &[Channel],
    ) -> PolicyInput {
        let outcome = self.responses.get(&campaign.programme).map(String::as_str);
        let parents = self
            .child
            .parents
            .iter()
            .map(|p| ParentFacts {
                slot: p.slot,
                email: p.email.as_ref().map(|e| {
                    let status = self.status(&ContactDetail::email(e).key());
                    (e.as_str().to_owned(), status)
                }),
                phone: p.phone.as_ref().map(|n| {
                    let status = self.status(&ContactDetail::phone(n).key());
                    (n.e164().to_owned(), n.is_mobile(), status)
                }),
                preference: preference(p.preference),
            })
            .collect();
        PolicyInput {
            purpose,
            child: ChildFacts {
                deceased: self.child.deceased,
                restricted: self.child.restricted,
                left_cohort: self.left_cohort,
                answered: matches!(outcome, Some("consent_given" | "consent_refused")),
                consent_given: outcome == Some("consent_given"),
                vaccinated_or_ineligible: matches!(
                    outcome,
                    Some("vaccinated" | "already_vaccinated" | "not_eligible")
                ),
                letter_address: self.letter_address().is_some(),
            },
            parents,
            objections: self.objections.clone(),
            campaign: CampaignFacts {
                letters: campaign.letters,
                override_grounds: campaign.grounds(),
                templates: campaign.templates.for_purpose(purpose).channels(),
            },
            failed_channels: failed_channels.to_vec(),
        }
    }

    /// The letter's address lines under Notify's rules, addressed to "The parent or carer of
    /// <name>"; `None` when the child's address cannot take a letter.
    pub fn letter_address(&self) -> Option<Vec<String>> {
        let postcode = self.child.postcode.as_ref()?;
        let name = format!(
            "The parent or carer of {} {}",
            self.child
                .preferred_first_name
                .as_ref()
                .unwrap_or(&self.child.first_name)
                .as_str(),
            self.child.last_name.as_str()
        );
        let mut lines: Vec<&str> = vec![&name];
        lines.extend(self.child.address_lines.iter().map(AddressLine::as_str));
        lines.push(postcode.as_str());
        sanitise_letter_address(&lines, postcode).ok()
    }

    /// The template values: minimal, never health details (product.md, content rules).
    pub fn personalisation(&self, campaign: &Campaign) -> Personalisation {
        let mut p: Personalisation = campaign.personalisation.clone().into_iter().collect();
        p.insert(
            "child_first_name".into(),
            self.child
                .preferred_first_name
                .as_ref()
                .unwrap_or(&self.child.first_name)
                .as_str()
                .to_owned(),
        );
        if let Some(first) = campaign.first_session() {
            p.insert("session_date".into(), format_date(first));
        }
        if let Some(deadline) = campaign.deadline() {
            p.insert("consent_deadline".into(), format_date(deadline));
        }
        p
    }
}
