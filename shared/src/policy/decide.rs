//! The rules, in product.md order.
//!
//! Reason codes on sends: `preference`, `any`, `fallback_preference_unusable`,
//! `fallback_objection`, `fallback_from_email`, `fallback_from_sms`,
//! `fallback_letter_unavailable`, `fallback_no_electronic`.
//! Reason codes on skips: `deceased`, `left_cohort`, `answered`, `vaccinated`, `no_consent`,
//! `objection_all` (the child); `email_erased`, `email_failed`, `phone_erased`, `landline`,
//! `phone_failed`, `opted_out`, `no_template`, `objection`, `no_contact_details` (a parent's
//! channel); `restricted_no_letter`, `objection`, `letters_off`, `no_address`, `no_template`
//! (the letter); `channel_failed` (any channel in `failed_channels`: it already failed
//! permanently for this child and purpose).

use std::collections::BTreeMap;

use super::{
    Channel, DetailStatus, ObjectionScope, ParentFacts, Plan, PlannedSend, PolicyInput, Preference,
    Purpose, Skipped,
};

/// See [`super::plan`].
pub(super) fn decide(input: &PolicyInput) -> Plan {
    if let Some(reason) = stop_reason(input) {
        return Plan {
            sends: Vec::new(),
            skipped: vec![Skipped {
                parent_slot: None,
                channel: None,
                reason,
            }],
            manual_follow_up: false,
        };
    }
    Planner { input }.plan()
}

/// Rule 1: reasons to send nothing at all for this child, first match wins.
pub(super) fn stop_reason(input: &PolicyInput) -> Option<&'static str> {
    let child = &input.child;
    let asks_for_consent = matches!(
        input.purpose,
        Purpose::ConsentRequest | Purpose::ConsentReminder
    );
    if child.deceased {
        Some("deceased")
    } else if child.left_cohort {
        Some("left_cohort")
    } else if asks_for_consent && child.answered {
        Some("answered")
    } else if child.vaccinated_or_ineligible {
        Some("vaccinated")
    } else if input.purpose == Purpose::SessionReminder && !child.consent_given {
        Some("no_consent")
    } else if input.campaign.override_grounds.is_none()
        && input
            .objections
            .iter()
            .any(|o| o.scope == ObjectionScope::All && o.parent_detail.is_none())
    {
        Some("objection_all")
    } else {
        None
    }
}

/// Why a parent's electronic channel cannot be used; decides the fallback's reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// No such detail for this parent (nothing to record).
    Absent,
    /// The detail or the campaign cannot carry it: erased, failed, landline, opted out, no template.
    Unusable,
    /// The channel failed permanently earlier for this (child, purpose).
    FailedThisRun,
    /// An objection in force, not overridden.
    Objection,
}

/// Whether one parent's electronic channel can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Usable at this recipient; `overrides` when it is used despite an objection.
    Use { recipient: String, overrides: bool },
    /// Not usable.
    Skip { cause: Cause, reason: &'static str },
}

/// The letter is impossible for the whole child, or only for one parent's personal objection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LetterBlock {
    Child(&'static str),
    Parent,
}

/// How a parent's electronic channels are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One channel preferred, the other only as a fallback.
    Prefer(Channel),
    /// Every usable electronic channel, with this reason.
    All(&'static str),
}

/// One parent's message before de-duplication.
struct Candidate {
    channel: Channel,
    recipient: String,
    slot: u8,
    reason: &'static str,
    overrides: bool,
}

struct Planner<'a> {
    input: &'a PolicyInput,
}

