//! The daily schedule (product.md, flow 2): what a campaign sends on a given date.
//!
//! Pure date logic, so it is tested without AWS; `schedule::run` (in [`runner`]) turns it into
//! send jobs for the children in the campaign.

pub mod runner;

use time::{Date, Duration};

use crate::campaign::Campaign;
pub use crate::campaign::CampaignDates;
use crate::policy::Purpose;

/// One thing a campaign sends on a date, to every child it is due for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occasion {
    /// Why.
    pub purpose: Purpose,
    /// Which time this purpose is being sent (see `SendJob::occasion`): `None` for the consent
    /// request (one per campaign), the reminder's date for a consent reminder, the session's
    /// date for a session reminder.
    pub occasion: Option<String>,
    /// Whether this is the consent request still owed to children added since it went out
    /// (a new cohort or class list after the request day).
    pub catch_up: bool,
}

impl Occasion {
    /// The key of this occasion's run record: the purpose and the occasion, if any.
    pub fn run_key(&self) -> String {
        match &self.occasion {
            Some(on) => format!("{}#{on}", self.purpose.as_str()),
            None => self.purpose.as_str().to_owned(),
        }
    }
}

/// What an invocation of the reminders function asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemindersTask {
    /// The daily run (Scheduler, 07:00 Europe/London): every active campaign, for that day.
    Daily {
        /// The day, from the event's time. At 07:00 in London the UTC date is the UK date
        /// (London is UTC or UTC+1), so no time-zone database is needed.
        date: Date,
    },
    /// The hourly run: retries that have come due and letters whose status to poll.
    DueWork,
    /// By hand: one campaign for one date (a missed day, or a rehearsal).
    Campaign {
        /// The team.
        team: String,
        /// The campaign.
        campaign_id: String,
        /// The day to run for.
        date: Date,
    },
}

impl RemindersTask {
    /// Reads the invocation's payload: a Scheduler event (`detail.task` = `due-work` for the
    /// hourly run) or `{"team", "campaign_id", "date"}` by hand. The error says what is wrong.
    pub fn from_event(event: &serde_json::Value) -> Result<Self, String> {
        let format = time::format_description::well_known::Iso8601::DATE;
        if let Some(team) = event.get("team") {
            let field = |name: &str| {
                event
                    .get(name)
                    .and_then(|v| v.as_str())
                    .ok_or(format!("a manual run needs \"{name}\" as a string"))
            };
            let date = field("date")?;
            return Ok(Self::Campaign {
                team: team.as_str().ok_or("\"team\" must be a string")?.to_owned(),
                campaign_id: field("campaign_id")?.to_owned(),
                date: Date::parse(date, &format)
                    .map_err(|_| "\"date\" must be a date such as 2026-11-12".to_owned())?,
            });
        }
        if event.get("detail-type").and_then(|v| v.as_str()) != Some("Scheduled Event") {
            return Err(
                "expected a Scheduler event or {\"team\", \"campaign_id\", \"date\"}".into(),
            );
        }
        if event.pointer("/detail/task").and_then(|v| v.as_str()) == Some("due-work") {
            return Ok(Self::DueWork);
        }
        let time = event
            .get("time")
            .and_then(|v| v.as_str())
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .ok_or("the Scheduler event has no valid \"time\"")?;
        Ok(Self::Daily { date: time.date() })
    }
}

