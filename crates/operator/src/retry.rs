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
    /// When a watch last expired.
    last_expired: Option<tokio::time::Instant>,
}

impl Default for RetryDelay {
    fn default() -> Self {
        Self {
            next: FIRST,
            last_reported: None,
            last_expired: None,
        }
    }
}

/// Whether the server ended a watch as expired (410 Gone): its history was
/// compacted, or the kind's storage rebuilt after its CRD changed. The
/// watcher lists again; this is routine, not a failure.
pub fn is_expired(error: &kube::runtime::watcher::Error) -> bool {
    use kube::runtime::watcher::Error;
    match error {
        Error::WatchError(status) => status.code == 410,
        Error::WatchStartFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
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

    /// After `error`: an expired watch lists again at once and quietly (as
    /// client-go's reflector does; kube's watcher relists by itself), unless
    /// one expired less than the first delay ago (a server that keeps
    /// expiring what was just listed must not be listed in a loop);
    /// anything else waits as [`Self::wait_after`], logging `failure`.
    pub async fn after_watch_error(
        &mut self,
        error: &kube::runtime::watcher::Error,
        failure: &str,
    ) {
        if is_expired(error) {
            let now = tokio::time::Instant::now();
            let recent = self
                .last_expired
                .is_some_and(|t| now.duration_since(t) < FIRST);
            self.last_expired = Some(now);
            if !recent {
                tracing::debug!("{failure}; listing again");
                return;
            }
        }
        self.wait_after(failure).await;
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

    fn expired() -> kube::runtime::watcher::Error {
        let mut status = kube::core::Status::failure("too old resource version", "Expired");
        status.code = 410;
        kube::runtime::watcher::Error::WatchError(Box::new(status))
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_watch_lists_again_at_once_unless_it_just_did() {
        let mut retry = RetryDelay::default();
        let start = tokio::time::Instant::now();
        retry.after_watch_error(&expired(), "expired").await;
        assert_eq!(start.elapsed(), Duration::ZERO, "routine: no wait");
        retry.after_watch_error(&expired(), "expired").await;
        assert!(
            start.elapsed() >= FIRST.mul_f64(0.75),
            "again at once: backs off"
        );
        retry.succeeded();
        tokio::time::sleep(FIRST).await;
        let again = tokio::time::Instant::now();
        retry.after_watch_error(&expired(), "expired").await;
        assert_eq!(again.elapsed(), Duration::ZERO);
        let forbidden = kube::runtime::watcher::Error::NoResourceVersion;
        assert!(!is_expired(&forbidden));
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