impl Planner<'_> {
    fn plan(&self) -> Plan {
        let parents = &self.input.parents;
        let letter = self.letter_for_child();
        let mut candidates = Vec::new();
        let mut parent_skips: Vec<Vec<Skipped>> = vec![Vec::new(); parents.len()];
        let mut child_skips: Vec<Skipped> = Vec::new();
        let mut letter_slots: Vec<u8> = Vec::new();
        let mut letter_overrides = false;
        let mut letter_preferred = false;

        for (i, parent) in parents.iter().enumerate() {
            let mut letter_block = None;
            let mode = match parent.preference {
                Preference::Email => Mode::Prefer(Channel::Email),
                Preference::Text => Mode::Prefer(Channel::Sms),
                Preference::Any => Mode::All("any"),
                Preference::Letter => match self.letter_for_parent(parent, letter) {
                    Ok(overrides) => {
                        letter_slots.push(parent.slot);
                        letter_overrides |= overrides;
                        letter_preferred = true;
                        continue;
                    }
                    Err(block) => {
                        letter_block = Some(block);
                        Mode::All("fallback_letter_unavailable")
                    }
                },
            };
            let (sends, skips) = self.electronic(parent, mode);
            candidates.extend(sends);
            parent_skips[i].extend(skips);
            if let Some(block) = letter_block {
                record_letter_block(block, parent.slot, &mut parent_skips[i], &mut child_skips);
            }
        }

        // Rule 7(b): nobody can be reached electronically, so the letter stands for every parent.
        if candidates.is_empty() {
            match letter {
                Ok(_) => {
                    for (i, parent) in parents.iter().enumerate() {
                        if letter_slots.contains(&parent.slot) {
                            continue;
                        }
                        match self.letter_for_parent(parent, letter) {
                            Ok(overrides) => {
                                letter_slots.push(parent.slot);
                                letter_overrides |= overrides;
                            }
                            Err(block) => record_letter_block(
                                block,
                                parent.slot,
                                &mut parent_skips[i],
                                &mut child_skips,
                            ),
                        }
                    }
                }
                Err(reason) => push_once(
                    &mut child_skips,
                    Skipped {
                        parent_slot: None,
                        channel: Some(Channel::Letter),
                        reason,
                    },
                ),
            }
        }

        let mut sends = dedupe(candidates, self.grounds());
        // With no parents at all the letter stands for nobody in particular: the household.
        let letter_planned = !letter_slots.is_empty() || (parents.is_empty() && letter.is_ok());
        if letter_planned {
            let child_overrides = matches!(letter, Ok(true));
            letter_slots.sort_unstable();
            sends.push(PlannedSend {
                channel: Channel::Letter,
                recipient: "letter".to_owned(),
                parent_slots: letter_slots,
                reason: if letter_preferred {
                    "preference"
                } else {
                    "fallback_no_electronic"
                },
                grounds: if child_overrides || letter_overrides {
                    self.grounds()
                } else {
                    None
                },
            });
        }
        let manual_follow_up = sends.is_empty();
        Plan {
            sends,
            skipped: parent_skips
                .into_iter()
                .flatten()
                .chain(child_skips)
                .collect(),
            manual_follow_up,
        }
    }

    /// Rules 3–5 and 8 for one parent's email and text.
    fn electronic(&self, parent: &ParentFacts, mode: Mode) -> (Vec<Candidate>, Vec<Skipped>) {
        let mut sends = Vec::new();
        let mut skips = Vec::new();
        let mut take = |channel: Channel, verdict: Verdict, reason: &'static str| match verdict {
            Verdict::Use {
                recipient,
                overrides,
            } => {
                sends.push(Candidate {
                    channel,
                    recipient,
                    slot: parent.slot,
                    reason,
                    overrides,
                });
                true
            }
            Verdict::Skip { cause, reason } => {
                if cause != Cause::Absent {
                    skips.push(Skipped {
                        parent_slot: Some(parent.slot),
                        channel: Some(channel),
                        reason,
                    });
                }
                false
            }
        };
        match mode {
            Mode::All(reason) => {
                take(Channel::Email, self.verdict(parent, Channel::Email), reason);
                take(Channel::Sms, self.verdict(parent, Channel::Sms), reason);
            }
            Mode::Prefer(preferred) => {
                let other = match preferred {
                    Channel::Email => Channel::Sms,
                    _ => Channel::Email,
                };
                let verdict = self.verdict(parent, preferred);
                let fallback = match &verdict {
                    Verdict::Skip {
                        cause: Cause::Objection,
                        ..
                    } => "fallback_objection",
                    Verdict::Skip {
                        cause: Cause::FailedThisRun,
                        ..
                    } => match preferred {
                        Channel::Email => "fallback_from_email",
                        _ => "fallback_from_sms",
                    },
                    _ => "fallback_preference_unusable",
                };
                if !take(preferred, verdict, "preference") {
                    take(other, self.verdict(parent, other), fallback);
                }
            }
        }
        if parent.email.is_none() && parent.phone.is_none() {
            skips.push(Skipped {
                parent_slot: Some(parent.slot),
                channel: None,
                reason: "no_contact_details",
            });
        }
        // Keep a parent's skips in channel order whichever channel was tried first.
        skips.sort_by_key(|s| s.channel);
        (sends, skips)
    }

    /// Whether a parent's email or text can be used, and why not.
    fn verdict(&self, parent: &ParentFacts, channel: Channel) -> Verdict {
        let failed_this_run = self.input.failed_channels.contains(&channel);
        let skip = |cause, reason| Verdict::Skip { cause, reason };
        let recipient = match channel {
            Channel::Email => {
                let Some((email, status)) = &parent.email else {
                    return skip(Cause::Absent, "no_email");
                };
                match status {
                    DetailStatus::Erased => return skip(Cause::Unusable, "email_erased"),
                    _ if failed_this_run => return skip(Cause::FailedThisRun, "channel_failed"),
                    DetailStatus::Failed => return skip(Cause::Unusable, "email_failed"),
                    // STOP opts a number out of texts; it says nothing about email.
                    DetailStatus::OptedOut | DetailStatus::Usable => email,
                }
            }
            Channel::Sms => {
                let Some((phone, mobile, status)) = &parent.phone else {
                    return skip(Cause::Absent, "no_phone");
                };
                match status {
                    DetailStatus::Erased => return skip(Cause::Unusable, "phone_erased"),
                    _ if !mobile => return skip(Cause::Unusable, "landline"),
                    _ if failed_this_run => return skip(Cause::FailedThisRun, "channel_failed"),
                    DetailStatus::Failed => return skip(Cause::Unusable, "phone_failed"),
                    DetailStatus::OptedOut => return skip(Cause::Unusable, "opted_out"),
                    DetailStatus::Usable => phone,
                }
            }
            Channel::Letter => unreachable!("letters are decided per child"),
        };
        if !self.input.campaign.templates.contains(&channel) {
            return skip(Cause::Unusable, "no_template");
        }
        let objected = self.objected(channel, recipient);
        if objected && self.grounds().is_none() {
            return skip(Cause::Objection, "objection");
        }
        Verdict::Use {
            recipient: recipient.clone(),
            overrides: objected,
        }
    }

    /// Whether an objection covers sending on `channel` to `recipient`. A personal objection
    /// counts when it names any parent who shares that recipient, so a shared email is not used
    /// when one of the two parents objected to email (even if they named their phone).
    fn objected(&self, channel: Channel, recipient: &str) -> bool {
        let sharers: Vec<&ParentFacts> = self
            .input
            .parents
            .iter()
            .filter(|p| detail(p, channel).is_some_and(|d| d == recipient))
            .collect();
        self.input.objections.iter().any(|o| {
            o.scope.covers(channel)
                && match &o.parent_detail {
                    None => true,
                    Some(named) => sharers.iter().any(|p| names(p, named)),
                }
        })
    }

    /// Rule 6 and 7's conditions for the child's letter: `Ok(overrides)` when it may be sent.
    fn letter_for_child(&self) -> Result<bool, &'static str> {
        let input = self.input;
        let objected = input
            .objections
            .iter()
            .any(|o| o.scope.covers(Channel::Letter) && o.parent_detail.is_none());
        if input.child.restricted {
            Err("restricted_no_letter")
        } else if objected && self.grounds().is_none() {
            Err("objection")
        } else if !input.campaign.letters {
            Err("letters_off")
        } else if !input.child.letter_address {
            Err("no_address")
        } else if !input.campaign.templates.contains(&Channel::Letter) {
            Err("no_template")
        } else if input.failed_channels.contains(&Channel::Letter) {
            Err("channel_failed")
        } else {
            Ok(objected)
        }
    }

    /// Whether the letter may stand for this parent: the child's letter is possible and the
    /// parent has not objected to letters themselves (or the objection is overridden).
    fn letter_for_parent(
        &self,
        parent: &ParentFacts,
        child: Result<bool, &'static str>,
    ) -> Result<bool, LetterBlock> {
        let child_overrides = child.map_err(LetterBlock::Child)?;
        let objected = self.input.objections.iter().any(|o| {
            o.scope.covers(Channel::Letter)
                && o.parent_detail.as_deref().is_some_and(|d| names(parent, d))
        });
        if objected && self.grounds().is_none() {
            return Err(LetterBlock::Parent);
        }
        Ok(child_overrides || objected)
    }

    fn grounds(&self) -> Option<String> {
        self.input.campaign.override_grounds.clone()
    }
}

