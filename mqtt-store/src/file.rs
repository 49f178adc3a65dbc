//! The file-backed store: one SQLite database file in WAL mode, opened exclusively.
//!
//! ## Format (version 1)
//!
//! The SQLite header's `application_id` is `0x4D515453` ("MQTS") and its `user_version` the
//! format version; a file without both is refused ([`StoreError::NotAStore`],
//! [`StoreError::UnsupportedVersion`]). The schema must be exactly this one (no other table,
//! index, view or trigger):
//!
//! - `session`: one row, whose session it is, and how many rows each other table holds (so a
//!   row lost to damage is noticed);
//! - `outbound`: a publish per row, by request id: its stage (0 queued, 1 sent, 2 released),
//!   packet id, send and PUBREC order numbers and PUBREC reason, and the request as an MQTT 5.0
//!   PUBLISH packet;
//! - `inbound`: the inbound QoS 2 packet identifiers awaiting PUBREL;
//! - `subscriptions`: a granted filter per row, with its SUBSCRIBE (one filter, the
//!   properties) as an MQTT 5.0 packet.
//!
//! Every row carries a CRC-32 of its fields (a publish row two: its stage, and its packet,
//! written once). Loading checks the database (`PRAGMA quick_check`), every CRC, the counts,
//! decodes every packet with the codec's checks, and validates the session
//! ([`PersistedSession::validate`]); any failure is a typed error, never a panic and never an
//! empty or partial session.

use std::path::{Path, PathBuf};

use bytestring::ByteString;
use mqtt_proto::client::RequestId;
use mqtt_proto::{PacketId, ProtocolVersion, PubAckReason, TopicFilter};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, params};

use crate::record::{self, BadRecord};
use crate::{
    OutboundState, PersistedPublish, PersistedSession, SessionChange, SessionMeta, SessionStore,
    StoreError,
};

/// The SQLite `application_id` of a session store: "MQTS".
const APPLICATION_ID: i64 = 0x4D51_5453;
/// The format version this build writes and reads.
pub const FORMAT_VERSION: i64 = 1;

/// The schema, as SQLite records it in `sqlite_schema` (name, SQL), by name.
const SCHEMA: [(&str, &str); 4] = [
    (
        "inbound",
        "CREATE TABLE inbound (packet_id INTEGER PRIMARY KEY, crc INTEGER NOT NULL)",
    ),
    (
        "outbound",
        "CREATE TABLE outbound (id INTEGER PRIMARY KEY, state INTEGER NOT NULL, \
         packet_id INTEGER NOT NULL, seq INTEGER NOT NULL, ord INTEGER NOT NULL, \
         reason INTEGER NOT NULL, state_crc INTEGER NOT NULL, publish BLOB NOT NULL, \
         publish_crc INTEGER NOT NULL)",
    ),
    (
        "session",
        "CREATE TABLE session (key INTEGER PRIMARY KEY CHECK (key = 1), \
         client_id BLOB NOT NULL, protocol INTEGER NOT NULL, expiry INTEGER NOT NULL, \
         established INTEGER NOT NULL, outbound INTEGER NOT NULL, inbound INTEGER NOT NULL, \
         subscriptions INTEGER NOT NULL, crc INTEGER NOT NULL)",
    ),
    (
        "subscriptions",
        "CREATE TABLE subscriptions (filter BLOB PRIMARY KEY, record BLOB NOT NULL, \
         crc INTEGER NOT NULL) WITHOUT ROWID",
    ),
];

/// When a commit is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit is synced to the disk before [`SessionStore::commit`] returns (SQLite
    /// `synchronous=FULL` in WAL mode: one `fdatasync` of the log per commit). Survives a power
    /// cut; costs one disk flush per commit, so a driver commits per batch of packets, not per
    /// message.
    #[default]
    Fsync,
    /// Every commit is written to the operating system before `commit` returns, and synced
    /// only at checkpoints (SQLite `synchronous=NORMAL` in WAL mode). Survives the process
    /// being killed (`kill -9`, a panic, an OOM kill), not a power cut or a kernel crash, after
    /// which the last commits may be missing (the database stays consistent: it holds a prefix
    /// of the commits).
    OsBuffered,
}

