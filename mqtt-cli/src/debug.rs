//! The text of mosquitto's `-d` lines (libmosquitto's log callback), printed on **stdout**
//! mixed with messages. Each function returns one line without the newline.
//!
//! `id` is the client identifier; mosquitto prints `(null)` until one is known. With **D14**
//! the id is always known, so callers pass the real one.

use crate::format::MessageView;

/// `Client <id> sending CONNECT`.
pub fn sending_connect(id: &str) -> String {
    format!("Client {id} sending CONNECT")
}

/// `Client <id> received CONNACK (<rc>)`: the v3 return code or v5 reason code.
pub fn received_connack(id: &str, rc: u8) -> String {
    format!("Client {id} received CONNACK ({rc})")
}

/// `Client <id> sending|received PUBLISH (d0, q1, r0, m1, 'topic', ... (N bytes))`.
pub fn publish(id: &str, sending: bool, dup: bool, msg: &MessageView<'_>) -> String {
    format!(
        "Client {id} {} PUBLISH (d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
        if sending { "sending" } else { "received" },
        u8::from(dup),
        msg.qos,
        u8::from(msg.retain),
        msg.mid.unwrap_or(0),
        msg.topic,
        msg.payload.len()
    )
}

/// `Client <id> received PUBACK (Mid: 1, RC:0)`; likewise `PUBCOMP`.
pub fn received_ack(id: &str, packet: &str, mid: u16, rc: u8) -> String {
    format!("Client {id} received {packet} (Mid: {mid}, RC:{rc})")
}

/// `Client <id> received PUBREC (Mid: 1)`; likewise `PUBREL`.
pub fn received_mid(id: &str, packet: &str, mid: u16) -> String {
    format!("Client {id} received {packet} (Mid: {mid})")
}

/// `Client <id> sending PUBACK (m1, rc0)`; likewise `PUBREC`.
pub fn sending_ack(id: &str, packet: &str, mid: u16, rc: u8) -> String {
    format!("Client {id} sending {packet} (m{mid}, rc{rc})")
}

/// `Client <id> sending PUBREL (m1)`; likewise `PUBCOMP`.
pub fn sending_mid(id: &str, packet: &str, mid: u16) -> String {
    format!("Client {id} sending {packet} (m{mid})")
}

/// `Client <id> sending SUBSCRIBE (Mid: 1, Topic: t, QoS: 1, Options: 0x00)`: one line per
/// filter, all with the same mid. `options` is the subscription options byte without QoS.
pub fn sending_subscribe(id: &str, mid: u16, topic: &str, qos: u8, options: u8) -> String {
    format!(
        "Client {id} sending SUBSCRIBE (Mid: {mid}, Topic: {topic}, QoS: {qos}, Options: 0x{options:02x})"
    )
}

/// `Client <id> sending UNSUBSCRIBE (Mid: 2, Topic: t)`.
pub fn sending_unsubscribe(id: &str, mid: u16, topic: &str) -> String {
    format!("Client {id} sending UNSUBSCRIBE (Mid: {mid}, Topic: {topic})")
}

/// `Client <id> received <PACKET>` for SUBACK, UNSUBACK, PINGRESP.
pub fn received(id: &str, packet: &str) -> String {
    format!("Client {id} received {packet}")
}

/// `Client <id> sending <PACKET>` for PINGREQ, DISCONNECT.
pub fn sending(id: &str, packet: &str) -> String {
    format!("Client {id} sending {packet}")
}

/// `Subscribed (mid: 1): 0, 1`: printed by mosquitto_sub itself (with `-d`, unless
/// `--quiet`), one granted QoS (or v5 reason code) per filter.
pub fn subscribed(mid: u16, granted: &[u8]) -> String {
    let list: Vec<String> = granted.iter().map(u8::to_string).collect();
    format!("Subscribed (mid: {mid}): {}", list.join(", "))
}

/// `Received DISCONNECT (<reason>)`: a v5 server-initiated disconnect.
pub fn received_disconnect(reason: u8) -> String {
    format!("Received DISCONNECT ({reason})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_mosquitto() {
        assert_eq!(sending_connect("c"), "Client c sending CONNECT");
        assert_eq!(received_connack("c", 0), "Client c received CONNACK (0)");
        let m = MessageView {
            qos: 1,
            mid: Some(1),
            ..MessageView::new("sensor", b"25")
        };
        assert_eq!(
            publish("c", true, false, &m),
            "Client c sending PUBLISH (d0, q1, r0, m1, 'sensor', ... (2 bytes))"
        );
        let m = MessageView {
            retain: true,
            ..MessageView::new("dbg/a", b"hello")
        };
        assert_eq!(
            publish("c", false, false, &m),
            "Client c received PUBLISH (d0, q0, r1, m0, 'dbg/a', ... (5 bytes))"
        );
        assert_eq!(
            received_ack("c", "PUBACK", 1, 16),
            "Client c received PUBACK (Mid: 1, RC:16)"
        );
        assert_eq!(
            received_mid("c", "PUBREC", 1),
            "Client c received PUBREC (Mid: 1)"
        );
        assert_eq!(
            sending_ack("c", "PUBACK", 1, 0),
            "Client c sending PUBACK (m1, rc0)"
        );
        assert_eq!(
            sending_mid("c", "PUBREL", 1),
            "Client c sending PUBREL (m1)"
        );
        assert_eq!(
            sending_subscribe("c", 1, "dbg/#", 1, 0x20),
            "Client c sending SUBSCRIBE (Mid: 1, Topic: dbg/#, QoS: 1, Options: 0x20)"
        );
        assert_eq!(
            sending_unsubscribe("c", 2, "e/#"),
            "Client c sending UNSUBSCRIBE (Mid: 2, Topic: e/#)"
        );
        assert_eq!(received("c", "SUBACK"), "Client c received SUBACK");
        assert_eq!(sending("c", "PINGREQ"), "Client c sending PINGREQ");
        assert_eq!(subscribed(1, &[1, 0]), "Subscribed (mid: 1): 1, 0");
        assert_eq!(received_disconnect(142), "Received DISCONNECT (142)");
    }
}
