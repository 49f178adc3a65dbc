//! The socket side of a connection: one future that writes the pending buffer, flushes and
//! reads ([`poll_io`]), and the packet tracer ([`Tracer`]) that decodes what went through.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncReadExt;

use crate::options::{Direction, PacketTrace};
use crate::transport::BoxIo;

/// Reads go into the read buffer in chunks of at least this much spare room.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// Decodes the bytes on the wire a second time for [`PacketTrace`].
pub(crate) struct Tracer {
    f: PacketTrace,
    out: mqtt_proto::Decoder,
    out_buf: BytesMut,
    inb: mqtt_proto::Decoder,
    in_buf: BytesMut,
    /// Bytes at the end of the read buffer already copied (a packet still arriving).
    tail: usize,
}

impl Tracer {
    pub(crate) fn new(f: PacketTrace, v: mqtt_proto::ProtocolVersion) -> Self {
        let max = std::num::NonZeroU32::new(mqtt_proto::MAX_PACKET_SIZE)
            .unwrap_or(std::num::NonZeroU32::MIN);
        Self {
            f,
            out: mqtt_proto::Decoder::new(v).with_max_packet_size(max),
            out_buf: BytesMut::new(),
            inb: mqtt_proto::Decoder::new(v).with_max_packet_size(max),
            in_buf: BytesMut::new(),
            tail: 0,
        }
    }

    pub(crate) fn sent(&mut self, bytes: &[u8]) {
        self.out_buf.extend_from_slice(bytes);
        while let Ok(Some(p)) = self.out.decode(&mut self.out_buf) {
            (self.f)(Direction::Sent, &p);
        }
    }

    /// Bytes were read into `rbuf`: call before the state machine takes what it can.
    pub(crate) fn received(&mut self, rbuf: &[u8]) {
        self.in_buf
            .extend_from_slice(rbuf.get(self.tail..).unwrap_or_default());
        while let Ok(Some(p)) = self.inb.decode(&mut self.in_buf) {
            (self.f)(Direction::Received, &p);
        }
    }

    /// The state machine left `unread` bytes in the read buffer (a packet still arriving):
    /// they have been traced already.
    pub(crate) fn left_unread(&mut self, unread: usize) {
        self.tail = unread;
    }
}

pub(crate) enum IoEvent {
    /// Bytes were read into the buffer.
    Read,
    /// The write buffer was written and flushed.
    Written,
    /// End of stream or an error.
    Closed(Option<io::Error>),
}

/// Write what is buffered (then flush), and read when `reading`: one future, so the
/// socket is both read and written from one `select!` branch. Cancel-safe: bytes are taken
/// from `wbuf` only once written, and added to `rbuf` only once read.
pub(crate) fn poll_io(
    cx: &mut Context<'_>,
    io: &mut BoxIo,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    flushing: &mut bool,
    reading: bool,
) -> Poll<IoEvent> {
    while !wbuf.is_empty() {
        match Pin::new(&mut **io).poll_write(cx, wbuf) {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(IoEvent::Closed(Some(io::ErrorKind::WriteZero.into())));
            }
            Poll::Ready(Ok(n)) => {
                wbuf.advance(n);
                if wbuf.is_empty() {
                    *flushing = true;
                }
            }
            Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Closed(Some(e))),
            Poll::Pending => break,
        }
    }
    if *flushing {
        match Pin::new(&mut **io).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                *flushing = false;
                return Poll::Ready(IoEvent::Written);
            }
            Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Closed(Some(e))),
            Poll::Pending => {}
        }
    }
    if reading {
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
            rbuf.reserve(READ_CHUNK);
        }
        let read = io.read_buf(rbuf);
        tokio::pin!(read);
        match read.poll(cx) {
            Poll::Ready(Ok(0)) => return Poll::Ready(IoEvent::Closed(None)),
            Poll::Ready(Ok(_)) => return Poll::Ready(IoEvent::Read),
            Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Closed(Some(e))),
            Poll::Pending => {}
        }
    }
    Poll::Pending
}
