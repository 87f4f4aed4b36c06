//! The Notify client against the Notify simulator, spawned in-process on a free port per test:
//! sends, read-backs, Notify's refusals mapped to what the dispatcher does, and the timeout
//! after creation that the dispatcher reconciles by reference.

use std::time::{Duration, Instant};

use notify_sim::{Config, SimHandle};
use sais_shared::notify::{
    ApiKey, EmailRequest, ErrorType, LetterRequest, NotificationType, NotifyClient, NotifyError,
    Personalisation, SenderAction, SmsRequest, Status,
};
use serde_json::json;

const SERVICE_ID: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";
const OTHER_SECRET: &str = "0c2b8a39-39f2-4d1b-9a0e-5a2b9a6f3c11";
const TEMPLATE: &str = "f33517ff-2a88-4f6e-b855-c550268ce08a";

fn api_key(secret: &str) -> String {
    format!("sais-e2e-test-{SERVICE_ID}-{secret}")
}

async fn sim_with(adjust: impl FnOnce(&mut Config)) -> SimHandle {
    let mut config = Config::new(api_key(SECRET));
    config.callback_delay = Duration::from_millis(100);
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    notify_sim::spawn(config, listener).await.expect("spawn")
}

async fn sim() -> SimHandle {
    sim_with(|_| {}).await
}

fn client_with(sim: &SimHandle, secret: &str, timeout: Duration) -> NotifyClient {
    let key = ApiKey::parse(&api_key(secret)).expect("key");
    NotifyClient::new(&sim.base_url(), key, timeout).expect("client")
}

fn client(sim: &SimHandle) -> NotifyClient {
    client_with(sim, SECRET, Duration::from_secs(5))
}

fn personalisation() -> Personalisation {
    [("child_name".to_owned(), "Sam".to_owned())].into()
}

fn email(to: &str, reference: &str) -> EmailRequest {
    EmailRequest {
        email_address: to.into(),
        template_id: TEMPLATE.parse().unwrap(),
        personalisation: personalisation(),
        reference: reference.into(),
        email_reply_to_id: None,
    }
}

fn sms(to: &str, reference: &str) -> SmsRequest {
    SmsRequest {
        phone_number: to.into(),
        template_id: TEMPLATE.parse().unwrap(),
        personalisation: personalisation(),
        reference: reference.into(),
        sms_sender_id: None,
    }
}

fn letter(address: &[&str], reference: &str) -> LetterRequest {
    LetterRequest {
        template_id: TEMPLATE.parse().unwrap(),
        address: address.iter().map(|l| (*l).to_owned()).collect(),
        postcode: None,
        personalisation: personalisation(),
        reference: reference.into(),
    }
}

/// Queues a simulator fault for the next send.
async fn inject_fault(sim: &SimHandle, fault: serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_sim/faults", sim.base_url()))
        .json(&fault)
        .send()
        .await
        .expect("fault request");
    assert!(response.status().is_success(), "fault queued");
}

fn api_parts(err: &NotifyError) -> (u16, &ErrorType, &str) {
    match err {
        NotifyError::Api {
            status,
            error,
            message,
            ..
        } => (*status, error, message),
        other => panic!("expected an answer from Notify, got {other:?}"),
    }
}

#[tokio::test]
async fn an_email_is_accepted_and_echoes_its_reference() {
    let sim = sim().await;
    let sent = client(&sim)
        .send_email(&email("parent@example.com", "send-1"))
        .await
        .expect("sent");
    assert_eq!(sent.reference.as_deref(), Some("send-1"));
    assert_eq!(sent.template_id.to_string(), TEMPLATE);
    assert_eq!(sent.template_version, 1);
    let received = sim.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, sent.id);
    assert_eq!(received[0].to, "parent@example.com");
    assert_eq!(received[0].personalisation, json!({"child_name": "Sam"}));
}

#[tokio::test]
async fn a_text_is_accepted_and_echoes_its_reference() {
    let sim = sim().await;
    let sent = client(&sim)
        .send_sms(&sms("07700 900123", "send-2"))
        .await
        .expect("sent");
    assert_eq!(sent.reference.as_deref(), Some("send-2"));
    let received = sim.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, sent.id);
    assert_eq!(
        received[0].notification_type,
        notify_sim::NotificationType::Sms
    );
}

