//! Loading the vectors: every `*.json` file of the directory, every group, every test, with a
//! test's fields overriding its group's and the README's defaults.

use std::path::Path;

use mqtt_proto::{ProtocolVersion, QoS};
use serde_json::Value;

use super::notation;

/// One scenario, fields resolved.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    /// The file it comes from (`PUBACK.json`).
    pub(crate) file: String,
    /// The group name, as written (`"v5.0   PUBACK"`: spaces kept).
    pub(crate) group: String,
    /// The test name, as written (some end with a space).
    pub(crate) name: String,
    pub(crate) version: ProtocolVersion,
    /// Check that the client's first packet is a CONNECT (`"connect"`, default true).
    pub(crate) connect: bool,
    /// Send the default CONNACK (`"connack"`, default true).
    pub(crate) connack: bool,
    pub(crate) clean_start: bool,
    pub(crate) expect_disconnect: bool,
    pub(crate) command: Option<Command>,
    /// `group_msgs` then `msgs`.
    pub(crate) msgs: Vec<Msg>,
}

impl Scenario {
    /// `FILE / group / name`, for reports.
    pub(crate) fn id(&self) -> String {
        format!("{} / {} / {:?}", self.file, self.group, self.name)
    }
}

/// What the client does as soon as it is connected (`"command"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// `publish-0`, `publish-1`, `publish-2`.
    Publish(QoS),
    /// `unsubscribe`.
    Unsubscribe,
}

/// One step.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    /// The broker sends these bytes.
    Send(Vec<u8>),
    /// The client must send these bytes next.
    Recv(Vec<u8>),
    /// A message published to the client through the broker.
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
    },
}

/// Every scenario of every `*.json` file in `dir`, files in name order.
pub(crate) fn load_dir(dir: &Path) -> Result<Vec<Scenario>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for path in files {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        load_file(&file, &json, &mut all).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(all)
}

fn load_file(file: &str, json: &Value, out: &mut Vec<Scenario>) -> Result<(), String> {
    let groups = json.as_array().ok_or("not a list of groups")?;
    for g in groups {
        let group = g
            .get("group")
            .and_then(Value::as_str)
            .ok_or("a group without a name")?;
        if g.get("disable").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let group_msgs = match g.get("group_msgs") {
            Some(m) => msgs(m).map_err(|e| format!("{group}: {e}"))?,
            None => Vec::new(),
        };
        let tests = g
            .get("tests")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{group}: no tests"))?;
        for t in tests {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{group}: a test without a name"))?;
            let field = |key: &str| t.get(key).or_else(|| g.get(key));
            let flag = |key: &str, default: bool| -> Result<bool, String> {
                match field(key) {
                    None => Ok(default),
                    Some(v) => v
                        .as_bool()
                        .ok_or_else(|| format!("{group} / {name}: {key} is not a boolean")),
                }
            };
            let version = match field("ver").map(Value::as_u64) {
                None => ProtocolVersion::V3_1_1,
                Some(Some(3)) => ProtocolVersion::V3_1,
                Some(Some(4)) => ProtocolVersion::V3_1_1,
                Some(Some(5)) => ProtocolVersion::V5,
                Some(v) => return Err(format!("{group} / {name}: unknown ver {v:?}")),
            };
            let command = match field("command") {
                None | Some(Value::Null) => None,
                Some(c) => Some(match c.as_str() {
                    Some("publish-0") => Command::Publish(QoS::AtMostOnce),
                    Some("publish-1") => Command::Publish(QoS::AtLeastOnce),
                    Some("publish-2") => Command::Publish(QoS::ExactlyOnce),
                    Some("unsubscribe") => Command::Unsubscribe,
                    _ => return Err(format!("{group} / {name}: unknown command {c}")),
                }),
            };
            let mut all_msgs = group_msgs.clone();
            all_msgs.extend(
                msgs(t.get("msgs").unwrap_or(&Value::Null))
                    .map_err(|e| format!("{group} / {name}: {e}"))?,
            );
            out.push(Scenario {
                file: file.to_owned(),
                group: group.to_owned(),
                name: name.to_owned(),
                version,
                connect: flag("connect", true)?,
                connack: flag("connack", true)?,
                clean_start: flag("clean_start", true)?,
                expect_disconnect: flag("expect_disconnect", true)?,
                command,
                msgs: all_msgs,
            });
        }
    }
    Ok(())
}

fn msgs(json: &Value) -> Result<Vec<Msg>, String> {
    let Some(list) = json.as_array() else {
        return if json.is_null() {
            Ok(Vec::new())
        } else {
            Err("msgs is not a list".into())
        };
    };
    list.iter().map(msg).collect()
}

fn msg(m: &Value) -> Result<Msg, String> {
    let kind = m
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a message without a type")?;
    let text = |key: &str| {
        m.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("a {kind} message without {key}"))
    };
    Ok(match kind {
        "send" => Msg::Send(notation::parse(text("payload")?)?),
        "recv" => Msg::Recv(notation::parse(text("payload")?)?),
        "publish" => Msg::Publish {
            topic: text("topic")?.to_owned(),
            payload: text("payload")?.as_bytes().to_vec(),
            qos: match m.get("qos").and_then(Value::as_u64) {
                Some(0) => QoS::AtMostOnce,
                Some(1) => QoS::AtLeastOnce,
                Some(2) => QoS::ExactlyOnce,
                q => return Err(format!("publish with qos {q:?}")),
            },
        },
        other => return Err(format!("unknown message type {other:?}")),
    })
}
