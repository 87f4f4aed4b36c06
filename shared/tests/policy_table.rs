//! The channel policy, rule by rule and in combination (product.md, "Channel policy"): each case
//! states the facts at send time and the whole plan expected — every send with its channel,
//! recipient, reason and whether grounds were recorded, every skip reason, and whether the
//! child goes on the manual follow-up list.

use sais_shared::policy::{
    CampaignFacts, Channel, ChildFacts, DetailStatus, Objection, ObjectionScope, ParentFacts,
    PolicyInput, Preference, Purpose, plan,
};

use Channel::{Email, Letter, Sms};
use DetailStatus::{Erased, Failed, OptedOut, Usable};

const GROUNDS: &str = "Measles outbreak at the school: UKHSA advice to reach every family";

fn parent(slot: u8) -> ParentFacts {
    ParentFacts {
        slot,
        email: None,
        phone: None,
        preference: Preference::Any,
    }
}

trait Build {
    fn email(self, address: &str, status: DetailStatus) -> Self;
    fn mobile(self, number: &str, status: DetailStatus) -> Self;
    fn landline(self, number: &str) -> Self;
    fn prefers(self, p: Preference) -> Self;
}

impl Build for ParentFacts {
    fn email(mut self, address: &str, status: DetailStatus) -> Self {
        self.email = Some((address.into(), status));
        self
    }
    fn mobile(mut self, number: &str, status: DetailStatus) -> Self {
        self.phone = Some((number.into(), true, status));
        self
    }
    fn landline(mut self, number: &str) -> Self {
        self.phone = Some((number.into(), false, Usable));
        self
    }
    fn prefers(mut self, p: Preference) -> Self {
        self.preference = p;
        self
    }
}

fn input(parents: Vec<ParentFacts>) -> PolicyInput {
    PolicyInput {
        purpose: Purpose::ConsentRequest,
        child: ChildFacts {
            letter_address: true,
            ..ChildFacts::default()
        },
        parents,
        objections: vec![],
        campaign: CampaignFacts {
            letters: true,
            override_grounds: None,
            templates: vec![Email, Sms, Letter],
        },
        failed_channels: vec![],
    }
}

fn objection(scope: ObjectionScope, parent_detail: Option<&str>) -> Objection {
    Objection {
        scope,
        parent_detail: parent_detail.map(str::to_owned),
    }
}

const MUM_EMAIL: &str = "mum@example.com";
const MUM_MOBILE: &str = "+447700900001";
const DAD_EMAIL: &str = "dad@example.com";
const DAD_MOBILE: &str = "+447700900002";

fn mum() -> ParentFacts {
    parent(1)
        .email(MUM_EMAIL, Usable)
        .mobile(MUM_MOBILE, Usable)
}

fn dad() -> ParentFacts {
    parent(2)
        .email(DAD_EMAIL, Usable)
        .mobile(DAD_MOBILE, Usable)
}

/// (channel, recipient, reason, grounds recorded)
type Send = (Channel, &'static str, &'static str, bool);

struct Case {
    name: &'static str,
    input: PolicyInput,
    sends: Vec<Send>,
    skipped: Vec<&'static str>,
    manual_follow_up: bool,
}

fn case(
    name: &'static str,
    input: PolicyInput,
    sends: Vec<Send>,
    skipped: Vec<&'static str>,
    manual_follow_up: bool,
) -> Case {
    Case {
        name,
        input,
        sends,
        skipped,
        manual_follow_up,
    }
}

fn with(mut i: PolicyInput, f: impl FnOnce(&mut PolicyInput)) -> PolicyInput {
    f(&mut i);
    i
}

