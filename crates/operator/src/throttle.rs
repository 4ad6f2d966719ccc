//! Client-side rate limiting of the operator's API requests (client-go's
//! token bucket: `qps` sustained, `burst` at once). Every write is an etcd
//! write on a real cluster; a wave of thousands of requests must not
//! flood the API server. kube-rs has no limiter of its own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

/// The operator's client: kube's own stack, which waits and retries a
/// request the server refuses for now (429 from flow control, 503, 504;
/// `Retry-After` honoured) as client-go does, under the token bucket.
pub fn client(config: kube::Config, qps: f64, burst: u32) -> Result<kube::Client, kube::Error> {
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&ThrottleLayer::new(qps, burst))
        .build())
}

/// A token bucket: `burst` tokens, refilled at `qps` per second.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub fn new(qps: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            qps,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Takes a token, possibly in advance: how long to wait before using it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.qps;
            self.tokens = (self.tokens + refill).min(self.burst);
        }
        self.last = Some(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.qps)
        }
    }
}

/// The limiter as a layer of the client's service stack. A `qps` of 0
/// means no limit.
#[derive(Clone, Debug)]
pub struct ThrottleLayer {
    qps: f64,
    burst: u32,
}

impl ThrottleLayer {
    pub fn new(qps: f64, burst: u32) -> Self {
        Self { qps, burst }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttled<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Throttled {
            inner,
            bucket: (self.qps > 0.0).then(|| TokenBucket::new(self.qps, self.burst)),
            wait: None,
            reserved: false,
        }
    }
}

/// Waits for a token in `poll_ready`, so the client's buffer holds
/// requests back (as client-go's limiter blocks its callers) and nothing
/// waits while holding a lock.
pub struct Throttled<S> {
    inner: S,
    bucket: Option<TokenBucket>,
    wait: Option<Pin<Box<Sleep>>>,
    reserved: bool,
}

impl<S, R> Service<R> for Throttled<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if let Some(bucket) = self.bucket.as_mut()
            && !self.reserved
        {
            self.reserved = true;
            let wait = bucket.reserve(Instant::now());
            if !wait.is_zero() {
                self.wait = Some(Box::pin(tokio::time::sleep(wait)));
            }
        }
        if let Some(wait) = self.wait.as_mut() {
            ready!(wait.as_mut().poll(cx));
            self.wait = None;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.reserved = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_free_then_requests_are_spaced_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3);
        let waits: Vec<Duration> = (0..5).map(|_| bucket.reserve(start)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_millis(100));
        assert_eq!(waits[4], Duration::from_millis(200));
        // A second later the bucket is full again, and no fuller.
        let later = start + Duration::from_secs(10);
        let waits: Vec<Duration> = (0..4).map(|_| bucket.reserve(later)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_millis(100));
    }

    /// A service that counts its calls and answers at once.
    struct Count(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Service<()> for Count {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<(), Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: ()) -> Self::Future {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::ready(Ok(()))
        }
    }

    async fn send(service: &mut Throttled<Count>) {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap();
        service.call(()).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn requests_wait_for_their_token() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut service = ThrottleLayer::new(5.0, 2).layer(Count(calls.clone()));
        let start = Instant::now();
        for _ in 0..12 {
            send(&mut service).await;
        }
        // 2 at once, then 10 at 5 per second.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 12);
        let mut unlimited = ThrottleLayer::new(0.0, 0).layer(Count(calls.clone()));
        let start = Instant::now();
        for _ in 0..100 {
            send(&mut unlimited).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
