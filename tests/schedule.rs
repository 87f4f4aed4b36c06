//! The daily schedule on the local stack: real ingest, real campaign, the scheduler's jobs read
//! back off the send queue, and the real dispatcher sending them to the Notify simulator.

use std::collections::BTreeMap;
use std::time::Duration;

use sais_local::{LocalStack, example_campaign, start_notify_sim};
use sais_shared::campaign::Campaign;
use sais_shared::dispatch::{JobKind, SendJob};
use sais_shared::policy::Purpose;
use sais_shared::schedule::runner::Scheduler;
use sais_shared::uploads::TeamCode;
use time::macros::date;

const TEAM: &str = "RYG-sais";
const HEADER: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_YEAR_GROUP,CHILD_DECEASED,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_CONTACT_PREFERENCE";

// Ava, Ben and Cara are in year 8 at school 123456; Dan died; Eve is in year 9; Finn is at
// another school.
const COHORT: &[&str] = &[
    "Ava,Smith,2013-05-01,SW1A 1AA,123456,9990000018,8,,Sarah Smith,sarah@example.com,email",
    "Ben,Jones,2013-06-02,SW1A 1AA,123456,9990000026,8,,Tom Jones,tom@example.com,email",
    "Cara,Khan,2013-07-03,SW1A 1AA,123456,9990000034,8,,Ali Khan,ali@example.com,email",
    "Dan,Reed,2013-08-04,SW1A 1AA,123456,9990000042,8,Y,Jo Reed,jo@example.com,email",
    "Eve,Moss,2012-08-04,SW1A 1AA,123456,9990000050,9,,Kim Moss,kim@example.com,email",
    "Finn,Hart,2013-02-04,SW1A 1AA,654321,9990000069,8,,Lee Hart,lee@example.com,email",
];

struct World {
    stack: LocalStack,
    scheduler: Scheduler,
}

/// The Notify simulator and a real dispatcher sending to it.
async fn sender(w: &World) -> (sais_local::LocalNotify, sais_shared::dispatch::Dispatcher) {
    let notify = start_notify_sim(|_| {}).await.expect("simulator");
    let dispatcher = w
        .stack
        .dispatcher(
            &notify.sim.base_url(),
            &notify.api_key,
            3000,
            Duration::from_millis(500),
        )
        .expect("dispatcher");
    (notify, dispatcher)
}

use e2e::team;

/// HPV for year 8 at 123456: session 3 December, so the request goes on 12 November, the
/// reminder on 25 November and the session reminder on 2 December.
fn campaign() -> Campaign {
    let mut c = example_campaign("hpv-y8", "hpv", date!(2026 - 12 - 03));
    c.year_groups = vec![8];
    c
}

async fn world() -> World {
    let stack = LocalStack::isolated().await.expect("local stack");
    let csv = format!("{HEADER}\n{}\n", COHORT.join("\n"));
    e2e::upload_and_ingest(&stack, &format!("{TEAM}/cohort/cohort.csv"), csv).await;
    stack
        .store()
        .put_campaign(&team(), &campaign())
        .await
        .expect("campaign");
    let scheduler = Scheduler::new(
        stack.store(),
        stack.clients.sqs.clone(),
        stack.send_queue_url.clone(),
    );
    World { stack, scheduler }
}

/// Every job now on the send queue (received and deleted), by child first name.
async fn drain_jobs(w: &World) -> Vec<(String, SendJob)> {
    let names = child_names(&w.stack).await;
    let mut jobs = Vec::new();
    loop {
        let out = w
            .stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&w.stack.send_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let job: SendJob = serde_json::from_str(m.body.as_deref().unwrap()).unwrap();
            jobs.push((names[&job.child_id].clone(), job));
            w.stack
                .clients
                .sqs
                .delete_message()
                .queue_url(&w.stack.send_queue_url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .expect("delete");
        }
    }
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    jobs
}

async fn child_names(stack: &LocalStack) -> BTreeMap<String, String> {
    stack
        .items_of_type("child")
        .await
        .expect("children")
        .into_iter()
        .map(|item| {
            (
                item["child_id"].as_s().unwrap().clone(),
                item["first_name"].as_s().unwrap().clone(),
            )
        })
        .collect()
}

async fn child_id(stack: &LocalStack, first_name: &str) -> String {
    child_names(stack)
        .await
        .into_iter()
        .find(|(_, name)| name == first_name)
        .expect("child")
        .0
}

fn who(jobs: &[(String, SendJob)]) -> Vec<&str> {
    jobs.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn the_request_day_queues_one_request_per_living_child_in_the_year_group_and_a_rerun_queues_nothing()
 {
    let w = world().await;
    let run = w
        .scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 12))
        .await
        .expect("run");
    assert_eq!(
        run.children, 4,
        "Ava, Ben, Cara and Dan are in year 8 at 123456"
    );
    assert_eq!(run.occasions.len(), 1);
    assert_eq!(run.occasions[0].queued, 3);
    assert_eq!(run.occasions[0].not_chased["deceased"], 1);
    let jobs = drain_jobs(&w).await;
    assert_eq!(who(&jobs), ["Ava", "Ben", "Cara"]);
    assert!(
        jobs.iter()
            .all(|(_, j)| j.purpose == Purpose::ConsentRequest
                && j.occasion.is_none()
                && j.campaign_id == "hpv-y8")
    );

    let again = w
        .scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 12))
        .await
        .expect("re-run");
    assert_eq!(again.occasions[0].queued, 0);
    assert_eq!(again.occasions[0].already_covered, 4);
    assert!(drain_jobs(&w).await.is_empty(), "nothing new on the queue");

    let before = w
        .scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 11))
        .await
        .expect("the day before");
    assert!(
        before.occasions.is_empty(),
        "nothing is due before the request day"
    );
}

