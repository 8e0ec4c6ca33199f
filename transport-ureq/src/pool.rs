//! The keep-alive pool: idle connections, the one used last handed out first.
//!
//! ureq's own pool hands out the connection that has waited longest, so a caller that once had
//! several requests in flight then cycles through all the connections they left, one request
//! on each in turn. A server answers a request measurably slower on a connection that has been
//! idle than on the one it has just answered on (about a fifth slower on OpenBao over
//! loopback). Here the connection used last goes out first; the others age out unused.
//!
//! ureq's pool is turned off (it keeps nothing) and this one sits on top of the connector
//! chain, so a pooled connection keeps its TLS session and its [`Tracked`] counts. ureq tells
//! a connection it may be reused by checking it with [`Transport::is_open`] once its answer is
//! read (a connection it closes gets no check), and, with its own pool off, that is the only
//! check it makes: a connection that passed it goes back here when ureq drops it.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use ureq::http::uri::{Authority, Scheme};
use ureq::http::Uri;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

use crate::tracking::Tracked;

/// At most this many idle connections are kept, for all hosts together; the oldest goes first.
const MAX_IDLE: usize = 32;

/// Idle connections, the latest last.
type Idle = Vec<Waiting>;

/// An idle connection and where it leads.
#[derive(Debug)]
struct Waiting {
    key: Key,
    since: Instant,
    connection: Tracked,
}

/// Where a connection leads: scheme and authority (both compared without regard to case).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    scheme: Option<Scheme>,
    authority: Option<Authority>,
}

impl Key {
    fn of(uri: &Uri) -> Key {
        Key {
            scheme: uri.scheme().cloned(),
            authority: uri.authority().cloned(),
        }
    }
}

/// Hands out pooled connections before making new ones with `C`.
#[derive(Debug)]
pub(crate) struct Reuse<C> {
    connector: C,
    idle: Arc<Mutex<Idle>>,
    /// How long a connection may wait idle.
    max_age: Duration,
}

impl<C> Reuse<C> {
    pub(crate) fn new(connector: C, max_age: Duration) -> Reuse<C> {
        Reuse {
            connector,
            idle: Arc::default(),
            max_age,
        }
    }

    /// The latest idle connection to `key`, young enough for `max_age`; the ones too old for
    /// the pool are dropped on the way.
    fn take(&self, key: &Key, max_age: Duration) -> Option<Tracked> {
        let now = Instant::now();
        let mut idle = lock(&self.idle);
        let stale = idle
            .iter()
            .position(|w| now.duration_since(w.since) < self.max_age)
            .unwrap_or(idle.len());
        let dropped: Vec<Waiting> = idle.drain(..stale).collect();
        let found = idle
            .iter()
            .rposition(|w| w.key == *key && now.duration_since(w.since) < max_age)
            .map(|i| idle.remove(i).connection);
        drop(idle);
        // Closed outside the lock.
        drop(dropped);
        found
    }
}

fn lock(idle: &Mutex<Idle>) -> MutexGuard<'_, Idle> {
    // A thread that panicked holding the lock left a list of whole entries.
    idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<C: Connector<(), Out = Tracked>> Connector<()> for Reuse<C> {
    type Out = Kept;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Kept>, ureq::Error> {
        let key = Key::of(details.uri);
        // A request's own idle age of zero (a retry) asks for a new connection.
        let max_age = details.config.max_idle_age();
        if !max_age.is_zero() {
            while let Some(mut connection) = self.take(&key, max_age) {
                if connection.is_open() {
                    return Ok(Some(Kept::new(connection, key, &self.idle)));
                }
            }
        }
        let made = self.connector.connect(details, None)?;
        Ok(made.map(|connection| Kept::new(connection, key, &self.idle)))
    }
}

/// A connection that goes back to the pool when dropped, if ureq found it fit for reuse.
#[derive(Debug)]
pub(crate) struct Kept {
    connection: Option<Tracked>,
    key: Key,
    home: Weak<Mutex<Idle>>,
    /// Passed ureq's check after its latest answer, and nothing written since.
    reusable: bool,
}

impl Kept {
    fn new(connection: Tracked, key: Key, home: &Arc<Mutex<Idle>>) -> Kept {
        Kept {
            connection: Some(connection),
            key,
            home: Arc::downgrade(home),
            reusable: false,
        }
    }

    fn inner(&mut self) -> &mut Tracked {
        self.connection
            .as_mut()
            .expect("a connection is taken out only on drop")
    }
}

impl Transport for Kept {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner().buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.reusable = false;
        self.inner().transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.inner().await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        let open = self.inner().is_open();
        self.reusable = open;
        open
    }

    fn is_tls(&self) -> bool {
        self.connection.as_ref().is_some_and(Transport::is_tls)
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let (Some(connection), Some(home), true) =
            (self.connection.take(), self.home.upgrade(), self.reusable)
        else {
            return;
        };
        let mut idle = lock(&home);
        idle.push(Waiting {
            key: self.key.clone(),
            since: Instant::now(),
            connection,
        });
        let over = idle.len().saturating_sub(MAX_IDLE);
        let dropped: Vec<Waiting> = idle.drain(..over).collect();
        drop(idle);
        drop(dropped);
    }
}