fn cases() -> Vec<Case> {
    let stopped = |name, f: fn(&mut PolicyInput), reason| {
        case(
            name,
            with(input(vec![mum()]), f),
            vec![],
            vec![reason],
            false,
        )
    };
    vec![
        // Rule 1: stop for the child.
        stopped(
            "a deceased child's family is not contacted",
            |i| i.child.deceased = true,
            "deceased",
        ),
        stopped(
            "a child who left the cohort is not chased",
            |i| i.child.left_cohort = true,
            "left_cohort",
        ),
        stopped(
            "a family that answered is not sent a reminder",
            |i| {
                i.purpose = Purpose::ConsentReminder;
                i.child.answered = true;
            },
            "answered",
        ),
        stopped(
            "a vaccinated child is not chased",
            |i| i.child.vaccinated_or_ineligible = true,
            "vaccinated",
        ),
        stopped(
            "a session reminder needs consent given",
            |i| i.purpose = Purpose::SessionReminder,
            "no_consent",
        ),
        case(
            "an answered family still gets the session reminder when consent was given",
            with(input(vec![mum().prefers(Preference::Email)]), |i| {
                i.purpose = Purpose::SessionReminder;
                i.child.answered = true;
                i.child.consent_given = true;
            }),
            vec![(Email, MUM_EMAIL, "preference", false)],
            vec![],
            false,
        ),
        stopped(
            "an objection to all messages stops everything",
            |i| {
                i.objections = vec![objection(ObjectionScope::All, None)];
            },
            "objection_all",
        ),
        case(
            "an urgent campaign with grounds overrides an objection to all and records the grounds",
            with(input(vec![mum().prefers(Preference::Email)]), |i| {
                i.objections = vec![objection(ObjectionScope::All, None)];
                i.campaign.override_grounds = Some(GROUNDS.into());
            }),
            vec![(Email, MUM_EMAIL, "preference", true)],
            vec![],
            false,
        ),
        // Rules 2–4: recipients, usable channels, preferences.
        case(
            "a blank or any preference reaches both parents by email and text",
            input(vec![mum(), dad()]),
            vec![
                (Email, DAD_EMAIL, "any", false),
                (Email, MUM_EMAIL, "any", false),
                (Sms, MUM_MOBILE, "any", false),
                (Sms, DAD_MOBILE, "any", false),
            ],
            vec![],
            false,
        ),
        case(
            "an email preference means email only",
            input(vec![mum().prefers(Preference::Email)]),
            vec![(Email, MUM_EMAIL, "preference", false)],
            vec![],
            false,
        ),
        case(
            "a text preference means text only",
            input(vec![mum().prefers(Preference::Text)]),
            vec![(Sms, MUM_MOBILE, "preference", false)],
            vec![],
            false,
        ),
        case(
            "a letter preference means a letter",
            input(vec![mum().prefers(Preference::Letter)]),
            vec![(Letter, "letter", "preference", false)],
            vec![],
            false,
        ),
        case(
            "a failed preferred email falls back to text: a preference is not an objection",
            input(vec![
                parent(1)
                    .email(MUM_EMAIL, Failed)
                    .mobile(MUM_MOBILE, Usable)
                    .prefers(Preference::Email),
            ]),
            vec![(Sms, MUM_MOBILE, "fallback_preference_unusable", false)],
            vec!["email_failed"],
            false,
        ),
        case(
            "a landline is never texted",
            input(vec![
                parent(1).email(MUM_EMAIL, Usable).landline("+441134960000"),
            ]),
            vec![(Email, MUM_EMAIL, "any", false)],
            vec!["landline"],
            false,
        ),
        case(
            "an opted-out number gets no texts but the email still goes",
            input(vec![
                parent(1)
                    .email(MUM_EMAIL, Usable)
                    .mobile(MUM_MOBILE, OptedOut),
            ]),
            vec![(Email, MUM_EMAIL, "any", false)],
            vec!["opted_out"],
            false,
        ),
        case(
            "an erased email is never used",
            input(vec![
                parent(1)
                    .email(MUM_EMAIL, Erased)
                    .mobile(MUM_MOBILE, Usable),
            ]),
            vec![(Sms, MUM_MOBILE, "any", false)],
            vec!["email_erased"],
            false,
        ),
        case(
            "a shared email is sent once for both parents",
            input(vec![
                parent(1)
                    .email(MUM_EMAIL, Usable)
                    .prefers(Preference::Email),
                parent(2)
                    .email(MUM_EMAIL, Usable)
                    .prefers(Preference::Email),
            ]),
            vec![(Email, MUM_EMAIL, "preference", false)],
            vec![],
            false,
        ),
        case(
            "a channel without a template is not used",
            with(input(vec![mum()]), |i| {
                i.campaign.templates = vec![Email, Letter]
            }),
            vec![(Email, MUM_EMAIL, "any", false)],
            vec!["no_template"],
            false,
        ),
        // Rule 5: objections.
        case(
            "an objection to texts for the preferred channel falls back to email",
            with(input(vec![mum().prefers(Preference::Text)]), |i| {
                i.objections = vec![objection(ObjectionScope::Text, None)];
            }),
            vec![(Email, MUM_EMAIL, "fallback_objection", false)],
            vec!["objection"],
            false,
        ),
        case(
            "one parent's objection leaves the other parent's texts alone",
            with(
                input(vec![
                    mum().prefers(Preference::Text),
                    dad().prefers(Preference::Text),
                ]),
                |i| {
                    i.objections = vec![objection(ObjectionScope::Text, Some(MUM_MOBILE))];
                },
            ),
            vec![
                (Email, MUM_EMAIL, "fallback_objection", false),
                (Sms, DAD_MOBILE, "preference", false),
            ],
            vec!["objection"],
            false,
        ),
        case(
            "an objection to electronic contact leaves a letter",
            with(input(vec![mum()]), |i| {
                i.objections = vec![objection(ObjectionScope::Electronic, None)];
            }),
            vec![(Letter, "letter", "fallback_no_electronic", false)],
            vec!["objection", "objection"],
            false,
        ),
        case(
            "an urgent campaign overrides an objection only where one applies, recording grounds there",
            with(input(vec![mum()]), |i| {
                i.objections = vec![objection(ObjectionScope::Text, None)];
                i.campaign.override_grounds = Some(GROUNDS.into());
            }),
            vec![
                (Email, MUM_EMAIL, "any", false),
                (Sms, MUM_MOBILE, "any", true),
            ],
            vec![],
            false,
        ),
        case(
            "without grounds an objection stands even in a campaign that has letters",
            with(input(vec![mum().prefers(Preference::Letter)]), |i| {
                i.objections = vec![objection(ObjectionScope::Letter, None)];
            }),
            vec![
                (Email, MUM_EMAIL, "fallback_letter_unavailable", false),
                (Sms, MUM_MOBILE, "fallback_letter_unavailable", false),
            ],
            vec!["objection"],
            false,
        ),
        // Rule 6: restricted children.
        case(
            "a restricted child's parents are reached electronically",
            with(input(vec![mum().prefers(Preference::Email)]), |i| {
                i.child.restricted = true
            }),
            vec![(Email, MUM_EMAIL, "preference", false)],
            vec![],
            false,
        ),
        case(
            "a restricted child never gets a letter and goes on the follow-up list when electronic fails",
            with(
                input(vec![
                    parent(1)
                        .email(MUM_EMAIL, Failed)
                        .mobile(MUM_MOBILE, Failed),
                ]),
                |i| i.child.restricted = true,
            ),
            vec![],
            vec!["email_failed", "phone_failed", "restricted_no_letter"],
            true,
        ),
        // Rule 7: letters and fallback.
        case(
            "no parents at all means a letter to the child's address",
            input(vec![]),
            vec![(Letter, "letter", "fallback_no_electronic", false)],
            vec![],
            false,
        ),
        case(
            "no usable address means manual follow-up",
            with(input(vec![parent(1).landline("+441134960000")]), |i| {
                i.child.letter_address = false;
            }),
            vec![],
            vec!["landline", "no_address"],
            true,
        ),
        case(
            "letters turned off means manual follow-up",
            with(input(vec![]), |i| i.campaign.letters = false),
            vec![],
            vec!["letters_off"],
            true,
        ),
        case(
            "a fallback run after a bounced email texts instead, even for an email preference",
            with(input(vec![mum().prefers(Preference::Email)]), |i| {
                i.failed_channels = vec![Email];
            }),
            vec![(Sms, MUM_MOBILE, "fallback_from_email", false)],
            vec!["channel_failed"],
            false,
        ),
        case(
            "when email and text have both failed, a letter goes",
            with(input(vec![mum()]), |i| i.failed_channels = vec![Email, Sms]),
            vec![(Letter, "letter", "fallback_no_electronic", false)],
            vec!["channel_failed", "channel_failed"],
            false,
        ),
    ]
}

