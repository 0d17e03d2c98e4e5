//! The remote-execute relay's messages: JSON objects in WebSocket text
//! frames. The host decodes each frame into a typed [`ExecRequest`] for the
//! component and writes the few answers it makes itself (the server
//! heartbeat, and the error when the component gives no answer). The
//! WebSocket framing is `transport::ws`.
//!
//! Every command but `init`, `checkDevice` and `Heartbeat` carries the
//! frame's text unchanged, so the component can relay it byte for byte.

use serde_json::Value;

pub use crate::bindings::exec::{CommandFrame, ExecRequest, Outgoing};

/// The server heartbeat, sent to every connection as it opens and then
/// every `heartbeat_ms`. It carries both shapes clients parse: the
/// original server's `session_id: null` and the documents' `extra`.
pub const HEARTBEAT: &str = r#"{"cmd":"Heartbeat","code":"1","session_id":null,"extra":{}}"#;

/// Decodes one text frame. Never fails: what is not a JSON object with a
/// string `cmd` is [`ExecRequest::Invalid`] with a reason that does not
/// quote the input (it may hold a token).
pub fn decode(text: &str) -> ExecRequest {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        // serde_json's messages name a position and what was expected,
        // never the input itself.
        Err(e) => return ExecRequest::Invalid(format!("invalid JSON: {e}")),
    };
    let Value::Object(map) = value else {
        return ExecRequest::Invalid("not a JSON object".to_string());
    };
    let Some(Value::String(cmd)) = map.get("cmd") else {
        return ExecRequest::Invalid("no \"cmd\" string".to_string());
    };
    match cmd.as_str() {
        "init" => ExecRequest::Init(match map.get("token") {
            Some(Value::String(t)) => t.clone(),
            _ => String::new(),
        }),
        "checkDevice" => ExecRequest::CheckDevice,
        "Heartbeat" => ExecRequest::Heartbeat,
        _ => ExecRequest::Command(CommandFrame {
            cmd: cmd.clone(),
            text: text.to_string(),
        }),
    }
}

/// The `cmd` a request answers to (for the host's own error answers).
pub fn cmd_of(r: &ExecRequest) -> &str {
    match r {
        ExecRequest::Init(_) => "init",
        ExecRequest::CheckDevice => "checkDevice",
        ExecRequest::Heartbeat => "Heartbeat",
        ExecRequest::Command(c) => &c.cmd,
        ExecRequest::Invalid(_) => "error",
    }
}

/// `{"cmd":CMD,"code":"0","extra":{"msg":MSG}}`: the response shape of the
/// original server, with code "0" (failure).
pub fn error_response(cmd: &str, msg: &str) -> String {
    serde_json::json!({ "cmd": cmd, "code": "0", "extra": { "msg": msg } }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_decode_to_typed_requests() {
        assert_eq!(
            decode(r#"{"cmd":"init","token":"abc"}"#),
            ExecRequest::Init("abc".into())
        );
        assert_eq!(
            decode(r#"{"cmd":"init"}"#),
            ExecRequest::Init(String::new())
        );
        assert_eq!(
            decode(r#"{"cmd":"init","token":5}"#),
            ExecRequest::Init(String::new())
        );
        assert_eq!(
            decode(r#" {"cmd":"checkDevice"} "#),
            ExecRequest::CheckDevice
        );
        assert_eq!(decode(r#"{"cmd":"Heartbeat"}"#), ExecRequest::Heartbeat);
        let own = r#"{"cmd":"whoami","x":1}"#;
        assert_eq!(decode(own), command("whoami", own));
    }

    fn command(cmd: &str, text: &str) -> ExecRequest {
        ExecRequest::Command(CommandFrame {
            cmd: cmd.into(),
            text: text.into(),
        })
    }

    #[test]
    fn relayed_commands_keep_the_exact_text() {
        let documented = "{ \"cmd\" : \"execute\", \"extra\": {\"command\": \"ls -l\", \"data\": \"é\\u00e9\"} }";
        assert_eq!(decode(documented), command("execute", documented));
        let top_level = r#"{"cmd":"execute_result","data":"line1\nline2","extra":{}}"#;
        assert_eq!(decode(top_level), command("execute_result", top_level));
    }

    #[test]
    fn what_is_not_a_command_is_invalid_without_quoting_it() {
        for bad in [
            "{\"cmd\":\"init\",\"token\":\"SECRET",
            "SECRET",
            "[\"SECRET\"]",
            "{\"token\":\"SECRET\"}",
            "{\"cmd\":7,\"token\":\"SECRET\"}",
            "",
        ] {
            match decode(bad) {
                ExecRequest::Invalid(reason) => {
                    assert!(!reason.contains("SECRET"), "{bad:?}: {reason}")
                }
                other => panic!("{bad:?} decoded as {other:?}"),
            }
        }
    }

    #[test]
    fn error_responses_are_json() {
        let v: Value = serde_json::from_str(&error_response("init", "bad \"token\"")).unwrap();
        assert_eq!(v["cmd"], "init");
        assert_eq!(v["code"], "0");
        assert_eq!(v["extra"]["msg"], "bad \"token\"");
        let h: Value = serde_json::from_str(HEARTBEAT).unwrap();
        assert_eq!(h["cmd"], "Heartbeat");
        assert_eq!(h["code"], "1");
        assert!(h["session_id"].is_null() && h.get("session_id").is_some());
        assert_eq!(h["extra"], serde_json::json!({}));
    }
}
