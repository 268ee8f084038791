//! One alarm per connection, behind hyper's timer interface.
//!
//! hyper bounds the wait for every request head (the header-read timeout,
//! which also bounds how long a kept-alive connection may sit idle). It
//! asks its [`Timer`] for a new sleep when it starts reading a head, polls
//! it while the head is incomplete, and drops it once the head is in.
//! With hyper-util's `TokioTimer`, each of those sleeps is a tokio timer
//! of its own: allocated, registered in the runtime's timer wheel (under a
//! lock) on its first poll, and taken out again (under the lock) when
//! dropped, for every request. The timeout costs a cached response about
//! 1,500 instructions of about 15,700 in all; about 400 of them were that
//! making and unmaking, which this module saves.
//!
//! [`ConnectionTimer`] gives hyper the same deadlines, backed by a single
//! tokio sleep per connection, the *alarm*. On a busy connection each
//! deadline is later than the one before, so an alarm set for an earlier
//! request still goes off in time for the current one: it is left where
//! it is. When it goes off before the current deadline, it is set again
//! for that deadline and the connection goes back to waiting; only an
//! alarm that goes off at or after the deadline ends the wait. The alarm
//! is therefore moved about once per timeout period instead of being made
//! and unmade per request. nginx does the same with its timers: it leaves
//! a timer alone when the new deadline is within 300 ms of the old one.
//!
//! hyper still decides *when* a head is being waited for; this module
//! only changes how the waiting is timed, so the timeout means what it
//! meant with `TokioTimer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

// ANCHOR: timer
/// A [`Timer`] for one connection: every sleep hyper asks for shares the
/// connection's one alarm.
///
/// Make one per connection. The sleeps of one connection are polled by
/// its one task, one at a time, which is how hyper uses them; shared by
/// two tasks, the alarm would wake only the last one to poll it (so the
/// type is not `Clone`).
#[derive(Debug, Default)]
pub struct ConnectionTimer {
    /// Made on the first request for a sleep (inside the runtime).
    alarm: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl ConnectionTimer {
    /// A timer whose alarm is not set yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Timer for ConnectionTimer {
    /// tokio's clock, which the alarm keeps (the same as std's, except
    /// when a test pauses it).
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(Deadline {
            alarm: Arc::clone(&self.alarm),
            at: tokio::time::Instant::from_std(deadline),
        })
    }
}

/// One wait hyper asked for: done when the connection's alarm goes off
/// at or after `at`.
struct Deadline {
    alarm: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
    at: tokio::time::Instant,
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        let mut guard = self.alarm.lock().unwrap_or_else(PoisonError::into_inner);
        let alarm = guard.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        // An alarm set later than this deadline would ring too late.
        if alarm.deadline() > at {
            alarm.as_mut().reset(at);
        }
        loop {
            ready!(alarm.as_mut().poll(cx));
            if alarm.deadline() >= at {
                return Poll::Ready(());
            }
            // It rang for an earlier request's deadline: set it for this one.
            alarm.as_mut().reset(at);
        }
    }
}

impl Sleep for Deadline {}
// ANCHOR_END: timer

#[cfg(test)]
mod tests {
    use super::*;

    /// `now + seconds`, on tokio's clock (paused in these tests).
    fn after(seconds: f64) -> Instant {
        (tokio::time::Instant::now() + Duration::from_secs_f64(seconds)).into_std()
    }

    /// Polls `sleep` once, as hyper does while a head is incomplete.
    async fn poll_once(sleep: &mut Pin<Box<dyn Sleep>>) -> Poll<()> {
        std::future::poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_at_its_deadline() {
        let timer = ConnectionTimer::new();
        let start = tokio::time::Instant::now();
        timer.sleep(Duration::from_secs(2)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_alarm_left_from_an_earlier_request_does_not_end_a_later_wait() {
        let timer = ConnectionTimer::new();
        let start = tokio::time::Instant::now();
        // Request 1 waits for its head until t = 1 s, and gets it at once.
        let mut first = timer.sleep_until(after(1.0));
        assert!(poll_once(&mut first).await.is_pending());
        drop(first);
        // Request 2 starts at t = 0.5 s: its deadline is t = 1.5 s. The
        // alarm still rings at t = 1 s, which must not end this wait.
        tokio::time::sleep(Duration::from_millis(500)).await;
        timer.sleep_until(after(1.0)).await;
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_moves_the_alarm_forward() {
        let timer = ConnectionTimer::new();
        let start = tokio::time::Instant::now();
        let mut long = timer.sleep_until(after(5.0));
        assert!(poll_once(&mut long).await.is_pending());
        drop(long);
        timer.sleep_until(after(1.0)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_past_is_ready_at_once() {
        let timer = ConnectionTimer::new();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let past = (tokio::time::Instant::now() - Duration::from_millis(500)).into_std();
        let mut sleep = timer.sleep_until(past);
        assert!(poll_once(&mut sleep).await.is_ready());
    }
}
