//! Each team its own Notify service (issue 15, items 3 and 5), on the local stack: two teams'
//! `team.json` name their own API-key and callback-token secrets (in the emulator's Secrets
//! Manager) and rate limits; the simulator runs their two services. Sent at once, each team's
//! messages go only to its own service, each held to its own limit; a receipt signed with one
//! team's token is refused on the other's path; a campaign naming a template its team's service
//! does not have, of the wrong kind, or needing a placeholder the service does not fill is
//! rejected with a report naming it, and nothing is queued.

use std::sync::Arc;
use std::time::{Duration, Instant};

use notify_sim::{Config, ServiceConfig, SimHandle, Template, make_api_key};
use sais_local::LocalStack;
use sais_shared::campaign::Campaign;
use sais_shared::dispatch::{Dispatcher, JobKind, SendJob};
use sais_shared::policy::Purpose;
use sais_shared::receipts::Receipts;
use sais_shared::uploads::TeamCode;
use sais_shared::webhook::Webhook;
use uuid::Uuid;

const TEAM_A: &str = "A-sais";
const TEAM_B: &str = "B-sais";
const HEADER: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_ADDRESS_LINE_1,CHILD_TOWN,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE,PARENT_1_CONTACT_PREFERENCE";

fn team(code: &str) -> TeamCode {
    TeamCode::parse(code).expect("team code")
}

struct Service {
    id: Uuid,
    key: String,
    token: String,
}

fn service(name: &str) -> Service {
    let id = Uuid::new_v4();
    Service {
        id,
        key: make_api_key(name, id, Uuid::new_v4()),
        token: format!("{name}-callback-token-{}", Uuid::new_v4()),
    }
}

/// A name made of letters only, different for each `i`.
fn letters(mut i: usize) -> String {
    let mut name = String::from("Child");
    loop {
        name.push(char::from(b'a' + (i % 26) as u8));
        i /= 26;
        if i == 0 {
            return name;
        }
    }
}

struct World {
    stack: LocalStack,
    sim: SimHandle,
    default: Service,
    a: Service,
    b: Service,
}