#[tokio::test]
async fn families_who_answered_are_not_reminded_and_only_consenting_families_hear_about_the_session()
 {
    let w = world().await;
    let store = w.stack.store();
    let (ava, ben) = (
        child_id(&w.stack, "Ava").await,
        child_id(&w.stack, "Ben").await,
    );
    store
        .record_response(&team(), &ava, "hpv", "consent_given")
        .await
        .unwrap();
    store
        .record_response(&team(), &ben, "hpv", "consent_refused")
        .await
        .unwrap();

    let reminder = w
        .scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 25))
        .await
        .expect("reminder day");
    let purposes: Vec<&str> = reminder
        .occasions
        .iter()
        .map(|o| o.purpose.as_str())
        .collect();
    assert_eq!(purposes, ["consent_request", "consent_reminder"]);
    let reminders: Vec<_> = drain_jobs(&w)
        .await
        .into_iter()
        .filter(|(_, j)| j.purpose == Purpose::ConsentReminder)
        .collect();
    assert_eq!(who(&reminders), ["Cara"], "Ava and Ben answered; Dan died");
    assert_eq!(reminders[0].1.occasion.as_deref(), Some("2026-11-25"));
    assert_eq!(reminder.occasions[1].not_chased["answered"], 2);

    w.scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 12 - 02))
        .await
        .expect("the day before the session");
    let session: Vec<_> = drain_jobs(&w)
        .await
        .into_iter()
        .filter(|(_, j)| j.purpose == Purpose::SessionReminder)
        .collect();
    assert_eq!(who(&session), ["Ava"], "only Ava's family gave consent");
    assert_eq!(session[0].1.occasion.as_deref(), Some("2026-12-03"));
}

#[tokio::test]
async fn a_class_list_arriving_after_the_request_day_gets_its_new_children_asked_the_next_day() {
    let w = world().await;
    w.scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 12))
        .await
        .expect("request day");
    drain_jobs(&w).await;

    // A class list adds Gus (new) and lists Ava again without her NHS number: the same child,
    // matched by name, date of birth and postcode, must not be asked twice.
    let class_list = format!(
        "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_YEAR_GROUP,PARENT_1_NAME,PARENT_1_EMAIL\n{}\n{}\n",
        "Gus,Low,2013-03-03,SW1A 1AA,8,Pat Low,pat@example.com",
        "Ava,Smith,2013-05-01,SW1A 1AA,8,Sarah Smith,sarah@example.com",
    );
    e2e::upload_and_ingest(
        &w.stack,
        &format!("{TEAM}/class-list/123456/8A.csv"),
        class_list,
    )
    .await;
    let run = w
        .scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 13))
        .await
        .expect("next day");
    assert_eq!(run.occasions[0].queued, 1);
    assert_eq!(
        (run.children, run.duplicate_records),
        (5, 1),
        "Ava's two records are one child"
    );
    assert_eq!(run.occasions[0].already_covered, 4);
    assert_eq!(who(&drain_jobs(&w).await), ["Gus"]);
}

#[tokio::test]
async fn two_reminders_are_two_messages_and_a_repeated_reminder_job_is_still_one() {
    let w = world().await;
    let (notify, dispatcher) = sender(&w).await;
    let mut c = campaign();
    c.reminder_days_before_deadline = vec![3, 7];
    w.stack.store().put_campaign(&team(), &c).await.unwrap();

    for day in [date!(2026 - 11 - 25), date!(2026 - 11 - 29)] {
        w.scheduler
            .run_campaign(&team(), "hpv-y8", day)
            .await
            .expect("run");
    }
    let jobs = drain_jobs(&w).await;
    let cara: Vec<SendJob> = jobs
        .into_iter()
        .filter(|(n, j)| n == "Cara" && j.purpose == Purpose::ConsentReminder)
        .map(|(_, j)| j)
        .collect();
    assert_eq!(cara.len(), 2);
    for job in cara.iter().chain(cara.iter()) {
        dispatcher.handle_job(job).await.expect("send");
    }
    let to_cara: Vec<_> = notify
        .sim
        .received()
        .into_iter()
        .filter(|n| n.to == "ali@example.com")
        .collect();
    assert_eq!(
        to_cara.len(),
        2,
        "one email per reminder day, each job delivered twice"
    );
    assert_ne!(to_cara[0].reference, to_cara[1].reference);
}

#[tokio::test]
async fn the_daily_run_finds_every_active_campaign_and_skips_finished_ones() {
    let w = world().await;
    let mut old = example_campaign("flu-2025", "flu", date!(2025 - 10 - 01));
    old.year_groups = vec![8];
    w.stack.store().put_campaign(&team(), &old).await.unwrap();
    let runs = w
        .scheduler
        .run_all(date!(2026 - 11 - 12))
        .await
        .expect("daily run");
    let ours: Vec<_> = runs
        .iter()
        .filter(|r| r.team == TEAM)
        .map(|r| r.campaign_id.as_str())
        .collect();
    assert_eq!(ours, ["hpv-y8"], "last year's flu campaign has finished");
    assert_eq!(drain_jobs(&w).await.len(), 3);
}

/// Uploads a campaign file and runs the real ingest on it; returns the report it wrote.
async fn upload_campaign(stack: &LocalStack, name: &str, body: &str) -> serde_json::Value {
    upload_json(stack, &format!("campaigns/{name}"), body).await
}