/// A session store in one file (SQLite; see the [module documentation](self) for the format).
///
/// The file is opened exclusively: a second `FileStore` on the same file, in this process or
/// another, gets [`StoreError::Locked`]. Besides the file, SQLite keeps a write-ahead log
/// beside it (`<file>-wal`) while it is open; after a crash the log holds the last commits,
/// and the next open recovers them. Move or copy the store only while it is closed.
#[derive(Debug)]
pub struct FileStore {
    conn: Connection,
    path: PathBuf,
    durability: Durability,
}

/// The `session` row.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionRow {
    meta: SessionMeta,
    outbound: i64,
    inbound: i64,
    subscriptions: i64,
}

impl SessionRow {
    fn crc(&self) -> i64 {
        let m = &self.meta;
        i64::from(record::crc32(&[
            m.client_id.as_bytes(),
            &[m.protocol.level(), u8::from(m.established)],
            &m.expiry_interval.to_le_bytes(),
            &self.outbound.to_le_bytes(),
            &self.inbound.to_le_bytes(),
            &self.subscriptions.to_le_bytes(),
        ]))
    }
}

fn state_crc(id: i64, state: i64, pid: i64, seq: i64, ord: i64, reason: i64) -> i64 {
    let mut bytes = Vec::with_capacity(48);
    for v in [id, state, pid, seq, ord, reason] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    i64::from(record::crc32(&[&bytes]))
}

fn crc_of(parts: &[&[u8]]) -> i64 {
    i64::from(record::crc32(parts))
}

fn db_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseCorrupt => StoreError::Damaged(e.to_string()),
            ErrorCode::NotADatabase => StoreError::Damaged(e.to_string()),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Locked,
            ErrorCode::SystemIoFailure | ErrorCode::CannotOpen | ErrorCode::DiskFull => {
                StoreError::Io(std::io::Error::other(e.to_string()))
            }
            _ => StoreError::Database(e.to_string()),
        },
        // A value of the wrong type or range in a column: only a damaged file holds one.
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Damaged(e.to_string()),
        _ => StoreError::Database(e.to_string()),
    }
}

fn damaged(what: impl Into<String>) -> StoreError {
    StoreError::Damaged(what.into())
}

impl From<BadRecord> for StoreError {
    fn from(e: BadRecord) -> Self {
        StoreError::Damaged(e.0)
    }
}

impl FileStore {
    /// Open the store at `path`, creating it (empty: [`load`](SessionStore::load) gives
    /// `None`) if no file is there. An existing file must be a session store of this format
    /// version and undamaged; an empty or truncated file is an error, never a new store.
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if !path.try_exists()? {
            create(&path)?;
        }
        let conn = open_existing(&path, durability)?;
        Ok(Self {
            conn,
            path,
            durability,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability mode.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    fn read_session_row(tx: &Transaction<'_>) -> Result<Option<SessionRow>, StoreError> {
        let row = tx
            .query_row(
                "SELECT client_id, protocol, expiry, established, outbound, inbound, \
                 subscriptions, crc FROM session WHERE key = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                    ))
                },
            )
            .optional()
            .map_err(db_error)?;
        let Some((client_id, protocol, expiry, established, outbound, inbound, subs, crc)) = row
        else {
            return Ok(None);
        };
        let client_id = ByteString::try_from(bytes::Bytes::from(client_id))
            .map_err(|_| damaged("client id is not UTF-8"))?;
        let protocol = u8::try_from(protocol)
            .ok()
            .and_then(ProtocolVersion::from_level)
            .ok_or_else(|| damaged(format!("protocol level {protocol}")))?;
        let expiry_interval =
            u32::try_from(expiry).map_err(|_| damaged(format!("expiry interval {expiry}")))?;
        let established = match established {
            0 => false,
            1 => true,
            v => return Err(damaged(format!("established flag {v}"))),
        };
        let row = SessionRow {
            meta: SessionMeta {
                client_id,
                protocol,
                expiry_interval,
                established,
            },
            outbound,
            inbound,
            subscriptions: subs,
        };
        if row.crc() != crc {
            return Err(damaged("session row checksum"));
        }
        Ok(Some(row))
    }

    fn write_session_row(tx: &Transaction<'_>, row: &SessionRow) -> Result<(), StoreError> {
        let m = &row.meta;
        tx.execute(
            "INSERT OR REPLACE INTO session (key, client_id, protocol, expiry, established, \
             outbound, inbound, subscriptions, crc) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                &m.client_id.as_bytes()[..],
                m.protocol.level(),
                m.expiry_interval,
                m.established,
                row.outbound,
                row.inbound,
                row.subscriptions,
                row.crc(),
            ],
        )
        .map_err(db_error)?;
        Ok(())
    }

