//! The file store and the memory store (whose logic is `PersistedSession::apply`) agree on
//! any sequence of changes, in batches of any size, including sequences no client would make:
//! after every commit both load the same session, or both refuse it as invalid. And a batch
//! that fails leaves the file store as it was (one commit is all or nothing).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mqtt_proto::client::RequestId;
use mqtt_proto::{PubAckReason, QoS, SubscribeFilter, SubscribeProperties, TopicFilter};
use mqtt_store::{Durability, FileStore, MemoryStore, SessionChange, SessionStore, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

use common::{Scratch, meta, pid, request, sample_changes};

fn change() -> impl Strategy<Value = SessionChange> {
    let id = (1u64..12).prop_map(RequestId::new);
    let packet_id = (1u16..8).prop_map(pid);
    let filter = (0u8..4).prop_map(|f| TopicFilter::new(format!("a/{f}/#")).unwrap());
    prop_oneof![
        1 => (0u32..3).prop_map(|n| SessionChange::New(meta(n))),
        1 => (0u32..3).prop_map(|n| SessionChange::Meta(meta(n))),
        4 => (id.clone(), any::<bool>()).prop_map(|(id, q2)| SessionChange::PublishAccepted {
            id,
            request: request(id.get(), if q2 { QoS::ExactlyOnce } else { QoS::AtLeastOnce }),
        }),
        4 => (id.clone(), packet_id.clone(), 1u64..40)
            .prop_map(|(id, packet_id, seq)| SessionChange::PublishSent { id, packet_id, seq }),
        2 => (id.clone(), packet_id.clone(), 1u64..40).prop_map(|(id, packet_id, order)| {
            SessionChange::Released { id, packet_id, order, reason: PubAckReason::Success }
        }),
        1 => id.clone().prop_map(|id| SessionChange::Requeued { id }),
        2 => id.prop_map(|id| SessionChange::Completed { id }),
        2 => packet_id.clone().prop_map(|packet_id| SessionChange::InboundQos2Held { packet_id }),
        1 => packet_id.prop_map(|packet_id| SessionChange::InboundQos2Released { packet_id }),
        2 => proptest::collection::vec(filter.clone(), 1..3).prop_map(|fs| {
            SessionChange::Subscribed {
                subscriptions: fs.into_iter().map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce)).collect(),
                properties: SubscribeProperties::default(),
            }
        }),
        1 => proptest::collection::vec(filter, 1..3)
            .prop_map(|filters| SessionChange::Unsubscribed { filters }),
        1 => Just(SessionChange::SessionLost),
    ]
}

fn config() -> ProptestConfig {
    let mut c = ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if let Ok(n) = std::env::var("PROPTEST_CASES") {
        c.cases = n.parse().unwrap_or(128);
    }
    if c.rng_seed == RngSeed::Random {
        c.rng_seed = RngSeed::Fixed(0x4147_5245);
    }
    c
}

proptest! {
    #![proptest_config(config())]
    #[test]
    fn file_and_memory_stores_agree(
        batches in proptest::collection::vec(proptest::collection::vec(change(), 0..6), 1..25),
    ) {
        let scratch = Scratch::new("agree");
        let mut file = FileStore::open(scratch.path("s.db"), Durability::OsBuffered).unwrap();
        let mut memory = MemoryStore::new();
        for (i, batch) in batches.iter().enumerate() {
            let mut batch = batch.clone();
            if i == 0 {
                batch.insert(0, SessionChange::New(meta(1)));
            }
            let before = file.load().ok();
            match (memory.commit(&batch), file.commit(&batch)) {
                (Ok(()), Ok(())) => {}
                (Err(StoreError::NoSession), Err(StoreError::NoSession)) => {
                    prop_assert_eq!(file.load().ok(), before, "a failed batch changed the file");
                }
                (m, f) => panic!("memory {m:?}, file {f:?}"),
            }
            match (memory.load(), file.load()) {
                (Ok(m), Ok(f)) => prop_assert_eq!(m, f),
                (Err(StoreError::Invalid(m)), Err(StoreError::Invalid(f))) => prop_assert_eq!(m, f),
                (m, f) => panic!("memory {m:?}, file {f:?}"),
            }
        }
        // The same after closing and opening the file again.
        drop(file);
        let mut file = FileStore::open(scratch.path("s.db"), Durability::Fsync).unwrap();
        match (memory.load(), file.load()) {
            (Ok(m), Ok(f)) => prop_assert_eq!(m, f),
            (Err(StoreError::Invalid(m)), Err(StoreError::Invalid(f))) => prop_assert_eq!(m, f),
            (m, f) => panic!("memory {m:?}, file {f:?}"),
        }
    }
}

#[test]
fn a_requeued_publish_loses_its_packet_id() {
    let scratch = Scratch::new("requeued");
    let mut file = FileStore::open(scratch.path("s.db"), Durability::Fsync).unwrap();
    let mut memory = MemoryStore::new();
    let mut changes = sample_changes();
    changes.push(SessionChange::Requeued {
        id: RequestId::new(1),
    });
    file.commit(&changes).unwrap();
    memory.commit(&changes).unwrap();
    let loaded = file.load().unwrap().unwrap();
    assert_eq!(Some(&loaded), memory.load().unwrap().as_ref());
    assert_eq!(
        loaded.outbound[0].state,
        mqtt_store::OutboundState::Queued,
        "{loaded:?}"
    );
}

#[test]
fn a_store_without_a_session_loads_none_and_refuses_changes_until_new() {
    let scratch = Scratch::new("empty");
    let mut file = FileStore::open(scratch.path("s.db"), Durability::Fsync).unwrap();
    assert_eq!(file.load().unwrap(), None);
    let done = SessionChange::Completed {
        id: RequestId::new(1),
    };
    assert!(matches!(
        file.commit(std::slice::from_ref(&done)),
        Err(StoreError::NoSession)
    ));
    assert!(matches!(
        MemoryStore::new().commit(std::slice::from_ref(&done)),
        Err(StoreError::NoSession)
    ));
    file.commit(&sample_changes()).unwrap();
    assert!(file.load().unwrap().is_some());
    file.clear().unwrap();
    assert_eq!(file.load().unwrap(), None);
}

#[test]
fn a_second_store_on_the_same_file_is_refused_while_the_first_is_open() {
    let scratch = Scratch::new("locked");
    let path = scratch.path("s.db");
    let mut first = FileStore::open(&path, Durability::Fsync).unwrap();
    first.commit(&sample_changes()).unwrap();
    let second = FileStore::open(&path, Durability::Fsync);
    assert!(matches!(second, Err(StoreError::Locked)), "{second:?}");
    drop(first);
    let mut again = FileStore::open(&path, Durability::Fsync).unwrap();
    assert!(again.load().unwrap().is_some());
}