#[tokio::test]
async fn a_letter_is_accepted_with_its_address_in_the_personalisation() {
    let sim = sim().await;
    let mut request = letter(&["A Parent", "1 High Street", "Leeds"], "send-3");
    request.postcode = Some("LS1 4AP".into());
    let sent = client(&sim).send_letter(&request).await.expect("sent");
    assert_eq!(sent.reference.as_deref(), Some("send-3"));
    let received = sim.received();
    assert_eq!(received[0].id, sent.id);
    assert_eq!(
        received[0].personalisation,
        json!({"child_name": "Sam", "address_line_1": "A Parent",
               "address_line_2": "1 High Street", "address_line_3": "Leeds",
               "postcode": "LS1 4AP"})
    );
}

#[tokio::test]
async fn a_sent_email_reads_back_by_id_and_reaches_delivered() {
    let sim = sim().await;
    let client = client(&sim);
    let sent = client
        .send_email(&email("parent@example.com", "send-4"))
        .await
        .expect("sent");

    let first = client.get_notification(sent.id).await.expect("read back");
    assert_eq!(first.id, sent.id);
    assert_eq!(first.reference.as_deref(), Some("send-4"));
    assert_eq!(first.notification_type, NotificationType::Email);
    assert_eq!(first.template_id.to_string(), TEMPLATE);
    assert!(matches!(first.status, Status::Created | Status::Sending));
    assert_eq!(first.completed_at, None);

    let deadline = Instant::now() + Duration::from_secs(5);
    let last = loop {
        let now = client.get_notification(sent.id).await.expect("read back");
        if now.status.is_final() || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(last.status, Status::Delivered);
    assert!(last.status.supersedes(&first.status));
    assert!(last.completed_at.is_some());
}

#[tokio::test]
async fn a_sent_letter_reads_back_as_accepted() {
    let sim = sim().await;
    let client = client(&sim);
    let sent = client
        .send_letter(&letter(&["A Parent", "1 High Street", "LS1 4AP"], "send-5"))
        .await
        .expect("sent");
    let read = client.get_notification(sent.id).await.expect("read back");
    assert_eq!(read.notification_type, NotificationType::Letter);
    assert_eq!(read.status, Status::Accepted);
}

#[tokio::test]
async fn an_unknown_id_is_not_found() {
    let sim = sim().await;
    let err = client(&sim)
        .get_notification("740e5834-3a29-46b4-9a6f-16142fde533a".parse().unwrap())
        .await
        .expect_err("no such notification");
    assert!(err.is_not_found());
    assert_eq!(err.error_type(), Some(&ErrorType::NoResultFound));
}

#[tokio::test]
async fn find_by_reference_returns_every_notification_with_that_reference_newest_first() {
    let sim = sim().await;
    let client = client(&sim);
    let first = client
        .send_email(&email("parent@example.com", "shared-ref"))
        .await
        .expect("sent");
    let second = client
        .send_sms(&sms("07700900123", "shared-ref"))
        .await
        .expect("sent");
    client
        .send_email(&email("other@example.com", "other-ref"))
        .await
        .expect("sent");

    let found = client
        .find_by_reference("shared-ref")
        .await
        .expect("listed");
    let ids: Vec<_> = found.iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![second.id, first.id]);
    assert_eq!(found[0].notification_type, NotificationType::Sms);
    assert!(
        found
            .iter()
            .all(|n| n.reference.as_deref() == Some("shared-ref"))
    );
}

#[tokio::test]
async fn a_reference_with_spaces_and_symbols_is_found_exactly() {
    let sim = sim().await;
    let client = client(&sim);
    let reference = "campaign 7/child&parent=1+2";
    let sent = client
        .send_email(&email("parent@example.com", reference))
        .await
        .expect("sent");
    let found = client.find_by_reference(reference).await.expect("listed");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, sent.id);
}

