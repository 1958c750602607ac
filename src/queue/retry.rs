//! The retry policy (capped exponential backoff with jitter) and retention horizons.
//!
//! Pure functions of their inputs: no clock, no database.

use super::{FailDecision, JobError};

/// When a failed attempt runs again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Backoff before the second attempt, in milliseconds (default 5 minutes).
    pub base_ms: i64,
    /// Longest backoff, in milliseconds (default 6 hours).
    pub cap_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_ms: 5 * 60 * 1000,
            cap_ms: 6 * 3600 * 1000,
        }
    }
}

impl RetryPolicy {
    /// `min(cap, base · 2^(attempt-1)) · U(0.9, 1.1)`, where `attempt` is the attempt that just
    /// failed (1 for the first) and `jitter` is a number in `[0, 1)`.
    pub fn backoff_ms(&self, attempt: i64, jitter: f64) -> i64 {
        let exp = u32::try_from((attempt - 1).clamp(0, 40)).unwrap_or(40);
        let raw = self.base_ms.saturating_mul(2i64.saturating_pow(exp));
        let capped = raw.min(self.cap_ms).max(0);
        let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let ms = (capped as f64 * factor).round() as i64;
        ms
    }

    /// Decide what happens after `error` on attempt `attempts` of `max_attempts`.
    pub fn decide(
        &self,
        error: &JobError,
        attempts: i64,
        max_attempts: i64,
        jitter: f64,
    ) -> FailDecision {
        match error {
            JobError::Permanent(_) => FailDecision::Fail,
            JobError::Aborted {
                cancelled: true, ..
            } => FailDecision::Cancel,
            JobError::RateLimited { after_ms, .. } => FailDecision::Snooze {
                after_ms: (*after_ms).max(0),
            },
            JobError::Transient(_)
            | JobError::Aborted {
                cancelled: false, ..
            } => {
                if attempts >= max_attempts {
                    FailDecision::Fail
                } else {
                    FailDecision::Retry {
                        after_ms: self.backoff_ms(attempts, jitter),
                    }
                }
            }
        }
    }
}

/// How long finished rows are kept, by finish time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub completed_ms: i64,
    pub failed_ms: i64,
    pub runs_ms: i64,
    /// Rows deleted per transaction.
    pub batch: i64,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: i64 = 24 * 3600 * 1000;
        Retention {
            completed_ms: 30 * DAY,
            failed_ms: 90 * DAY,
            runs_ms: 30 * DAY,
            batch: 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_ms(1, 0.5), 300_000);
        assert_eq!(p.backoff_ms(2, 0.5), 600_000);
        assert_eq!(p.backoff_ms(3, 0.5), 1_200_000);
        assert_eq!(p.backoff_ms(20, 0.5), 6 * 3600 * 1000);
        assert_eq!(p.backoff_ms(1, 0.0), 270_000);
        assert!(p.backoff_ms(1, 0.999_999) <= 330_000);
    }

    #[test]
    fn decisions() {
        let p = RetryPolicy::default();
        let t = JobError::Transient("x".into());
        assert!(matches!(
            p.decide(&t, 1, 3, 0.5),
            FailDecision::Retry { after_ms: 300_000 }
        ));
        assert_eq!(p.decide(&t, 3, 3, 0.5), FailDecision::Fail);
        assert_eq!(
            p.decide(&JobError::Permanent("x".into()), 1, 3, 0.5),
            FailDecision::Fail
        );
        let rl = JobError::RateLimited {
            after_ms: 7000,
            message: "slow".into(),
        };
        assert_eq!(
            p.decide(&rl, 3, 3, 0.5),
            FailDecision::Snooze { after_ms: 7000 }
        );
    }
}