/// Two teams with their own services at these limits (requests a minute), their settings and
/// secrets in place, and `children` children each with an email address.
async fn two_teams(a_limit: u32, b_limit: u32, children: &[(&str, usize)]) -> World {
    let stack = LocalStack::isolated().await.expect("local stack");
    let (default, a, b) = (service("default"), service("team-a"), service("team-b"));
    let config = Config::new(default.key.clone())
        .with_service(ServiceConfig {
            rate_limit_per_min: a_limit,
            ..ServiceConfig::new(a.key.clone())
        })
        .with_service(ServiceConfig {
            rate_limit_per_min: b_limit,
            ..ServiceConfig::new(b.key.clone())
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let sim = notify_sim::spawn(config, listener)
        .await
        .expect("simulator");
    let mut nhs = sais_shared::generate::TestNhsNumbers::default();
    let prefix = stack.names.team_secret_prefix();
    for (code, s, limit) in [(TEAM_A, &a, a_limit), (TEAM_B, &b, b_limit)] {
        let key_secret = format!("{prefix}{code}/notify-api-key");
        let token_secret = format!("{prefix}{code}/notify-callback-token");
        stack.put_secret(&key_secret, &s.key).await.expect("key");
        stack
            .put_secret(&token_secret, &s.token)
            .await
            .expect("token");
        let settings = serde_json::json!({
            "name": format!("Team {code}"),
            "notify_api_key_secret": key_secret,
            "callback_token_secret": token_secret,
            "notify_rate_limit_per_min": limit,
        });
        let key = format!("{code}/team.json");
        stack
            .put_and_ingest(
                &stack.ingest().with_team_secret_prefix(&prefix),
                &key,
                settings.to_string().into_bytes(),
            )
            .await
            .expect("team.json");
        assert_eq!(e2e::report_of(&stack, &key).await["status"], "imported");
        let n = children
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| *n);
        let rows: Vec<String> = (0..n)
            .map(|i| {
                let number = nhs.next().expect("an NHS number");
                let name = letters(i);
                let family = &code[..1];
                format!(
                    "{name},Family{family},2013-05-01,SW1A 1AA,123456,{number},1 High Street,London,Parent {name},parent{i}@{}.example.com,,email",
                    code.to_lowercase()
                )
            })
            .collect();
        if n > 0 {
            let key = format!("{code}/cohort/c.csv");
            e2e::upload_and_ingest(&stack, &key, format!("{HEADER}\n{}\n", rows.join("\n"))).await;
            let report = e2e::report_of(&stack, &key).await;
            assert_eq!(report["status"], "imported", "{report}");
        }
        stack
            .store()
            .put_campaign(&team(code), &e2e::campaign())
            .await
            .expect("campaign");
    }
    World {
        stack,
        sim,
        default,
        a,
        b,
    }
}

impl World {
    fn dispatcher(&self) -> Dispatcher {
        self.stack
            .dispatcher(
                &self.sim.base_url(),
                &self.default.key,
                3000,
                Duration::from_secs(5),
            )
            .expect("dispatcher")
    }

    async fn jobs(&self, code: &str) -> Vec<SendJob> {
        let children = self.stack.items_of_type("child").await.expect("scan");
        children
            .iter()
            .filter(|c| c["team"].as_s().map(String::as_str) == Ok(code))
            .map(|c| {
                SendJob::new(
                    &team(code),
                    e2e::CAMPAIGN,
                    c["child_id"].as_s().expect("id"),
                    Purpose::ConsentRequest,
                    JobKind::Campaign,
                )
            })
            .collect()
    }

    async fn responses_429(&self, service: Uuid) -> u64 {
        let stats: serde_json::Value = reqwest::get(format!(
            "{}/_sim/stats?service_id={service}",
            self.sim.base_url()
        ))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
        stats["responses_429"]["rate_limit"]
            .as_u64()
            .expect("a count")
    }
}

/// Messages on the send queue.
async fn queue_depth(stack: &LocalStack) -> u64 {
    let out = stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&stack.send_queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("queue attributes");
    let attrs = out.attributes.unwrap_or_default();
    [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    ]
    .iter()
    .map(|name| {
        attrs
            .get(&aws_sdk_sqs::types::QueueAttributeName::from(*name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

/// Sends the jobs as the send queue hands them to the dispatcher: batches of ten, one after
/// another; how long the last batch took to finish.
async fn send_all(dispatcher: &Dispatcher, jobs: &[SendJob]) -> Duration {
    let started = Instant::now();
    for batch in jobs.chunks(10) {
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        event.records = batch
            .iter()
            .map(|job| {
                let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
                record.message_id = Some(Uuid::new_v4().to_string());
                record.body = Some(serde_json::to_string(job).expect("job"));
                record
            })
            .collect();
        let response = dispatcher.handle_batch(event).await.expect("batch");
        assert!(response.batch_item_failures.is_empty(), "every job sent");
    }
    started.elapsed()
}

#[tokio::test]
async fn two_teams_sent_at_once_each_use_only_their_own_service_within_its_own_limit() {
    // Team A's service allows 60 a minute (a burst of about 18, then one a second), team B's
    // 240 (a burst of about 72): 30 messages each, all at once.
    let w = two_teams(60, 240, &[(TEAM_A, 30), (TEAM_B, 30)]).await;
    let dispatcher = w.dispatcher();
    let (a_jobs, b_jobs) = (w.jobs(TEAM_A).await, w.jobs(TEAM_B).await);
    assert_eq!((a_jobs.len(), b_jobs.len()), (30, 30));
    let (a_took, b_took) = tokio::join!(
        send_all(&dispatcher, &a_jobs),
        send_all(&dispatcher, &b_jobs)
    );

    let (on_a, on_b) = (
        w.sim.notifications_for(w.a.id),
        w.sim.notifications_for(w.b.id),
    );
    assert_eq!(
        (on_a.len(), on_b.len()),
        (30, 30),
        "every message sent once"
    );
    assert!(on_a.iter().all(|n| n.to.ends_with("@a-sais.example.com")));
    assert!(on_b.iter().all(|n| n.to.ends_with("@b-sais.example.com")));
    assert!(
        w.sim.notifications_for(w.default.id).is_empty(),
        "nothing went through the deployment's default service"
    );
    // Held to each service's own limit: Notify never had to refuse a request.
    assert_eq!(w.responses_429(w.a.id).await, 0, "team A's service: no 429");
    assert_eq!(w.responses_429(w.b.id).await, 0, "team B's service: no 429");
    // Team A's 30 need about 12 s past its burst at one a second; team B's fit in its burst.
    assert!(
        a_took >= Duration::from_secs(8),
        "team A was paced to 60 a minute (took {a_took:?})"
    );
    assert!(
        b_took < a_took,
        "team B was not held to team A's limit ({b_took:?} against {a_took:?})"
    );
}

async fn post_receipt(base: &str, path_team: &str, token: &str, message_id: &str) -> u16 {
    let body = serde_json::json!({
        "id": Uuid::new_v4(),
        "reference": message_id,
        "to": "someone@example.com",
        "status": "permanent-failure",
        "created_at": "2026-12-01T10:00:00.000000Z",
        "completed_at": "2026-12-01T10:00:05.000000Z",
        "sent_at": "2026-12-01T10:00:01.000000Z",
        "notification_type": "email",
        "template_id": Uuid::from_u128(1),
        "template_version": 1
    });
    reqwest::Client::new()
        .post(format!("{base}/notify/{path_team}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_receipt_signed_with_one_teams_token_is_refused_on_another_teams_path() {
    let w = two_teams(3000, 3000, &[(TEAM_A, 1), (TEAM_B, 1)]).await;
    let dispatcher = w.dispatcher();
    let b_job = &w.jobs(TEAM_B).await[0];
    assert_eq!(dispatcher.handle_job(b_job).await.expect("sent").sent, 1);
    let store = w.stack.store();
    let messages = w.stack.items_of_type("message").await.expect("scan");
    let b_message = messages
        .iter()
        .find(|m| m["team"].as_s().map(String::as_str) == Ok(TEAM_B))
        .expect("team B's message");
    let message_id = b_message["message_id"].as_s().expect("id").clone();
    let before = store
        .message(&team(TEAM_B), &message_id)
        .await
        .expect("read")
        .expect("the message");

    let receipts = Receipts::new(
        w.stack.store(),
        w.stack.clients.sqs.clone(),
        w.stack.send_queue_url.clone(),
    );
    let directory = sais_shared::aws::team_directory(&w.stack.clients, &w.stack.table());
    let webhook =
        Webhook::new(receipts, w.default.token.clone()).with_team_tokens(Arc::new(directory));
    let base = sais_local::serve_webhook(webhook).await.expect("webhook");

    // Team A's token on team B's path, and the deployment's default token (team B has its own).
    let captured = e2e::Captured::global();
    let refused_before = refusals(captured, TEAM_B);
    for token in [&w.a.token, &w.default.token] {
        assert_eq!(post_receipt(&base, TEAM_B, token, &message_id).await, 403);
    }
    // Each is counted by the template's `{ $.fields.metric = "callback_refused" }` (alarm).
    assert_eq!(refusals(captured, TEAM_B) - refused_before, 2);
    let after = store
        .message(&team(TEAM_B), &message_id)
        .await
        .expect("read")
        .expect("the message");
    assert_eq!(after.status, before.status, "nothing changed");
    assert_eq!(queue_depth(&w.stack).await, 0, "no fallback was queued");
    // Team B's own token is accepted on its own path.
    assert_eq!(
        post_receipt(&base, TEAM_B, &w.b.token, &message_id).await,
        200
    );
    let after = store
        .message(&team(TEAM_B), &message_id)
        .await
        .expect("read")
        .expect("the message");
    assert_eq!(after.status, "permanent-failure");
}

/// The webhook's log lines counting a refused callback for `code`.
fn refusals(captured: &e2e::Captured, code: &str) -> usize {
    captured
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["metric"] == "callback_refused" && v["fields"]["team"] == code)
        .count()
}

/// A campaign naming `templates` for the consent request (email, sms), uploaded by team A.
async fn upload_campaign(w: &World, id: &str, email: Uuid, sms: Uuid) -> serde_json::Value {
    let mut campaign: Campaign = e2e::campaign();
    campaign.id = id.to_owned();
    campaign.templates.consent_request.email = Some(email);
    campaign.templates.consent_request.sms = Some(sms);
    campaign.templates.consent_request.letter = None;
    campaign.templates.consent_reminder = Default::default();
    campaign.templates.session_reminder = Default::default();
    let file = serde_json::json!({
        "id": id,
        "programme": "hpv",
        "schools": ["123456"],
        "sessions": ["2027-03-03"],
        "reminder_days_before_deadline": [],
        "session_reminder": false,
        "templates": {"consent_request": {"email": email, "sms": sms}},
        "personalisation": {"programme_name": "HPV", "consent_url": "https://example.nhs.uk/c"}
    });
    let services = w
        .stack
        .team_services(
            &w.sim.base_url(),
            &w.default.key,
            3000,
            Duration::from_secs(5),
        )
        .expect("services");
    let key = format!("{TEAM_A}/campaigns/{id}.json");
    w.stack
        .put_and_ingest(
            &w.stack.ingest().with_template_check(Arc::new(services)),
            &key,
            file.to_string().into_bytes(),
        )
        .await
        .expect("ingest");
    e2e::report_of(&w.stack, &key).await
}

fn codes(report: &serde_json::Value, list: &str) -> Vec<(String, String)> {
    report[list]
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["column"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_campaign_whose_templates_do_not_fit_its_teams_service_is_rejected_and_nothing_queued() {
    let w = two_teams(3000, 3000, &[(TEAM_A, 2)]).await;
    let a = w.sim.service(w.a.id).expect("team A's service");
    let (email, sms, other_email) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    a.put_template(Template::email(
        email,
        "Consent request",
        "((child_first_name))'s ((programme_name)) vaccination",
        "Give consent at ((consent_url)) by ((consent_deadline)).",
    ))
    .expect("template");
    a.put_template(Template::sms(
        sms,
        "Consent request text",
        "Please give consent for ((child_first_name)) at ((consent_url)) by ((consent_deadline)).",
    ))
    .expect("template");
    a.put_template(Template::email(
        other_email,
        "Needs a placeholder",
        "Hello ((parent_title))",
        "Dear ((parent_title)), ((child_first_name)) ...",
    ))
    .expect("template");
    // The same templates in team B's service do not help team A.
    let missing = Uuid::new_v4();
    w.sim
        .service(w.b.id)
        .expect("B")
        .put_template(Template::sms(
            missing,
            "B's text",
            "Hi ((child_first_name))",
        ))
        .expect("template");

    for (id, email_id, sms_id, path, code) in [
        (
            "missing",
            email,
            missing,
            "templates.consent_request.sms",
            "template_not_found",
        ),
        (
            "wrong-type",
            email,
            email,
            "templates.consent_request.sms",
            "wrong_template_type",
        ),
        (
            "placeholder",
            other_email,
            sms,
            "templates.consent_request.email",
            "unknown_placeholder",
        ),
    ] {
        let report = upload_campaign(&w, id, email_id, sms_id).await;
        assert_eq!(report["status"], "rejected", "{id}: {report}");
        assert_eq!(
            codes(&report, "errors"),
            [(path.to_owned(), code.to_owned())],
            "{id}"
        );
        let message = report["errors"][0]["message"].as_str().expect("message");
        assert!(
            message.contains(path),
            "{id}: the report names the template: {message}"
        );
        assert!(
            w.stack
                .store()
                .campaign(&team(TEAM_A), id)
                .await
                .expect("read")
                .is_none(),
            "{id}: the campaign was not saved, so nothing can be scheduled"
        );
    }
    let scheduler = sais_shared::schedule::runner::Scheduler::new(
        w.stack.store(),
        w.stack.clients.sqs.clone(),
        w.stack.send_queue_url.clone(),
    );
    // The request day of the rejected campaign: there is no campaign to run.
    let run = scheduler
        .run_campaign(
            &team(TEAM_A),
            "missing",
            time::macros::date!(2027 - 02 - 10),
        )
        .await;
    assert!(run.is_err(), "no campaign to run");
    assert_eq!(queue_depth(&w.stack).await, 0, "nothing queued");

    // The right templates: imported, with the text's length and cost as warnings.
    let report = upload_campaign(&w, "good", email, sms).await;
    assert_eq!(report["status"], "imported", "{report}");
    let warnings = codes(&report, "warnings");
    assert!(
        warnings.iter().any(|(_, c)| c == "text_cost"),
        "the texts' cost is reported: {warnings:?}"
    );
}

#[tokio::test]
async fn a_campaign_checked_while_notify_is_unreachable_is_retried_not_rejected() {
    let w = two_teams(3000, 3000, &[]).await;
    let services = w
        .stack
        .team_services(
            "http://127.0.0.1:9",
            &w.default.key,
            3000,
            Duration::from_secs(1),
        )
        .expect("services");
    let key = format!("{TEAM_A}/campaigns/unreachable.json");
    let file = serde_json::json!({
        "id": "unreachable", "programme": "hpv", "schools": ["123456"],
        "sessions": ["2027-03-03"],
        "templates": {"consent_request": {"email": Uuid::new_v4()}}
    });
    let result = w
        .stack
        .put_and_ingest(
            &w.stack.ingest().with_template_check(Arc::new(services)),
            &key,
            file.to_string().into_bytes(),
        )
        .await;
    assert!(
        result.is_err(),
        "the upload fails, to be retried: {result:?}"
    );
    assert!(
        e2e::report_of(&w.stack, &key).await.is_null(),
        "no report blames the campaign"
    );
}

#[tokio::test]
async fn a_team_json_naming_another_teams_secret_or_one_of_the_wrong_kind_is_rejected() {
    let w = two_teams(3000, 3000, &[]).await;
    let key = format!("{TEAM_A}/team.json");
    let prefix = w.stack.names.team_secret_prefix();
    for (field, secret, code) in [
        (
            "notify_api_key_secret",
            format!("{prefix}{TEAM_B}/notify-api-key"),
            "secret_outside_team",
        ),
        // Its own folder, but the API key named as a token (which the public webhook may read),
        // and a token named as neither kind (which the webhook may not read).
        (
            "notify_api_key_secret",
            format!("{prefix}{TEAM_A}/notify-callback-token"),
            "secret_wrong_kind",
        ),
        (
            "callback_token_secret",
            format!("{prefix}{TEAM_A}/webhook-token"),
            "secret_wrong_kind",
        ),
    ] {
        let settings = serde_json::json!({"name": "Team A", field: secret});
        w.stack
            .put_and_ingest(
                &w.stack.ingest().with_team_secret_prefix(&prefix),
                &key,
                settings.to_string().into_bytes(),
            )
            .await
            .expect("ingest");
        let report = e2e::report_of(&w.stack, &key).await;
        assert_eq!(report["status"], "rejected", "{secret}");
        assert_eq!(
            codes(&report, "errors"),
            [(field.to_owned(), code.to_owned())],
            "{secret}"
        );
    }
    let kept = w
        .stack
        .store()
        .team_settings(&team(TEAM_A))
        .await
        .expect("read")
        .expect("the earlier settings");
    assert_eq!(
        kept.notify_api_key_secret.as_deref(),
        Some(format!("{prefix}{TEAM_A}/notify-api-key").as_str()),
        "the earlier settings stand"
    );
}

#[tokio::test]
async fn each_teams_letters_are_followed_with_its_own_key() {
    let w = two_teams(3000, 3000, &[]).await;
    // A child with only an address: the request goes by letter, through team A's service.
    let mut nhs = sais_shared::generate::TestNhsNumbers::default();
    let number = nhs.next().expect("an NHS number");
    let key = format!("{TEAM_A}/cohort/letters.csv");
    e2e::upload_and_ingest(
        &w.stack,
        &key,
        format!("{HEADER}\nLetty,Post,2013-05-01,SW1A 1AA,123456,{number},10 Downing Street,London,Pat Post,,,\n"),
    )
    .await;
    assert_eq!(e2e::report_of(&w.stack, &key).await["status"], "imported");
    let job = &w.jobs(TEAM_A).await[0];
    assert_eq!(w.dispatcher().handle_job(job).await.expect("sent").sent, 1);
    let letters = w.sim.notifications_for(w.a.id);
    assert_eq!(letters.len(), 1, "the letter went through team A's service");

    let receipts = Receipts::new(
        w.stack.store(),
        w.stack.clients.sqs.clone(),
        w.stack.send_queue_url.clone(),
    );
    // With the deployment's key alone the letter is not found (another service's): it stays
    // open for the next poll.
    let default_only = sais_shared::notify::NotifyClient::new(
        &w.sim.base_url(),
        sais_shared::notify::ApiKey::parse(&w.default.key).expect("key"),
        Duration::from_secs(2),
    )
    .expect("client");
    let now = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    assert_eq!(
        receipts
            .poll_letters(&default_only, now)
            .await
            .expect("poll"),
        0
    );
    // As the reminders function polls: each letter with its team's key.
    let services = w
        .stack
        .team_services(
            &w.sim.base_url(),
            &w.default.key,
            3000,
            Duration::from_secs(2),
        )
        .expect("services");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receipts.poll_letters(&services, now).await.expect("poll"),
        1
    );
    let messages = w.stack.items_of_type("message").await.expect("scan");
    assert_eq!(
        messages[0]["status"].as_s().map(String::as_str),
        Ok("received")
    );
}

#[tokio::test]
async fn a_team_json_naming_a_secret_that_does_not_exist_or_holds_no_key_is_rejected() {
    let w = two_teams(3000, 3000, &[]).await;
    let prefix = w.stack.names.team_secret_prefix();
    let services = Arc::new(
        w.stack
            .team_services(
                &w.sim.base_url(),
                &w.default.key,
                3000,
                Duration::from_secs(5),
            )
            .expect("services"),
    );
    let not_a_key = format!("{prefix}{TEAM_A}/notify-api-key-placeholder");
    w.stack
        .put_secret(&not_a_key, "REPLACE_ME_WITH_THE_NOTIFY_API_KEY")
        .await
        .expect("secret");
    let key = format!("{TEAM_A}/team.json");
    for (secret, why) in [
        (
            format!("{prefix}{TEAM_A}/notify-api-key-typo"),
            "there is no secret",
        ),
        (not_a_key, "does not hold a Notify API key"),
    ] {
        let settings = serde_json::json!({"name": "Team A", "notify_api_key_secret": secret});
        w.stack
            .put_and_ingest(
                &w.stack
                    .ingest()
                    .with_team_secret_prefix(&prefix)
                    .with_template_check(Arc::clone(&services)),
                &key,
                settings.to_string().into_bytes(),
            )
            .await
            .expect("ingest");
        let report = e2e::report_of(&w.stack, &key).await;
        assert_eq!(report["status"], "rejected", "{report}");
        assert_eq!(
            codes(&report, "errors"),
            [(
                "notify_api_key_secret".to_owned(),
                "secret_unusable".to_owned()
            )]
        );
        let message = report["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains(why), "{message}");
        assert!(!message.contains("REPLACE_ME"), "never the secret's value");
    }
    // The earlier settings stand: team A still sends through its own service.
    let kept = w
        .stack
        .store()
        .team_settings(&team(TEAM_A))
        .await
        .expect("read")
        .expect("settings");
    assert_eq!(
        kept.notify_api_key_secret,
        Some(format!("{prefix}{TEAM_A}/notify-api-key"))
    );
}

/// The teams holding a contact-status item for `detail` with `status`.
async fn teams_with_status(stack: &LocalStack, detail: &str, status: &str) -> Vec<String> {
    let mut teams: Vec<String> = stack
        .items_of_type("contact_status")
        .await
        .expect("scan")
        .into_iter()
        .filter(|i| {
            i.get("detail")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(detail)
                && i.get("status")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some(status)
        })
        // The item holds no team: its partition key does (`T#<team>#CD#<detail>`).
        .filter_map(|i| {
            let pk = i.get("pk").and_then(|v| v.as_s().ok())?;
            Some(pk.strip_prefix("T#")?.split_once("#CD#")?.0.to_owned())
        })
        .collect();
    teams.sort();
    teams
}

#[tokio::test]
async fn teams_sharing_the_default_service_get_its_callbacks_on_one_teams_path() {
    // Teams A and B have their own services; C and D name none, so both send through the
    // deployment's, whose callbacks Notify sends to one URL: C's path.
    let w = two_teams(3000, 3000, &[]).await;
    let (c, d) = ("C-sais", "D-sais");
    let number = sais_shared::generate::TestNhsNumbers::default()
        .nth(5)
        .expect("an NHS number");
    let key = format!("{d}/cohort/d.csv");
    e2e::upload_and_ingest(
        &w.stack,
        &key,
        format!("{HEADER}\nDora,Dee,2013-05-01,SW1A 1AA,123456,{number},1 High Street,London,Dan Dee,dan@d-sais.example.com,07700900123,email\n"),
    )
    .await;
    assert_eq!(e2e::report_of(&w.stack, &key).await["status"], "imported");
    w.stack
        .store()
        .put_campaign(&team(d), &e2e::campaign())
        .await
        .expect("campaign");
    let job = &w.jobs(d).await[0];
    assert_eq!(w.dispatcher().handle_job(job).await.expect("sent").sent, 1);
    assert_eq!(w.sim.notifications_for(w.default.id).len(), 1);
    let messages = w.stack.items_of_type("message").await.expect("scan");
    let message_id = messages[0]["message_id"].as_s().expect("id").clone();

    let receipts = Receipts::new(
        w.stack.store(),
        w.stack.clients.sqs.clone(),
        w.stack.send_queue_url.clone(),
    );
    let directory = sais_shared::aws::team_directory(&w.stack.clients, &w.stack.table());
    let webhook = Webhook::new(receipts, w.default.token.clone())
        .with_team_tokens(Arc::new(directory))
        .with_stack_teams([TEAM_A, TEAM_B, c, d].map(team).to_vec());
    let base = sais_local::serve_webhook(webhook).await.expect("webhook");

    // D's bounce, on C's path: recorded against D's message.
    assert_eq!(
        post_receipt(&base, c, &w.default.token, &message_id).await,
        200
    );
    let after = w
        .stack
        .store()
        .message(&team(d), &message_id)
        .await
        .expect("read")
        .expect("the message");
    assert_eq!(after.status, "permanent-failure");

    // A STOP to the shared service's number stops texts from every team sharing it, and from
    // none that has its own service.
    let stop = serde_json::json!({
        "id": Uuid::new_v4(),
        "source_number": "447700900123",
        "destination_number": "07700900000",
        "message": "STOP",
        "date_received": "2026-12-01T10:05:00.000000Z",
    });
    let status = reqwest::Client::new()
        .post(format!("{base}/notify/{c}"))
        .bearer_auth(&w.default.token)
        .json(&stop)
        .send()
        .await
        .expect("post")
        .status();
    assert_eq!(status.as_u16(), 200);
    assert_eq!(
        teams_with_status(&w.stack, "phone:+447700900123", "opted_out").await,
        [c, d]
    );
}

#[tokio::test]
async fn a_rotated_team_key_is_used_as_soon_as_the_directory_reads_it_again() {
    let w = two_teams(3000, 3000, &[(TEAM_A, 2)]).await;
    // The directory's cache is emptied at once here (in AWS it holds for five minutes).
    let directory = sais_shared::aws::team_directory(&w.stack.clients, &w.stack.table())
        .with_ttl(Duration::ZERO);
    let services = sais_shared::teams::TeamServices::new(
        Arc::new(directory),
        sais_shared::teams::NotifyDefaults {
            base_url: w.sim.base_url(),
            key: sais_shared::notify::ApiKey::parse(&w.default.key).expect("key"),
            rate_limit_per_min: 3000,
            timeout: Duration::from_secs(5),
        },
        w.stack.clients.dynamodb.clone(),
        w.stack.table(),
    );
    let dispatcher = Dispatcher::with_services(
        w.stack.store(),
        w.stack.clients.sqs.clone(),
        w.stack.send_queue_url.clone(),
        services,
    );
    let jobs = w.jobs(TEAM_A).await;
    assert_eq!(dispatcher.handle_job(&jobs[0]).await.expect("sent").sent, 1);
    // The operator puts team B's service's key in team A's secret (as a new key of a service).
    let secret = format!(
        "{}{TEAM_A}/notify-api-key",
        w.stack.names.team_secret_prefix()
    );
    w.stack
        .clients
        .secrets
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(&w.b.key)
        .send()
        .await
        .expect("rotate");
    assert_eq!(dispatcher.handle_job(&jobs[1]).await.expect("sent").sent, 1);
    assert_eq!(
        (
            w.sim.notifications_for(w.a.id).len(),
            w.sim.notifications_for(w.b.id).len()
        ),
        (1, 1),
        "the second message went with the new key"
    );
}