const CAMPAIGN_FILE: &str = r#"{
  "id": "hpv-y9",
  "programme": "hpv",
  "schools": ["123456"],
  "year_groups": [9],
  "sessions": ["2026-12-03"],
  "templates": {
    "consent_request": {"email": "f33517ff-2a88-4f6e-b855-c550268ce08a"}
  },
  "personalisation": {"programme_name": "HPV", "consent_url": "https://example.nhs.uk/c"}
}"#;

#[tokio::test]
async fn an_uploaded_campaign_file_is_checked_saved_and_run_on_its_request_day() {
    let w = world().await;
    let report = upload_campaign(&w.stack, "hpv-y9.json", CAMPAIGN_FILE).await;
    assert_eq!(report["status"], "imported", "{report}");
    assert_eq!(report["kind"], "campaign");
    let run = w
        .scheduler
        .run_campaign(&team(), "hpv-y9", date!(2026 - 11 - 12))
        .await
        .expect("the campaign was saved");
    assert_eq!(run.occasions[0].queued, 1);
    assert_eq!(who(&drain_jobs(&w).await), ["Eve"], "the year 9 child");
}

#[tokio::test]
async fn a_rejected_campaign_file_saves_nothing_and_names_each_bad_field() {
    let w = world().await;
    let bad = CAMPAIGN_FILE
        .replace("\"hpv\"", "\"covid\"")
        .replace("2026-12-03", "2026-13-03")
        .replace(
            "\"year_groups\": [9]",
            "\"year_groups\": [9], \"urgent\": true",
        );
    let report = upload_campaign(&w.stack, "hpv-y9.json", &bad).await;
    assert_eq!(report["status"], "rejected");
    let fields: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["column"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["programme", "sessions[0]", "override_grounds"]);
    assert!(
        w.stack
            .store()
            .campaign(&team(), "hpv-y9")
            .await
            .unwrap()
            .is_none()
    );
    let errors_csv = w
        .stack
        .clients
        .s3
        .get_object()
        .bucket(w.stack.bucket())
        .key(format!("{TEAM}/reports/hpv-y9.json.errors.csv"))
        .send()
        .await;
    assert!(
        errors_csv.is_ok(),
        "a rejected campaign gets its errors.csv too"
    );
}

/// Uploads a CSV under `folder` and runs the real ingest; returns the report it wrote.
async fn upload_csv(stack: &LocalStack, folder: &str, name: &str, csv: &str) -> serde_json::Value {
    let key = format!("{TEAM}/{folder}/{name}");
    e2e::upload_and_ingest(stack, &key, csv.to_owned()).await;
    e2e::report_of(stack, &key).await
}

#[tokio::test]
async fn a_responses_file_stops_the_reminders_for_families_who_answered() {
    let w = world().await;
    let cara = child_id(&w.stack, "Cara").await;
    w.stack
        .store()
        .record_response(&team(), &cara, "hpv", "vaccinated")
        .await
        .unwrap();
    // Ava by NHS number; Ben by name, date of birth and postcode; a child nobody knows; and a
    // late consent form for Cara, who is already vaccinated.
    let report = upload_csv(
        &w.stack,
        "responses",
        "answers.csv",
        "CHILD_NHS_NUMBER,CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,PROGRAMME,OUTCOME,DATE\n\
         9990000018,,,,,hpv,consent_given,2026-11-14\n\
         ,ben,JONES,02/06/2013,sw1a 1aa,hpv,consent_refused,\n\
         9990000077,,,,,hpv,consent_given,\n\
         9990000034,,,,,hpv,consent_given,\n",
    )
    .await;
    assert_eq!(report["status"], "imported", "{report}");
    let warnings: Vec<(u64, &str)> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["row"].as_u64().unwrap(), w["code"].as_str().unwrap()))
        .collect();
    assert_eq!(warnings, [(4, "unknown_child")]);

    let run = w
        .scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 25))
        .await
        .expect("reminder day");
    let reminder = run
        .occasions
        .iter()
        .find(|o| o.purpose == "consent_reminder")
        .unwrap();
    assert_eq!(reminder.queued, 0, "{reminder:?}");
    assert_eq!(reminder.not_chased["answered"], 2, "Ava and Ben answered");
    assert_eq!(
        reminder.not_chased["vaccinated"], 1,
        "Cara's late consent form does not undo her vaccination"
    );
}

#[tokio::test]
async fn a_responses_file_with_a_bad_row_records_nothing() {
    let w = world().await;
    let report = upload_csv(
        &w.stack,
        "responses",
        "bad.csv",
        "CHILD_NHS_NUMBER,PROGRAMME,OUTCOME\n9990000018,hpv,consent_given\n9990000026,hpv,perhaps\n",
    )
    .await;
    assert_eq!(report["status"], "rejected");
    assert_eq!(report["errors"][0]["code"], "invalid_outcome");
    let run = w
        .scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 25))
        .await
        .unwrap();
    let reminder = run
        .occasions
        .iter()
        .find(|o| o.purpose == "consent_reminder")
        .unwrap();
    assert_eq!(
        reminder.queued, 3,
        "Ava's answer was not recorded from a rejected file"
    );
}

