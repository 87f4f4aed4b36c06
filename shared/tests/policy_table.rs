//! The channel policy (product.md, "Channel policy"), one table row per situation a SAIS team or
//! an IG lead would recognise. Every row states the whole plan: sends, skips and the manual
//! follow-up flag.

use sais_shared::policy::{
    CampaignFacts, Channel, ChildFacts, DetailStatus, Objection, ObjectionScope, ParentFacts, Plan,
    PolicyInput, Preference, Purpose, plan,
};

const A: &str = "a@x.com";
const B: &str = "b@x.com";
const M1: &str = "+447700900001";
const M2: &str = "+447700900002";
const LANDLINE: &str = "+441632960001";
const GROUNDS: &str = "Measles outbreak at the school: UKHSA advice to offer MMR to every child";

use Channel::{Email, Letter, Sms};
use DetailStatus::{Erased, Failed, OptedOut};
use ObjectionScope as Scope;
use Preference::{Any, Text};

// ---- building the input ----

fn parent(slot: u8) -> ParentFacts {
    ParentFacts {
        slot,
        email: None,
        phone: None,
        preference: Any,
    }
}

trait ParentBuilder {
    fn email(self, email: &str) -> Self;
    fn email_as(self, email: &str, status: DetailStatus) -> Self;
    fn mobile(self, phone: &str) -> Self;
    fn mobile_as(self, phone: &str, status: DetailStatus) -> Self;
    fn landline(self, phone: &str) -> Self;
    fn pref(self, preference: Preference) -> Self;
}

impl ParentBuilder for ParentFacts {
    fn email(self, email: &str) -> Self {
        self.email_as(email, DetailStatus::Usable)
    }
    fn email_as(mut self, email: &str, status: DetailStatus) -> Self {
        self.email = Some((email.to_owned(), status));
        self
    }
    fn mobile(self, phone: &str) -> Self {
        self.mobile_as(phone, DetailStatus::Usable)
    }
    fn mobile_as(mut self, phone: &str, status: DetailStatus) -> Self {
        self.phone = Some((phone.to_owned(), true, status));
        self
    }
    fn landline(mut self, phone: &str) -> Self {
        self.phone = Some((phone.to_owned(), false, DetailStatus::Usable));
        self
    }
    fn pref(mut self, preference: Preference) -> Self {
        self.preference = preference;
        self
    }
}

/// Parent 1 with a working email (A) and mobile (M1).
fn parent1() -> ParentFacts {
    parent(1).email(A).mobile(M1)
}

/// Parent 2 with a working email (B) and mobile (M2).
fn parent2() -> ParentFacts {
    parent(2).email(B).mobile(M2)
}

/// A consent request for a child with a letter address, on a campaign with letters on and every
/// template; no parents, objections or earlier failures.
fn given() -> PolicyInput {
    PolicyInput {
        purpose: Purpose::ConsentRequest,
        child: ChildFacts {
            letter_address: true,
            ..ChildFacts::default()
        },
        parents: Vec::new(),
        objections: Vec::new(),
        campaign: CampaignFacts {
            letters: true,
            override_grounds: None,
            templates: vec![Email, Sms, Letter],
        },
        failed_channels: Vec::new(),
    }
}

trait InputBuilder {
    fn purpose(self, purpose: Purpose) -> Self;
    fn child(self, change: impl FnOnce(&mut ChildFacts)) -> Self;
    fn parent(self, parent: ParentFacts) -> Self;
    fn objects(self, scope: ObjectionScope) -> Self;
    fn objects_for(self, scope: ObjectionScope, detail: &str) -> Self;
    fn urgent(self) -> Self;
    fn letters_off(self) -> Self;
    fn templates(self, channels: &[Channel]) -> Self;
    fn failed(self, channels: &[Channel]) -> Self;
}

