//! Plain words for every code a report shows: the channel policy's reasons (sends and skips),
//! the follow-up list's reasons, and message statuses (Notify's and the service's own). One
//! table, used by the page, by the CSVs (beside the code) and by anything that prints a report
//! for a person (`sais demo`, `sais report`).

/// Every code and the one sentence a SAIS team reads for it.
pub const WORDS: &[(&str, &str)] = &[
    // Why a message went by the channel it went by.
    (
        "preference",
        "Sent the way the parent asked to be contacted.",
    ),
    (
        "any",
        "The parent gave no preference, so it went by both email and text.",
    ),
    (
        "fallback_preference_unusable",
        "The parent's preferred way could not be used, so the other one was used instead.",
    ),
    (
        "fallback_objection",
        "The parent objected to their preferred way, so the other one was used instead.",
    ),
    (
        "fallback_from_email",
        "The email could not be delivered, so a text was sent instead.",
    ),
    (
        "fallback_from_sms",
        "The text could not be delivered, so an email was sent instead.",
    ),
    (
        "fallback_letter_unavailable",
        "The parent prefers letters, but no letter could be sent, so email and text were used.",
    ),
    (
        "fallback_no_electronic",
        "No email or text could reach the family, so a letter was posted to the child's home.",
    ),
    // Why nothing at all went to the child's family.
    (
        "deceased",
        "The child is recorded as having died: nothing is sent.",
    ),
    (
        "left_cohort",
        "The child is no longer on the latest cohort or class list for the school: nothing is sent.",
    ),
    (
        "answered",
        "A parent has already answered (consent given or refused): no request or reminder is sent.",
    ),
    (
        "vaccinated",
        "The child is already vaccinated or not eligible: nothing is sent.",
    ),
    (
        "no_consent",
        "Session reminders go only to children with consent, and there is none yet.",
    ),
    (
        "objection_all",
        "A parent objected to all messages: nothing is sent.",
    ),
    ("not_yet_sent", "Nothing has been due for this child yet."),
    // Why one parent's email or text was not used.
    ("no_email", "The parent has no email address on record."),
    ("no_phone", "The parent has no phone number on record."),
    (
        "no_contact_details",
        "The parent has no email address or phone number on record.",
    ),
    (
        "email_erased",
        "The email address was erased after a serious-harm objection and is never used.",
    ),
    (
        "email_failed",
        "Email to this address failed before, so it is not used until a newer file gives a different address.",
    ),
    (
        "phone_erased",
        "The phone number was erased after a serious-harm objection and is never used.",
    ),
    (
        "landline",
        "The phone number is a landline, which cannot take texts.",
    ),
    (
        "phone_failed",
        "Texts to this number failed before, so it is not used until a newer file gives a different number.",
    ),
    (
        "opted_out",
        "The parent texted STOP, so no more texts go to this number.",
    ),
    (
        "no_template",
        "The campaign has no template for this way of sending.",
    ),
    (
        "objection",
        "A parent objected to this way of being contacted, so it was not used.",
    ),
    (
        "channel_failed",
        "This way of sending already failed for this message.",
    ),
    // Why no letter could stand in (and so the family is on the follow-up list).
    (
        "restricted_no_letter",
        "The child's record is restricted, so no letter is ever posted automatically: contact the family another way.",
    ),
    (
        "letters_off",
        "Letters are turned off for this campaign or team, so no letter could be posted instead.",
    ),
    (
        "no_address",
        "The child has no postal address a letter can go to.",
    ),
    // The follow-up list's own reasons.
    (
        "no_reachable_channel",
        "No email, text or letter could be sent to the family.",
    ),
    ("all_failed", "Every message sent to the family failed."),
    (
        "letter_permanent-failure",
        "The letter could not be printed or posted, so it never reached the family.",
    ),
    (
        "letter_validation-failed",
        "GOV.UK Notify refused the letter (for example, its address could not be used), so it was not posted.",
    ),
    (
        "letter_cancelled",
        "The letter was cancelled before it was printed.",
    ),
    (
        "technical_failure",
        "GOV.UK Notify could not send the message after several tries.",
    ),
    // Message statuses: Notify's, then the service's own.
    (
        "intent",
        "The send was started but GOV.UK Notify has not confirmed it yet.",
    ),
    ("created", "Accepted by GOV.UK Notify, waiting to be sent."),
    ("sending", "On its way: waiting for the delivery report."),
    (
        "pending",
        "The phone network is still trying to deliver it.",
    ),
    (
        "sent",
        "Sent to a number abroad: no delivery report will come.",
    ),
    ("delivered", "Delivered."),
    (
        "permanent-failure",
        "Could not be delivered: the address or number does not work.",
    ),
    (
        "temporary-failure",
        "Could not be delivered for now (inbox full or phone off); it is tried again once.",
    ),
    (
        "technical-failure",
        "GOV.UK Notify had a technical problem sending it.",
    ),
    (
        "accepted",
        "Letter accepted by GOV.UK Notify, not yet printed.",
    ),
    (
        "received",
        "Letter printed and handed to the postal service.",
    ),
    ("cancelled", "Letter cancelled before it was printed."),
    (
        "validation-failed",
        "Refused by GOV.UK Notify's checks, so it was not sent.",
    ),
    ("skipped", "Not sent: the reason says why."),
    (
        "not_contacted",
        "No message has gone to this family: the reason says why.",
    ),
];