#[tokio::test]
async fn the_campaign_report_lists_every_child_once_with_what_happened_and_the_totals() {
    let w = world().await;
    let (_notify, dispatcher) = sender(&w).await;
    let ben = child_id(&w.stack, "Ben").await;
    w.stack
        .store()
        .record_response(&team(), &ben, "hpv", "consent_given")
        .await
        .unwrap();
    w.scheduler
        .run_campaign(&team(), "hpv-y8", date!(2026 - 11 - 12))
        .await
        .expect("request day");
    for (_, job) in drain_jobs(&w).await {
        dispatcher.handle_job(&job).await.expect("sent");
    }

    let report = sais_shared::campaign_report::build(&w.stack.store(), &team(), &campaign())
        .await
        .expect("report");
    let s = &report.summary;
    assert_eq!(s.children, 4);
    assert_eq!(
        s.children_contacted, 2,
        "Ava and Cara were sent the request"
    );
    assert_eq!(s.messages["email"]["created"], 2);
    assert_eq!(s.not_contacted["answered"], 1);
    assert_eq!(s.not_contacted["deceased"], 1);
    let lines: Vec<(String, String, String, String)> = report
        .rows
        .iter()
        .map(|r| {
            (
                r.first_name.clone(),
                r.channel.clone(),
                r.status.clone(),
                r.reason.clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                "Ben".into(),
                "".into(),
                "not_contacted".into(),
                "answered".into()
            ),
            (
                "Cara".into(),
                "email".into(),
                "created".into(),
                "preference".into()
            ),
            (
                "Dan".into(),
                "".into(),
                "not_contacted".into(),
                "deceased".into()
            ),
            (
                "Ava".into(),
                "email".into(),
                "created".into(),
                "preference".into()
            ),
        ],
        "sorted by last name: Jones, Khan, Reed, Smith"
    );

    let keys = report
        .publish(&w.stack.clients.s3, &w.stack.bucket(), 400)
        .await
        .expect("published");
    assert_eq!(
        keys,
        [
            format!("{TEAM}/reports/campaigns/hpv-y8.csv"),
            format!("{TEAM}/reports/campaigns/hpv-y8.follow-up.csv"),
            format!("{TEAM}/reports/campaigns/hpv-y8.summary.json"),
            format!("{TEAM}/reports/campaigns/hpv-y8.html"),
        ]
    );
    let html = report.html();
    assert!(html.contains("<svg"), "the chart is drawn inline");
    assert!(
        !html.contains("<script") && !html.contains("src=") && !html.contains("href="),
        "the page loads nothing and runs nothing, so it reads offline"
    );
    let csv = String::from_utf8(report.csv()).unwrap();
    assert_eq!(csv.lines().count(), 5, "a header and one line per row");
}

#[tokio::test]
async fn team_settings_set_how_long_records_are_kept_and_a_bad_file_changes_nothing() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let bad = upload_json(
        &stack,
        "team.json",
        r#"{"name": "Leeds SAIS", "retention": {"records_days": 5}}"#,
    )
    .await;
    assert_eq!(bad["status"], "rejected");
    assert!(
        stack
            .store()
            .team_settings(&team())
            .await
            .unwrap()
            .is_none()
    );

    let good = upload_json(
        &stack,
        "team.json",
        r#"{"name": "Leeds SAIS", "notify_api_key_secret": "sais/RYG-sais/notify", "retention": {"records_days": 730}}"#,
    )
    .await;
    assert_eq!(good["status"], "imported", "{good}");
    let csv = format!("{HEADER}\n{}\n", COHORT[0]);
    e2e::upload_and_ingest(&stack, &format!("{TEAM}/cohort/c.csv"), csv).await;
    let child = stack.items_of_type("child").await.unwrap().pop().unwrap();
    let expires: i64 = child["expires_at"].as_n().unwrap().parse().unwrap();
    let days = (expires - time::OffsetDateTime::now_utc().unix_timestamp()) / 86_400;
    assert!((729..=730).contains(&days), "kept {days} days");
}

/// Uploads a JSON file under the team's folder and runs the real ingest; returns its report.
async fn upload_json(stack: &LocalStack, path: &str, body: &str) -> serde_json::Value {
    let key = format!("{TEAM}/{path}");
    e2e::upload_and_ingest(stack, &key, body.to_owned()).await;
    e2e::report_of(stack, &key).await
}

/// The messages the simulator received for one recipient.
/// The campaign's consent request for a child, as the daily run queues it.
fn consent_request(child_id: &str) -> SendJob {
    SendJob::new(
        &team(),
        "hpv-y8",
        child_id,
        Purpose::ConsentRequest,
        JobKind::Campaign,
    )
}

fn to(notify: &sais_local::LocalNotify, recipient: &str) -> usize {
    notify
        .sim
        .received()
        .iter()
        .filter(|n| n.to == recipient)
        .count()
}

