//! Damaged and foreign files (issue 12): a store truncated at any length, with bytes flipped
//! anywhere, of another format version, of another application, or not a database at all
//! opens with a typed error, or (where the damage touched nothing the session needs, such as
//! free space) loads the very session that was stored. Never a panic, never an empty or
//! partial session.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use mqtt_store::{Durability, FileStore, PersistedSession, SessionStore, StoreError};

use common::{Scratch, read, sample_changes};

/// A closed store holding the sample session (its log checkpointed into the file), and the
/// session.
fn sample_store(scratch: &Scratch) -> (Vec<u8>, PersistedSession) {
    let path = scratch.path("sample.db");
    let mut store = FileStore::open(&path, Durability::Fsync).unwrap();
    store.commit(&sample_changes()).unwrap();
    let session = store.load().unwrap().unwrap();
    drop(store);
    assert!(
        !scratch.path("sample.db-wal").exists(),
        "closing checkpoints the log into the file"
    );
    (read(&path), session)
}

/// Open and load `bytes` as a store: the session if it is exactly the stored one, else the
/// error. Anything else (a panic, another session) fails the test.
fn open_damaged(
    dir: &Path,
    bytes: &[u8],
    expected: &PersistedSession,
    what: &str,
) -> Result<(), StoreError> {
    let path = dir.join("damaged.db");
    let _ = std::fs::remove_file(dir.join("damaged.db-wal"));
    std::fs::write(&path, bytes).unwrap();
    let loaded = FileStore::open(&path, Durability::Fsync).and_then(|mut s| s.load());
    match loaded {
        Ok(Some(s)) => {
            assert_eq!(&s, expected, "{what}: a different session loaded");
            Ok(())
        }
        Ok(None) => panic!("{what}: an empty store"),
        Err(e) => Err(e),
    }
}

#[test]
fn a_truncated_store_is_an_error_at_every_length() {
    let scratch = Scratch::new("truncate");
    let (bytes, session) = sample_store(&scratch);
    let mut errors = 0;
    // Every length up to the header and around every page boundary, and a stride through
    // the rest.
    let mut lengths: Vec<usize> = (0..=110).collect();
    for page in (0..bytes.len()).step_by(4096) {
        lengths.extend(page.saturating_sub(3)..(page + 4).min(bytes.len()));
    }
    lengths.extend((0..bytes.len()).step_by(61));
    lengths.sort_unstable();
    lengths.dedup();
    for len in lengths {
        let r = open_damaged(
            &scratch.dir,
            &bytes[..len],
            &session,
            &format!("length {len}"),
        );
        match r {
            Err(StoreError::Damaged(_) | StoreError::NotAStore(_)) => errors += 1,
            Err(e) => panic!("length {len}: unexpected error {e:?}"),
            Ok(()) => panic!("length {len} of {}: loaded as if whole", bytes.len()),
        }
        if len == 0 {
            assert!(matches!(
                open_damaged(&scratch.dir, &[], &session, "empty"),
                Err(StoreError::Damaged(m)) if m.contains("empty")
            ));
        }
    }
    assert!(errors > 100);
}

#[test]
fn flipped_bytes_are_errors_or_change_nothing() {
    let scratch = Scratch::new("flip");
    let (bytes, session) = sample_store(&scratch);
    let (mut same, mut errors) = (0, 0);
    // Every byte of the database header, then a stride through the pages (each offset with
    // a different bit), and every byte of the last page, where the rows are.
    let mut offsets: Vec<usize> = (0..100).collect();
    offsets.extend((100..bytes.len()).step_by(7));
    offsets.extend(bytes.len().saturating_sub(4096)..bytes.len());
    offsets.sort_unstable();
    offsets.dedup();
    for (i, off) in offsets.into_iter().enumerate() {
        let mut damaged = bytes.clone();
        damaged[off] ^= 1 << (i % 8);
        match open_damaged(&scratch.dir, &damaged, &session, &format!("byte {off}")) {
            Ok(()) => same += 1,
            Err(
                StoreError::Damaged(_)
                | StoreError::NotAStore(_)
                | StoreError::UnsupportedVersion { .. }
                | StoreError::Invalid(_),
            ) => errors += 1,
            // SQLite reports some header damage (page size, reserved bytes...) as an I/O
            // error or a plain failure; still an error with its message, never a session.
            Err(StoreError::Io(_) | StoreError::Database(_)) => errors += 1,
            Err(e) => panic!("byte {off}: unexpected error {e:?}"),
        }
    }
    assert!(errors > 50, "{errors} errors, {same} unchanged");
}

#[test]
fn another_format_version_is_refused_by_number() {
    let scratch = Scratch::new("version");
    let (mut bytes, session) = sample_store(&scratch);
    // SQLite's header: user_version at offset 60, big-endian.
    bytes[60..64].copy_from_slice(&2u32.to_be_bytes());
    let r = open_damaged(&scratch.dir, &bytes, &session, "version 2");
    assert!(
        matches!(
            r,
            Err(StoreError::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        ),
        "{r:?}"
    );
}

#[test]
fn files_that_are_not_stores_are_refused() {
    let scratch = Scratch::new("foreign");
    let (mut bytes, session) = sample_store(&scratch);
    // Another application's SQLite database: application_id at offset 68.
    let mut other = bytes.clone();
    other[68..72].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    assert!(matches!(
        open_damaged(&scratch.dir, &other, &session, "other app"),
        Err(StoreError::NotAStore(_))
    ));
    // Not a database at all.
    assert!(matches!(
        open_damaged(&scratch.dir, b"{\"session\": []}\n", &session, "json"),
        Err(StoreError::NotAStore(_))
    ));
    // A store whose schema was changed (a trigger added) is not loaded: rewrite the
    // schema's text in place, same length, so the file stays well-formed.
    let table = b"CREATE TABLE inbound (packet_id INTEGER PRIMARY KEY, crc INTEGER NOT NULL)";
    let pos = bytes
        .windows(table.len())
        .position(|w| w == table)
        .expect("the schema is in the file");
    let edited = b"CREATE TABLE inbound (packet_id INTEGER PRIMARY KEY, crc INTEGER     NULL)";
    bytes[pos..pos + edited.len()].copy_from_slice(edited);
    let r = open_damaged(&scratch.dir, &bytes, &session, "schema edited");
    assert!(matches!(r, Err(StoreError::Damaged(_))), "{r:?}");
}

/// `MQTT_STORE_FUZZ_SEED=dir cargo test -p mqtt-store --test damage write_fuzz_seed`:
/// writes the sample store to `dir` as a seed for the `store_file` fuzz target.
#[test]
fn write_fuzz_seed() {
    let Some(dir) = std::env::var_os("MQTT_STORE_FUZZ_SEED") else {
        return;
    };
    let scratch = Scratch::new("seed");
    let (bytes, _) = sample_store(&scratch);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(Path::new(&dir).join("sample-store"), bytes).unwrap();
}
