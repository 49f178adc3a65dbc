//! Fuzz the file store's format (issue 12): the input is written as a store file, opened and
//! loaded. A damaged or hostile file never panics, and a session that loads is valid
//! (`PersistedSession::validate`) and restores into a client with its client id and
//! protocol.
//!
//! The file lives in a directory of this process under `/dev/shm` when there is one (a
//! memory file system: no disk I/O per run), else under the temporary directory.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mqtt_proto::client::{ClientOptions, ClientState};
use mqtt_store::{Durability, FileStore, SessionStore};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("mqtt-store-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("store.db");
    let _ = std::fs::remove_file(dir().join("store.db-wal"));
    std::fs::write(&path, data).expect("the input written");
    let Ok(mut store) = FileStore::open(&path, Durability::OsBuffered) else {
        return;
    };
    let Ok(Some(session)) = store.load() else {
        return;
    };
    session
        .validate()
        .expect("a loaded session keeps the invariants");
    let mut opts = ClientOptions::new(session.meta.protocol, session.meta.client_id.clone());
    // The options' Session Expiry Interval is the one a restored client uses.
    opts.session_expiry_interval = session.meta.expiry_interval;
    let (client, outbound) =
        ClientState::restore(opts, session.clone()).expect("a loaded session restores");
    assert_eq!(outbound, session.outbound);
    assert_eq!(client.persisted_session(), session);
});
