//! What [`may_retry`](vault_key_core::transport::may_retry) needs to know about a pooled
//! connection that failed: had it carried an earlier exchange, and had any of the answer
//! arrived? ureq does not say, so every connection its default connector makes is wrapped in
//! [`Tracked`], which counts both.
//!
//! ureq runs an exchange on the calling thread, so the wrapper reports to that thread:
//! [`begin`] before a request, [`progress`] after it failed.
//!
//! The wrapper uses ureq's `unversioned` transport API, which ureq may change in a minor
//! release (never in a patch release).

use std::cell::Cell;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};
use vault_key_core::transport::ExchangeProgress;

thread_local! {
    /// How far this thread's latest exchange got, as its connection last reported.
    static LATEST: Cell<Option<ExchangeProgress>> = const { Cell::new(None) };
}

/// Forgets what the previous exchange on this thread reported.
pub(crate) fn begin() {
    LATEST.with(|latest| latest.set(None));
}

/// How far this thread's exchange got since [`begin`]; `None` when no request was written.
pub(crate) fn progress() -> Option<ExchangeProgress> {
    LATEST.with(Cell::get)
}

/// Wraps each connection (above TLS: the bytes counted are HTTP's) in [`Tracked`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tracking;

impl<In: Transport> Connector<In> for Tracking {
    type Out = Tracked;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Tracked>, ureq::Error> {
        Ok(chained.map(|inner| Tracked {
            inner: Box::new(inner),
            exchanges: 0,
            answer_bytes: 0,
            writing: false,
        }))
    }
}

/// A connection that counts its exchanges and the bytes received for the latest one.
///
/// HTTP/1.1 without pipelining alternates: a request is written, then its answer read. So the
/// first write after anything was read starts a new exchange.
#[derive(Debug)]
pub(crate) struct Tracked {
    inner: Box<dyn Transport>,
    exchanges: u64,
    answer_bytes: u64,
    writing: bool,
}

impl Tracked {
    fn report(&self) {
        let progress = ExchangeProgress {
            reused_connection: self.exchanges > 1,
            response_started: self.answer_bytes > 0,
        };
        LATEST.with(|latest| latest.set(Some(progress)));
    }
}

impl Transport for Tracked {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if amount > 0 && !self.writing {
            self.writing = true;
            self.exchanges += 1;
            self.answer_bytes = 0;
        }
        self.report();
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let before = self.inner.buffers().input().len();
        let progressed = self.inner.await_input(timeout)?;
        let received = self.inner.buffers().input().len().saturating_sub(before);
        if progressed && received > 0 {
            self.writing = false;
            self.answer_bytes += received as u64;
            self.report();
        }
        Ok(progressed)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
