//! The WebSocket listener, over loopback: tokio-tungstenite clients offering the subprotocol
//! `mqtt`, MQTT in binary messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use common::ws::{ws_pipe, ws_upgrade};
use common::*;
use futures_util::{SinkExt, StreamExt};
use mqtt_proto::{
    Connect, Decoder, DisconnectReason, Encoder, Packet, ProtocolVersion, QoS, QosPid,
    SubAckReason, Subscribe, SubscribeFilter,
};
use mqtt_testkit::{Broker, Event};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

async fn ws_broker() -> Broker {
    Broker::builder().websocket().start().await.unwrap()
}

/// Upgrade a TCP connection to `addr`, offering `subprotocol` if any.
async fn ws_open(
    addr: SocketAddr,
    subprotocol: Option<&str>,
) -> Result<WebSocketStream<TcpStream>, WsError> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    ws_upgrade(tcp, &format!("ws://{addr}/mqtt"), subprotocol).await
}

async fn ws_client(addr: SocketAddr, version: ProtocolVersion, id: &str) -> RawClient {
    let ws = within(ws_open(addr, Some("mqtt"))).await.expect("upgrade");
    mqtt_over(ws_pipe(ws), version, id).await
}

fn encode(version: ProtocolVersion, packet: impl Into<Packet>) -> BytesMut {
    let mut buf = BytesMut::new();
    Encoder::new(version)
        .encode(&packet.into(), &mut buf)
        .unwrap();
    buf
}

/// The next packet from the broker over a raw WebSocket client.
async fn ws_recv(
    ws: &mut WebSocketStream<TcpStream>,
    decoder: &mut Decoder,
    buf: &mut BytesMut,
) -> Packet {
    within(async {
        loop {
            if let Some(p) = decoder.decode(buf).unwrap() {
                return p;
            }
            match ws.next().await {
                Some(Ok(Message::Binary(data))) => buf.extend_from_slice(&data),
                Some(Ok(_)) => {}
                other => panic!("WebSocket ended: {other:?}"),
            }
        }
    })
    .await
}

#[tokio::test]
async fn round_trip_over_websocket() {
    let broker = ws_broker().await;
    let ws_addr = broker.ws_addr().expect("WebSocket listener");
    assert_ne!(ws_addr, broker.local_addr());
    assert_eq!(broker.tls_addr(), None);

    for version in ALL {
        let id = format!("ws-{version:?}");
        let mut c = ws_client(ws_addr, version, &id).await;
        let ack = c.subscribe(1, "ws/echo", QoS::AtLeastOnce).await;
        assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS1]);
        c.publish(publish("ws/echo", QosPid::AtLeastOnce(pid(2)), b"hello"))
            .await;
        let got = c.recv_publish().await;
        assert_eq!(got.topic.as_str(), "ws/echo");
        assert_eq!(got.payload, Bytes::from_static(b"hello"));
        c.ping().await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn tcp_and_websocket_clients_exchange_messages() {
    let broker = ws_broker().await;
    let ws_addr = broker.ws_addr().unwrap();

    let mut tcp = RawClient::connect(broker.local_addr(), V311, "tcp").await;
    let mut ws = ws_client(ws_addr, V5, "ws").await;
    tcp.subscribe(1, "from/ws", QoS::AtMostOnce).await;
    ws.subscribe(1, "from/tcp", QoS::AtMostOnce).await;

    ws.publish(publish("from/ws", QosPid::AtMostOnce, b"over ws"))
        .await;
    let got = tcp.recv_publish().await;
    assert_eq!(got.payload, Bytes::from_static(b"over ws"));

    tcp.publish(publish("from/tcp", QosPid::AtMostOnce, b"over tcp"))
        .await;
    let got = ws.recv_publish().await;
    assert_eq!(got.payload, Bytes::from_static(b"over tcp"));
    broker.shutdown().await;
}