impl InputBuilder for PolicyInput {
    fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }
    fn child(mut self, change: impl FnOnce(&mut ChildFacts)) -> Self {
        change(&mut self.child);
        self
    }
    fn parent(mut self, parent: ParentFacts) -> Self {
        self.parents.push(parent);
        self
    }
    fn objects(mut self, scope: ObjectionScope) -> Self {
        self.objections.push(Objection {
            scope,
            parent_detail: None,
        });
        self
    }
    fn objects_for(mut self, scope: ObjectionScope, detail: &str) -> Self {
        self.objections.push(Objection {
            scope,
            parent_detail: Some(detail.to_owned()),
        });
        self
    }
    fn urgent(mut self) -> Self {
        self.campaign.override_grounds = Some(GROUNDS.to_owned());
        self
    }
    fn letters_off(mut self) -> Self {
        self.campaign.letters = false;
        self
    }
    fn templates(mut self, channels: &[Channel]) -> Self {
        self.campaign.templates = channels.to_vec();
        self
    }
    fn failed(mut self, channels: &[Channel]) -> Self {
        self.failed_channels = channels.to_vec();
        self
    }
}

// ---- describing the expected plan ----

/// (channel, recipient, parent slots, reason, grounds recorded)
type Send = (Channel, String, Vec<u8>, &'static str, bool);
/// (parent slot, channel, reason)
type Skip = (Option<u8>, Option<Channel>, &'static str);

fn email(to: &str, slots: &[u8], reason: &'static str) -> Send {
    (Email, to.to_owned(), slots.to_vec(), reason, false)
}

fn sms(to: &str, slots: &[u8], reason: &'static str) -> Send {
    (Sms, to.to_owned(), slots.to_vec(), reason, false)
}

fn letter(slots: &[u8], reason: &'static str) -> Send {
    (Letter, "letter".to_owned(), slots.to_vec(), reason, false)
}

/// The same send, carrying the campaign's override grounds.
fn with_grounds(mut send: Send) -> Send {
    send.4 = true;
    send
}

/// Nothing at all for the child (rule 1).
fn stop(reason: &'static str) -> Skip {
    (None, None, reason)
}

/// One parent's channel not used.
fn skip(slot: u8, channel: Channel, reason: &'static str) -> Skip {
    (Some(slot), Some(channel), reason)
}

/// The child's letter not sent.
fn no_letter(reason: &'static str) -> Skip {
    (None, Some(Letter), reason)
}

struct Case {
    name: &'static str,
    input: PolicyInput,
    sends: Vec<Send>,
    skipped: Vec<Skip>,
    manual_follow_up: bool,
}

fn case(name: &'static str, input: PolicyInput) -> Case {
    Case {
        name,
        input,
        sends: Vec::new(),
        skipped: Vec::new(),
        manual_follow_up: false,
    }
}

impl Case {
    fn sends<const N: usize>(mut self, sends: [Send; N]) -> Self {
        self.sends = sends.into();
        self
    }
    fn skips<const N: usize>(mut self, skipped: [Skip; N]) -> Self {
        self.skipped = skipped.into();
        self
    }
    fn manual_follow_up(mut self) -> Self {
        self.manual_follow_up = true;
        self
    }
}

fn summarise(plan: &Plan) -> (Vec<Send>, Vec<Skip>, bool) {
    let sends = plan
        .sends
        .iter()
        .map(|s| {
            (
                s.channel,
                s.recipient.clone(),
                s.parent_slots.clone(),
                s.reason,
                s.grounds.is_some(),
            )
        })
        .collect();
    let skipped = plan
        .skipped
        .iter()
        .map(|s| (s.parent_slot, s.channel, s.reason))
        .collect();
    (sends, skipped, plan.manual_follow_up)
}

// ---- the table ----

fn cases() -> Vec<Case> {
    vec![
        // Rule 1: stop for the child.
        case(
            "a deceased child's family gets nothing and is not listed for follow-up",
            given().child(|c| c.deceased = true).parent(parent1()),
        )
        .skips([stop("deceased")]),
        case(
            "a child who left the cohort gets nothing",
            given().child(|c| c.left_cohort = true).parent(parent1()),
        )
        .skips([stop("left_cohort")]),
        case(
            "no consent request once the parent has answered",
            given().child(|c| c.answered = true).parent(parent1()),
        )
        .skips([stop("answered")]),
        case(
            "no consent reminder once the parent has answered",
            given()
                .purpose(Purpose::ConsentReminder)
                .child(|c| c.answered = true)
                .parent(parent1()),
        )
        .skips([stop("answered")]),
        case(
            "a session reminder still goes to a parent who answered with consent",
            given()
                .purpose(Purpose::SessionReminder)
                .child(|c| {
                    c.answered = true;
                    c.consent_given = true;
                })
                .parent(parent1()),
        )
        .sends([email(A, &[1], "any"), sms(M1, &[1], "any")]),
        case(
            "no session reminder for a child whose parent refused consent",
            given()
                .purpose(Purpose::SessionReminder)
                .child(|c| c.answered = true)
                .parent(parent1()),
        )
        .skips([stop("no_consent")]),
        case(
            "no session reminder for a child nobody has answered for",
            given()
                .purpose(Purpose::SessionReminder)
                .parent(parent1()),
        )
        .skips([stop("no_consent")]),
        case(
            "no consent request for a child already vaccinated",
            given()
                .child(|c| c.vaccinated_or_ineligible = true)
                .parent(parent1()),
        )
        .skips([stop("vaccinated")]),
        case(
            "no session reminder for a child vaccinated since consenting",
            given()
                .purpose(Purpose::SessionReminder)
                .child(|c| {
                    c.answered = true;
                    c.consent_given = true;
                    c.vaccinated_or_ineligible = true;
                })
                .parent(parent1()),
        )
        .skips([stop("vaccinated")]),
        case(
            "an objection to all messages for the child stops everything, letters included",
            given()
                .objects(Scope::All)
                .parent(parent1())
                .parent(parent2()),
        )
        .skips([stop("objection_all")]),
        case(
            "an urgent campaign with grounds overrides an objection to all and records the grounds on every send",
            given()
                .objects(Scope::All)
                .urgent()
                .parent(parent1().pref(Preference::Email)),
        )
        .sends([with_grounds(email(A, &[1], "preference"))]),
        case(
            "an urgent campaign overriding an objection to all records the grounds on the fallback letter too",
            given()
                .objects(Scope::All)
                .urgent()
                .parent(parent(1).email_as(A, Failed)),
        )
        .sends([with_grounds(letter(&[1], "fallback_no_electronic"))])
        .skips([skip(1, Email, "email_failed")]),
        case(
            "an urgent campaign does not reach a deceased child's family",
            given()
                .child(|c| c.deceased = true)
                .objects(Scope::All)
                .urgent()
                .parent(parent1()),
        )
        .skips([stop("deceased")]),
        // Rule 4: preference.
        case(
            "a parent who prefers email gets only an email",
            given().parent(parent1().pref(Preference::Email)),
        )
        .sends([email(A, &[1], "preference")]),
        case(
            "a parent who prefers texts gets only a text",
            given().parent(parent1().pref(Text)),
        )
        .sends([sms(M1, &[1], "preference")]),
        case(
            "a parent who prefers letters gets a letter and no electronic message",
            given().parent(parent1().pref(Preference::Letter)),
        )
        .sends([letter(&[1], "preference")]),
        case(
            "a parent who prefers any channel gets both an email and a text",
            given().parent(parent1().pref(Any)),
        )
        .sends([email(A, &[1], "any"), sms(M1, &[1], "any")]),
        case(
            "two parents with a blank preference (read as any) each get an email and a text",
            given().parent(parent1()).parent(parent2()),
        )
        .sends([
            email(A, &[1], "any"),
            email(B, &[2], "any"),
            sms(M1, &[1], "any"),
            sms(M2, &[2], "any"),
        ]),
        case(
            "email preferred but failed falls back to a text",
            given().parent(
                parent(1)
                    .email_as(A, Failed)
                    .mobile(M1)
                    .pref(Preference::Email),
            ),
        )
        .sends([sms(M1, &[1], "fallback_preference_unusable")])
        .skips([skip(1, Email, "email_failed")]),
        case(
            "text preferred but the number opted out falls back to email",
            given().parent(parent(1).email(A).mobile_as(M1, OptedOut).pref(Text)),
        )
        .sends([email(A, &[1], "fallback_preference_unusable")])
        .skips([skip(1, Sms, "opted_out")]),
        case(
            "email preferred but no email given falls back to a text",
            given().parent(parent(1).mobile(M1).pref(Preference::Email)),
        )
        .sends([sms(M1, &[1], "fallback_preference_unusable")]),
        case(
            "an opted-out status on an email address does not stop email",
            given().parent(parent(1).email_as(A, OptedOut).pref(Preference::Email)),
        )
        .sends([email(A, &[1], "preference")]),
        // Rule 5: objections.
        case(
            "text preferred but objected to falls back to email",
            given()
                .objects_for(Scope::Text, M1)
                .parent(parent1().pref(Text)),
        )
        .sends([email(A, &[1], "fallback_objection")])
        .skips([skip(1, Sms, "objection")]),
        case(
            "an objection to one parent's texts leaves the other parent texted",
            given()
                .objects_for(Scope::Text, M1)
                .parent(parent1())
                .parent(parent2()),
        )
        .sends([
            email(A, &[1], "any"),
            email(B, &[2], "any"),
            sms(M2, &[2], "any"),
        ])
        .skips([skip(1, Sms, "objection")]),
        case(
            "a parent's objection named by their email also covers their phone",
            given()
                .objects_for(Scope::Text, A)
                .parent(parent1().pref(Text))
                .parent(parent(2).mobile(M2).pref(Text)),
        )
        .sends([
            email(A, &[1], "fallback_objection"),
            sms(M2, &[2], "preference"),
        ])
        .skips([skip(1, Sms, "objection")]),
        case(
            "one parent's objection to all messages leaves the other parent reached and no letter",
            given()
                .objects_for(Scope::All, B)
                .parent(parent1())
                .parent(parent2()),
        )
        .sends([email(A, &[1], "any"), sms(M1, &[1], "any")])
        .skips([skip(2, Email, "objection"), skip(2, Sms, "objection")]),
        case(
            "an objection to email for the child leaves texts to both parents",
            given()
                .objects(Scope::Email)
                .parent(parent1())
                .parent(parent2()),
        )
        .sends([sms(M1, &[1], "any"), sms(M2, &[2], "any")])
        .skips([skip(1, Email, "objection"), skip(2, Email, "objection")]),
        case(
            "an objection to electronic messages sends a letter instead",
            given()
                .objects(Scope::Electronic)
                .parent(parent1().pref(Preference::Email)),
        )
        .sends([letter(&[1], "fallback_no_electronic")])
        .skips([skip(1, Email, "objection"), skip(1, Sms, "objection")]),
        case(
            "objections to electronic messages and to letters leave the child for manual follow-up",
            given()
                .objects(Scope::Electronic)
                .objects(Scope::Letter)
                .parent(parent1()),
        )
        .skips([
            skip(1, Email, "objection"),
            skip(1, Sms, "objection"),
            no_letter("objection"),
        ])
        .manual_follow_up(),
        case(
            "a letter-preferring parent who objected to letters gets electronic messages",
            given()
                .objects_for(Scope::Letter, A)
                .parent(parent1().pref(Preference::Letter)),
        )
        .sends([
            email(A, &[1], "fallback_letter_unavailable"),
            sms(M1, &[1], "fallback_letter_unavailable"),
        ])
        .skips([skip(1, Letter, "objection")]),
        // Urgent campaigns: the override, and only with grounds recorded where it overrode.
        case(
            "an urgent campaign overrides one parent's text objection, grounds only on that text",
            given()
                .objects_for(Scope::Text, M1)
                .urgent()
                .parent(parent1())
                .parent(parent2()),
        )
        .sends([
            email(A, &[1], "any"),
            email(B, &[2], "any"),
            with_grounds(sms(M1, &[1], "any")),
            sms(M2, &[2], "any"),
        ]),
        case(
            "an urgent campaign texts a parent who prefers texts despite their objection",
            given()
                .objects_for(Scope::Text, M1)
                .urgent()
                .parent(parent1().pref(Text)),
        )
        .sends([with_grounds(sms(M1, &[1], "preference"))]),
        case(
            "an urgent campaign sends the fallback letter despite a letter objection, with grounds",
            given()
                .objects(Scope::Letter)
                .urgent()
                .parent(parent(1).email_as(A, Failed)),
        )
        .sends([with_grounds(letter(&[1], "fallback_no_electronic"))])
        .skips([skip(1, Email, "email_failed")]),
        case(
            "an urgent campaign never uses an erased email or an opted-out number",
            given()
                .objects_for(Scope::Electronic, A)
                .urgent()
                .parent(parent(1).email_as(A, Erased).mobile_as(M1, OptedOut)),
        )
        .sends([letter(&[1], "fallback_no_electronic")])
        .skips([skip(1, Email, "email_erased"), skip(1, Sms, "opted_out")]),
        // Rule 6: restricted children.
        case(
            "a restricted child's parents get electronic messages as usual",
            given().child(|c| c.restricted = true).parent(parent1()),
        )
        .sends([email(A, &[1], "any"), sms(M1, &[1], "any")]),
        case(
            "a restricted child's letter-preferring parent gets electronic messages, never a letter",
            given()
                .child(|c| c.restricted = true)
                .parent(parent1().pref(Preference::Letter)),
        )
        .sends([
            email(A, &[1], "fallback_letter_unavailable"),
            sms(M1, &[1], "fallback_letter_unavailable"),
        ])
        .skips([no_letter("restricted_no_letter")]),
        case(
            "a restricted child with no working electronic contact goes to manual follow-up, not a letter",
            given()
                .child(|c| c.restricted = true)
                .parent(parent(1).email_as(A, Failed).landline(LANDLINE)),
        )
        .skips([
            skip(1, Email, "email_failed"),
            skip(1, Sms, "landline"),
            no_letter("restricted_no_letter"),
        ])
        .manual_follow_up(),
        case(
            "a restricted child goes to manual follow-up after every electronic channel failed",
            given()
                .child(|c| c.restricted = true)
                .failed(&[Email, Sms])
                .parent(parent1()),
        )
        .skips([
            skip(1, Email, "channel_failed"),
            skip(1, Sms, "channel_failed"),
            no_letter("restricted_no_letter"),
        ])
        .manual_follow_up(),
        case(
            "an urgent campaign still sends no letter for a restricted child",
            given()
                .child(|c| c.restricted = true)
                .objects(Scope::Electronic)
                .objects(Scope::Letter)
                .parent(parent(1).email_as(A, Failed)),
        )
        .skips([
            skip(1, Email, "email_failed"),
            no_letter("restricted_no_letter"),
        ])
        .manual_follow_up(),
        // Rule 3: usable details.
        case(
            "a landline is never texted",
            given().parent(parent(1).email(A).landline(LANDLINE)),
        )
        .sends([email(A, &[1], "any")])
        .skips([skip(1, Sms, "landline")]),
        case(
            "a parent with only a landline gets a letter",
            given().parent(parent(1).landline(LANDLINE).pref(Text)),
        )
        .sends([letter(&[1], "fallback_no_electronic")])
        .skips([skip(1, Sms, "landline")]),
        case(
            "an opted-out number is not texted but the email is still sent",
            given().parent(parent(1).email(A).mobile_as(M1, OptedOut)),
        )
        .sends([email(A, &[1], "any")])
        .skips([skip(1, Sms, "opted_out")]),
        case(
            "an erased email is never used",
            given().parent(
                parent(1)
                    .email_as(A, Erased)
                    .mobile(M1)
                    .pref(Preference::Email),
            ),
        )
        .sends([sms(M1, &[1], "fallback_preference_unusable")])
        .skips([skip(1, Email, "email_erased")]),
        case(
            "an erased phone is never used",
            given().parent(parent(1).email(A).mobile_as(M1, Erased)),
        )
        .sends([email(A, &[1], "any")])
        .skips([skip(1, Sms, "phone_erased")]),
        case(
            "a failed email and a failed number fall back to a letter",
            given().parent(parent(1).email_as(A, Failed).mobile_as(M1, Failed)),
        )
        .sends([letter(&[1], "fallback_no_electronic")])
        .skips([skip(1, Email, "email_failed"), skip(1, Sms, "phone_failed")]),
        // Rule 7: letters.
        case(
            "a child with no parents listed gets a letter",
            given(),
        )
        .sends([letter(&[], "fallback_no_electronic")]),
        case(
            "a child with no parents and no letter address goes to manual follow-up",
            given().child(|c| c.letter_address = false),
        )
        .skips([no_letter("no_address")])
        .manual_follow_up(),
        case(
            "a parent without any contact details and no letter address means manual follow-up",
            given()
                .child(|c| c.letter_address = false)
                .parent(parent(1)),
        )
        .skips([
            (Some(1), None, "no_contact_details"),
            no_letter("no_address"),
        ])
        .manual_follow_up(),
        case(
            "with letters off a family nobody can reach goes to manual follow-up",
            given()
                .letters_off()
                .parent(parent(1).email_as(A, Failed)),
        )
        .skips([skip(1, Email, "email_failed"), no_letter("letters_off")])
        .manual_follow_up(),
        case(
            "with letters off a letter-preferring parent gets electronic messages",
            given()
                .letters_off()
                .parent(parent1().pref(Preference::Letter)),
        )
        .sends([
            email(A, &[1], "fallback_letter_unavailable"),
            sms(M1, &[1], "fallback_letter_unavailable"),
        ])
        .skips([no_letter("letters_off")]),
        case(
            "a letter-preferring parent without contact details or letter address means manual follow-up",
            given()
                .child(|c| c.letter_address = false)
                .parent(parent(1).pref(Preference::Letter)),
        )
        .skips([
            (Some(1), None, "no_contact_details"),
            no_letter("no_address"),
        ])
        .manual_follow_up(),
        case(
            "one parent prefers letters and the other email: one letter and one email",
            given()
                .parent(parent1().pref(Preference::Letter))
                .parent(parent(2).email(B).pref(Preference::Email)),
        )
        .sends([
            email(B, &[2], "preference"),
            letter(&[1], "preference"),
        ]),
        case(
            "one parent prefers letters and the other cannot be reached: the letter stands for both",
            given()
                .parent(parent1().pref(Preference::Letter))
                .parent(parent(2).email_as(B, Failed)),
        )
        .sends([letter(&[1, 2], "preference")])
        .skips([skip(2, Email, "email_failed")]),
        case(
            "two unreachable parents share one fallback letter",
            given()
                .parent(parent(1).email_as(A, Failed))
                .parent(parent(2).mobile_as(M2, OptedOut)),
        )
        .sends([letter(&[1, 2], "fallback_no_electronic")])
        .skips([skip(1, Email, "email_failed"), skip(2, Sms, "opted_out")]),
        // Templates.
        case(
            "without a text template the parent gets only the email",
            given().templates(&[Email, Letter]).parent(parent1()),
        )
        .sends([email(A, &[1], "any")])
        .skips([skip(1, Sms, "no_template")]),
        case(
            "without a text template a text-preferring parent gets an email",
            given()
                .templates(&[Email, Letter])
                .parent(parent1().pref(Text)),
        )
        .sends([email(A, &[1], "fallback_preference_unusable")])
        .skips([skip(1, Sms, "no_template")]),
        case(
            "without electronic templates the family gets a letter",
            given().templates(&[Letter]).parent(parent1()),
        )
        .sends([letter(&[1], "fallback_no_electronic")])
        .skips([skip(1, Email, "no_template"), skip(1, Sms, "no_template")]),
        case(
            "without a letter template a family nobody can reach goes to manual follow-up",
            given()
                .templates(&[Email, Sms])
                .parent(parent(1).email_as(A, Failed)),
        )
        .skips([skip(1, Email, "email_failed"), no_letter("no_template")])
        .manual_follow_up(),
        // Rule 9: de-duplication.
        case(
            "two parents sharing an email get one email between them",
            given()
                .parent(parent(1).email(A).mobile(M1))
                .parent(parent(2).email(A).mobile(M2)),
        )
        .sends([
            email(A, &[1, 2], "any"),
            sms(M1, &[1], "any"),
            sms(M2, &[2], "any"),
        ]),
        case(
            "two parents sharing a mobile get one text between them",
            given()
                .parent(parent(1).email(A).mobile(M1).pref(Text))
                .parent(parent(2).email(B).mobile(M1).pref(Text)),
        )
        .sends([sms(M1, &[1, 2], "preference")]),
        case(
            "a shared email takes the first parent's reason",
            given()
                .parent(parent(1).email(A).pref(Preference::Email))
                .parent(parent(2).email(A).mobile(M2)),
        )
        .sends([email(A, &[1, 2], "preference"), sms(M2, &[2], "any")]),
        case(
            "an urgent override on a shared email records the grounds once on the one email",
            given()
                .objects_for(Scope::Email, A)
                .urgent()
                .parent(parent(1).email(A).pref(Preference::Email))
                .parent(parent(2).email(A).pref(Preference::Email)),
        )
        .sends([with_grounds(email(A, &[1, 2], "preference"))]),
        // Rule 8: fallback runs.
        case(
            "after email failed, a parent who prefers email is texted",
            given()
                .failed(&[Email])
                .parent(parent1().pref(Preference::Email)),
        )
        .sends([sms(M1, &[1], "fallback_from_email")])
        .skips([skip(1, Email, "channel_failed")]),
        case(
            "after email failed, a parent who prefers texts keeps their text",
            given().failed(&[Email]).parent(parent1().pref(Text)),
        )
        .sends([sms(M1, &[1], "preference")]),
        case(
            "after email failed, one parent texted is enough: no letter",
            given()
                .failed(&[Email])
                .parent(parent1())
                .parent(parent(2).email(B).pref(Preference::Email)),
        )
        .sends([sms(M1, &[1], "any")])
        .skips([skip(1, Email, "channel_failed"), skip(2, Email, "channel_failed")]),
        case(
            "after email failed with no mobile, the family gets a letter",
            given()
                .failed(&[Email])
                .parent(parent(1).email(A).pref(Preference::Email)),
        )
        .sends([letter(&[1], "fallback_no_electronic")])
        .skips([skip(1, Email, "channel_failed")]),
        case(
            "after a text failed, a parent who prefers texts is emailed",
            given().failed(&[Sms]).parent(parent1().pref(Text)),
        )
        .sends([email(A, &[1], "fallback_from_sms")])
        .skips([skip(1, Sms, "channel_failed")]),
        case(
            "after email and text both failed, both parents share a letter",
            given()
                .failed(&[Email, Sms])
                .parent(parent1())
                .parent(parent2()),
        )
        .sends([letter(&[1, 2], "fallback_no_electronic")])
        .skips([
            skip(1, Email, "channel_failed"),
            skip(1, Sms, "channel_failed"),
            skip(2, Email, "channel_failed"),
            skip(2, Sms, "channel_failed"),
        ]),
        case(
            "after email and text both failed with letters off, manual follow-up",
            given()
                .failed(&[Email, Sms])
                .letters_off()
                .parent(parent1()),
        )
        .skips([
            skip(1, Email, "channel_failed"),
            skip(1, Sms, "channel_failed"),
            no_letter("letters_off"),
        ])
        .manual_follow_up(),
        case(
            "after the letter failed too, manual follow-up",
            given()
                .failed(&[Email, Sms, Letter])
                .parent(parent1()),
        )
        .skips([
            skip(1, Email, "channel_failed"),
            skip(1, Sms, "channel_failed"),
            no_letter("channel_failed"),
        ])
        .manual_follow_up(),
    ]
}

#[test]
fn the_channel_policy_table() {
    let cases = cases();
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for case in &cases {
        assert!(
            names.insert(case.name),
            "duplicate case name: {}",
            case.name
        );
        let planned = plan(&case.input);
        let actual = summarise(&planned);
        let expected = (
            case.sends.clone(),
            case.skipped.clone(),
            case.manual_follow_up,
        );
        if actual != expected {
            failures.push(format!(
                "{}\n  expected: {expected:?}\n  actual:   {actual:?}",
                case.name
            ));
        }
        // Grounds, where recorded, are the campaign's own words.
        for send in planned.sends.iter().filter(|s| s.grounds.is_some()) {
            assert_eq!(send.grounds.as_deref(), Some(GROUNDS), "{}", case.name);
        }
        // The policy is a pure function: the same facts give the same plan.
        assert_eq!(plan(&case.input), planned, "{}", case.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("{} policy cases passed", cases.len());
}

#[test]
fn every_send_reaches_someone_and_sends_are_sorted() {
    for case in cases() {
        let planned = plan(&case.input);
        let keys: Vec<_> = planned
            .sends
            .iter()
            .map(|s| (s.channel, s.recipient.clone()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            keys, sorted,
            "{}: sends not sorted or not unique",
            case.name
        );
        assert_eq!(
            planned.manual_follow_up,
            planned.sends.is_empty() && !is_stopped(&planned),
            "{}: manual follow-up is exactly 'nothing sent and not stopped'",
            case.name
        );
    }
}

fn is_stopped(plan: &Plan) -> bool {
    matches!(plan.skipped.as_slice(), [s] if s.parent_slot.is_none() && s.channel.is_none())
}
