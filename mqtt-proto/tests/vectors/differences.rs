//! The deliberate differences: `DIFFERENCES.md` beside this file is the list (one source of
//! truth, read by the runner), and each of its categories has a check here that the scenario
//! fails for that reason and no other. A listed scenario that passes, fails another way, or
//! does not exist fails the run.

use std::path::Path;

use mqtt_proto::client::{ConnectionError, ProtocolError};
use mqtt_proto::{DecodeError, Packet, PacketType, PubRelReason};

use super::broker::{FailKind, Run};
use super::scenario::Scenario;

/// A category of deliberate difference: a `## \`id\`` section of DIFFERENCES.md.
pub(crate) struct Category {
    pub(crate) id: &'static str,
    /// Whether `run` fails the way this category says (`entry` gives the row's text).
    check: fn(&Scenario, &Run, &Entry) -> bool,
}

impl Category {
    pub(crate) fn accepts(&self, sc: &Scenario, run: &Run, entry: &Entry) -> bool {
        run.failure.is_some() && (self.check)(sc, run, entry)
    }
}

/// One row of DIFFERENCES.md.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) category: String,
    pub(crate) group: String,
    pub(crate) name: String,
    pub(crate) mosquitto: String,
    pub(crate) ours: String,
    /// Line in DIFFERENCES.md.
    pub(crate) line: usize,
}

pub(crate) const CATEGORIES: &[Category] = &[
    Category {
        id: "unknown-packet-id",
        check: |_, run, _| {
            closed_by(run, |e| {
                matches!(
                    e,
                    ConnectionError::Protocol(ProtocolError::UnknownPacketId { .. })
                )
            })
        },
    },
    Category {
        id: "pubrec-packet-id-not-found",
        check: |_, run, _| {
            matches!(
                &run.failure.as_ref().map(|f| &f.kind),
                Some(FailKind::Recv {
                    expected: Some(Packet::PubRel(want)),
                    got: Some(Packet::PubRel(got)),
                }) if want.packet_id == got.packet_id
                    && want.reason == PubRelReason::Success
                    && got.reason == PubRelReason::PacketIdentifierNotFound
            )
        },
    },
    Category {
        id: "trailing-bytes",
        check: |_, run, _| {
            closed_by(run, |e| {
                matches!(
                    e,
                    ConnectionError::Decode(DecodeError::TrailingBytes { .. })
                )
            })
        },
    },
    Category {
        id: "unknown-reason-code",
        check: |_, run, _| {
            closed_by(run, |e| {
                matches!(
                    e,
                    ConnectionError::Decode(DecodeError::InvalidReasonCode { .. })
                )
            })
        },
    },
    Category {
        id: "reason-count",
        check: |_, run, _| {
            closed_by(run, |e| {
                matches!(
                    e,
                    ConnectionError::Protocol(ProtocolError::ReasonCountMismatch { .. })
                )
            })
        },
    },
    Category {
        id: "disconnect-reason",
        // The row names both codes: "DISCONNECT 0x82" and "DISCONNECT 0x81".
        check: |_, run, entry| {
            let Some(FailKind::Recv {
                expected: Some(Packet::Disconnect(want)),
                got: Some(Packet::Disconnect(got)),
            }) = run.failure.as_ref().map(|f| &f.kind)
            else {
                return false;
            };
            want.reason != got.reason
                && entry
                    .mosquitto
                    .contains(&format!("0x{:02X}", want.reason.code()))
                && entry.ours.contains(&format!("0x{:02X}", got.reason.code()))
        },
    },
    Category {
        id: "control-characters",
        // Still connected, having sent nothing where mosquitto's client closes.
        check: |_, run, _| {
            run.close.is_none()
                && matches!(
                    run.failure.as_ref().map(|f| &f.kind),
                    Some(FailKind::StillConnected | FailKind::Recv { got: None, .. })
                )
        },
    },
    Category {
        id: "multiple-subscription-identifiers",
        // Still connected, the message acknowledged, where mosquitto's client closes.
        check: |_, run, _| {
            run.close.is_none()
                && matches!(
                    run.failure.as_ref().map(|f| &f.kind),
                    Some(FailKind::Recv {
                        expected: Some(Packet::Disconnect(_)),
                        got: Some(Packet::PubAck(_)),
                    })
                )
        },
    },
    Category {
        id: "unrequested-authentication",
        check: |_, run, _| {
            closed_by(run, |e| {
                matches!(
                    e,
                    ConnectionError::Protocol(ProtocolError::UnexpectedAuth)
                        | ConnectionError::Decode(DecodeError::AuthenticationDataWithoutMethod)
                )
            })
        },
    },
    Category {
        id: "maximum-packet-size",
        // The liveness PUBACK cannot be sent: the client closes, naming it.
        check: |_, run, _| {
            closed_by(run, |e| {
                matches!(
                    e,
                    ConnectionError::Unsendable {
                        packet: PacketType::PubAck,
                        ..
                    }
                )
            })
        },
    },
    Category {
        id: "connect-false-with-connack",
        check: |sc, run, _| {
            !sc.connect
                && run.close.is_none()
                && matches!(
                    run.failure.as_ref().map(|f| &f.kind),
                    Some(FailKind::StillConnected)
                )
        },
    },
];

/// The client ended the connection with an error `pred` accepts, where mosquitto's stays.
fn closed_by(run: &Run, pred: impl Fn(&ConnectionError) -> bool) -> bool {
    matches!(
        run.failure.as_ref().map(|f| &f.kind),
        Some(FailKind::Closed | FailKind::Recv { .. })
    ) && run.close.as_ref().is_some_and(pred)
}

/// The rows of DIFFERENCES.md: under a heading ``## `category-id`: title``, table rows
/// ``| `group` | `name` | mosquitto expects | we do |``. Group and name are taken verbatim
/// from between the backticks (spaces kept).
pub(crate) fn load(path: &Path) -> Result<Vec<Entry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut category: Option<String> = None;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if let Some(rest) = line.strip_prefix("## ") {
            category = rest
                .strip_prefix('`')
                .and_then(|r| r.split_once('`'))
                .map(|(id, _)| id.to_owned());
            if let Some(id) = &category
                && !CATEGORIES.iter().any(|c| c.id == id)
            {
                return Err(format!("line {line_no}: unknown category {id:?}"));
            }
            continue;
        }
        if !line.starts_with("| `") {
            continue;
        }
        let Some(cat) = &category else {
            return Err(format!("line {line_no}: a row outside any category"));
        };
        let cells: Vec<&str> = line.split(" | ").collect();
        let code = |cell: Option<&&str>| -> Result<String, String> {
            cell.and_then(|c| c.trim_start_matches('|').trim_start().strip_prefix('`'))
                .and_then(|c| c.rsplit_once('`'))
                .map(|(inner, _)| inner.to_owned())
                .ok_or_else(|| format!("line {line_no}: expected `group` | `name` | ... | ..."))
        };
        if cells.len() != 4 {
            return Err(format!(
                "line {line_no}: expected 4 cells separated by \" | \", got {}",
                cells.len()
            ));
        }
        entries.push(Entry {
            category: cat.clone(),
            group: code(cells.first())?,
            name: code(cells.get(1))?,
            mosquitto: cells[2].trim().to_owned(),
            ours: cells[3].trim().trim_end_matches('|').trim().to_owned(),
            line: line_no,
        });
    }
    Ok(entries)
}
