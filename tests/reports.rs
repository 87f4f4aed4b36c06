//! What a SAIS team reads, on the local stack: the campaign's follow-up list, consent progress,
//! parents' replies and the page, made by the real report from what the real ingest, schedule,
//! dispatcher and webhook (driven by the Notify simulator) recorded; and read back as the team
//! reads them, from the bucket.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sais_local::{LocalNotify, LocalStack, serve_webhook, start_notify_sim};
use sais_shared::campaign::Campaign;
use sais_shared::campaign_report::{self, CampaignReport, reason_in_words};
use sais_shared::dispatch::Dispatcher;
use sais_shared::policy::Purpose;
use sais_shared::receipts::Receipts;
use sais_shared::schedule::runner::Scheduler;
use sais_shared::webhook::Webhook;
use scraper::{ElementRef, Html, Selector};

use e2e::{TEAM, team};

const TOKEN: &str = "callback-token-for-report-tests-0123";
const CAMPAIGN: &str = "hpv-reports";
const HEADER: &str = "CHILD_FIRST_NAME,CHILD_LAST_NAME,CHILD_DATE_OF_BIRTH,CHILD_NHS_NUMBER,CHILD_YEAR_GROUP,CHILD_ADDRESS_LINE_1,CHILD_ADDRESS_LINE_2,CHILD_TOWN,CHILD_POSTCODE,CHILD_SCHOOL_URN,CHILD_RESTRICTED,PARENT_1_NAME,PARENT_1_EMAIL,PARENT_1_PHONE,PARENT_1_CONTACT_PREFERENCE";

// Ada's parent answered before anything was sent (their email would bounce); Rae is restricted
// and her parent's texts fail (07700900002 always fails permanently); Ben's email arrives;
// Lou and Cal have no contact details and no address a letter can go to (a ZZ99
// pseudo-postcode), and Lou's parent answers after Lou was listed.
const FAMILIES: &[&str] = &[
    "Ada,Answer,2013-01-01,9990000018,8,1 Answer Road,,Leeds,LS1 1AA,123456,,Ann Answer,perm-fail+ada@simulator.notify,,email",
    "Rae,Restricted,2013-01-02,9990000026,8,6 Hidden Mews,Flat 9,Secretby,LS6 2QT,123456,Y,Fay Restricted,,07700900002,text",
    "Ben,Reached,2013-01-03,9990000034,9,3 Open Street,,Leeds,LS1 1AA,123456,,Bob Reached,bob@example.com,,email",
    "Lou,Late,2013-01-04,9990000042,8,4 Late Lane,,Leeds,ZZ99 3VZ,123456,,,,,",
    "Cal,Cannot,2013-01-05,9990000050,9,5 Far Close,,Leeds,ZZ99 3VZ,654321,,,,,",
];

/// Every address line, town and postcode in [`FAMILIES`] (no report may hold any).
const ADDRESSES: &[&str] = &[
    "Answer Road",
    "Hidden Mews",
    "Flat 9",
    "Secretby",
    "LS6 2QT",
    "Open Street",
    "Late Lane",
    "Far Close",
    "ZZ99 3VZ",
    "LS1 1AA",
];

struct World {
    stack: LocalStack,
    notify: LocalNotify,
    dispatcher: Dispatcher,
    scheduler: Scheduler,
}

/// A campaign at schools 123456 and 654321 whose consent request goes today (its first
/// session is three weeks on), so the report's days are the days the test runs on.
fn campaign() -> Campaign {
    let today = time::OffsetDateTime::now_utc().date();
    let mut c = sais_local::example_campaign(CAMPAIGN, "hpv", today + time::Duration::days(21));
    c.schools = vec!["123456".into(), "654321".into()];
    c
}

async fn world(families: &[&str]) -> World {
    let stack = LocalStack::isolated().await.expect("local stack");
    let receipts = Receipts::new(
        stack.store(),
        stack.clients.sqs.clone(),
        stack.send_queue_url.clone(),
    )
    .with_technical_backoff(0);
    let base = serve_webhook(Webhook::new(receipts, TOKEN))
        .await
        .expect("webhook");
    let callback_url = format!("{base}/notify/{TEAM}");
    let notify = start_notify_sim(|c| {
        c.callback_url = Some(callback_url.clone());
        c.callback_bearer_token = Some(TOKEN.into());
        c.callback_delay = Duration::from_millis(20);
    })
    .await
    .expect("simulator");
    let csv = format!("{HEADER}\n{}\n", families.join("\n"));
    e2e::upload_and_ingest(&stack, &format!("{TEAM}/cohort/cohort.csv"), csv).await;
    stack
        .store()
        .put_campaign(&team(), &campaign())
        .await
        .expect("campaign");
    let dispatcher = stack
        .dispatcher(
            &notify.sim.base_url(),
            &notify.api_key,
            3000,
            Duration::from_millis(2000),
        )
        .expect("dispatcher");
    let scheduler = Scheduler::new(
        stack.store(),
        stack.clients.sqs.clone(),
        stack.send_queue_url.clone(),
    );
    World {
        stack,
        notify,
        dispatcher,
        scheduler,
    }
}