#[tokio::test]
async fn objections_from_a_file_are_upheld_at_send_time_and_a_withdrawal_lifts_them() {
    // Ben's parent has email and mobile and no preference (both would be used).
    let w = world().await;
    let rows = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_YEAR_GROUP,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE\n\
        Ben,Jones,2013-06-02,SW1A 1AA,123456,9990000026,8,Tom Jones,tom@example.com,07700 900124\n\
        Cara,Khan,2013-07-03,SW1A 1AA,123456,9990000034,8,Ali Khan,ali@example.com,07700 900125\n";
    e2e::upload_and_ingest(
        &w.stack,
        &format!("{TEAM}/cohort/families.csv"),
        rows.into(),
    )
    .await;
    let (notify, dispatcher) = sender(&w).await;
    let report = upload_csv(
        &w.stack,
        "objections",
        "objections.csv",
        "CHILD_NHS_NUMBER,PARENT_PHONE,SCOPE,REASON,RECORDED_BY\n\
         9990000026,07700 900124,text,Asked by phone not to be texted,SAIS nurse\n\
         9990000034,,all,Will arrange with the GP,SAIS nurse\n",
    )
    .await;
    assert_eq!(report["status"], "imported", "{report}");

    let (ben, cara) = (
        child_id(&w.stack, "Ben").await,
        child_id(&w.stack, "Cara").await,
    );
    let mut request = consent_request(&ben);
    dispatcher.handle_job(&request).await.unwrap();
    assert_eq!(
        (to(&notify, "tom@example.com"), to(&notify, "+447700900124")),
        (1, 0),
        "an objection to texts leaves email only"
    );
    let skipped = dispatcher
        .handle_job(&consent_request(&cara))
        .await
        .unwrap();
    assert_eq!(skipped.sent, 0);
    assert_eq!(skipped.plan.skipped[0].reason, "objection_all");

    // The objection to texts is withdrawn: the next message texts again.
    upload_csv(
        &w.stack,
        "objections",
        "withdrawn.csv",
        "CHILD_NHS_NUMBER,PARENT_PHONE,SCOPE,REASON,RECORDED_BY,ACTION\n\
         9990000026,07700 900124,text,Happy to be texted again,SAIS nurse,withdraw\n",
    )
    .await;
    request.purpose = Purpose::ConsentReminder;
    request.occasion = Some("2026-11-25".into());
    dispatcher.handle_job(&request).await.unwrap();
    assert_eq!(
        to(&notify, "+447700900124"),
        1,
        "texts resume after the withdrawal"
    );
}

/// The test campaign made urgent with these grounds, and an objection to all contact for Ava.
async fn urgent_campaign_and_an_objection_for_ava(w: &World, grounds: &str) {
    let mut urgent = campaign();
    urgent.urgent = true;
    urgent.override_grounds = Some(grounds.into());
    w.stack
        .store()
        .put_campaign(&team(), &urgent)
        .await
        .unwrap();
    upload_csv(
        &w.stack,
        "objections",
        "o.csv",
        "CHILD_NHS_NUMBER,SCOPE,REASON,RECORDED_BY\n9990000018,all,No contact please,SAIS nurse\n",
    )
    .await;
}

#[tokio::test]
async fn an_urgent_campaign_with_grounds_overrides_an_objection_and_records_the_grounds() {
    let w = world().await;
    urgent_campaign_and_an_objection_for_ava(&w, "Measles outbreak: UKHSA advice of 20 November")
        .await;
    let (_notify, dispatcher) = sender(&w).await;
    let ava = child_id(&w.stack, "Ava").await;
    let outcome = dispatcher.handle_job(&consent_request(&ava)).await.unwrap();
    assert_eq!(outcome.sent, 1, "the urgent campaign reaches Ava's family");
    let messages = w
        .stack
        .store()
        .messages_of_child(&team(), &ava)
        .await
        .unwrap();
    assert_eq!(
        messages[0].grounds.as_deref(),
        Some("Measles outbreak: UKHSA advice of 20 November")
    );
}

/// Every item of the stack's table, as text (attribute names and values).
async fn whole_table(stack: &LocalStack) -> String {
    stack
        .all_items()
        .await
        .expect("scan")
        .iter()
        .map(|item| format!("{item:?}\n"))
        .collect()
}

async fn sar(stack: &LocalStack, nhs: &str) -> serde_json::Value {
    sais_shared::sar::export(
        &stack.store(),
        &team(),
        &sais_shared::sar::Subject::NhsNumber(sais_shared::domain::NhsNumber::parse(nhs).unwrap()),
    )
    .await
    .expect("sar")
}