    fn apply(
        tx: &Transaction<'_>,
        row: &mut Option<SessionRow>,
        change: &SessionChange,
    ) -> Result<(), StoreError> {
        let x = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<i64, StoreError> {
            let n = tx.prepare_cached(sql).and_then(|mut s| s.execute(p));
            n.map(|n| n as i64).map_err(db_error)
        };
        if let SessionChange::New(meta) = change {
            for t in ["outbound", "inbound", "subscriptions"] {
                x(&format!("DELETE FROM {t}"), &[])?;
            }
            *row = Some(SessionRow {
                meta: meta.clone(),
                outbound: 0,
                inbound: 0,
                subscriptions: 0,
            });
            return Ok(());
        }
        let Some(r) = row else {
            return Err(StoreError::NoSession);
        };
        match change {
            SessionChange::New(_) => {}
            SessionChange::Meta(meta) => r.meta = meta.clone(),
            SessionChange::PublishAccepted { id, request } => {
                let id = id_of(*id)?;
                let publish = record::encode_publish(request)?;
                let removed = x("DELETE FROM outbound WHERE id = ?1", &[&id])?;
                x(
                    "INSERT INTO outbound (id, state, packet_id, seq, ord, reason, state_crc, \
                     publish, publish_crc) VALUES (?1, 0, 0, 0, 0, 0, ?2, ?3, ?4)",
                    &[
                        &id,
                        &state_crc(id, 0, 0, 0, 0, 0),
                        &publish,
                        &crc_of(&[&publish]),
                    ],
                )?;
                r.outbound += 1 - removed;
            }
            SessionChange::PublishSent { id, packet_id, seq } => {
                let (id, pid, seq) = (id_of(*id)?, i64::from(packet_id.get()), num(*seq)?);
                x(
                    "UPDATE outbound SET state = 1, packet_id = ?2, seq = ?3, ord = 0, \
                     reason = 0, state_crc = ?4 WHERE id = ?1",
                    &[&id, &pid, &seq, &state_crc(id, 1, pid, seq, 0, 0)],
                )?;
            }
            SessionChange::Released {
                id,
                packet_id,
                order,
                reason,
            } => {
                let (id, pid, ord) = (id_of(*id)?, i64::from(packet_id.get()), num(*order)?);
                let reason = i64::from(u8::from(*reason));
                let seq: Option<i64> = tx
                    .query_row("SELECT seq FROM outbound WHERE id = ?1", [id], |r| r.get(0))
                    .optional()
                    .map_err(db_error)?;
                if let Some(seq) = seq {
                    x(
                        "UPDATE outbound SET state = 2, packet_id = ?2, ord = ?3, reason = ?4, \
                         state_crc = ?5 WHERE id = ?1",
                        &[
                            &id,
                            &pid,
                            &ord,
                            &reason,
                            &state_crc(id, 2, pid, seq, ord, reason),
                        ],
                    )?;
                }
            }
            SessionChange::Requeued { id } => {
                let id = id_of(*id)?;
                x(
                    "UPDATE outbound SET state = 0, packet_id = 0, seq = 0, ord = 0, \
                     reason = 0, state_crc = ?2 WHERE id = ?1",
                    &[&id, &state_crc(id, 0, 0, 0, 0, 0)],
                )?;
            }
            SessionChange::Completed { id } => {
                r.outbound -= x("DELETE FROM outbound WHERE id = ?1", &[&id_of(*id)?])?;
            }
            SessionChange::InboundQos2Held { packet_id } => {
                let pid = i64::from(packet_id.get());
                r.inbound += x(
                    "INSERT OR IGNORE INTO inbound (packet_id, crc) VALUES (?1, ?2)",
                    &[&pid, &crc_of(&[&pid.to_le_bytes()])],
                )?;
            }
            SessionChange::InboundQos2Released { packet_id } => {
                let pid = i64::from(packet_id.get());
                r.inbound -= x("DELETE FROM inbound WHERE packet_id = ?1", &[&pid])?;
            }
            SessionChange::Subscribed {
                subscriptions,
                properties,
            } => {
                for s in subscriptions {
                    let filter = s.filter.as_str().as_bytes();
                    let rec = record::encode_subscription(s, properties)?;
                    let removed = x("DELETE FROM subscriptions WHERE filter = ?1", &[&filter])?;
                    x(
                        "INSERT INTO subscriptions (filter, record, crc) VALUES (?1, ?2, ?3)",
                        &[&filter, &rec, &crc_of(&[filter, &rec])],
                    )?;
                    r.subscriptions += 1 - removed;
                }
            }
            SessionChange::Unsubscribed { filters } => {
                for f in filters {
                    r.subscriptions -= x(
                        "DELETE FROM subscriptions WHERE filter = ?1",
                        &[&f.as_str().as_bytes()],
                    )?;
                }
            }
            SessionChange::SessionLost => {
                r.inbound -= x("DELETE FROM inbound", &[])?;
            }
            other => {
                return Err(StoreError::Database(format!(
                    "a change this store does not know: {other:?}"
                )));
            }
        }
        Ok(())
    }