#[tokio::test]
async fn upgrade_without_mqtt_subprotocol_is_refused() {
    let broker = ws_broker().await;
    let ws_addr = broker.ws_addr().unwrap();

    for offered in [None, Some("chat"), Some("mqttv3.1")] {
        let refused = within(ws_open(ws_addr, offered)).await;
        match refused {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 400),
            other => panic!("{offered:?}: upgrade must be refused, got {other:?}"),
        }
    }
    // Among others, `mqtt` is chosen.
    let ws = within(ws_open(ws_addr, Some("chat, mqtt"))).await.unwrap();
    let mut connect = Connect::new(V311, "listed");
    connect.keep_alive = 0;
    let (mut c, ack) = within(RawClient::connect_over(ws_pipe(ws), connect)).await;
    assert!(!ack.reason.is_error());
    c.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn packets_may_span_or_share_messages() {
    let broker = ws_broker().await;
    let mut events = broker.events();
    let ws_addr = broker.ws_addr().unwrap();
    let mut ws = within(ws_open(ws_addr, Some("mqtt"))).await.unwrap();
    let mut decoder = Decoder::new(V311);
    let mut rbuf = BytesMut::new();

    // CONNECT split across two messages.
    let mut connect = Connect::new(V311, "frames");
    connect.keep_alive = 0;
    let mut bytes = encode(V311, connect);
    let second = bytes.split_off(bytes.len() / 2);
    ws.send(Message::Binary(bytes.freeze())).await.unwrap();
    ws.send(Message::Binary(second.freeze())).await.unwrap();
    match ws_recv(&mut ws, &mut decoder, &mut rbuf).await {
        Packet::ConnAck(ack) => assert!(!ack.reason.is_error(), "{ack:?}"),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    within(
        events
            .wait_for(|e| matches!(e, Event::Connected { client_id, .. } if client_id == "frames")),
    )
    .await;

    // SUBSCRIBE and a PUBLISH to it in one message.
    let subscribe = Subscribe::new(
        pid(1),
        vec![SubscribeFilter::new(filter("frames/t"), QoS::AtMostOnce)],
    );
    let mut both = encode(V311, subscribe);
    both.extend_from_slice(&encode(
        V311,
        publish("frames/t", QosPid::AtMostOnce, b"shared"),
    ));
    ws.send(Message::Binary(both.freeze())).await.unwrap();
    match ws_recv(&mut ws, &mut decoder, &mut rbuf).await {
        Packet::SubAck(ack) => assert_eq!(ack.reasons, vec![SubAckReason::GrantedQoS0]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    match ws_recv(&mut ws, &mut decoder, &mut rbuf).await {
        Packet::Publish(p) => assert_eq!(p.payload, Bytes::from_static(b"shared")),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    ws.close(None).await.unwrap();
    broker.shutdown().await;
}

#[tokio::test]
async fn shutdown_disconnects_websocket_clients() {
    let broker = ws_broker().await;
    let ws_addr = broker.ws_addr().unwrap();
    let mut c = ws_client(ws_addr, V5, "ws-v5").await;
    within(broker.shutdown()).await;
    let got = c.closed().await;
    assert!(
        matches!(
            got.as_slice(),
            [Packet::Disconnect(d)] if d.reason == DisconnectReason::ServerShuttingDown
        ),
        "{got:?}"
    );
    assert!(
        TcpStream::connect(ws_addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn a_text_message_closes_the_connection() {
    let broker = ws_broker().await;
    let mut events = broker.events();
    let ws_addr = broker.ws_addr().unwrap();
    let mut ws = within(ws_open(ws_addr, Some("mqtt"))).await.unwrap();
    let mut decoder = Decoder::new(V311);
    let mut rbuf = BytesMut::new();
    let mut connect = Connect::new(V311, "texter");
    connect.keep_alive = 0;
    ws.send(Message::Binary(encode(V311, connect).freeze()))
        .await
        .unwrap();
    assert!(matches!(
        ws_recv(&mut ws, &mut decoder, &mut rbuf).await,
        Packet::ConnAck(_)
    ));
    ws.send(Message::text("not mqtt")).await.unwrap();
    within(
        events.wait_for(
            |e| matches!(e, Event::Disconnected { client_id, .. } if client_id.as_deref() == Some("texter")),
        ),
    )
    .await;
    let rest = within(async {
        let mut rest = Vec::new();
        while let Some(Ok(m)) = ws.next().await {
            rest.push(m);
        }
        rest
    })
    .await;
    assert!(
        rest.iter().all(|m| matches!(m, Message::Close(_))),
        "{rest:?}"
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_websocket_message_far_over_the_packet_limit_closes_the_connection() {
    // The bridge does not buffer WebSocket messages larger than twice the maximum packet
    // size (tungstenite alone would take 64 MiB), and other clients are still served.
    let broker = Broker::builder()
        .websocket()
        .max_packet_size(std::num::NonZeroU32::new(1024).unwrap())
        .start()
        .await
        .unwrap();
    let mut events = broker.events();
    let ws_addr = broker.ws_addr().unwrap();
    let mut ws = within(ws_open(ws_addr, Some("mqtt"))).await.unwrap();
    let mut decoder = Decoder::new(V311);
    let mut rbuf = BytesMut::new();
    let mut connect = Connect::new(V311, "bulky");
    connect.keep_alive = 0;
    ws.send(Message::Binary(encode(V311, connect).freeze()))
        .await
        .unwrap();
    assert!(matches!(
        ws_recv(&mut ws, &mut decoder, &mut rbuf).await,
        Packet::ConnAck(_)
    ));
    // 64 KiB of PINGREQs (two bytes each, each packet well within the limit) in one message.
    let _ = ws
        .send(Message::Binary(bytes::Bytes::from(
            [0xC0u8, 0x00].repeat(32 * 1024),
        )))
        .await;
    within(events.wait_for(
        |e| matches!(e, Event::Disconnected { client_id, .. } if client_id.as_deref() == Some("bulky")),
    ))
    .await;
    // Another client is served.
    let mut other = within(ws_open(ws_addr, Some("mqtt"))).await.unwrap();
    let mut connect = Connect::new(V311, "other");
    connect.keep_alive = 0;
    other
        .send(Message::Binary(encode(V311, connect).freeze()))
        .await
        .unwrap();
    let mut rbuf = BytesMut::new();
    assert!(matches!(
        ws_recv(&mut other, &mut Decoder::new(V311), &mut rbuf).await,
        Packet::ConnAck(_)
    ));
    broker.shutdown().await;
}