impl World {
    /// Runs every job on the send queue (the day's, then the fallbacks the webhook queues)
    /// until Notify's callbacks and the queue are both quiet.
    async fn settle(&self) {
        e2e::settle(&self.stack, &self.notify, &self.dispatcher).await;
    }

    /// The consent request day: the daily run queues, the dispatcher sends, receipts come back
    /// and fallbacks run.
    async fn request_day(&self) {
        let day = campaign().requests_on().expect("a request day");
        self.scheduler
            .run_campaign(&team(), CAMPAIGN, day)
            .await
            .expect("daily run");
        self.settle().await;
    }

    async fn upload(&self, folder: &str, name: &str, csv: &str) -> serde_json::Value {
        let key = format!("{TEAM}/{folder}/{name}");
        e2e::upload_and_ingest(&self.stack, &key, csv.to_owned()).await;
        e2e::report_of(&self.stack, &key).await
    }

    /// A parent texts the service's number; waits until the webhook has answered.
    async fn text_in(&self, from: &str, message: &str) {
        self.notify.text_in(from, message).await.expect("inbound");
        assert!(
            self.notify
                .sim
                .wait_callbacks_idle(Duration::from_secs(10))
                .await
        );
    }

    /// The report, made and published as the reminders function does each day.
    async fn report(&self) -> CampaignReport {
        campaign_report::ReportPublisher::new(
            self.stack.store(),
            self.stack.clients.s3.clone(),
            self.stack.bucket(),
        )
        .make(&team(), &campaign())
        .await
        .expect("report made and published")
        .0
    }

    /// Every file under the team's `reports/` folder, by key.
    async fn report_files(&self) -> BTreeMap<String, String> {
        let listed = self
            .stack
            .clients
            .s3
            .list_objects_v2()
            .bucket(self.stack.bucket())
            .prefix(format!("{TEAM}/reports/"))
            .send()
            .await
            .expect("list");
        let mut files = BTreeMap::new();
        for object in listed.contents() {
            let key = object.key().expect("key").to_owned();
            let body = e2e::read_object(&self.stack, &key).await.expect("object");
            files.insert(key, String::from_utf8(body).expect("text"));
        }
        files
    }

    /// Every version of every file under the team's `reports/` folder (the bucket is
    /// versioned, as deployed): (key, version id, body).
    async fn report_versions(&self) -> Vec<(String, String, String)> {
        let s3 = &self.stack.clients.s3;
        let listed = s3
            .list_object_versions()
            .bucket(self.stack.bucket())
            .prefix(format!("{TEAM}/reports/"))
            .send()
            .await
            .expect("list versions");
        assert_ne!(listed.is_truncated(), Some(true), "one page is enough here");
        let mut bodies = Vec::new();
        for v in listed.versions() {
            let (key, version) = (v.key().expect("key"), v.version_id().expect("version"));
            let object = s3
                .get_object()
                .bucket(self.stack.bucket())
                .key(key)
                .version_id(version)
                .send()
                .await
                .expect("version");
            let body = object.body.collect().await.expect("body").into_bytes();
            bodies.push((
                key.to_owned(),
                version.to_owned(),
                String::from_utf8(body.to_vec()).expect("text"),
            ));
        }
        bodies
    }

    async fn sar(&self, nhs: &str) -> serde_json::Value {
        sais_shared::sar::export(
            &self.stack.store(),
            &team(),
            &sais_shared::sar::Subject::NhsNumber(
                sais_shared::domain::NhsNumber::parse(nhs).expect("NHS number"),
            ),
        )
        .await
        .expect("sar")
    }
}

/// The rows of a CSV as maps from column to cell.
fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, c)| (h.to_owned(), c.to_owned()))
                .collect()
        })
        .collect()
}

