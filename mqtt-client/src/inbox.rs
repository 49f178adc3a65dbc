//! What the connection task takes from the application: requests (the bounded request
//! channel), disconnects (their own channel) and manual acknowledgements. One
//! [`Inbox::next`] serves every phase of the task (backoff, opening, connected), so the
//! request-taking `select!` arms are written once.

use mqtt_proto::client::AckToken;
use tokio::sync::mpsc;

use crate::command::{Command, DisconnectRequest};

/// Requests taken from the channel in one go before encoding them into one write.
pub(crate) const BATCH: usize = 512;

/// What [`Inbox::next`] took.
pub(crate) enum Input {
    /// A manual acknowledgement ([`Message::ack`](crate::Message::ack)); more may be taken
    /// with [`Inbox::try_ack`].
    Ack(AckToken),
    /// A disconnect.
    Disconnect(DisconnectRequest),
    /// Requests (at least one), in arrival order; give the vector back with
    /// [`Inbox::recycle`].
    Requests(Vec<Command>),
    /// Every handle is gone: no request can come any more.
    Closed,
}

/// The receiving ends of the channels from [`Client`](crate::Client) handles and messages.
pub(crate) struct Inbox {
    requests: mpsc::Receiver<Command>,
    /// Apart from `requests`, which is not read while the request queue is full, so that a
    /// disconnect never waits behind it (its deadline would not hold). Unbounded, but each
    /// caller waits for its reply.
    disconnects: mpsc::UnboundedReceiver<DisconnectRequest>,
    /// False once every handle is gone.
    open: bool,
    ack_tx: mpsc::UnboundedSender<AckToken>,
    acks: mpsc::UnboundedReceiver<AckToken>,
    /// Where requests are taken into, kept to avoid an allocation per batch.
    batch: Vec<Command>,
}

impl Inbox {
    pub(crate) fn new(
        requests: mpsc::Receiver<Command>,
        disconnects: mpsc::UnboundedReceiver<DisconnectRequest>,
    ) -> Self {
        let (ack_tx, acks) = mpsc::unbounded_channel();
        Self {
            requests,
            disconnects,
            open: true,
            ack_tx,
            acks,
            batch: Vec::with_capacity(BATCH),
        }
    }

    /// Where the messages' manual acknowledgements are sent.
    pub(crate) fn ack_sender(&self) -> mpsc::UnboundedSender<AckToken> {
        self.ack_tx.clone()
    }

    /// Whether handles may still send requests.
    pub(crate) fn is_open(&self) -> bool {
        self.open
    }

    /// Requests still in the channel.
    pub(crate) fn queued_requests(&self) -> usize {
        self.requests.len()
    }

    /// The next input: up to `take` requests (none when `take` is 0: the session has no
    /// room, see `Driver::room`), an acknowledgement or a disconnect. Unbiased.
    /// Cancel-safe: what is taken is returned.
    pub(crate) async fn next(&mut self, take: usize) -> Input {
        tokio::select! {
            Some(token) = self.acks.recv() => Input::Ack(token),
            Some(d) = self.disconnects.recv() => Input::Disconnect(d),
            // At most what the state machine may still queue (each request adds at most
            // one): taken in one go, the channel's permits released at once.
            n = self.requests.recv_many(&mut self.batch, take), if self.open && take > 0 => {
                if n == 0 {
                    self.open = false;
                    Input::Closed
                } else {
                    Input::Requests(std::mem::take(&mut self.batch))
                }
            }
        }
    }

    /// Give back the vector of [`Input::Requests`], emptied, for the next batch.
    pub(crate) fn recycle(&mut self, mut batch: Vec<Command>) {
        batch.clear();
        self.batch = batch;
    }

    /// An acknowledgement already waiting.
    pub(crate) fn try_ack(&mut self) -> Option<AckToken> {
        self.acks.try_recv().ok()
    }

    /// Shut down: requests and disconnects still in their channels are refused (a
    /// disconnect is answered: the client is closed, as it asked).
    pub(crate) fn close(&mut self) {
        self.requests.close();
        while let Ok(cmd) = self.requests.try_recv() {
            cmd.reject();
        }
        self.disconnects.close();
        while let Ok(d) = self.disconnects.try_recv() {
            let _ = d.reply.send(());
        }
    }
}