#[tokio::test]
async fn a_reference_that_matches_nothing_finds_nothing() {
    let sim = sim().await;
    let client = client(&sim);
    client
        .send_email(&email("parent@example.com", "send-6"))
        .await
        .expect("sent");
    let found = client
        .find_by_reference("never-sent")
        .await
        .expect("listed");
    assert!(found.is_empty());
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_to_alarm_on_not_to_drop() {
    let sim = sim().await;
    let err = client_with(&sim, OTHER_SECRET, Duration::from_secs(5))
        .send_email(&email("parent@example.com", "send-7"))
        .await
        .expect_err("refused");
    let (status, error, _) = api_parts(&err);
    assert_eq!(status, 403);
    assert_eq!(error, &ErrorType::AuthError);
    assert_eq!(err.action(), SenderAction::ConfigurationError);
    assert!(!err.may_have_been_created());
    assert!(sim.received().is_empty());
}

#[tokio::test]
async fn a_malformed_mobile_number_is_permanent_for_that_recipient() {
    let sim = sim().await;
    let err = client(&sim)
        .send_sms(&sms("07700 90012", "send-8"))
        .await
        .expect_err("refused");
    let (status, error, message) = api_parts(&err);
    assert_eq!((status, error), (400, &ErrorType::ValidationError));
    assert!(
        message.starts_with("phone_number"),
        "message kept for callers"
    );
    assert_eq!(err.action(), SenderAction::PermanentForRecipient);
    // Display is what reaches logs: status and error type only, never what was sent.
    assert_eq!(err.to_string(), "Notify answered 400 ValidationError");
    assert!(!format!("{err:?}").contains("07700"));
}

#[tokio::test]
async fn an_international_number_is_a_configuration_error_whose_type_can_be_logged() {
    let sim = sim().await;
    let err = client(&sim)
        .send_sms(&sms("+33 6 12 34 56 78", "send-9"))
        .await
        .expect_err("refused");
    let (status, error, _) = api_parts(&err);
    assert_eq!((status, error), (400, &ErrorType::BadRequestError));
    assert_eq!(err.action(), SenderAction::ConfigurationError);
    assert_eq!(err.to_string(), "Notify answered 400 BadRequestError");
}

#[tokio::test]
async fn a_two_line_address_is_permanent_for_that_recipient() {
    let sim = sim().await;
    let err = client(&sim)
        .send_letter(&letter(&["A Parent", "LS1 4AP"], "send-10"))
        .await
        .expect_err("refused");
    let (status, error, message) = api_parts(&err);
    assert_eq!((status, error), (400, &ErrorType::ValidationError));
    assert_eq!(message, "Address must be at least 3 lines");
    assert_eq!(err.action(), SenderAction::PermanentForRecipient);
}

#[tokio::test]
async fn an_address_of_more_than_seven_lines_is_never_sent() {
    let sim = sim().await;
    let lines = ["1", "2", "3", "4", "5", "6", "7", "LS1 4AP"];
    let err = client(&sim)
        .send_letter(&letter(&lines, "send-11"))
        .await
        .expect_err("refused");
    assert!(matches!(err, NotifyError::InvalidRequest(_)));
    assert_eq!(err.action(), SenderAction::PermanentForRecipient);
    assert!(!err.may_have_been_created());
    assert!(sim.received().is_empty());
}

#[tokio::test]
async fn exhausting_the_rate_limit_asks_to_retry_later() {
    // Notify's bucket for 60 a minute holds 21 tokens and refuses when fewer than one is left
    // after taking, so a burst of 20 goes through and the 21st is refused.
    let sim = sim_with(|c| c.rate_limit_per_min = 60).await;
    let client = client(&sim);
    let started = Instant::now();
    let mut accepted = 0;
    let err = loop {
        match client
            .send_email(&email("parent@example.com", &format!("burst-{accepted}")))
            .await
        {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted <= 40, "the rate limit never bit");
    };
    // The bucket refills one token a second: only a burst faster than that is exact.
    if started.elapsed() < Duration::from_millis(900) {
        assert_eq!(accepted, 20);
    } else {
        assert!(accepted >= 20);
    }
    let (status, error, _) = api_parts(&err);
    assert_eq!((status, error), (429, &ErrorType::RateLimitError));
    assert_eq!(err.action(), SenderAction::RetryLater);
    assert!(!err.may_have_been_created());
}

#[tokio::test]
async fn exhausting_the_daily_email_limit_holds_until_tomorrow() {
    let sim = sim_with(|c| c.daily_limits.email = 2).await;
    let client = client(&sim);
    for i in 0..2 {
        client
            .send_email(&email("parent@example.com", &format!("daily-{i}")))
            .await
            .expect("within the daily limit");
    }
    let err = client
        .send_email(&email("parent@example.com", "daily-2"))
        .await
        .expect_err("over the daily limit");
    let (status, error, _) = api_parts(&err);
    assert_eq!((status, error), (429, &ErrorType::TooManyRequestsError));
    assert_eq!(err.action(), SenderAction::HoldUntilTomorrow);
    // Texts have their own limit.
    client
        .send_sms(&sms("07700900123", "daily-sms"))
        .await
        .expect("texts still go");
}

#[tokio::test]
async fn a_notify_500_asks_to_retry_later_and_created_nothing() {
    let sim = sim().await;
    inject_fault(&sim, json!({"mode": "error_500"})).await;
    let err = client(&sim)
        .send_email(&email("parent@example.com", "send-12"))
        .await
        .expect_err("Notify fault");
    assert_eq!(api_parts(&err).0, 500);
    assert_eq!(err.action(), SenderAction::RetryLater);
    assert!(sim.received().is_empty());
}

#[tokio::test]
async fn a_send_that_times_out_before_creation_is_a_timeout_and_nothing_exists() {
    let sim = sim().await;
    inject_fault(&sim, json!({"mode": "timeout", "hold_ms": 3000})).await;
    let client = client_with(&sim, SECRET, Duration::from_millis(300));
    let started = Instant::now();
    let err = client
        .send_email(&email("parent@example.com", "send-13"))
        .await
        .expect_err("timed out");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up at the client timeout"
    );
    assert!(matches!(err, NotifyError::Timeout), "got {err:?}");
    assert_eq!(err.action(), SenderAction::RetryLater);
    assert!(err.may_have_been_created());
    assert!(
        client
            .find_by_reference("send-13")
            .await
            .expect("listed")
            .is_empty()
    );
    assert!(sim.received().is_empty());
}