/// What `campaign` sends on `date`, in the order it should go: the request (or its catch-up
/// for children added since), reminders, then session reminders.
pub fn due_on(campaign: &Campaign, date: Date) -> Vec<Occasion> {
    let Some(dates) = CampaignDates::of(campaign) else {
        return Vec::new();
    };
    let mut due = Vec::new();
    // The request goes on its day; on every later day up to the deadline it goes to children
    // who were not in the files on the request day (the run record knows which were).
    if date >= dates.requests_on && date <= dates.deadline {
        due.push(Occasion {
            purpose: Purpose::ConsentRequest,
            occasion: None,
            catch_up: date > dates.requests_on,
        });
    }
    if dates.reminders.contains(&date) {
        due.push(Occasion {
            purpose: Purpose::ConsentReminder,
            occasion: Some(date.to_string()),
            catch_up: false,
        });
    }
    if campaign.session_reminder {
        for session in &dates.sessions {
            if *session - Duration::days(1) == date {
                due.push(Occasion {
                    purpose: Purpose::SessionReminder,
                    occasion: Some(session.to_string()),
                    catch_up: false,
                });
            }
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn campaign(sessions: &[Date]) -> Campaign {
        serde_json::from_value(serde_json::json!({
            "id": "c",
            "programme": "hpv",
            "schools": ["123456"],
            "sessions": sessions.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "templates": {},
        }))
        .expect("a valid campaign")
    }

    fn purposes(c: &Campaign, d: Date) -> Vec<(Purpose, Option<String>, bool)> {
        due_on(c, d)
            .into_iter()
            .map(|o| (o.purpose, o.occasion, o.catch_up))
            .collect()
    }

    #[test]
    fn defaults_count_from_the_first_session() {
        let c = campaign(&[date!(2026 - 12 - 03)]);
        let d = CampaignDates::of(&c).unwrap();
        assert_eq!(d.requests_on, date!(2026 - 11 - 12), "21 days before");
        assert_eq!(d.deadline, date!(2026 - 12 - 02), "the day before");
        assert_eq!(
            d.reminders,
            [date!(2026 - 11 - 25)],
            "7 days before the deadline"
        );
    }

    #[test]
    fn the_request_goes_on_its_day_and_catches_up_until_the_deadline() {
        let c = campaign(&[date!(2026 - 12 - 03)]);
        assert!(purposes(&c, date!(2026 - 11 - 11)).is_empty(), "not before");
        assert_eq!(
            purposes(&c, date!(2026 - 11 - 12)),
            [(Purpose::ConsentRequest, None, false)]
        );
        assert_eq!(
            purposes(&c, date!(2026 - 11 - 20)),
            [(Purpose::ConsentRequest, None, true)]
        );
        assert_eq!(
            purposes(&c, date!(2026 - 12 - 02)),
            [
                (Purpose::ConsentRequest, None, true),
                (Purpose::SessionReminder, Some("2026-12-03".into()), false)
            ]
        );
        assert!(
            !purposes(&c, date!(2026 - 12 - 03))
                .iter()
                .any(|p| p.0 == Purpose::ConsentRequest),
            "nothing asks for consent after the deadline"
        );
    }

    #[test]
    fn each_reminder_day_is_its_own_occasion() {
        let mut c = campaign(&[date!(2026 - 12 - 03)]);
        c.reminder_days_before_deadline = vec![3, 7];
        let reminders = |d| {
            purposes(&c, d)
                .into_iter()
                .filter(|p| p.0 == Purpose::ConsentReminder)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            reminders(date!(2026 - 11 - 25)),
            [(Purpose::ConsentReminder, Some("2026-11-25".into()), false)]
        );
        assert_eq!(
            reminders(date!(2026 - 11 - 29)),
            [(Purpose::ConsentReminder, Some("2026-11-29".into()), false)]
        );
        assert!(reminders(date!(2026 - 11 - 26)).is_empty());
    }

    #[test]
    fn a_reminder_that_would_fall_on_or_before_the_request_day_is_dropped() {
        let mut c = campaign(&[date!(2026 - 12 - 03)]);
        c.send_requests_on = Some(date!(2026 - 11 - 28));
        c.reminder_days_before_deadline = vec![4, 7, 30];
        let d = CampaignDates::of(&c).unwrap();
        assert_eq!(
            d.reminders,
            Vec::<Date>::new(),
            "4 days before is the request day itself; 7 and 30 are earlier"
        );
        c.reminder_days_before_deadline = vec![0, 2];
        let d = CampaignDates::of(&c).unwrap();
        assert_eq!(d.reminders, [date!(2026 - 11 - 30), date!(2026 - 12 - 02)]);
    }

    #[test]
    fn several_sessions_each_get_a_reminder_the_day_before() {
        let c = campaign(&[
            date!(2026 - 12 - 10),
            date!(2026 - 12 - 03),
            date!(2026 - 12 - 10),
        ]);
        let d = CampaignDates::of(&c).unwrap();
        assert_eq!(d.sessions, [date!(2026 - 12 - 03), date!(2026 - 12 - 10)]);
        assert_eq!(
            d.requests_on,
            date!(2026 - 11 - 12),
            "from the earliest session"
        );
        assert_eq!(
            purposes(&c, date!(2026 - 12 - 09)),
            [(Purpose::SessionReminder, Some("2026-12-10".into()), false)]
        );
        assert_eq!(d.last_send_day(), date!(2026 - 12 - 09));
    }

    #[test]
    fn no_session_reminders_when_the_campaign_turns_them_off() {
        let mut c = campaign(&[date!(2026 - 12 - 03)]);
        c.session_reminder = false;
        assert!(
            !purposes(&c, date!(2026 - 12 - 02))
                .iter()
                .any(|p| p.0 == Purpose::SessionReminder)
        );
    }

    #[test]
    fn a_january_session_counts_back_across_the_christmas_holiday_and_the_year_end() {
        // Term starts early January: the defaults land in the previous calendar year.
        let c = campaign(&[date!(2027 - 01 - 06)]);
        let d = CampaignDates::of(&c).unwrap();
        assert_eq!(d.requests_on, date!(2026 - 12 - 16));
        assert_eq!(d.deadline, date!(2027 - 01 - 05));
        assert_eq!(d.reminders, [date!(2026 - 12 - 29)]);
        assert_eq!(
            purposes(&c, date!(2026 - 12 - 29)),
            [
                (Purpose::ConsentRequest, None, true),
                (Purpose::ConsentReminder, Some("2026-12-29".into()), false)
            ]
        );
    }

    #[test]
    fn explicit_dates_win_over_the_defaults() {
        let mut c = campaign(&[date!(2026 - 12 - 03)]);
        c.send_requests_on = Some(date!(2026 - 11 - 02));
        c.consent_deadline = Some(date!(2026 - 11 - 30));
        let d = CampaignDates::of(&c).unwrap();
        assert_eq!(
            (d.requests_on, d.deadline, d.reminders.clone()),
            (
                date!(2026 - 11 - 02),
                date!(2026 - 11 - 30),
                vec![date!(2026 - 11 - 23)]
            )
        );
    }

    #[test]
    fn the_sample_events_read_as_the_runs_they_ask_for() {
        let read = |path: &str| {
            let text =
                std::fs::read_to_string(format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR")))
                    .expect("sample event");
            RemindersTask::from_event(&serde_json::from_str(&text).unwrap())
        };
        assert_eq!(
            read("reminders-scheduled.json"),
            Ok(RemindersTask::Daily {
                date: date!(2026 - 11 - 12)
            })
        );
        assert_eq!(
            read("reminders-manual.json"),
            Ok(RemindersTask::Campaign {
                team: "RYG-sais".into(),
                campaign_id: "hpv-2026-autumn".into(),
                date: date!(2026 - 11 - 12)
            })
        );
        assert_eq!(read("reminders-hourly.json"), Ok(RemindersTask::DueWork));
        let bad = RemindersTask::from_event(
            &serde_json::json!({"team": "RYG-sais", "campaign_id": "x", "date": "12/11/2026"}),
        );
        assert_eq!(
            bad,
            Err("\"date\" must be a date such as 2026-11-12".into())
        );
        assert!(RemindersTask::from_event(&serde_json::json!({"hello": 1})).is_err());
    }

    #[test]
    fn the_same_date_always_gives_the_same_occasions() {
        // Re-runs on the same day ask for the same messages, so their ids are the same.
        let c = campaign(&[date!(2026 - 12 - 03)]);
        assert_eq!(
            due_on(&c, date!(2026 - 11 - 25)),
            due_on(&c, date!(2026 - 11 - 25))
        );
    }
}
