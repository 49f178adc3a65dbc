//! Loading the broker vectors: every `*.json` file of the directory, every group not
//! disabled, every test, with a test's fields overriding its group's and the README's
//! defaults (`ver` 4, `connect` true, `expect_disconnect` true).

use std::path::Path;

use serde_json::Value;

use super::notation;

/// One scenario, fields resolved.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    /// The file it comes from (`PUBACK.json`).
    pub(crate) file: String,
    /// The group name, as written (`"v5.0   PUBACK"`: spaces kept).
    pub(crate) group: String,
    /// The test name, as written.
    pub(crate) name: String,
    /// The protocol level: 3, 4 or 5.
    pub(crate) ver: u8,
    /// Send the default CONNECT and expect a successful CONNACK first.
    pub(crate) connect: bool,
    pub(crate) expect_disconnect: bool,
    pub(crate) msgs: Vec<Msg>,
}

impl Scenario {
    /// `FILE / group / name`, for reports.
    pub(crate) fn id(&self) -> String {
        format!("{} / {} / {:?}", self.file, self.group, self.name)
    }

    /// The test's full name, `GROUP + " " + name`: the client id of the default CONNECT.
    pub(crate) fn full_name(&self) -> String {
        format!("{} {}", self.group, self.name)
    }
}

/// One step.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    /// The client sends these bytes.
    Send(Vec<u8>),
    /// The broker must send exactly these bytes next.
    Recv(Vec<u8>),
    /// A second client publishes this message and completes its flow.
    ExternalPublish {
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
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
            let ver = match field("ver").map(Value::as_u64) {
                None => 4,
                Some(Some(v @ 3..=5)) => v as u8,
                Some(v) => return Err(format!("{group} / {name}: unknown ver {v:?}")),
            };
            out.push(Scenario {
                file: file.to_owned(),
                group: group.to_owned(),
                name: name.to_owned(),
                ver,
                connect: flag("connect", true)?,
                expect_disconnect: flag("expect_disconnect", true)?,
                msgs: msgs(t.get("msgs").unwrap_or(&Value::Null))
                    .map_err(|e| format!("{group} / {name}: {e}"))?,
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
        "external_publish" => Msg::ExternalPublish {
            topic: text("topic")?.to_owned(),
            payload: text("payload")?.as_bytes().to_vec(),
            qos: match m.get("qos").and_then(Value::as_u64) {
                Some(q @ 0..=2) => q as u8,
                q => return Err(format!("external_publish with qos {q:?}")),
            },
            retain: m.get("retain").and_then(Value::as_bool).unwrap_or(false),
        },
        other => return Err(format!("unknown message type {other:?}")),
    })
}