/// The scenario of [`FAMILIES`] played out: Ada's answer before the request day, the request
/// day (Ada's job too, as if queued before her answer came in), then Lou's late answer.
async fn played_out() -> (World, CampaignReport) {
    let w = world(FAMILIES).await;
    let answered = w
        .upload(
            "responses",
            "before.csv",
            "CHILD_NHS_NUMBER,PROGRAMME,OUTCOME\n9990000018,hpv,consent_given\n",
        )
        .await;
    assert_eq!(answered["status"], "imported", "{answered}");
    w.request_day().await;
    let ada = e2e::child_id(&w.stack, "9990000018").await;
    let mut job = e2e::job(&ada, Purpose::ConsentRequest);
    job.campaign_id = CAMPAIGN.into();
    let outcome = w.dispatcher.handle_job(&job).await.expect("job");
    assert!(outcome.plan.sends.is_empty(), "Ada's parent has answered");
    assert!(
        w.notify
            .sim
            .received()
            .iter()
            .all(|n| !n.to.contains("ada")),
        "nothing ever went to Ada's parent"
    );
    let late = w
        .upload(
            "responses",
            "after.csv",
            "CHILD_NHS_NUMBER,PROGRAMME,OUTCOME\n9990000042,hpv,consent_refused\n",
        )
        .await;
    assert_eq!(late["status"], "imported", "{late}");
    let report = w.report().await;
    (w, report)
}