/// The parent's detail for an electronic channel.
fn detail(parent: &ParentFacts, channel: Channel) -> Option<&str> {
    match channel {
        Channel::Email => parent.email.as_ref().map(|(e, _)| e.as_str()),
        Channel::Sms => parent.phone.as_ref().map(|(p, _, _)| p.as_str()),
        Channel::Letter => None,
    }
}

/// Whether an objection's `parent_detail` names this parent (by email or phone).
fn names(parent: &ParentFacts, named: &str) -> bool {
    parent
        .email
        .as_ref()
        .is_some_and(|(e, _)| e.eq_ignore_ascii_case(named))
        || parent.phone.as_ref().is_some_and(|(p, _, _)| p == named)
}

fn record_letter_block(
    block: LetterBlock,
    slot: u8,
    parent_skips: &mut Vec<Skipped>,
    child_skips: &mut Vec<Skipped>,
) {
    match block {
        LetterBlock::Child(reason) => push_once(
            child_skips,
            Skipped {
                parent_slot: None,
                channel: Some(Channel::Letter),
                reason,
            },
        ),
        LetterBlock::Parent => push_once(
            parent_skips,
            Skipped {
                parent_slot: Some(slot),
                channel: Some(Channel::Letter),
                reason: "objection",
            },
        ),
    }
}