#[tokio::test]
async fn a_serious_harm_objection_erases_the_number_from_the_store_and_the_sar_and_it_is_never_used_again()
 {
    let w = world().await;
    let families = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_YEAR_GROUP,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE\n\
        Ben,Jones,2013-06-02,SW1A 1AA,123456,9990000026,8,Tom Jones,tom@example.com,07700 900124\n";
    e2e::upload_and_ingest(&w.stack, &format!("{TEAM}/cohort/ben.csv"), families.into()).await;
    let (notify, dispatcher) = sender(&w).await;
    let ben = child_id(&w.stack, "Ben").await;
    // The request goes by email and text; an inbound text comes from the number too.
    let mut job = consent_request(&ben);
    dispatcher.handle_job(&job).await.unwrap();
    assert_eq!(to(&notify, "+447700900124"), 1);
    w.stack
        .store()
        .record_inbound(
            &team(),
            "in-1",
            Some("+447700900124"),
            "Thanks",
            "2026-11-20T10:00:00Z",
        )
        .await
        .unwrap();
    assert!(whole_table(&w.stack).await.contains("+447700900124"));

    let report = upload_csv(
        &w.stack,
        "objections",
        "harm.csv",
        "CHILD_NHS_NUMBER,PARENT_PHONE,SCOPE,REASON,RECORDED_BY,SERIOUS_HARM\n\
         9990000026,07700 900124,text,Safeguarding,Safeguarding lead,Y\n",
    )
    .await;
    assert_eq!(report["status"], "imported", "{report}");
    assert_eq!(report["warnings"][0]["code"], "detail_erased");
    assert!(
        !report.to_string().contains("7700"),
        "the report does not repeat the number"
    );

    // Gone from every record: the child's parents, the message, the objection, the inbound text.
    let table = whole_table(&w.stack).await;
    for form in [
        "+447700900124",
        "447700900124",
        "07700 900124",
        "7700900124",
    ] {
        assert!(!table.contains(form), "the table still holds {form}");
    }
    let document = sar(&w.stack, "9990000026").await;
    assert!(!document.to_string().contains("7700900124"), "{document}");
    let child = &document["children"][0];
    assert_eq!(child["details"]["parents"][0]["email"], "tom@example.com");
    assert!(child["details"]["parents"][0].get("phone").is_none());
    let erasure = &child["erasures"][0];
    assert_eq!(
        (
            erasure["detail_kind"].as_str(),
            erasure["erased_by"].as_str(),
            erasure["reason"].as_str()
        ),
        (
            Some("phone"),
            Some("Safeguarding lead"),
            Some("serious_harm")
        )
    );
    let text = child["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["channel"] == "sms")
        .expect("the text sent before is still accounted for");
    assert_eq!(text["recipient"], "erased");

    // A later file that brings the number back: it is not stored, and never texted again.
    let again = upload_csv(&w.stack, "cohort", "ben-again.csv", families).await;
    assert_eq!(again["status"], "imported", "{again}");
    let left_out: Vec<_> = again["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "detail_erased")
        .collect();
    assert_eq!(left_out.len(), 1, "{again}");
    assert_eq!(left_out[0]["column"], "PARENT_1_PHONE");
    assert!(
        !again.to_string().contains("7700"),
        "the report does not repeat the number"
    );
    let table = whole_table(&w.stack).await;
    assert!(!table.contains("+447700900124") && !table.contains("7700 900124"));
    assert!(
        table.contains("tom@example.com"),
        "the parent's email is kept"
    );

    // However the number gets back onto the child (here an ingest without the erasure key; an
    // erasure logged before its marker was), the dispatcher still never uses it.
    let keyless = sais_shared::ingest::Ingest::new(w.stack.clients.clone(), w.stack.table());
    w.stack
        .put_and_ingest(
            &keyless,
            &format!("{TEAM}/cohort/ben-third.csv"),
            families.as_bytes().to_vec(),
        )
        .await
        .expect("ingest");
    assert!(whole_table(&w.stack).await.contains("+447700900124"));
    job.purpose = Purpose::ConsentReminder;
    job.occasion = Some("2026-11-25".into());
    let outcome = dispatcher.handle_job(&job).await.unwrap();
    assert_eq!(to(&notify, "+447700900124"), 1, "no second text");
    assert_eq!(to(&notify, "tom@example.com"), 2, "email goes on");
    assert!(
        outcome
            .plan
            .skipped
            .iter()
            .any(|s| s.reason == "phone_erased"),
        "{:?}",
        outcome.plan
    );
}

#[tokio::test]
async fn a_subject_access_request_returns_everything_held_about_the_child_and_nothing_about_others()
{
    let w = world().await;
    urgent_campaign_and_an_objection_for_ava(&w, "Measles outbreak: UKHSA advice").await;
    let (_notify, dispatcher) = sender(&w).await;
    let ava = child_id(&w.stack, "Ava").await;
    dispatcher.handle_job(&consent_request(&ava)).await.unwrap();
    upload_csv(
        &w.stack,
        "responses",
        "r.csv",
        "CHILD_NHS_NUMBER,PROGRAMME,OUTCOME\n9990000018,hpv,consent_given\n",
    )
    .await;

    let by_nhs = sar(&w.stack, "9990000018").await;
    let by_details = sais_shared::sar::export(
        &w.stack.store(),
        &team(),
        &sais_shared::sar::Subject::Details {
            first_name: "AVA".into(),
            last_name: "smith".into(),
            date_of_birth: "2013-05-01".into(),
            postcode: "sw1a 1aa".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        by_nhs["children"], by_details["children"],
        "either way, the same child"
    );
    let children = by_nhs["children"].as_array().unwrap();
    assert_eq!(children.len(), 1);
    let child = &children[0];
    assert_eq!(child["details"]["first_name"], "Ava");
    assert_eq!(child["details"]["nhs_number"], "9990000018");
    assert_eq!(child["details"]["parents"][0]["email"], "sarah@example.com");
    assert_eq!(child["responses"]["hpv"], "consent_given");
    let objection = &child["objections"][0];
    assert_eq!(
        (
            objection["scope"].as_str(),
            objection["recorded_by"].as_str(),
            objection["reason"].as_str()
        ),
        (Some("all"), Some("SAIS nurse"), Some("No contact please"))
    );
    let message = &child["messages"][0];
    assert_eq!(message["recipient"], "sarah@example.com");
    assert_eq!(message["channel"], "email");
    assert_eq!(message["grounds"], "Measles outbreak: UKHSA advice");
    assert!(
        message["template_id"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "the content reference"
    );
    assert!(
        message["status_history"].as_array().unwrap().len() >= 2,
        "intent, then sent"
    );
    assert_eq!(child["contact_details"][0]["status"], "usable");
    let text = by_nhs.to_string();
    for other in ["Jones", "tom@example.com", "9990000026", "Khan"] {
        assert!(!text.contains(other), "another child's {other}");
    }
    assert!(!text.contains("\"pk\""), "no table keys");

    let nobody = sar(&w.stack, "9990000107").await;
    assert_eq!(nobody["children"], serde_json::json!([]));
}

/// A SAIS admin erases Sarah's email (Ava's parent) as a correction.
async fn correct_away_sarahs_email(w: &World) -> sais_shared::store::Erasure {
    sais_shared::erasure::erase_detail(
        &w.stack.store(),
        &team(),
        "email:sarah@example.com",
        "J Smith, SAIS admin",
        sais_shared::store::ErasureReason::Correction,
        &[],
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_corrected_email_is_erased_everywhere_and_recorded_without_the_address() {
    let w = world().await;
    let (notify, dispatcher) = sender(&w).await;
    let ava = child_id(&w.stack, "Ava").await;
    dispatcher.handle_job(&consent_request(&ava)).await.unwrap();
    assert_eq!(to(&notify, "sarah@example.com"), 1);
    let erasure = correct_away_sarahs_email(&w).await;
    assert_eq!((erasure.children, erasure.messages), (1, 1));
    assert!(!whole_table(&w.stack).await.contains("sarah@example.com"));
    let log = w
        .stack
        .store()
        .child_partition(&team(), &ava)
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|i| i["reason"].as_str() == Some("correction"))
    );
}

#[tokio::test]
async fn an_erasure_reaches_a_child_item_past_its_expiry_that_dynamodb_has_not_yet_deleted() {
    let w = world().await;
    let ava = child_id(&w.stack, "Ava").await;
    // DynamoDB deletes expired items up to a few days late; until then they still hold data.
    w.stack
        .clients
        .dynamodb
        .update_item()
        .table_name(w.stack.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{TEAM}#C#{ava}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("CHILD".into()),
        )
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N("1000".into()),
        )
        .condition_expression("attribute_exists(pk)")
        .send()
        .await
        .expect("the child item, expired");
    assert!(whole_table(&w.stack).await.contains("sarah@example.com"));

    let erasure = correct_away_sarahs_email(&w).await;
    assert_eq!(erasure.children, 1);
    assert!(!whole_table(&w.stack).await.contains("sarah@example.com"));
}

#[tokio::test]
async fn messages_go_from_the_reply_to_address_and_text_sender_the_team_chose() {
    let w = world().await;
    let (notify, dispatcher) = sender(&w).await;
    let ava = child_id(&w.stack, "Ava").await;
    let first = consent_request(&ava);
    dispatcher.handle_job(&first).await.unwrap();
    assert_eq!(
        notify.sim.received()[0].sender_id,
        None,
        "without a team.json, Notify's default sender"
    );

    let settings = upload_json(
        &w.stack,
        "team.json",
        r#"{"name": "Leeds SAIS", "notify_api_key_secret": "sais/RYG-sais/notify",
            "email_reply_to_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
            "sms_sender_id": "4c5a29b4-6f0a-4c5e-9e8b-3b8f5a0c2d11",
            "retention": {"records_days": 730}}"#,
    )
    .await;
    assert_eq!(settings["status"], "imported", "{settings}");
    let rows = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_NHS_NUMBER,CHILD_YEAR_GROUP,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE\n\
        Ben,Jones,2013-06-02,SW1A 1AA,123456,9990000026,8,Tom Jones,tom@example.com,07700 900124\n";
    e2e::upload_and_ingest(&w.stack, &format!("{TEAM}/cohort/ben.csv"), rows.into()).await;
    let ben = child_id(&w.stack, "Ben").await;
    dispatcher.handle_job(&consent_request(&ben)).await.unwrap();
    let sender_of = |to: &str| {
        notify
            .sim
            .received()
            .into_iter()
            .find(|n| n.to == to)
            .and_then(|n| n.sender_id)
            .map(|id| id.to_string())
    };
    assert_eq!(
        sender_of("tom@example.com").as_deref(),
        Some("f33517ff-2a88-4f6e-b855-c550268ce08a"),
        "emails carry the team's reply-to address"
    );
    assert_eq!(
        sender_of("+447700900124").as_deref(),
        Some("4c5a29b4-6f0a-4c5e-9e8b-3b8f5a0c2d11"),
        "texts come from the team's sender"
    );
    let messages = w
        .stack
        .store()
        .messages_of_child(&team(), &ben)
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for m in &messages {
        let days = (m.expires_at - now) / 86_400;
        assert!((729..=730).contains(&days), "message kept {days} days");
    }
}

/// `n` message ids made as the service makes them (UUIDv5s).
fn message_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("sharding test {i}").as_bytes(),
            )
            .to_string()
        })
        .collect()
}

