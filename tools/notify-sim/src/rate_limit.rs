//! Notify's limits: the per-key token bucket (notifications-utils' `tally-bucket-rate-limit` Lua
//! script, as called from `check_service_over_api_rate_limit`) and the per-channel daily counts.

use time::Date;

use crate::config::DailyLimits;
use crate::vocab::NotificationType;

/// Notify never lets a bucket hold more than this many tokens (`TOKEN_BUCKET_MAX`).
pub const BUCKET_MAX: i64 = 1000;
/// Tokens never go below this (`TOKEN_BUCKET_MIN`, 0 in notifications-api PR #4539).
pub const BUCKET_MIN: i64 = 0;

/// A token bucket exactly as Notify's Redis script runs it.
///
/// Every request first replenishes whole tokens for the time elapsed, then takes one token
/// (never going below [`BUCKET_MIN`]), and is refused when fewer than one token *remains*.
/// So a full bucket of `capacity` tokens admits `capacity - 1` requests in a burst, and a
/// refused request still spends a token that had just been replenished.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    replenish_per_sec: f64,
    capacity: i64,
    tokens: i64,
    last_replenished: Option<f64>,
}

impl TokenBucket {
    /// A full bucket for a service limit of `limit_per_min` requests per 60 s.
    pub fn new(limit_per_min: u32) -> Self {
        let capacity = ((i64::from(limit_per_min) + 2) / 3 + 1).min(BUCKET_MAX);
        Self {
            replenish_per_sec: f64::from(limit_per_min) / 60.0,
            capacity,
            tokens: capacity,
            last_replenished: None,
        }
    }

    /// The most tokens the bucket holds: `min(ceil(limit / 3) + 1, 1000)`.
    pub fn capacity(&self) -> i64 {
        self.capacity
    }

    /// Spends a token at time `now` (seconds on any monotonic clock); `true` if the request may proceed.
    pub fn try_take(&mut self, now: f64) -> bool {
        let last = *self.last_replenished.get_or_insert(now);
        let elapsed = (now - last).max(0.0);
        let replenishment = (elapsed * self.replenish_per_sec).floor();
        // `as` saturates, and so must the sum: a bucket idle for ages just ends up full.
        self.tokens = self
            .tokens
            .saturating_add(replenishment as i64)
            .min(self.capacity);
        self.tokens = (self.tokens - 1).max(BUCKET_MIN);
        // Credit only the time that bought whole tokens, so fractions carry over (as the script does).
        if self.replenish_per_sec > 0.0 {
            self.last_replenished = Some(last + replenishment / self.replenish_per_sec);
        }
        self.tokens >= 1
    }
}

/// Sends counted per channel for the current UTC day.
#[derive(Debug, Clone, Default)]
pub struct DailyCounter {
    day: Option<Date>,
    email: u32,
    sms: u32,
    letter: u32,
}

impl DailyCounter {
    fn slot(&mut self, kind: NotificationType) -> &mut u32 {
        match kind {
            NotificationType::Email => &mut self.email,
            NotificationType::Sms => &mut self.sms,
            NotificationType::Letter => &mut self.letter,
        }
    }

    fn roll(&mut self, today: Date) {
        if self.day != Some(today) {
            *self = Self {
                day: Some(today),
                ..Self::default()
            };
        }
    }

    /// Whether one more send of `kind` today stays within `limits` (Notify: `count + 1 > limit` refuses).
    pub fn allows(&mut self, kind: NotificationType, limits: &DailyLimits, today: Date) -> bool {
        self.roll(today);
        let limit = limit_for(limits, kind);
        u64::from(*self.slot(kind)) < u64::from(limit)
    }

    /// Counts a created (persisted) notification.
    pub fn record(&mut self, kind: NotificationType, today: Date) {
        self.roll(today);
        let slot = self.slot(kind);
        *slot = slot.saturating_add(1);
    }

    /// How many of `kind` were sent on `today`.
    pub fn count(&mut self, kind: NotificationType, today: Date) -> u32 {
        self.roll(today);
        *self.slot(kind)
    }
}

/// The configured daily limit for a channel.
pub fn limit_for(limits: &DailyLimits, kind: NotificationType) -> u32 {
    match kind {
        NotificationType::Email => limits.email,
        NotificationType::Sms => limits.sms,
        NotificationType::Letter => limits.letter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn admitted(bucket: &mut TokenBucket, at: f64, attempts: usize) -> usize {
        (0..attempts).filter(|_| bucket.try_take(at)).count()
    }

    #[test]
    fn capacity_is_a_third_of_the_minute_limit_plus_one_capped_at_1000() {
        assert_eq!(TokenBucket::new(60).capacity(), 21);
        assert_eq!(TokenBucket::new(30).capacity(), 11);
        assert_eq!(TokenBucket::new(3000).capacity(), 1000);
        assert_eq!(TokenBucket::new(0).capacity(), 1);
    }

    #[test]
    fn a_full_bucket_admits_capacity_minus_one_requests_at_once() {
        let mut b = TokenBucket::new(60);
        assert_eq!(admitted(&mut b, 100.0, 30), 20);
    }

    #[test]
    fn after_draining_one_token_per_second_is_not_enough_for_a_request() {
        let mut b = TokenBucket::new(60);
        assert_eq!(admitted(&mut b, 0.0, 21), 20);
        // One second later one token is replenished, and the refused request spends it.
        assert!(!b.try_take(1.0));
        // Two quiet seconds buy two tokens: one request succeeds, the next is refused.
        assert!(b.try_take(3.0));
        assert!(!b.try_take(3.0));
    }

    #[test]
    fn pacing_just_under_the_rate_keeps_being_admitted() {
        let mut b = TokenBucket::new(60);
        // 0.9 requests per second against 1 token per second never drains a full bucket.
        let ok = (0..200).filter(|i| b.try_take(f64::from(*i) / 0.9)).count();
        assert_eq!(ok, 200);
    }

    #[test]
    fn fractions_of_a_token_carry_over() {
        let mut b = TokenBucket::new(60);
        assert_eq!(admitted(&mut b, 0.0, 21), 20);
        assert!(!b.try_take(0.6)); // nothing replenished yet
        assert!(!b.try_take(1.2)); // 1 token (spent by this refused request)
        assert!(!b.try_take(2.1)); // 1 more token, spent again
        assert!(b.try_take(4.3)); // 2 tokens: one request through
    }

    #[test]
    fn a_bucket_idle_for_an_absurdly_long_time_is_simply_full() {
        let mut b = TokenBucket::new(3000);
        assert!(b.try_take(0.0));
        assert_eq!(admitted(&mut b, 1e300, 2000), 999);
    }

    #[test]
    fn daily_limit_allows_exactly_the_limit_and_resets_at_midnight_utc() {
        let limits = DailyLimits {
            email: 2,
            sms: 1,
            letter: 0,
        };
        let mut c = DailyCounter::default();
        let day = date!(2025 - 01 - 01);
        for _ in 0..2 {
            assert!(c.allows(NotificationType::Email, &limits, day));
            c.record(NotificationType::Email, day);
        }
        assert!(!c.allows(NotificationType::Email, &limits, day));
        assert!(c.allows(NotificationType::Sms, &limits, day));
        assert!(!c.allows(NotificationType::Letter, &limits, day));
        assert!(c.allows(NotificationType::Email, &limits, date!(2025 - 01 - 02)));
    }
}
