//! The one clock: every "now" and "today" the service judges by — dates in files, leases, TTLs,
//! retention, the schedule, retries — is read from a [`Clock`].
//!
//! In AWS it is the system clock. A local run that rehearses a campaign's days (`sais demo`,
//! the chaos suite) moves its one clock, and everything that clock reaches sees the same
//! simulated day; a unit test holds a fixed clock and moves it by hand. Two things are real
//! time by nature and do not read it: the pacer (a rate measured against Notify's own clock)
//! and the age of the Notify API token (Notify checks it against its own clock).
//!
//! A time another system stamped by real time (S3's `LastModified`) is read onto this clock's
//! timeline with [`Clock::stamped`]: the offset in force when it was stamped is added, so a
//! file uploaded on a rehearsed day is that day's upload, and one left while the clock moved
//! on a week is a week old.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime};

/// A clock shared by every clone: the system clock, or a fixed instant, plus an offset that
/// a local run moves.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// A fixed instant (Unix milliseconds) instead of the system clock: tests.
    fixed_ms: Option<i64>,
    /// Milliseconds added to the base.
    offset_ms: AtomicI64,
    /// Each move of a system clock: (real Unix milliseconds when it moved, offset before it).
    moves: Mutex<Vec<(i64, i64)>>,
}

impl Clock {
    /// The system clock (what every Lambda function runs with).
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock standing still at `at` until it is moved.
    pub fn fixed(at: OffsetDateTime) -> Self {
        Self {
            inner: Arc::new(Inner {
                fixed_ms: Some((at.unix_timestamp_nanos() / 1_000_000) as i64),
                offset_ms: AtomicI64::new(0),
                moves: Mutex::default(),
            }),
        }
    }

    fn base_ms(&self) -> i64 {
        self.inner.fixed_ms.unwrap_or_else(|| {
            (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
        })
    }

    /// Now.
    pub fn now(&self) -> OffsetDateTime {
        let ms = self.base_ms() + self.inner.offset_ms.load(Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Today (UTC).
    pub fn today(&self) -> Date {
        self.now().date()
    }

    /// Now, in Unix seconds (leases, TTLs).
    pub fn epoch(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// Now as records and reports write it (RFC 3339, whole seconds).
    pub fn rfc3339(&self) -> String {
        rfc3339(self.now())
    }

    /// Moves the clock on by `by` (a local run letting time pass), for every clone.
    pub fn advance(&self, by: Duration) {
        let mut moves = self.inner.moves.lock().unwrap_or_else(|p| p.into_inner());
        let before = self
            .inner
            .offset_ms
            .fetch_add(by.whole_milliseconds() as i64, Ordering::SeqCst);
        if self.inner.fixed_ms.is_none() {
            moves.push((self.base_ms(), before));
        }
    }

    /// `real_epoch` (Unix seconds, stamped by another system's real clock) on this clock's
    /// timeline: plus the offset this clock had at that real instant. The identity for the
    /// system clock in AWS, which never moves; a fixed clock has no real instants to map.
    pub fn stamped(&self, real_epoch: i64) -> i64 {
        if self.inner.fixed_ms.is_some() {
            return real_epoch;
        }
        // Stamps are whole seconds: one in the second the clock moved counts as after it.
        let moves = self.inner.moves.lock().unwrap_or_else(|p| p.into_inner());
        let offset = moves
            .iter()
            .find(|(moved_at, _)| real_epoch < moved_at.div_euclid(1000))
            .map_or_else(
                || self.inner.offset_ms.load(Ordering::SeqCst),
                |(_, before)| *before,
            );
        real_epoch + offset / 1000
    }

    /// Moves the clock to the same time of day on `date` (a rehearsal's simulated day).
    pub fn set_date(&self, date: Date) {
        let days = (date - self.today()).whole_days();
        self.advance(Duration::days(days));
    }

    /// Moves the clock to 07:00 UTC on `date`, when the daily run runs: a rehearsal's first
    /// day starts there whatever the hour it is run at, so its retries and leases never carry
    /// a day's work past midnight into the next (as starting at 23:50 would).
    pub fn start_day(&self, date: Date) {
        let at = date.with_time(time::macros::time!(07:00)).assume_utc();
        self.advance(at - self.now());
    }
}

/// `t` as records and reports write it (RFC 3339, whole seconds).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_rehearsal_run_just_before_midnight_starts_its_first_day_in_the_morning() {
        let clock = Clock::fixed(datetime!(2026-12-04 23:55 UTC));
        clock.start_day(time::macros::date!(2027 - 01 - 12));
        assert_eq!(clock.rfc3339(), "2027-01-12T07:00:00Z");
        clock.set_date(time::macros::date!(2027 - 01 - 13));
        assert_eq!(
            clock.rfc3339(),
            "2027-01-13T07:00:00Z",
            "later days keep the hour"
        );
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told_and_every_clone_sees_it() {
        let clock = Clock::fixed(datetime!(2027-03-01 09:30 UTC));
        let other = clock.clone();
        assert_eq!(clock.rfc3339(), "2027-03-01T09:30:00Z");
        clock.advance(Duration::minutes(6));
        assert_eq!(
            other.epoch(),
            datetime!(2027-03-01 09:36 UTC).unix_timestamp()
        );
        other.set_date(time::macros::date!(2027 - 03 - 05));
        assert_eq!(clock.now(), datetime!(2027-03-05 09:36 UTC));
    }

    /// Waits for the real second to turn, so a whole-second stamp is before what follows.
    fn next_second() {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        while OffsetDateTime::now_utc().unix_timestamp() == now {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn a_real_stamp_takes_the_offset_the_clock_had_when_it_was_made() {
        let clock = Clock::system();
        let real = OffsetDateTime::now_utc().unix_timestamp();
        assert_eq!(clock.stamped(real), real, "an unmoved clock is real time");
        clock.advance(Duration::days(30));
        let uploaded = OffsetDateTime::now_utc().unix_timestamp();
        // Stamped after the move: that day's upload, not a month old.
        assert!((clock.stamped(uploaded) - clock.epoch()).abs() <= 2);
        next_second();
        clock.advance(Duration::days(8));
        assert!(
            (clock.epoch() - clock.stamped(uploaded) - 8 * 86_400).abs() <= 2,
            "left while the clock moved on eight days, it is eight days old"
        );
        // Stamped before any move: the real time it was.
        assert_eq!(clock.stamped(real - 60), real - 60);
    }

    #[test]
    fn the_system_clock_follows_real_time_plus_its_offset() {
        let clock = Clock::system();
        let real = OffsetDateTime::now_utc().date();
        clock.set_date(real + Duration::days(5));
        assert!(clock.today() >= real + Duration::days(5));
        assert!(clock.today() <= real + Duration::days(6));
    }
}
