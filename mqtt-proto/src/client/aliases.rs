//! Topic aliases (5.0 §3.3.2.3.4), both ways. Both tables belong to one connection
//! [MQTT-3.3.2-7]: a new connection starts with empty ones.

use std::collections::HashMap;
use std::num::NonZeroU16;

use crate::client::event::ProtocolError;
use crate::topic::TopicName;

/// The aliases the server set, indexed by alias − 1 (our Topic Alias Maximum slots).
#[derive(Debug, Default)]
pub(crate) struct InboundAliases {
    slots: Vec<Option<TopicName>>,
}

impl InboundAliases {
    /// A table of `max` slots (our Topic Alias Maximum; 0 refuses aliases).
    pub(crate) fn new(max: u16) -> Self {
        Self {
            slots: vec![None; usize::from(max)],
        }
    }

    /// Resolve (an empty topic) or learn (a topic) `alias` [MQTT-3.3.2-10].
    pub(crate) fn apply(
        &mut self,
        alias: NonZeroU16,
        topic: &mut TopicName,
    ) -> Result<(), ProtocolError> {
        let a = alias.get();
        let slot = self
            .slots
            .get_mut(usize::from(a) - 1)
            .ok_or(ProtocolError::TopicAliasOutOfRange(a))?;
        if topic.is_empty() {
            *topic = slot.clone().ok_or(ProtocolError::UnknownTopicAlias(a))?;
        } else {
            *slot = Some(topic.clone());
        }
        Ok(())
    }
}

/// The aliases we set: topic -> (alias, last use), least recently used reused first.
#[derive(Debug, Default)]
pub(crate) struct OutboundAliases {
    map: HashMap<TopicName, (NonZeroU16, u64)>,
    /// The other way round: the topic each alias in use stands for.
    topics: HashMap<NonZeroU16, TopicName>,
    clock: u64,
}

/// How one PUBLISH uses an outbound topic alias.
#[derive(Debug)]
pub(crate) struct AliasPlan {
    pub(crate) alias: NonZeroU16,
    /// Whether the server already maps this alias to the topic (send an empty topic).
    pub(crate) mapping: Mapping,
    /// The least recently used topic whose alias this one takes over.
    evict: Option<TopicName>,
}

/// Whether the server knows an alias's topic yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mapping {
    /// Sent before on this connection: the PUBLISH carries the alias and an empty topic.
    Known,
    /// New (or taken over): the PUBLISH carries the alias and the topic.
    New,
}

impl OutboundAliases {
    /// The alias for `topic` under the server's Topic Alias Maximum `max`: the one the
    /// application `asked` for if the server allows it (as `mosquitto_pub -D publish
    /// topic-alias N` asks), else one chosen here when `automatic`; nothing changes until
    /// [`commit`](Self::commit).
    pub(crate) fn plan(
        &self,
        topic: &TopicName,
        max: u16,
        asked: Option<NonZeroU16>,
        automatic: bool,
    ) -> Option<AliasPlan> {
        if max == 0 {
            return None;
        }
        let current = self.map.get(topic).map(|(alias, _)| *alias);
        if let Some(alias) = asked.filter(|a| a.get() <= max) {
            // The alias the application asked for, whoever held it before.
            let known = current == Some(alias);
            return Some(AliasPlan {
                alias,
                mapping: if known { Mapping::Known } else { Mapping::New },
                evict: self
                    .topics
                    .get(&alias)
                    .filter(|holder| !known && *holder != topic)
                    .cloned(),
            });
        }
        if !automatic {
            return None;
        }
        if let Some(alias) = current {
            return Some(AliasPlan {
                alias,
                mapping: Mapping::Known,
                evict: None,
            });
        }
        if self.topics.len() < usize::from(max) {
            // The lowest alias not in use (aliases asked for may leave gaps).
            let alias = (1..=max)
                .filter_map(NonZeroU16::new)
                .find(|a| !self.topics.contains_key(a))?;
            return Some(AliasPlan {
                alias,
                mapping: Mapping::New,
                evict: None,
            });
        }
        // Reuse the least recently used one.
        let (victim, (alias, _)) = self.map.iter().min_by_key(|(_, (_, used))| *used)?;
        Some(AliasPlan {
            alias: *alias,
            mapping: Mapping::New,
            evict: Some(victim.clone()),
        })
    }

    /// The PUBLISH carrying `plan` for `topic` was encoded: the server will see the mapping.
    /// (Only then: a failed encode must not leave an alias the server does not know, nor two
    /// topics on one alias.)
    pub(crate) fn commit(&mut self, plan: AliasPlan, topic: &TopicName) {
        self.clock += 1;
        if let Some(victim) = &plan.evict {
            self.map.remove(victim);
        }
        let previous = self.map.insert(topic.clone(), (plan.alias, self.clock));
        if plan.mapping == Mapping::New {
            // A topic given another alias (one asked for) gives up its old one.
            if let Some((old, _)) = previous.filter(|(old, _)| *old != plan.alias) {
                self.topics.remove(&old);
            }
            self.topics.insert(plan.alias, topic.clone());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn alias(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).unwrap()
    }

    fn topic(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    #[test]
    fn inbound_aliases_are_learned_resolved_and_bounded_mqtt_3_3_2_10() {
        let mut t = InboundAliases::new(2);
        let mut a = topic("a");
        t.apply(alias(2), &mut a).unwrap();
        let mut empty = TopicName::alias_only();
        t.apply(alias(2), &mut empty).unwrap();
        assert_eq!(empty, topic("a"));
        let mut empty = TopicName::alias_only();
        assert_eq!(
            t.apply(alias(1), &mut empty),
            Err(ProtocolError::UnknownTopicAlias(1))
        );
        assert_eq!(
            t.apply(alias(3), &mut topic("b")),
            Err(ProtocolError::TopicAliasOutOfRange(3))
        );
        assert_eq!(
            InboundAliases::new(0).apply(alias(1), &mut topic("b")),
            Err(ProtocolError::TopicAliasOutOfRange(1))
        );
    }

    #[test]
    fn outbound_aliases_change_only_when_committed_and_reuse_the_least_recent() {
        let mut t = OutboundAliases::default();
        assert!(
            t.plan(&topic("a"), 0, None, true).is_none(),
            "the server allows none"
        );
        let p = t.plan(&topic("a"), 2, None, true).unwrap();
        assert_eq!((p.alias, p.mapping), (alias(1), Mapping::New));
        // Not committed (the PUBLISH failed to encode): still new.
        let p = t.plan(&topic("a"), 2, None, true).unwrap();
        assert_eq!(p.mapping, Mapping::New);
        t.commit(p, &topic("a"));
        let p = t.plan(&topic("a"), 2, None, true).unwrap();
        assert_eq!((p.alias, p.mapping), (alias(1), Mapping::Known));
        let p = t.plan(&topic("b"), 2, None, true).unwrap();
        assert_eq!(p.alias, alias(2));
        t.commit(p, &topic("b"));
        // a used again: b is now the least recently used, and c takes its alias.
        let p = t.plan(&topic("a"), 2, None, true).unwrap();
        t.commit(p, &topic("a"));
        let p = t.plan(&topic("c"), 2, None, true).unwrap();
        assert_eq!((p.alias, p.mapping), (alias(2), Mapping::New));
        t.commit(p, &topic("c"));
        assert_eq!(
            t.plan(&topic("b"), 2, None, true).unwrap().mapping,
            Mapping::New
        );
        assert_eq!(
            t.plan(&topic("c"), 2, None, true).unwrap().mapping,
            Mapping::Known
        );
    }
}