#[tokio::test]
async fn the_follow_up_list_holds_only_families_nobody_can_reach_and_no_report_holds_an_address() {
    let (w, report) = played_out().await;
    let listed: Vec<(&str, &str)> = report
        .follow_up
        .iter()
        .map(|e| (e.first_name.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        listed,
        [("Rae", "restricted_no_letter"), ("Cal", "no_address")],
        "by school then name; Ada and Lou answered, Ben was reached"
    );
    let s = &report.summary;
    assert_eq!(s.children, 5);
    assert_eq!(s.children_unreachable, 2, "nobody who answered is counted");
    assert_eq!(
        s.unreachable_child_ids,
        [
            e2e::child_id(&w.stack, "9990000026").await,
            e2e::child_id(&w.stack, "9990000050").await
        ]
    );
    assert_eq!(
        s.follow_up_reasons,
        BTreeMap::from([("no_address".into(), 1), ("restricted_no_letter".into(), 1)])
    );
    let rae = &report.follow_up[0];
    assert_eq!(
        (
            rae.date_of_birth.as_str(),
            rae.school_urn.as_str(),
            rae.year_group
        ),
        ("2013-01-02", "123456", Some(8))
    );
    assert!(
        rae.tried
            .iter()
            .any(|a| a.channel == "sms" && a.status == "permanent-failure"),
        "what was tried: {:?}",
        rae.tried
    );
    assert!(
        report
            .rows
            .iter()
            .all(|r| r.manual_follow_up == matches!(r.first_name.as_str(), "Rae" | "Cal")),
        "only the listed children's rows are marked"
    );

    // Consent progress, per school and year group.
    let p = &s.consent_progress;
    assert_eq!(
        (
            p.totals.children,
            p.totals.consent_given,
            p.totals.consent_refused,
            p.totals.no_answer
        ),
        (5, 1, 1, 3)
    );
    let rows: Vec<(&str, Option<u8>, [u64; 4])> = p
        .by_school_year
        .iter()
        .map(|r| {
            (
                r.school_urn.as_str(),
                r.year_group,
                [
                    r.counts.children,
                    r.counts.consent_given,
                    r.counts.consent_refused,
                    r.counts.no_answer,
                ],
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("123456", Some(8), [3, 1, 1, 1]),
            ("123456", Some(9), [1, 0, 0, 1]),
            ("654321", Some(9), [1, 0, 0, 1]),
        ]
    );
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let day = p.by_day.iter().find(|d| d.date == today).expect("today");
    assert_eq!(
        (day.messages_sent, day.answers_received),
        (2, 2),
        "Ben's email and Rae's text; Ada's and Lou's answers"
    );

    // The files, as the team reads them from the bucket.
    let files = w.report_files().await;
    let prefix = format!("{TEAM}/reports/campaigns/{CAMPAIGN}");
    for suffix in [".csv", ".follow-up.csv", ".summary.json", ".html"] {
        assert!(
            files.contains_key(&format!("{prefix}{suffix}")),
            "{suffix} in {:?}",
            files.keys()
        );
    }
    let follow_up = csv_rows(&files[&format!("{prefix}.follow-up.csv")]);
    let names: Vec<&str> = follow_up.iter().map(|r| r["FIRST_NAME"].as_str()).collect();
    assert_eq!(names, ["Rae", "Cal"]);
    assert_eq!(
        follow_up[0]["REASON_IN_WORDS"],
        reason_in_words("restricted_no_letter")
    );
    assert_eq!(follow_up[0]["DATE_OF_BIRTH"], "2013-01-02");
    assert!(
        follow_up[0]["TRIED"].contains("consent request by text: permanent-failure"),
        "{}",
        follow_up[0]["TRIED"]
    );
    let summary: serde_json::Value =
        serde_json::from_str(&files[&format!("{prefix}.summary.json")]).expect("JSON");
    assert_eq!(summary["children_unreachable"], 2);
    assert_eq!(summary["consent_progress"]["totals"]["consent_given"], 1);
    assert_eq!(
        summary["codes_in_words"]["restricted_no_letter"],
        reason_in_words("restricted_no_letter")
    );
    for row in csv_rows(&files[&format!("{prefix}.csv")]) {
        assert_eq!(row["REASON_IN_WORDS"].is_empty(), row["REASON"].is_empty());
        assert_eq!(row["STATUS_IN_WORDS"], reason_in_words(&row["STATUS"]));
    }

    // No address in any report (the restricted child's above all), in any form.
    assert!(files.len() >= 5, "{:?}", files.keys());
    for (key, body) in &files {
        for address in ADDRESSES {
            let squeezed = address.replace(' ', "");
            assert!(
                !body.contains(address) && !body.contains(&squeezed),
                "{key} holds {address:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_parents_reply_is_in_that_days_file_against_their_children_and_their_sar_and_no_log() {
    // Sam and his sister Tia share a parent's number; Ben's parent has another.
    let w = world(&[
        "Sam,Sibling,2013-02-01,9990000093,8,1 Road,,Leeds,LS1 1AA,123456,,Sue Sibling,sue@example.com,07700900109,email",
        "Tia,Sibling,2014-02-01,9990000107,7,1 Road,,Leeds,LS1 1AA,123456,,Sue Sibling,,07700 900109,text",
        "Ben,Reached,2013-01-03,9990000034,9,3 Open Street,,Leeds,LS1 1AA,123456,,Bob Reached,bob@example.com,07700900134,email",
    ])
    .await;
    let captured = e2e::Captured::global();
    let reply = "He's scared of needles, can we talk? Quokkaberry";
    w.text_in("07700900109", reply).await;
    w.text_in("+447700900999", "=Wrong number, who is this? Zebrafinch")
        .await;
    w.text_in("07700900134", "STOP").await;
    let report = w.report().await;

    let today = time::OffsetDateTime::now_utc().date().to_string();
    let files = w.report_files().await;
    let key = format!("{TEAM}/reports/replies/{today}.csv");
    let rows = csv_rows(
        files
            .get(&key)
            .unwrap_or_else(|| panic!("{key} in {:?}", files.keys())),
    );
    assert_eq!(rows.len(), 2, "the STOP is not a reply: {rows:?}");
    let sams = rows
        .iter()
        .find(|r| r["MESSAGE"] == reply)
        .expect("the reply");
    assert!(
        sams["CHILDREN"].starts_with("Sam Sibling (born 2013-02-01, school 123456, year 8; parent Sue Sibling); Tia Sibling (born 2014-02-01"),
        "{}",
        sams["CHILDREN"]
    );
    assert_eq!(sams["NHS_NUMBERS"], "9990000093; 9990000107");
    assert!(sams["RECEIVED_AT"].starts_with(&today));
    let stranger = rows
        .iter()
        .find(|r| r["MESSAGE"].contains("Zebrafinch"))
        .expect("the stranger's text");
    assert_eq!(stranger["CHILDREN"], "number not on any record");
    assert!(
        stranger["MESSAGE"].starts_with("'="),
        "a text that would be a formula is guarded"
    );
    assert_eq!(report.summary.replies.total, 2);
    assert_eq!(report.summary.replies.from_this_campaigns_families, 1);
    assert_eq!(report.summary.replies.dates, std::slice::from_ref(&today));

    // On the page, in its replies section.
    let html = Html::parse_document(&files[&format!("{TEAM}/reports/campaigns/{CAMPAIGN}.html")]);
    let texts: Vec<String> = html
        .select(&sel("#replies tbody tr td.text"))
        .map(|td| td.text().collect())
        .collect();
    assert_eq!(texts.len(), 2);
    assert!(texts.contains(&reply.to_owned()), "{texts:?}");

    // In the SAR of each child whose parent has the number, and nobody else's.
    for nhs in ["9990000093", "9990000107"] {
        let document = w.sar(nhs).await;
        let replies = document["children"][0]["replies"]
            .as_array()
            .expect("replies");
        assert_eq!(replies.len(), 1, "{nhs}: {document}");
        assert_eq!(replies[0]["message"], reply);
        assert_eq!(replies[0]["from"], "+447700900109");
    }
    let ben = w.sar("9990000034").await;
    assert_eq!(ben["children"][0]["replies"], serde_json::json!([]));

    // Never in a log line: not the texts, not the numbers.
    let logs = captured.text();
    assert!(
        logs.contains("inbound text recorded"),
        "the webhook logged its work"
    );
    for secret in [
        "Quokkaberry",
        "scared of needles",
        "Zebrafinch",
        "7700900109",
        "7700900999",
    ] {
        assert!(!logs.contains(secret), "a log line holds {secret:?}");
    }

    // Another campaign of the team, at a school none of these families is at: its report does
    // not show the number, so the erasure leaves it as it is.
    let mut elsewhere = sais_local::example_campaign(
        "flu-elsewhere",
        "flu",
        time::OffsetDateTime::now_utc().date() + time::Duration::days(21),
    );
    elsewhere.schools = vec!["999999".into()];
    w.stack
        .store()
        .put_campaign(&team(), &elsewhere)
        .await
        .expect("campaign");
    campaign_report::ReportPublisher::new(
        w.stack.store(),
        w.stack.clients.s3.clone(),
        w.stack.bucket(),
    )
    .make(&team(), &elsewhere)
    .await
    .expect("the other campaign's report");
    let elsewhere_page = format!("{TEAM}/reports/campaigns/flu-elsewhere.html");
    // The current version's id: a new one for every write, even of the same bytes.
    let version = |stack: &LocalStack, key: String| {
        let s3 = stack.clients.s3.clone();
        let bucket = stack.bucket();
        async move {
            s3.head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .expect("head")
                .version_id()
                .map(str::to_owned)
        }
    };
    let elsewhere_before = version(&w.stack, elsewhere_page.clone()).await;
    assert!(elsewhere_before.is_some(), "the bucket is versioned");

    // Files made before that the table no longer backs: a day whose texts have expired, and a
    // campaign no longer held. Another family's old file is left alone.
    let old_day = format!("{TEAM}/reports/replies/2025-01-06.csv");
    let old_campaign = format!("{TEAM}/reports/campaigns/flu-2024.csv");
    let other_family = format!("{TEAM}/reports/replies/2025-01-07.csv");
    for (key, body) in [
        (
            &old_day,
            "RECEIVED_AT,FROM,MESSAGE\n2025-01-06T09:00:00Z,'+447700900109,Ring me\n",
        ),
        (&old_campaign, "CHILD_ID,RECIPIENT\nx,'+447700900109\n"),
        (
            &other_family,
            "RECEIVED_AT,FROM,MESSAGE\n2025-01-07T09:00:00Z,'+447700900134,Thanks\n",
        ),
    ] {
        w.stack
            .upload(key, body.as_bytes().to_vec())
            .await
            .expect("old file");
    }
    // The next day's run writes the reports again: the bucket keeps the first as earlier versions.
    w.report().await;

    // Erasing the number (a serious-harm objection) erases the text's words with it and unlinks
    // it from the children: it leaves their SAR, and the day's file says the number was erased.
    // The erasure itself makes the reports again: no daily run is needed for it to leave them.
    let erased = w
        .upload(
            "objections",
            "harm.csv",
            "CHILD_NHS_NUMBER,PARENT_PHONE,SCOPE,REASON,RECORDED_BY,SERIOUS_HARM\n\
             9990000093,07700 900109,text,Safeguarding,Safeguarding lead,Y\n",
        )
        .await;
    assert_eq!(erased["status"], "imported", "{erased}");
    let document = w.sar("9990000093").await;
    assert_eq!(document["children"][0]["replies"], serde_json::json!([]));
    let files = w.report_files().await;
    let rows = csv_rows(&files[&key]);
    let sams = rows
        .iter()
        .find(|r| r["FROM"] == "erased")
        .expect("the reply");
    assert_eq!(sams["MESSAGE"], sais_shared::store::ERASED_TEXT);
    assert!(
        !w.report_files().await.values().any(|f| f.contains(reply)),
        "the words are in no report"
    );
    assert!(
        sams["CHILDREN"].starts_with("number erased"),
        "{}",
        sams["CHILDREN"]
    );
    assert!(!files.values().any(|f| f.contains("7700900109")));
    assert!(!files.contains_key(&old_day) && !files.contains_key(&old_campaign));
    assert!(
        files[&other_family].contains("Thanks"),
        "another family's file stays"
    );
    assert!(
        files.contains_key(&format!("{TEAM}/reports/campaigns/{CAMPAIGN}.html")),
        "the campaign's page is made again, not deleted"
    );
    assert_eq!(
        version(&w.stack, elsewhere_page).await,
        elsewhere_before,
        "a campaign whose report never showed the number is not made again"
    );
    // Nor in any earlier version the bucket keeps of a report.
    for (key, version, body) in w.report_versions().await {
        assert!(
            !body.contains("7700900109") && !body.contains("Quokkaberry"),
            "{key} version {version} still holds the erased number or its text"
        );
    }
}

fn sel(css: &str) -> Selector {
    Selector::parse(css).expect("selector")
}

fn text_of(e: ElementRef<'_>) -> String {
    e.text()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn the_campaign_page_reads_in_order_with_scoped_headers_and_lists_exactly_the_follow_up_children()
 {
    let (w, _) = played_out().await;
    w.text_in("07700900002", "Please phone me instead").await;
    let report = w.report().await;
    let files = w.report_files().await;
    // To look at the page in a browser: SAIS_REPORTS_DIR=/tmp/reports cargo test … reports::
    if let Ok(dir) = std::env::var("SAIS_REPORTS_DIR") {
        for (key, body) in &files {
            let path = std::path::Path::new(&dir).join(key);
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
            std::fs::write(path, body).expect("written");
        }
    }
    let page = &files[&format!("{TEAM}/reports/campaigns/{CAMPAIGN}.html")];
    let html = Html::parse_document(page);
    let root = html.root_element();
    assert_eq!(root.value().attr("lang"), Some("en"));

    // Headings: one h1, first; no level skipped; the follow-up list is the first section.
    let headings: Vec<(u8, String)> = html
        .select(&sel("h1, h2, h3, h4, h5, h6"))
        .map(|h| (h.value().name()[1..].parse().unwrap(), text_of(h)))
        .collect();
    assert_eq!(headings[0].0, 1, "{headings:?}");
    assert_eq!(headings.iter().filter(|(l, _)| *l == 1).count(), 1);
    for pair in headings.windows(2) {
        assert!(pair[1].0 <= pair[0].0 + 1, "a level skipped: {headings:?}");
    }
    let h2: Vec<&str> = headings
        .iter()
        .filter(|(l, _)| *l == 2)
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        h2,
        [
            "Children to follow up: 2",
            "Consent progress",
            "Parents' replies: 1",
            "What was sent",
            "Files beside this page"
        ]
    );

    // Every header cell says what it heads; every table has a caption.
    for th in html.select(&sel("th")) {
        assert!(
            matches!(th.value().attr("scope"), Some("col" | "row")),
            "a header without scope: {}",
            th.html()
        );
    }
    for table in html.select(&sel("table")) {
        assert!(
            table.select(&sel("caption")).next().is_some(),
            "{:?}",
            table.value().attr("id")
        );
    }

    // The follow-up table's rows are exactly the follow-up children, with their details.
    let rows: Vec<ElementRef<'_>> = html.select(&sel("#follow-up-list tbody tr")).collect();
    let ids: BTreeSet<&str> = rows
        .iter()
        .map(|r| r.value().attr("data-child-id").expect("child id"))
        .collect();
    let expected: BTreeSet<&str> = report
        .follow_up
        .iter()
        .map(|e| e.child_id.as_str())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(rows.len(), 2);
    let first: Vec<String> = rows[0].select(&sel("th, td")).map(text_of).collect();
    assert!(first[0].starts_with("Rae Restricted"), "{first:?}");
    assert_eq!(&first[1..4], ["2 January 2013", "123456", "Year 8"]);
    assert!(
        first[4].contains(reason_in_words("restricted_no_letter")),
        "the reason in words: {}",
        first[4]
    );
    assert!(first[5].contains("Consent request by text"), "{}", first[5]);

    // The chart, with its numbers also as a table of every day.
    let chart = html
        .select(&sel("figure svg[role=img]"))
        .next()
        .expect("the chart");
    assert!(chart.select(&sel("title")).next().is_some());
    let days: Vec<Vec<String>> = html
        .select(&sel("#progress-by-day tbody tr"))
        .map(|r| r.select(&sel("th, td")).map(text_of).collect())
        .collect();
    // Every day something happened (the chart's other days are all zeros, and said to be).
    let by_day: Vec<_> = report
        .summary
        .consent_progress
        .by_day
        .iter()
        .filter(|d| d.messages_sent + d.answers_received > 0)
        .collect();
    assert!(!by_day.is_empty());
    assert_eq!(days.len(), by_day.len());
    for (row, day) in days.iter().zip(by_day) {
        assert_eq!(
            (row[1].as_str(), row[2].as_str()),
            (
                day.messages_sent.to_string().as_str(),
                day.answers_received.to_string().as_str()
            )
        );
    }
    let schools: Vec<String> = html
        .select(&sel("#progress-by-school tbody tr th"))
        .map(text_of)
        .collect();
    assert_eq!(schools, ["123456", "123456", "654321"]);

    // The reply, in its section.
    let replies: Vec<String> = html
        .select(&sel("#replies tbody tr"))
        .map(text_of)
        .collect();
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].contains("Please phone me instead") && replies[0].contains("Rae Restricted")
    );

    // Printable, self-contained, and nothing runs.
    let style: String = html.select(&sel("style")).map(text_of).collect();
    assert!(style.contains("@media print"));
    assert!(
        html.select(&sel("script, link, img, iframe, object"))
            .next()
            .is_none()
    );
    assert!(html.select(&sel("[src], [href]")).next().is_none());
}

#[tokio::test]
async fn an_erasure_whose_reports_cannot_be_rewritten_is_retried_until_they_are() {
    let stack = LocalStack::isolated().await.expect("local stack");
    let csv = format!(
        "{HEADER}\nSam,Sibling,2013-02-01,9990000093,8,1 Road,,Leeds,LS1 1AA,123456,,Sue Sibling,,07700900109,text\n"
    );
    e2e::upload_and_ingest(&stack, &format!("{TEAM}/cohort/cohort.csv"), csv).await;
    let old_day = format!("{TEAM}/reports/replies/2025-01-06.csv");
    stack
        .upload(
            &old_day,
            b"RECEIVED_AT,FROM,MESSAGE\n2025-01-06T09:00:00Z,'+447700900109,Ring me\n".to_vec(),
        )
        .await
        .expect("old file");
    let key = format!("{TEAM}/objections/harm.csv");
    let object = stack
        .upload(
            &key,
            b"CHILD_NHS_NUMBER,PARENT_PHONE,SCOPE,REASON,RECORDED_BY,SERIOUS_HARM\n\
              9990000093,07700 900109,text,Safeguarding,Safeguarding lead,Y\n"
                .to_vec(),
        )
        .await
        .expect("objections file");

    // S3 unreachable for the reports (the erasure's table steps succeed).
    let unreachable = aws_sdk_s3::Client::from_conf(
        stack
            .clients
            .s3
            .config()
            .to_builder()
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    let failing = stack
        .ingest()
        .with_report_rewrites(unreachable, stack.bucket());
    let error = failing
        .ingest_object(&object)
        .await
        .expect_err("the upload fails, to be retried");
    assert!(error.to_string().contains("report"), "{error}");
    assert_eq!(
        e2e::report_of(&stack, &key).await,
        serde_json::Value::Null,
        "not reported done while a report still holds the number"
    );
    assert!(e2e::read_object(&stack, &old_day).await.is_some());
    let sar = sais_shared::sar::export(
        &stack.store(),
        &team(),
        &sais_shared::sar::Subject::NhsNumber(
            sais_shared::domain::NhsNumber::parse("9990000093").expect("NHS number"),
        ),
    )
    .await
    .expect("sar");
    assert!(
        !sar.to_string().contains("7700900109"),
        "the records were erased first, so nothing is sent to it meanwhile"
    );

    // SQS delivers the notification again: the erasure runs again and finishes.
    stack.ingest().ingest_object(&object).await.expect("retry");
    assert_eq!(e2e::report_of(&stack, &key).await["status"], "imported");
    assert_eq!(e2e::read_object(&stack, &old_day).await, None);
}

/// The `sais:kind` tag of every current file under the team's `reports/campaigns/` and
/// `reports/replies/`, by key.
async fn report_tags(stack: &LocalStack) -> BTreeMap<String, String> {
    let s3 = &stack.clients.s3;
    let mut tags = BTreeMap::new();
    for folder in ["campaigns", "replies"] {
        let listed = s3
            .list_objects_v2()
            .bucket(stack.bucket())
            .prefix(format!("{TEAM}/reports/{folder}/"))
            .send()
            .await
            .expect("list");
        for object in listed.contents() {
            let key = object.key().expect("key");
            let tagging = s3
                .get_object_tagging()
                .bucket(stack.bucket())
                .key(key)
                .send()
                .await
                .expect("tags");
            let kind = tagging
                .tag_set()
                .iter()
                .find(|t| t.key() == "sais:kind")
                .map(|t| t.value().to_owned())
                .unwrap_or_default();
            tags.insert(key.to_owned(), kind);
        }
    }
    tags
}

#[tokio::test]
async fn every_report_is_tagged_to_be_deleted_when_the_teams_records_would_be() {
    let w = world(&[FAMILIES[2]]).await;
    w.text_in("07700900134", "Thanks, see you then").await;
    w.report().await;
    let tags = report_tags(&w.stack).await;
    assert_eq!(
        tags.len(),
        5,
        "four campaign files and the day's replies: {tags:?}"
    );
    assert!(
        tags.values().all(|t| t == "report-365d"),
        "records kept 400 days by default: deleted by the year's rule, {tags:?}"
    );

    let key = format!("{TEAM}/team.json");
    e2e::upload_and_ingest(
        &w.stack,
        &key,
        r#"{"name": "Leeds SAIS", "retention": {"records_days": 100}}"#.to_owned(),
    )
    .await;
    assert_eq!(e2e::report_of(&w.stack, &key).await["status"], "imported");
    w.report().await;
    let tags = report_tags(&w.stack).await;
    assert!(
        tags.values().all(|t| t == "report-90d"),
        "records kept 100 days: never kept longer, {tags:?}"
    );
}

#[test]
fn the_template_deletes_reports_at_every_period_they_are_tagged_with() {
    let template = std::fs::read_to_string(format!(
        "{}/../infra/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("template");
    for days in campaign_report::REPORT_EXPIRY_PERIODS {
        let rule = format!("Value: report-{days}d\n            ExpirationInDays: {days}\n");
        assert!(
            template.contains(&rule),
            "no 'delete reports after {days} days' rule"
        );
    }
    // records_days is 30 to 3650 (team.json).
    for days in [30, 31, 59, 60, 100, 364, 365, 400, 3650] {
        let value = campaign_report::report_expiry_tag_value(days);
        let period: u32 = value
            .trim_start_matches("report-")
            .trim_end_matches('d')
            .parse()
            .expect("days");
        assert!(
            period <= days,
            "{days} days → {value}: kept longer than the records"
        );
        assert!(
            campaign_report::REPORT_EXPIRY_PERIODS.contains(&period),
            "{value} has no rule"
        );
    }
}

#[tokio::test]
async fn a_team_with_no_campaign_running_today_still_has_its_parents_replies_written() {
    let w = world(&[
        "Ben,Reached,2013-01-03,9990000034,9,3 Open Street,,Leeds,LS1 1AA,123456,,Bob Reached,bob@example.com,07700900134,email",
    ])
    .await;
    w.text_in("07700900134", "We've moved to Bristol, Ben has left")
        .await;
    let publisher = campaign_report::ReportPublisher::new(
        w.stack.store(),
        w.stack.clients.s3.clone(),
        w.stack.bucket(),
    );

    // No campaign of the team ran today (between campaigns): its replies are written anyway.
    let reports = publisher.after_daily_run(&[]).await;
    assert_eq!(
        (
            reports.campaigns,
            reports.replies_only_teams,
            reports.failed
        ),
        (0, 1, 0),
        "{reports:?}"
    );
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let files = w.report_files().await;
    let key = format!("{TEAM}/reports/replies/{today}.csv");
    let rows = csv_rows(
        files
            .get(&key)
            .unwrap_or_else(|| panic!("{key} in {:?}", files.keys())),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["MESSAGE"], "We've moved to Bristol, Ben has left");
    assert!(
        rows[0]["CHILDREN"].starts_with("Ben Reached"),
        "{}",
        rows[0]["CHILDREN"]
    );
    assert!(
        !files.keys().any(|k| k.contains("/reports/campaigns/")),
        "no campaign report for a campaign that did not run"
    );
    assert_eq!(report_tags(&w.stack).await[&key], "report-365d");

    // The day the campaign runs: its report, with the same replies, and nothing twice.
    let reports = publisher
        .after_daily_run(&[(TEAM.to_owned(), CAMPAIGN.to_owned())])
        .await;
    assert_eq!(
        (
            reports.campaigns,
            reports.replies_only_teams,
            reports.failed
        ),
        (1, 0, 0),
        "{reports:?}"
    );
    let files = w.report_files().await;
    assert!(files.contains_key(&format!("{TEAM}/reports/campaigns/{CAMPAIGN}.html")));
    assert_eq!(csv_rows(&files[&key]), rows);
}
