//! How long a failed watch waits before it lists again: from 800 ms,
//! doubling to 30 s (kube's `DefaultBackoff` bounds), with jitter, and
//! reset only by a list that succeeded. kube-runtime 5's own
//! `default_backoff()` resets on every item its watcher yields, and the
//! watcher yields `Event::Init` before each list, so a list refused every
//! time (a kind the operator may not read, a CRD not installed) was retried
//! every ~800 ms forever, each time a request to the API server and a
//! warning in the log.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(800);
const MAX: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct RetryDelay {
    next: Duration,
    /// The last failure reported at `warn`; the same again is `debug`.
    last_reported: Option<String>,
}

impl Default for RetryDelay {
    fn default() -> Self {
        Self {
            next: FIRST,
            last_reported: None,
        }
    }
}

impl RetryDelay {
    /// The wait after one more failure: the current delay, up to a quarter
    /// less (so watches refused together do not retry together), and the
    /// next one doubled.
    pub fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(MAX);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        delay - delay.mul_f64(f64::from(nanos % 250) / 1000.0)
    }

    /// A list succeeded: the next failure starts from the first delay.
    pub fn succeeded(&mut self) {
        self.next = FIRST;
        self.last_reported = None;
    }

    /// Waits before the next list after `failure`, which is logged at
    /// `warn` the first time and at `debug` while it repeats.
    pub async fn wait_after(&mut self, failure: &str) {
        let delay = self.failed();
        if self.is_news(failure) {
            tracing::warn!("{failure}; retrying with backoff");
        } else {
            tracing::debug!(?delay, "{failure}; retrying");
        }
        tokio::time::sleep(delay).await;
    }

    /// Whether `failure` is news (not the failure last reported), which is
    /// then remembered: a failure that repeats is logged once.
    pub fn is_news(&mut self, failure: &str) -> bool {
        if self.last_reported.as_deref() == Some(failure) {
            return false;
        }
        self.last_reported = Some(failure.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_and_reset_on_success() {
        let mut retry = RetryDelay::default();
        let delays: Vec<Duration> = (0..8).map(|_| retry.failed()).collect();
        for (i, d) in delays.iter().enumerate() {
            let nominal = (FIRST * 2u32.pow(i as u32)).min(MAX);
            assert!(*d <= nominal && *d >= nominal.mul_f64(0.75), "{i}: {d:?}");
        }
        assert!(delays[7] >= MAX.mul_f64(0.75));
        retry.succeeded();
        assert!(retry.failed() <= FIRST);
    }

    #[test]
    fn a_repeated_failure_is_news_once() {
        let mut retry = RetryDelay::default();
        assert!(retry.is_news("403"));
        assert!(!retry.is_news("403"));
        assert!(retry.is_news("500"));
        retry.succeeded();
        assert!(retry.is_news("500"));
    }
}