/// The partitions (`pk`) that hold the table's items of a kind, each checked to be one of the
/// queue's 16 shards.
async fn shards_of(
    stack: &LocalStack,
    item_type: &str,
    queue: &str,
) -> std::collections::BTreeSet<u32> {
    stack
        .items_of_type(item_type)
        .await
        .expect("scan")
        .iter()
        .map(|item| {
            let pk = item["pk"].as_s().unwrap();
            pk.strip_prefix(&format!("{queue}#"))
                .and_then(|n| n.parse().ok())
                .filter(|n: &u32| *n < 16)
                .unwrap_or_else(|| panic!("{item_type} in partition {pk}"))
        })
        .collect()
}

fn attr(v: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.into())
}

fn number(v: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(v.to_string())
}

#[tokio::test]
async fn due_jobs_are_spread_over_shards_returned_in_due_order_and_each_deleted() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let store = stack.store();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut expected = Vec::new();
    for (i, id) in message_ids(48).iter().enumerate() {
        // Written out of due order, several due in the same second; the last 8 are not due yet.
        let due = if i < 40 {
            now - 3_600 + (i as i64 * 37 % 11) * 60
        } else {
            now + 3_600
        };
        let job = consent_request(&format!("child-{i}"));
        store.schedule_job(due, id, &job).await.expect("schedule");
        if i < 40 {
            expected.push((due, format!("{due:010}#{TEAM}#{id}"), job));
        }
    }
    expected.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));

    let shards = shards_of(&stack, "due_job", "DUE").await;
    assert!(shards.len() >= 8, "48 jobs in only {shards:?}");

    let due = store.due_jobs(now).await.expect("due jobs");
    let got: Vec<_> = due
        .iter()
        .map(|d| (d.due, d.key.clone(), d.job.clone()))
        .collect();
    assert_eq!(got, expected, "every due job, by due time then key");

    for job in &due {
        store.delete_due(&job.key).await.expect("delete");
    }
    assert!(store.due_jobs(now).await.expect("due jobs").is_empty());
    assert_eq!(
        stack.items_of_type("due_job").await.unwrap().len(),
        8,
        "only the jobs not yet due are left"
    );
    assert_eq!(
        store.due_jobs(now + 3_600).await.expect("due jobs").len(),
        8
    );
}

