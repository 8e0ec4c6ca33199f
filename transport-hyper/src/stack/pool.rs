//! Kept-alive HTTP/1.1 connections, each driven by the task whose exchange it carries.
//!
//! hyper-util's pooled client runs every connection in a task of its own: a request goes to
//! that task through a channel, the answer comes back through a oneshot, the body through
//! another channel, and one more task hands the connection back to the pool once it is
//! idle. Each of those hops wakes a task, and on a multi-threaded runtime often another
//! thread. Here the task that sends a request polls the connection itself while it waits for
//! the answer, so the one wake-up an exchange needs is the socket's. The handles hyper gives
//! (the answer's future, the body, the sender's readiness) only move when the connection is
//! polled, so the wake-ups they raise while this task is polling it are absorbed by a
//! [`Gate`] instead of scheduling the task again.
//!
//! An idle connection is polled by nobody: a close that arrives meanwhile is seen when the
//! connection is taken out again, where it is polled once before use.

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http_body_util::Full;
use hyper::client::conn::http1;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;
use vault_key_core::transport::POOL_IDLE_TIMEOUT;

use crate::tracking::{TrackedConnection, Usage};

/// The most idle connections kept: as many as the requests a caller typically has in
/// flight, with the oldest closed first.
const MAX_IDLE: usize = 32;

/// Where a connection leads: requests to another origin never share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
}

/// One HTTP/1.1 connection: the sender hyper writes requests from, and the connection
/// itself, polled by whoever waits on it.
pub(crate) struct Connection {
    pub(crate) sender: http1::SendRequest<Full<Bytes>>,
    pub(crate) driver: Driver,
    pub(crate) usage: Usage,
}

impl Connection {
    /// A new connection over `io`, boxed: it moves between the pool and the exchanges (its
    /// 1.7 KB would otherwise be copied at each move, and grow every exchange's future).
    pub(crate) async fn open(io: TrackedConnection) -> Result<Box<Self>, hyper::Error> {
        let usage = io.inner().usage().clone();
        let (sender, connection) = http1::Builder::new().handshake(io).await?;
        let gate = Arc::new(Gate::default());
        Ok(Box::new(Self {
            sender,
            driver: Driver {
                connection: Some(connection),
                waker: Waker::from(gate.clone()),
                gate,
            },
            usage,
        }))
    }

    /// Whether the connection can take a request now, without waiting: its dispatcher idle
    /// and the server not known to have closed it.
    pub(crate) fn poll_idle(&mut self, cx: &mut Context<'_>) -> bool {
        matches!(
            self.driver.drive(cx, |cx| self.sender.poll_ready(cx)),
            Poll::Ready(Ok(Ok(())))
        )
    }
}

/// The connection ended (the server closed it, or it failed) before what was waited on
/// arrived.
#[derive(Debug)]
pub(crate) struct Ended;

/// A connection's own future, with the [`Gate`] its wake-ups go through.
pub(crate) struct Driver {
    connection: Option<http1::Connection<TrackedConnection, Full<Bytes>>>,
    gate: Arc<Gate>,
    /// The gate as a waker, made once.
    waker: Waker,
}

impl Driver {
    /// Polls `ready` (something the connection moves) and the connection in turn until
    /// `ready` is ready or neither can move without the socket.
    pub(crate) fn drive<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut ready: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<Result<T, Ended>> {
        let mut inner = Context::from_waker(&self.waker);
        self.gate.enter(cx.waker());
        loop {
            if let Poll::Ready(value) = ready(&mut inner) {
                self.gate.leave();
                return Poll::Ready(Ok(value));
            }
            if let Some(connection) = &mut self.connection {
                if Pin::new(connection).poll(&mut inner).is_ready() {
                    self.connection = None;
                }
            }
            if let Poll::Ready(value) = ready(&mut inner) {
                self.gate.leave();
                return Poll::Ready(Ok(value));
            }
            if self.connection.is_none() {
                self.gate.leave();
                return Poll::Ready(Err(Ended));
            }
            if !self.gate.settle() {
                return Poll::Pending;
            }
        }
    }

    /// Forgets the task that polled last, so that an idle connection wakes nobody.
    fn park(&self) {
        self.gate.lock().task = None;
    }
}

/// Passes a connection's wake-ups to the task driving it, except those raised while that
/// task is polling it: those only say to poll once more, which the task does at once.
#[derive(Default)]
struct Gate(Mutex<GateState>);

#[derive(Default)]
struct GateState {
    task: Option<Waker>,
    polling: bool,
    woken: bool,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enter(&self, task: &Waker) {
        let mut state = self.lock();
        match &state.task {
            Some(known) if known.will_wake(task) => {}
            _ => state.task = Some(task.clone()),
        }
        state.polling = true;
        state.woken = false;
    }

    /// Ends a pass; true (still polling) if a wake-up came during it.
    fn settle(&self) -> bool {
        let mut state = self.lock();
        if std::mem::take(&mut state.woken) {
            true
        } else {
            state.polling = false;
            false
        }
    }

    /// Ends polling on something that became ready; whatever else moved is polled again by
    /// the next exchange step, which always polls the connection first.
    fn leave(&self) {
        let mut state = self.lock();
        state.polling = false;
        state.woken = false;
    }
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = {
            let mut state = self.lock();
            if state.polling {
                state.woken = true;
                None
            } else {
                state.task.clone()
            }
        };
        if let Some(task) = task {
            task.wake();
        }
    }
}

struct Idle {
    origin: Origin,
    connection: Box<Connection>,
    since: Instant,
}

/// Idle connections, oldest first: the one used last goes out first, as a server answers
/// slower on a connection that has been idle.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    /// An idle connection to `origin` that is still open, if there is one.
    pub(crate) fn checkout(
        &self,
        origin: &Origin,
        cx: &mut Context<'_>,
    ) -> Option<Box<Connection>> {
        loop {
            let idle = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                let last = idle.iter().rposition(|i| i.origin == *origin)?;
                idle.remove(last)
            };
            // Dropped (closed) unless fresh enough and still open.
            let mut connection = idle.connection;
            if idle.since.elapsed() < POOL_IDLE_TIMEOUT && connection.poll_idle(cx) {
                return Some(connection);
            }
        }
    }

    /// Keeps `connection` for the next request to `origin`; it must be idle.
    pub(crate) fn checkin(&self, origin: Origin, connection: Box<Connection>) {
        connection.driver.park();
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Oldest first: the expired ones, then any past the limit.
        let expired = idle
            .iter()
            .position(|i| now.duration_since(i.since) < POOL_IDLE_TIMEOUT)
            .unwrap_or(idle.len());
        let over = (idle.len() - expired + 1).saturating_sub(MAX_IDLE);
        let closed: Vec<Idle> = idle.drain(..expired + over).collect();
        idle.push(Idle {
            origin,
            connection,
            since: now,
        });
        drop(idle);
        // Closed outside the lock.
        drop(closed);
    }
}
