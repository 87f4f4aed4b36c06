//! A campaign's templates checked against the team's Notify service when the campaign is
//! uploaded, before anything is sent: each template it names must exist, be of its channel's
//! kind and use only placeholders the service fills; a text is previewed with the longest
//! values the service can send and billed by Notify's count (more than two fragments is an
//! error, more than one a warning, with what the campaign's texts will cost).
//!
//! Only Notify's answer about a template (404: no such template) is held against the campaign.
//! Notify unreachable, a 5xx or 429, or our own key refused is a [`TemplateCheckError`]: the
//! upload is retried (and dead-lettered with an alarm), never rejected for it.

use std::borrow::Cow;
use std::future::Future;

use uuid::Uuid;

use super::lint::{LONGEST_FIRST_NAME, lint_sms, longest_values};
use super::placeholders::{LETTER_ADDRESS_LINES, filled};
use super::sms_length::sms_length;
use super::{NotifyClient, NotifyError, Personalisation, Template, TemplatePreview};
use crate::campaign::Campaign;
use crate::files::report::Issue;
use crate::policy::{Channel, Purpose};

/// Notify's price of one text message (one fragment) after a service's free allowance, in
/// pence before VAT: the campaign report's price.
const TEXT_MESSAGE_PENCE: f64 = crate::campaign_report::SMS_FRAGMENT_GBP * 100.0;

/// Report codes of this check.
pub mod codes {
    /// The team's Notify service has no template with the id.
    pub const TEMPLATE_NOT_FOUND: &str = "template_not_found";
    /// The template is of another kind than its channel (an email template on the text
    /// channel).
    pub const WRONG_TEMPLATE_TYPE: &str = "wrong_template_type";
    /// The template uses a placeholder the service does not fill.
    pub const UNKNOWN_PLACEHOLDER: &str = "unknown_placeholder";
    /// A text over two fragments (error) or over one (warning), at the longest values.
    pub const TEXT_TOO_LONG: &str = "text_too_long";
    /// A text longer than one fragment: a warning.
    pub const TEXT_OVER_ONE_FRAGMENT: &str = "text_over_one_fragment";
    /// Warning: what the campaign's texts will cost, at most, a child.
    pub const TEXT_COST: &str = "text_cost";
    /// A caution from the text-message linter (health words, foreign links).
    pub const TEXT_CONTENT: &str = "text_content";
}

/// A team's Notify service, as far as reading its templates goes.
pub trait TemplateSource: Send + Sync {
    /// `GET /v2/template/{id}`.
    fn template(&self, id: Uuid) -> impl Future<Output = Result<Template, NotifyError>> + Send;
    /// `POST /v2/template/{id}/preview`.
    fn preview(
        &self,
        id: Uuid,
        personalisation: &Personalisation,
    ) -> impl Future<Output = Result<TemplatePreview, NotifyError>> + Send;
}

impl TemplateSource for NotifyClient {
    async fn template(&self, id: Uuid) -> Result<Template, NotifyError> {
        self.get_template(id).await
    }
    async fn preview(
        &self,
        id: Uuid,
        personalisation: &Personalisation,
    ) -> Result<TemplatePreview, NotifyError> {
        self.preview_template(id, personalisation).await
    }
}

/// Notify could not tell us about a template (unreachable, a 5xx or 429, our key refused):
/// the check is retried, the campaign is not rejected for it. `Display` names the template's
/// place in the campaign and Notify's status, never a message.
#[derive(Debug, thiserror::Error)]
#[error("{path}: the template could not be read from Notify: {source}")]
pub struct TemplateCheckError {
    /// `templates.<purpose>.<channel>`.
    pub path: String,
    /// Notify's answer.
    #[source]
    pub source: NotifyError,
}

/// What the check found: errors reject the campaign, warnings do not.
#[derive(Debug, Default)]
pub struct TemplateFindings {
    /// Problems to fix before the campaign can be used.
    pub errors: Vec<Issue>,
    /// Cautions, and the texts' cost.
    pub warnings: Vec<Issue>,
}