#[tokio::test]
async fn open_letters_are_spread_over_shards_listed_by_team_and_id_and_each_closed() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let store = stack.store();
    let teams = [team(), TeamCode::parse("QKK-sais").unwrap()];
    let mut expected = Vec::new();
    for (i, id) in message_ids(40).iter().enumerate() {
        let team = &teams[i % 2];
        let notify_id = uuid::Uuid::new_v4();
        store
            .open_letter(team, id, notify_id)
            .await
            .expect("open letter");
        expected.push((team.to_string(), id.clone(), notify_id));
    }
    expected.sort();

    let shards = shards_of(&stack, "open_letter", "LETTERS_OPEN").await;
    assert!(shards.len() >= 8, "40 letters in only {shards:?}");

    let open = store.open_letters().await.expect("open letters");
    let got: Vec<_> = open
        .iter()
        .map(|l| (l.team.to_string(), l.message_id.clone(), l.notify_id))
        .collect();
    assert_eq!(got, expected, "every letter, by team then message id");

    for letter in &open {
        store
            .close_letter(&letter.team, &letter.message_id)
            .await
            .expect("close");
    }
    assert!(store.open_letters().await.expect("open letters").is_empty());
    assert!(stack.items_of_type("open_letter").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_retry_and_a_letter_stored_before_sharding_are_still_released_and_closed() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let store = stack.store();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ids = message_ids(4);
    let put =
        |pk: &str, sk: String, extra: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>| {
            let mut request = stack
                .clients
                .dynamodb
                .put_item()
                .table_name(stack.table())
                .item("pk", attr(pk))
                .item("sk", attr(&sk));
            for (name, value) in extra {
                request = request.item(name, value);
            }
            request.send()
        };
    // As the unsharded code wrote them: one partition `DUE`, one `LETTERS_OPEN`.
    let old_job = consent_request("child-old");
    let old_due = now - 7_200;
    let old_key = format!("{old_due:010}#{TEAM}#{}", ids[0]);
    put(
        "DUE",
        old_key.clone(),
        vec![
            ("item_type", attr("due_job")),
            ("job", attr(&serde_json::to_string(&old_job).unwrap())),
            ("expires_at", number(old_due + 30 * 86_400)),
        ],
    )
    .await
    .expect("old due job");
    // Expired, not yet deleted by DynamoDB: not returned.
    put(
        "DUE",
        format!("{:010}#{TEAM}#{}", now - 60, ids[1]),
        vec![
            ("item_type", attr("due_job")),
            ("job", attr(&serde_json::to_string(&old_job).unwrap())),
            ("expires_at", number(1_000)),
        ],
    )
    .await
    .expect("expired due job");
    let old_notify_id = uuid::Uuid::new_v4();
    put(
        "LETTERS_OPEN",
        format!("{TEAM}#{}", ids[2]),
        vec![
            ("item_type", attr("open_letter")),
            ("notify_id", attr(&old_notify_id.to_string())),
            ("expires_at", number(now + 60 * 86_400)),
        ],
    )
    .await
    .expect("old letter");
    // And one of each written now, in their shards.
    let new_job = consent_request("child-new");
    let new_due = now - 60;
    store
        .schedule_job(new_due, &ids[3], &new_job)
        .await
        .expect("schedule");
    let new_notify_id = uuid::Uuid::new_v4();
    store
        .open_letter(&team(), &ids[3], new_notify_id)
        .await
        .expect("open letter");

    let due = store.due_jobs(now).await.expect("due jobs");
    let got: Vec<_> = due
        .iter()
        .map(|d| (d.due, d.key.clone(), d.job.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (old_due, old_key.clone(), old_job),
            (new_due, format!("{new_due:010}#{TEAM}#{}", ids[3]), new_job),
        ]
    );
    let mut letters: Vec<_> = store
        .open_letters()
        .await
        .expect("open letters")
        .into_iter()
        .map(|l| (l.message_id, l.notify_id))
        .collect();
    letters.sort();
    let mut expected = vec![
        (ids[2].clone(), old_notify_id),
        (ids[3].clone(), new_notify_id),
    ];
    expected.sort();
    assert_eq!(letters, expected);

    for job in &due {
        store.delete_due(&job.key).await.expect("delete");
    }
    store
        .close_letter(&team(), &ids[2])
        .await
        .expect("close old");
    store
        .close_letter(&team(), &ids[3])
        .await
        .expect("close new");
    assert!(store.due_jobs(now).await.expect("due jobs").is_empty());
    assert!(store.open_letters().await.expect("open letters").is_empty());
    let left: Vec<_> = stack
        .all_items()
        .await
        .expect("scan")
        .into_iter()
        .filter(|i| {
            i.get("item_type")
                .is_some_and(|t| t.as_s().is_ok_and(|t| t == "due_job" || t == "open_letter"))
        })
        .map(|i| {
            (
                i["pk"].as_s().unwrap().clone(),
                i["sk"].as_s().unwrap().clone(),
            )
        })
        .collect();
    assert_eq!(
        left,
        vec![(
            "DUE".to_owned(),
            format!("{:010}#{TEAM}#{}", now - 60, ids[1])
        )],
        "only the expired item DynamoDB will delete is left"
    );
}