#[test]
fn the_channel_policy_table() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 30, "every rule and interaction is covered");
    for c in all {
        let p = plan(&c.input);
        let sends: Vec<(Channel, String, &str, bool)> = p
            .sends
            .iter()
            .map(|s| {
                (
                    s.channel,
                    s.recipient.clone(),
                    s.reason,
                    s.grounds.is_some(),
                )
            })
            .collect();
        let expected: Vec<(Channel, String, &str, bool)> = c
            .sends
            .iter()
            .map(|(ch, r, why, g)| (*ch, (*r).to_owned(), *why, *g))
            .collect();
        let skipped: Vec<&str> = p.skipped.iter().map(|s| s.reason).collect();
        if sends != expected || skipped != c.skipped || p.manual_follow_up != c.manual_follow_up {
            failures.push(format!(
                "{}:\n  expected sends {expected:?} skipped {:?} manual {}\n  got      sends {sends:?} skipped {skipped:?} manual {}",
                c.name, c.skipped, c.manual_follow_up, p.manual_follow_up
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn grounds_are_recorded_only_on_sends_that_overrode_an_objection() {
    let mut i = input(vec![mum(), dad()]);
    i.objections = vec![objection(ObjectionScope::Email, Some(MUM_EMAIL))];
    i.campaign.override_grounds = Some(GROUNDS.into());
    let p = plan(&i);
    for s in &p.sends {
        let overrode = s.recipient == MUM_EMAIL;
        assert_eq!(s.grounds.as_deref() == Some(GROUNDS), overrode, "{s:?}");
    }
}

#[test]
fn a_letter_is_addressed_for_every_parent() {
    let p = plan(&input(vec![
        parent(1).landline("+441134960000"),
        parent(2).landline("+441134960001"),
    ]));
    assert_eq!(p.sends.len(), 1);
    assert_eq!(p.sends[0].channel, Letter);
    assert_eq!(p.sends[0].parent_slots, [1, 2]);
}