impl TemplateFindings {
    fn error(&mut self, path: &str, code: &'static str, message: String) {
        self.errors.push(issue(path, code, message));
    }
    fn warning(&mut self, path: &str, code: &'static str, message: String) {
        self.warnings.push(issue(path, code, message));
    }
}

fn issue(path: &str, code: &'static str, message: String) -> Issue {
    Issue {
        row: None,
        column: Some(Cow::Owned(path.to_owned())),
        code,
        message: Cow::Owned(message),
    }
}

fn plural(n: u32, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// Notify matches placeholders ignoring case, spaces, `-` and `_` (`InsensitiveDict`).
fn normalised(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Notify's name for a channel's template type.
fn notify_type(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "email",
        Channel::Sms => "sms",
        Channel::Letter => "letter",
    }
}

fn kind_in_words(notify_type: &str) -> &str {
    match notify_type {
        "email" => "an email",
        "sms" => "a text message",
        "letter" => "a letter",
        other => other,
    }
}

/// The names the service fills on `channel` (a letter's address lines one by one).
fn filled_names(channel: Channel, campaign: &Campaign) -> Vec<String> {
    let mut names: Vec<String> = filled(channel, &campaign.personalisation)
        .into_iter()
        .map(|p| p.name)
        .filter(|n| !n.contains('…'))
        .collect();
    if channel == Channel::Letter {
        names.extend((1..=LETTER_ADDRESS_LINES).map(|i| format!("address_line_{i}")));
    }
    names
}

/// How many texts a child can be sent for each purpose: the request, each reminder, the
/// session reminder.
fn texts_a_child(campaign: &Campaign, purpose: Purpose) -> u32 {
    match purpose {
        Purpose::ConsentRequest => 1,
        Purpose::ConsentReminder => campaign.reminder_days_before_deadline.len() as u32,
        Purpose::SessionReminder => u32::from(campaign.session_reminder),
    }
}

/// Checks every template `campaign` names against the team's service `source`.
pub async fn check_templates(
    source: &impl TemplateSource,
    campaign: &Campaign,
) -> Result<TemplateFindings, TemplateCheckError> {
    let mut findings = TemplateFindings::default();
    let mut fragments_a_child = 0u32;
    let mut texts = 0u32;
    for purpose in Purpose::ALL {
        let templates = campaign.templates.for_purpose(purpose);
        for channel in templates.channels() {
            let Some(id) = templates.for_channel(channel) else {
                continue;
            };
            let path = format!("templates.{}.{}", purpose.as_str(), channel.as_str());
            let fail = |source| TemplateCheckError {
                path: path.clone(),
                source,
            };
            let template = match source.template(id).await {
                Ok(t) => t,
                Err(e) if e.is_not_found() => {
                    findings.error(
                        &path,
                        codes::TEMPLATE_NOT_FOUND,
                        format!(
                            "{path} names template {id}, which the team's Notify service does not \
                             have; in Notify open the template and copy its ID (Templates → the \
                             template → Copy template ID)"
                        ),
                    );
                    continue;
                }
                Err(e) => return Err(fail(e)),
            };
            let expected = notify_type(channel);
            if template.template_type != expected {
                findings.error(
                    &path,
                    codes::WRONG_TEMPLATE_TYPE,
                    format!(
                        "{path} names {} template (\"{}\"); the {} channel needs {} template",
                        kind_in_words(&template.template_type),
                        template.name,
                        channel.as_str(),
                        kind_in_words(expected),
                    ),
                );
                continue;
            }
            let names = filled_names(channel, campaign);
            let known: Vec<String> = names.iter().map(|n| normalised(n)).collect();
            let mut unknown: Vec<&str> = template
                .personalisation
                .keys()
                .map(String::as_str)
                .filter(|p| !known.contains(&normalised(p)))
                .collect();
            unknown.sort_unstable();
            if !unknown.is_empty() {
                let shown: Vec<String> = unknown.iter().map(|u| format!("(({u}))")).collect();
                findings.error(
                    &path,
                    codes::UNKNOWN_PLACEHOLDER,
                    format!(
                        "{path} (\"{}\") uses {}, which the service does not fill; it fills {} \
                         (see `sais templates`)",
                        template.name,
                        shown.join(", "),
                        names.join(", ")
                    ),
                );
                continue;
            }
            if channel != Channel::Sms {
                continue;
            }
            // The longest values the service can send, as Notify would render them.
            let values = longest_values(&campaign.personalisation);
            let preview = source.preview(id, &values).await.map_err(fail)?;
            let length = sms_length(&preview.body);
            let lint = lint_sms(
                &template.body,
                &values,
                campaign
                    .personalisation
                    .get("consent_url")
                    .map(String::as_str),
            );
            for caution in lint
                .warnings
                .iter()
                .chain(lint.errors.iter())
                .filter(|f| f.code == "health_words" || f.code == "foreign_link")
            {
                findings.warning(&path, codes::TEXT_CONTENT, caution.message.clone());
            }
            let n = texts_a_child(campaign, purpose);
            texts += n;
            fragments_a_child += n * length.fragments;
            let at_longest = format!(
                "at the longest values the service sends (a {LONGEST_FIRST_NAME}-character first \
                 name, the campaign's own values) it is {} characters",
                length.characters
            );
            if length.fragments > 2 {
                findings.error(
                    &path,
                    codes::TEXT_TOO_LONG,
                    format!(
                        "{path} (\"{}\"): {at_longest}, billed as {} text messages; shorten it \
                         to at most 2 (306 characters, or 134 if it needs Unicode)",
                        template.name, length.fragments
                    ),
                );
            } else if length.fragments > 1 {
                findings.warning(
                    &path,
                    codes::TEXT_OVER_ONE_FRAGMENT,
                    format!(
                        "{path} (\"{}\"): {at_longest}, billed as 2 text messages; at 160 \
                         characters (70 with Unicode) it would be billed as 1",
                        template.name
                    ),
                );
            }
        }
    }
    if texts > 0 {
        findings.warning(
            "templates",
            codes::TEXT_COST,
            format!(
                "a child can be sent {} in this campaign, billed as at most {}: up to \
                 {:.1}p a child, £{:.2} for 1,000 \
                 children, at {:.1}p + VAT a text message after the free \
                 allowance (check Notify's pricing page)",
                plural(texts, "text"),
                plural(fragments_a_child, "text message"),
                f64::from(fragments_a_child) * TEXT_MESSAGE_PENCE,
                f64::from(fragments_a_child) * TEXT_MESSAGE_PENCE * 10.0,
                TEXT_MESSAGE_PENCE,
            ),
        );
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn placeholders_match_as_notify_matches_them() {
        assert_eq!(
            normalised("Child First-Name"),
            normalised("child_first_name")
        );
        assert_ne!(normalised("child_name"), normalised("child_first_name"));
    }

    /// A service holding these templates, rendering previews as Notify does for plain
    /// placeholders.
    struct Service(Vec<Template>);

    fn template(id: Uuid, kind: &str, body: &str) -> Template {
        let mut personalisation = BTreeMap::new();
        let mut rest = body;
        while let Some(start) = rest.find("((") {
            let after = &rest[start + 2..];
            let end = after.find("))").expect("closed");
            personalisation.insert(
                after[..end].to_owned(),
                serde_json::json!({"required": true}),
            );
            rest = &after[end + 2..];
        }
        Template {
            id,
            template_type: kind.to_owned(),
            name: format!("{kind} template"),
            version: 1,
            body: body.to_owned(),
            subject: None,
            personalisation,
        }
    }

    impl TemplateSource for Service {
        async fn template(&self, id: Uuid) -> Result<Template, NotifyError> {
            self.0
                .iter()
                .find(|t| t.id == id)
                .cloned()
                .ok_or(NotifyError::Api {
                    status: 404,
                    error: crate::notify::ErrorType::parse("NoResultFound"),
                    message: "No result found".into(),
                    retry_after: None,
                })
        }
        async fn preview(
            &self,
            id: Uuid,
            values: &Personalisation,
        ) -> Result<TemplatePreview, NotifyError> {
            let t = self.template(id).await?;
            let mut body = t.body.clone();
            for (name, value) in values {
                body = body.replace(&format!("(({name}))"), value);
            }
            Ok(TemplatePreview {
                id,
                template_type: t.template_type,
                body,
                subject: None,
            })
        }
    }

    fn campaign_with_text(id: Uuid) -> Campaign {
        let mut c = crate::fakes::fixtures::campaign();
        c.templates = Default::default();
        c.templates.consent_request.sms = Some(id);
        c.reminder_days_before_deadline = vec![];
        c.session_reminder = false;
        c
    }

    async fn findings_for(body: &str) -> TemplateFindings {
        let id = Uuid::new_v4();
        let service = Service(vec![template(id, "sms", body)]);
        check_templates(&service, &campaign_with_text(id))
            .await
            .expect("checked")
    }

    fn codes(issues: &[Issue]) -> Vec<&'static str> {
        issues.iter().map(|i| i.code).collect()
    }

    #[tokio::test]
    async fn a_text_is_counted_at_the_longest_first_name_one_two_or_three_fragments() {
        // 35 characters of name + the rest: one fragment up to 160.
        let one = findings_for(&format!("((child_first_name)){}", "a".repeat(125))).await;
        assert!(one.errors.is_empty());
        assert_eq!(codes(&one.warnings), ["text_cost"]);
        assert!(
            one.warnings[0]
                .message
                .contains("can be sent 1 text in this campaign, billed as at most 1 text message:")
        );

        let two = findings_for(&format!("((child_first_name)){}", "a".repeat(126))).await;
        assert!(two.errors.is_empty());
        assert_eq!(
            codes(&two.warnings),
            ["text_over_one_fragment", "text_cost"]
        );

        let three = findings_for(&format!("((child_first_name)){}", "a".repeat(272))).await;
        assert_eq!(codes(&three.errors), ["text_too_long"]);
        assert!(
            three.errors[0]
                .message
                .contains("billed as 3 text messages")
        );
    }

    #[tokio::test]
    async fn an_unknown_placeholder_and_a_missing_template_are_errors_naming_the_template() {
        let f = findings_for("Hi ((parent_name)), ((child_first_name))").await;
        assert_eq!(codes(&f.errors), ["unknown_placeholder"]);
        assert!(f.errors[0].message.contains("((parent_name))"));
        assert_eq!(
            f.errors[0].column.as_deref(),
            Some("templates.consent_request.sms")
        );

        let service = Service(vec![]);
        let f = check_templates(&service, &campaign_with_text(Uuid::new_v4()))
            .await
            .expect("checked");
        assert_eq!(codes(&f.errors), ["template_not_found"]);
    }

    #[tokio::test]
    async fn notify_failing_is_an_error_to_retry_not_a_finding() {
        struct Down;
        impl TemplateSource for Down {
            async fn template(&self, _: Uuid) -> Result<Template, NotifyError> {
                Err(NotifyError::Timeout)
            }
            async fn preview(
                &self,
                _: Uuid,
                _: &Personalisation,
            ) -> Result<TemplatePreview, NotifyError> {
                Err(NotifyError::Timeout)
            }
        }
        let err = check_templates(&Down, &campaign_with_text(Uuid::new_v4()))
            .await
            .expect_err("retried");
        assert_eq!(err.path, "templates.consent_request.sms");
    }
}