    fn load_inner(tx: &Transaction<'_>) -> Result<Option<PersistedSession>, StoreError> {
        let Some(row) = Self::read_session_row(tx)? else {
            let rows: i64 = tx
                .query_row(
                    "SELECT (SELECT count(*) FROM outbound) + (SELECT count(*) FROM inbound) \
                     + (SELECT count(*) FROM subscriptions)",
                    [],
                    |r| r.get(0),
                )
                .map_err(db_error)?;
            if rows != 0 {
                return Err(damaged("session rows without the session"));
            }
            return Ok(None);
        };
        let mut s = PersistedSession::new(row.meta.clone());

        let mut stmt = tx
            .prepare(
                "SELECT id, state, packet_id, seq, ord, reason, state_crc, publish, publish_crc \
                 FROM outbound ORDER BY id",
            )
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(r) = rows.next().map_err(db_error)? {
            let v: [i64; 7] = [
                r.get(0).map_err(db_error)?,
                r.get(1).map_err(db_error)?,
                r.get(2).map_err(db_error)?,
                r.get(3).map_err(db_error)?,
                r.get(4).map_err(db_error)?,
                r.get(5).map_err(db_error)?,
                r.get(6).map_err(db_error)?,
            ];
            let [id, state, pid, seq, ord, reason, crc] = v;
            let publish: Vec<u8> = r.get(7).map_err(db_error)?;
            let publish_crc: i64 = r.get(8).map_err(db_error)?;
            if state_crc(id, state, pid, seq, ord, reason) != crc {
                return Err(damaged(format!("publish {id}: state checksum")));
            }
            if crc_of(&[&publish]) != publish_crc {
                return Err(damaged(format!("publish {id}: packet checksum")));
            }
            let id_u = u64::try_from(id).map_err(|_| damaged(format!("request id {id}")))?;
            let packet_id = || {
                u16::try_from(pid)
                    .ok()
                    .and_then(PacketId::new)
                    .ok_or_else(|| damaged(format!("publish {id}: packet id {pid}")))
            };
            let order =
                |n: i64| u64::try_from(n).map_err(|_| damaged(format!("publish {id}: order {n}")));
            let state = match state {
                0 => OutboundState::Queued,
                1 => OutboundState::Sent {
                    packet_id: packet_id()?,
                    seq: order(seq)?,
                },
                2 => OutboundState::Released {
                    packet_id: packet_id()?,
                    seq: order(seq)?,
                    order: order(ord)?,
                    reason: u8::try_from(reason)
                        .ok()
                        .and_then(PubAckReason::from_u8)
                        .ok_or_else(|| damaged(format!("publish {id}: reason {reason}")))?,
                },
                other => return Err(damaged(format!("publish {id}: stage {other}"))),
            };
            s.outbound.push(PersistedPublish {
                id: RequestId::new(id_u),
                request: record::decode_publish(&publish)?,
                state,
            });
        }
        drop(rows);
        drop(stmt);

        let mut stmt = tx
            .prepare("SELECT packet_id, crc FROM inbound ORDER BY packet_id")
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(r) = rows.next().map_err(db_error)? {
            let pid: i64 = r.get(0).map_err(db_error)?;
            let crc: i64 = r.get(1).map_err(db_error)?;
            if crc_of(&[&pid.to_le_bytes()]) != crc {
                return Err(damaged(format!("inbound {pid}: checksum")));
            }
            s.inbound_qos2.push(
                u16::try_from(pid)
                    .ok()
                    .and_then(PacketId::new)
                    .ok_or_else(|| damaged(format!("inbound packet id {pid}")))?,
            );
        }
        drop(rows);
        drop(stmt);

        let mut stmt = tx
            .prepare("SELECT filter, record, crc FROM subscriptions ORDER BY filter")
            .map_err(db_error)?;
        let mut rows = stmt.query([]).map_err(db_error)?;
        while let Some(r) = rows.next().map_err(db_error)? {
            let filter: Vec<u8> = r.get(0).map_err(db_error)?;
            let rec: Vec<u8> = r.get(1).map_err(db_error)?;
            let crc: i64 = r.get(2).map_err(db_error)?;
            if crc_of(&[&filter, &rec]) != crc {
                return Err(damaged("subscription: checksum"));
            }
            let (sub, props) = record::decode_subscription(&rec)?;
            if sub.filter.as_str().as_bytes() != filter.as_slice() {
                return Err(damaged("subscription: filter and record disagree"));
            }
            s.subscriptions.push((sub, props));
        }
        drop(rows);
        drop(stmt);
        // Byte order of UTF-8 is the order of the filters (`TopicFilter`'s `Ord`).
        s.subscriptions
            .sort_by(|a, b| TopicFilter::cmp(&a.0.filter, &b.0.filter));

        let counts = (
            s.outbound.len() as i64,
            s.inbound_qos2.len() as i64,
            s.subscriptions.len() as i64,
        );
        if counts != (row.outbound, row.inbound, row.subscriptions) {
            return Err(damaged(format!(
                "rows (outbound, inbound, subscriptions) {counts:?}, the session row says {:?}",
                (row.outbound, row.inbound, row.subscriptions)
            )));
        }
        s.validate()?;
        Ok(Some(s))
    }
}

