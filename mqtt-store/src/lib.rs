//! # mqtt-store
//!
//! Durable MQTT client sessions (issue 12): the [`SessionStore`] interface a driver writes a
//! session through, an in-memory store ([`MemoryStore`]) and a file-backed one
//! ([`FileStore`], feature `file`, on by default) on SQLite.
//!
//! The sans-IO state machine (`mqtt_proto::client::ClientState`, with
//! [`ClientOptions::persist`](mqtt_proto::client::ClientOptions::persist)) reports every change
//! of its session as a [`SessionChange`]; a driver takes them after each round of input and
//! `poll_transmit` and commits them as **one batch** ([`SessionStore::commit`]) before it
//! writes the bytes and before it reports anything to the application. After a restart,
//! [`SessionStore::load`] gives back the [`PersistedSession`], and
//! `ClientState::restore` resumes it.
//!
//! ```
//! use mqtt_proto::client::{ClientOptions, ClientState, PublishRequest};
//! use mqtt_proto::{ProtocolVersion, QoS, TopicName};
//! use mqtt_store::{MemoryStore, SessionStore};
//!
//! let mut opts = ClientOptions::new(ProtocolVersion::V5, "gateway-7");
//! opts.persist = true;
//! let mut client = ClientState::new(opts.clone());
//! let mut store = MemoryStore::new();
//!
//! let topic = TopicName::new("plant/line-1/count").unwrap();
//! let id = client.publish(PublishRequest::new(topic, QoS::ExactlyOnce, "42")).unwrap();
//! // The driver's step: every change since the last one, in one commit.
//! let batch: Vec<_> = std::iter::from_fn(|| client.poll_persist()).collect();
//! store.commit(&batch).unwrap();
//!
//! // The process restarts: the publish is still there, under the same request id.
//! let stored = store.load().unwrap().expect("a session");
//! let (client, restored) = ClientState::restore(opts, stored).unwrap();
//! assert_eq!(restored[0].id, id);
//! assert_eq!(client.queued(), 1);
//! ```
//!
//! ## Which database, and why SQLite
//!
//! The file store needs three things: atomic commits that survive a crash at any instant
//! (a killed process, a power cut), one commit per batch of changes (group commit), and a
//! documented mode that writes to the operating system without waiting for the disk, which
//! must still survive the process being killed. It must also give a clear error, never a
//! panic, on a damaged or hostile file. SQLite in WAL mode does all of it: `synchronous=FULL`
//! syncs the log at every commit, `synchronous=NORMAL` hands each commit to the OS (it survives
//! `kill -9`, not a power cut), and it is built and tested to return `SQLITE_CORRUPT` on
//! corrupt and malicious database files. redb was considered first: its only mode without an
//! fsync (`Durability::None`) does not survive the process being killed, its `Eventual` mode
//! syncs anyway on Linux, and damaged files can still reach assertions in it. fjall (an LSM
//! tree) has the modes but brings background threads and a directory of files for what is
//! a small, mostly-empty session. See [`Durability`].

#![forbid(unsafe_code)]

// The README's examples, compiled as doctests (not part of the documentation).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use mqtt_proto::client::{
    InvalidSession, OutboundState, PersistedPublish, PersistedSession, SessionChange, SessionMeta,
};

mod record;

#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "file")]
pub use file::{Durability, FORMAT_VERSION, FileStore};

/// Where a driver keeps a client session so that it survives a restart of the process.
///
/// A store holds at most one session. Changes come from
/// `ClientState::poll_persist`, in order; [`commit`](Self::commit) applies a batch of them
/// atomically (all or none, even across a crash), and [`load`](Self::load) returns the session
/// they add up to.
pub trait SessionStore: Send {
    /// Apply `changes` in order, as one atomic commit. A batch that does not begin a session
    /// ([`SessionChange::New`]) needs one stored ([`StoreError::NoSession`]).
    fn commit(&mut self, changes: &[SessionChange]) -> Result<(), StoreError>;

    /// The stored session, `None` if there is none. A session that breaks an invariant of a
    /// live session is an error ([`StoreError::Invalid`]), never returned.
    fn load(&mut self) -> Result<Option<PersistedSession>, StoreError>;

    /// Forget the session.
    fn clear(&mut self) -> Result<(), StoreError>;
}

/// What went wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A change other than [`SessionChange::New`] with no session stored.
    #[error("no session is stored: the first change must be SessionChange::New")]
    NoSession,
    /// The stored session breaks an invariant.
    #[error("the stored session is invalid: {0}")]
    Invalid(#[from] InvalidSession),
    /// The file is not a session store (another kind of file, or another database).
    #[error("{0}: not an MQTT session store")]
    NotAStore(String),
    /// The file is a session store of a format version this build cannot read.
    #[error("session store format version {found}, this build reads version {supported}")]
    UnsupportedVersion {
        /// The file's.
        found: i64,
        /// This build's.
        supported: i64,
    },
    /// The file is damaged: truncated, overwritten, or edited by hand.
    #[error("the session store is damaged: {0}")]
    Damaged(String),
    /// Another process (or store) has the file open.
    #[error("the session store is in use by another process")]
    Locked,
    /// The file or its directory could not be read or written.
    #[error("session store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The database reported an error that none of the above describes.
    #[error("session store database: {0}")]
    Database(String),
}

/// A store in memory: today's behaviour (the session lives as long as the process), and the
/// reference the file store is tested against. Applying a change costs what applying it to
/// a [`PersistedSession`] costs; nothing is written anywhere.
#[derive(Debug, Default)]
pub struct MemoryStore {
    session: Option<PersistedSession>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SessionStore for MemoryStore {
    fn commit(&mut self, changes: &[SessionChange]) -> Result<(), StoreError> {
        // All or nothing: the only failure is checked before anything is applied.
        if self.session.is_none() && !matches!(changes.first(), None | Some(SessionChange::New(_)))
        {
            return Err(StoreError::NoSession);
        }
        for change in changes {
            match (&mut self.session, change) {
                (slot, SessionChange::New(meta)) => {
                    *slot = Some(PersistedSession::new(meta.clone()));
                }
                (Some(s), change) => s.apply(change),
                (None, _) => return Err(StoreError::NoSession),
            }
        }
        Ok(())
    }

    fn load(&mut self) -> Result<Option<PersistedSession>, StoreError> {
        if let Some(s) = &self.session {
            s.validate()?;
        }
        Ok(self.session.clone())
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.session = None;
        Ok(())
    }
}