fn push_once(skips: &mut Vec<Skipped>, skip: Skipped) {
    if !skips.contains(&skip) {
        skips.push(skip);
    }
}

/// Rule 9: one send per (channel, recipient), standing for every parent it reaches, sorted.
fn dedupe(candidates: Vec<Candidate>, grounds: Option<String>) -> Vec<PlannedSend> {
    let mut by_recipient: BTreeMap<(Channel, String), PlannedSend> = BTreeMap::new();
    for c in candidates {
        let send = by_recipient
            .entry((c.channel, c.recipient.clone()))
            .or_insert_with(|| PlannedSend {
                channel: c.channel,
                recipient: c.recipient,
                parent_slots: Vec::new(),
                // The first parent's reason: parents are in slot order.
                reason: c.reason,
                grounds: None,
            });
        if !send.parent_slots.contains(&c.slot) {
            send.parent_slots.push(c.slot);
        }
        if c.overrides {
            send.grounds.clone_from(&grounds);
        }
    }
    by_recipient
        .into_values()
        .map(|mut s| {
            s.parent_slots.sort_unstable();
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{CampaignFacts, ChildFacts, Objection, plan};
    use super::*;

    fn parent(slot: u8, email: &str, phone: &str, preference: Preference) -> ParentFacts {
        ParentFacts {
            slot,
            email: Some((email.to_owned(), DetailStatus::Usable)),
            phone: Some((phone.to_owned(), true, DetailStatus::Usable)),
            preference,
        }
    }

    fn input(parents: Vec<ParentFacts>, objections: Vec<Objection>) -> PolicyInput {
        PolicyInput {
            purpose: Purpose::ConsentRequest,
            child: ChildFacts {
                letter_address: true,
                ..ChildFacts::default()
            },
            parents,
            objections,
            campaign: CampaignFacts {
                letters: true,
                override_grounds: None,
                templates: vec![Channel::Email, Channel::Sms, Channel::Letter],
            },
            failed_channels: Vec::new(),
        }
    }

    #[test]
    fn the_first_stop_reason_wins() {
        let mut i = input(vec![], vec![]);
        i.child.deceased = true;
        i.child.answered = true;
        i.child.left_cohort = true;
        assert_eq!(stop_reason(&i), Some("deceased"));
        i.child.deceased = false;
        assert_eq!(stop_reason(&i), Some("left_cohort"));
        i.child.left_cohort = false;
        assert_eq!(stop_reason(&i), Some("answered"));
        i.purpose = Purpose::SessionReminder;
        assert_eq!(stop_reason(&i), Some("no_consent"));
    }

    #[test]
    fn a_shared_email_is_not_used_when_either_parent_objected_to_email_by_phone() {
        let i = input(
            vec![
                parent(1, "home@x.com", "+447700900001", Preference::Email),
                parent(2, "home@x.com", "+447700900002", Preference::Email),
            ],
            vec![Objection {
                scope: ObjectionScope::Email,
                parent_detail: Some("+447700900002".into()),
            }],
        );
        let p = plan(&i);
        let sends: Vec<_> = p
            .sends
            .iter()
            .map(|s| (s.channel, s.recipient.as_str(), s.reason))
            .collect();
        assert_eq!(
            sends,
            vec![
                (Channel::Sms, "+447700900001", "fallback_objection"),
                (Channel::Sms, "+447700900002", "fallback_objection"),
            ]
        );
    }

    #[test]
    fn a_parent_who_objected_to_letters_is_left_out_of_the_fallback_letter() {
        let mut i = input(
            vec![
                parent(1, "a@x.com", "+447700900001", Preference::Any),
                parent(2, "b@x.com", "+447700900002", Preference::Any),
            ],
            vec![Objection {
                scope: ObjectionScope::All,
                parent_detail: Some("b@x.com".into()),
            }],
        );
        i.failed_channels = vec![Channel::Email, Channel::Sms];
        let p = plan(&i);
        assert_eq!(p.sends.len(), 1);
        assert_eq!(p.sends[0].channel, Channel::Letter);
        assert_eq!(p.sends[0].parent_slots, vec![1]);
        assert!(p.skipped.contains(&Skipped {
            parent_slot: Some(2),
            channel: Some(Channel::Letter),
            reason: "objection",
        }));
        assert!(!p.manual_follow_up);
    }
}