#[tokio::test]
async fn a_timeout_after_creation_is_reconciled_by_reference_to_exactly_one_notification() {
    let sim = sim().await;
    inject_fault(
        &sim,
        json!({"mode": "timeout_after_create", "hold_ms": 3000}),
    )
    .await;
    let client = client_with(&sim, SECRET, Duration::from_millis(300));
    let err = client
        .send_sms(&sms("07700900123", "send-14"))
        .await
        .expect_err("timed out");
    assert!(matches!(err, NotifyError::Timeout), "got {err:?}");
    assert!(err.may_have_been_created());

    // The dispatcher's reconciliation: the send went through, so it must not be sent again.
    let found = client.find_by_reference("send-14").await.expect("listed");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].notification_type, NotificationType::Sms);
    assert_eq!(found[0].id, sim.received()[0].id);
}

#[tokio::test]
async fn a_connection_dropped_mid_request_may_have_created_the_notification() {
    let sim = sim().await;
    inject_fault(&sim, json!({"mode": "timeout_after_create", "hold_ms": 50})).await;
    let client = client(&sim);
    let err = client
        .send_email(&email("parent@example.com", "send-15"))
        .await
        .expect_err("connection closed");
    assert!(matches!(err, NotifyError::Transport(_)), "got {err:?}");
    assert_eq!(err.action(), SenderAction::RetryLater);
    assert!(err.may_have_been_created());
    assert_eq!(
        client
            .find_by_reference("send-15")
            .await
            .expect("listed")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_notify_that_cannot_be_reached_was_never_sent_anything() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let key = ApiKey::parse(&api_key(SECRET)).expect("key");
    let client = NotifyClient::new(&base_url, key, Duration::from_secs(5)).expect("client");
    let err = client
        .send_email(&email("parent@example.com", "send-16"))
        .await
        .expect_err("nothing listening");
    assert!(matches!(err, NotifyError::Transport(_)), "got {err:?}");
    assert_eq!(err.action(), SenderAction::RetryLater);
    assert!(!err.may_have_been_created());
}

#[tokio::test]
async fn a_reference_shared_by_more_than_a_page_of_notifications_is_found_in_full() {
    // Notify lists 250 notifications a page; the rest are behind `links.next`.
    let sim = sim().await;
    let client = client(&sim);
    for _ in 0..260 {
        client
            .send_email(&email("parent@example.com", "busy-ref"))
            .await
            .expect("sent");
    }
    let found = client.find_by_reference("busy-ref").await.expect("listed");
    assert_eq!(found.len(), 260);
    let mut ids: Vec<_> = found.iter().map(|n| n.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 260, "no notification listed twice");
}