/// What a code means, in one sentence a SAIS team understands (see [`WORDS`]); a code the
/// table does not know yet is described as such rather than shown bare.
pub fn reason_in_words(code: &str) -> &'static str {
    WORDS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("No description for this code yet.", |(_, w)| w)
}

/// A purpose as a team says it (`consent_request` → "consent request").
pub fn purpose_in_words(purpose: &str) -> &'static str {
    match purpose {
        "consent_request" => "consent request",
        "consent_reminder" => "consent reminder",
        "session_reminder" => "session reminder",
        _ => "message",
    }
}

/// A channel as a team says it (`sms` → "text").
pub fn channel_in_words(channel: &str) -> &'static str {
    match channel {
        "email" => "email",
        "sms" => "text",
        "letter" => "letter",
        _ => "message",
    }
}

/// A status's short label (`permanent-failure` → "permanent failure").
pub fn status_label(status: &str) -> String {
    status.replace(['-', '_'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string literal of the channel policy's decisions that is a reason code: the
    /// non-test part of `policy/decide.rs`, every lower-case `snake_case` literal but the
    /// letter's recipient placeholder.
    fn policy_codes() -> Vec<&'static str> {
        let source = include_str!("../policy/decide.rs");
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        let mut found: Vec<&str> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && *s != "letter"
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    #[test]
    fn every_reason_the_channel_policy_gives_has_words() {
        let codes = policy_codes();
        assert!(codes.len() > 25, "the scan found the codes: {codes:?}");
        for code in codes {
            assert!(WORDS.iter().any(|(c, _)| *c == code), "{code} has no words");
        }
    }

    #[test]
    fn every_follow_up_reason_and_status_has_words() {
        let follow_up = [
            "restricted_no_letter",
            "letters_off",
            "no_address",
            "no_template",
            "objection",
            "channel_failed",
            "no_reachable_channel",
            "all_failed",
            "technical_failure",
        ];
        let letters =
            ["permanent-failure", "validation-failed", "cancelled"].map(|s| format!("letter_{s}"));
        let statuses = [
            "intent",
            "created",
            "sending",
            "pending",
            "sent",
            "delivered",
            "permanent-failure",
            "temporary-failure",
            "technical-failure",
            "accepted",
            "received",
            "cancelled",
            "validation-failed",
            "skipped",
            "not_contacted",
            "not_yet_sent",
        ];
        for code in follow_up
            .iter()
            .copied()
            .chain(letters.iter().map(String::as_str))
            .chain(statuses)
        {
            assert_ne!(
                reason_in_words(code),
                reason_in_words("no-such-code"),
                "{code}"
            );
        }
        // Notify's own status names, as the client knows them.
        for status in &statuses[1..13] {
            assert!(
                !matches!(
                    crate::notify::Status::parse(status),
                    crate::notify::Status::Unknown(_)
                ),
                "{status} is Notify's name"
            );
        }
    }

    #[test]
    fn each_code_has_one_sentence_that_ends_like_one() {
        let mut codes: Vec<&str> = WORDS.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        let before = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), before, "a code is in the table once");
        for (code, words) in WORDS {
            assert!(
                words.ends_with('.') && words.chars().next().is_some_and(char::is_uppercase),
                "{code}: {words:?}"
            );
            assert!(!words.contains('_'), "{code}: no codes in the words");
        }
    }
}
