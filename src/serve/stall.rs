//! A write stall timeout for connections: a client that stops reading in
//! the middle of a response (a blob, say) fills its socket's send buffer,
//! and every later write waits. After the timeout without any write making
//! progress the connection fails and is closed, so a slow or stuck reader
//! cannot hold a connection, its task and its open files for ever.

use std::future::{ready, Ready};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Wraps every accepted connection in a [`StallGuard`].
#[derive(Clone, Copy, Debug)]
pub struct StallAcceptor {
    timeout: Duration,
}

impl StallAcceptor {
    /// Connections whose writes make no progress for `timeout` fail.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<I, S> Accept<I, S> for StallAcceptor {
    type Stream = StallGuard<I>;
    type Service = S;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        ready(Ok((StallGuard::new(stream, self.timeout), service)))
    }
}

/// A connection whose writes fail with `TimedOut` once one has waited
/// `timeout` without progress. Reads are passed through unchanged (the
/// header timeout bounds those).
#[derive(Debug)]
pub struct StallGuard<I> {
    inner: I,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<I> StallGuard<I> {
    /// Guards `inner`.
    pub fn new(inner: I, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// After a pending write: starts the stall clock (once), and tells whether it ran out.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client read nothing for {} s; connection closed",
                    timeout.as_secs_f64()
                ),
            )),
            Poll::Pending => Poll::Pending,
        }
    }

    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.check(cx).map(Err),
        }
    }
}

use std::future::Future as _;

impl<I: AsyncRead + Unpin> AsyncRead for StallGuard<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for StallGuard<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.guard(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_timeout() {
        let (client, server) = tokio::io::duplex(1024);
        let mut guarded = StallGuard::new(server, Duration::from_millis(100));
        let started = std::time::Instant::now();
        let error = guarded
            .write_all(&vec![0u8; 64 << 10])
            .await
            .expect_err("the write stalls");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(100));
        drop(client);
    }

    #[tokio::test]
    async fn a_slow_but_steady_reader_is_served() {
        use tokio::io::AsyncReadExt;
        let (mut client, server) = tokio::io::duplex(1024);
        let mut guarded = StallGuard::new(server, Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buffer = [0u8; 1024];
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let n = client.read(&mut buffer).await.unwrap();
                if n == 0 {
                    return total;
                }
                total += n;
            }
        });
        guarded.write_all(&vec![1u8; 16 << 10]).await.unwrap();
        guarded.shutdown().await.unwrap();
        drop(guarded);
        assert_eq!(reader.await.unwrap(), 16 << 10);
    }
}
