//! What [`may_retry`](vault_key_core::transport::may_retry) needs to know about a pooled
//! connection that failed: had it carried an earlier exchange, and had any of the answer
//! arrived? hyper does not say, so every connection is wrapped in [`Tracked`], which counts
//! both in a [`Usage`] that the pool keeps beside the connection.

use hyper_rustls::MaybeHttpsStream;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use vault_key_core::transport::ExchangeProgress;

type Inner =
    TokioIo<MaybeHttpsStream<<HttpConnector as tower_service::Service<http::Uri>>::Response>>;

/// The connection as the pool sees it.
pub(crate) type TrackedConnection = TokioIo<Tracked<Inner>>;

/// Exchanges carried by one connection, and bytes received for the latest one.
///
/// HTTP/1.1 without pipelining alternates: a request is written, then its answer read. So the
/// first write after anything was read starts a new exchange.
#[derive(Debug, Clone, Default)]
pub(crate) struct Usage(Arc<UsageState>);

#[derive(Debug, Default)]
struct UsageState {
    exchanges: AtomicU64,
    answer_bytes: AtomicU64,
    writing: AtomicBool,
}

impl Usage {
    fn on_write(&self) {
        if !self.0.writing.swap(true, Ordering::SeqCst) {
            self.0.exchanges.fetch_add(1, Ordering::SeqCst);
            self.0.answer_bytes.store(0, Ordering::SeqCst);
        }
    }

    fn on_read(&self, bytes: usize) {
        if bytes > 0 {
            self.0.writing.store(false, Ordering::SeqCst);
            self.0
                .answer_bytes
                .fetch_add(bytes as u64, Ordering::SeqCst);
        }
    }

    /// How far the latest exchange had got.
    pub(crate) fn progress(&self) -> ExchangeProgress {
        ExchangeProgress {
            reused_connection: self.0.exchanges.load(Ordering::SeqCst) > 1,
            response_started: self.0.answer_bytes.load(Ordering::SeqCst) > 0,
        }
    }
}

/// A connection (above TLS: the bytes counted are HTTP's) that records its [`Usage`].
#[derive(Debug)]
pub(crate) struct Tracked<T> {
    inner: T,
    usage: Usage,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            usage: Usage::default(),
        }
    }

    pub(crate) fn usage(&self) -> &Usage {
        &self.usage
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.usage.on_read(buf.filled().len() - before);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !buf.is_empty() {
            this.usage.on_write();
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if bufs.iter().any(|b| !b.is_empty()) {
            this.usage.on_write();
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_alternate_writes_and_reads() {
        let usage = Usage::default();
        assert_eq!(usage.progress(), ExchangeProgress::default());
        usage.on_write();
        usage.on_write();
        assert_eq!(usage.progress(), ExchangeProgress::default());
        usage.on_read(0);
        usage.on_read(10);
        usage.on_read(5);
        assert_eq!(
            usage.progress(),
            ExchangeProgress {
                reused_connection: false,
                response_started: true
            }
        );
        usage.on_write();
        assert_eq!(
            usage.progress(),
            ExchangeProgress {
                reused_connection: true,
                response_started: false
            }
        );
        usage.on_read(1);
        assert!(usage.progress().response_started);
    }
}