fn id_of(id: RequestId) -> Result<i64, StoreError> {
    num(id.get())
}

fn num(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Database(format!("number {n} out of range")))
}

impl SessionStore for FileStore {
    fn commit(&mut self, changes: &[SessionChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(db_error)?;
        let mut row = if matches!(changes.first(), Some(SessionChange::New(_))) {
            None
        } else {
            Self::read_session_row(&tx)?
        };
        for change in changes {
            Self::apply(&tx, &mut row, change)?;
        }
        if let Some(row) = &row {
            Self::write_session_row(&tx, row)?;
        }
        // Dropping `tx` on an error above rolls everything back.
        tx.commit().map_err(db_error)
    }

    fn load(&mut self) -> Result<Option<PersistedSession>, StoreError> {
        let tx = self.conn.transaction().map_err(db_error)?;
        let s = Self::load_inner(&tx)?;
        tx.commit().map_err(db_error)?;
        Ok(s)
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(db_error)?;
        for t in ["session", "outbound", "inbound", "subscriptions"] {
            tx.execute(&format!("DELETE FROM {t}"), [])
                .map_err(db_error)?;
        }
        tx.commit().map_err(db_error)
    }
}

/// Create an empty store at `path`, atomically: built under a temporary name, synced, and
/// renamed into place, so that a crash during creation leaves no half-made store behind.
fn create(path: &Path) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".creating");
    let tmp = PathBuf::from(tmp);
    for stale in [tmp.clone(), wal_path(&tmp)] {
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    {
        let conn = Connection::open_with_flags(
            &tmp,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_error)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(db_error)?;
        let mut sql = format!(
            "BEGIN; PRAGMA application_id = {APPLICATION_ID}; \
             PRAGMA user_version = {FORMAT_VERSION};"
        );
        for (_, create) in SCHEMA {
            sql.push_str(create);
            sql.push(';');
        }
        sql.push_str("COMMIT;");
        conn.execute_batch(&sql).map_err(db_error)?;
        conn.close().map_err(|(_, e)| db_error(e))?;
    }
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn wal_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// Open a file that must already be a store, and check it.
fn open_existing(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    // SQLite takes an empty file for a new, empty database: a store truncated to nothing
    // must be an error, not a silent empty session. The same for a file too short to hold
    // the 100-byte header of the database.
    let len = std::fs::metadata(path)?.len();
    let mut header = [0u8; 16];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path)?;
        let n = f.read(&mut header)?;
        if len == 0 {
            return Err(damaged("empty file"));
        }
        if n < 16 || &header != b"SQLite format 3\0" {
            return Err(StoreError::NotAStore(path.display().to_string()));
        }
        if len < 100 {
            return Err(damaged(format!("truncated to {len} bytes")));
        }
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_error)?;
    // A store is data, never code: no triggers or views (the schema check below refuses
    // them anyway), no writes to the schema, strict checks of the b-tree cells.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(db_error)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)
        .map_err(db_error)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)
        .map_err(db_error)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false)
        .map_err(db_error)?;
    let synchronous = match durability {
        Durability::Fsync => "FULL",
        Durability::OsBuffered => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA cell_size_check = ON; PRAGMA locking_mode = EXCLUSIVE; \
         PRAGMA synchronous = {synchronous};"
    ))
    .map_err(db_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(db_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!(
            "journal mode {mode}, not WAL"
        )));
    }
    // Take the exclusive lock now: another process with the store open is an error here,
    // not at the first commit.
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")
        .map_err(db_error)?;
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(db_error)?;
    if app != APPLICATION_ID {
        return Err(StoreError::NotAStore(path.display().to_string()));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_error)?;
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(db_error)?;
    if check != "ok" {
        return Err(damaged(check));
    }
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name")
        .map_err(db_error)?;
    let schema: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(db_error)?
        .collect::<Result<_, _>>()
        .map_err(db_error)?;
    drop(stmt);
    let expected: Vec<(String, String, String, Option<String>)> = SCHEMA
        .iter()
        .map(|(name, sql)| {
            (
                "table".to_owned(),
                (*name).to_owned(),
                (*name).to_owned(),
                Some((*sql).to_owned()),
            )
        })
        .collect();
    if schema != expected {
        return Err(damaged("the schema is not the store's"));
    }
    Ok(conn)
}
