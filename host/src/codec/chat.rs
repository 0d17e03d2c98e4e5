//! Wire format of the chat protocol (TCP or TLS), and nothing more: a stream
//! of JSON objects from the client, one JSON object per line back.
//!
//! Client → server: JSON objects back to back, with or without whitespace or
//! new lines between them, split anywhere across reads. `Command` is a
//! two-digit string ("01") or the bare number (1):
//!
//! ```text
//! {"Command":"01","Name":"alice","Password":"..."}   login (no/empty Password: guest)
//! {"Command":"02","Name":"alice","Password":"..."}   register
//! {"Command":"03"}                                   logout
//! {"Command":"04","FriendName":"bob","Message":"hi"} private message
//! {"Command":"05","Message":"hi all"}                group message
//! ```
//!
//! Other keys are ignored. Server → client, each object followed by `\n`:
//! 11 `{Flag, Friends: [[name, isGuest], ...], Message (on failure)}`,
//! 12 `{Flag, Message (on failure)}`, 13 `{FriendName (the sender), Message}`,
//! 14 `{Flag}` (receipt) or `{}` alone (heartbeat), 30 `{LogOnUserName,
//! IsUserGuest}`, 31 `{LogOutUserName}`, 32 `{Speaker, Message}`; `Flag`,
//! `IsUserGuest` and isGuest are the integers 0 or 1. Input that is not a
//! request gets the error object `{"Command":"99","Flag":0,"Message":"..."}`.
//!
//! Decoding never fails: malformed input becomes [`Inbound::Malformed`] and
//! the decoder resynchronises:
//! - a value that does not start with `{` is skipped up to the next `{` or
//!   the end of its line (one error per run of such bytes);
//! - an object is delimited by brace/bracket depth outside strings; a line
//!   break inside a string cannot be valid JSON, so it ends the object there
//!   (an error) and decoding resumes after it;
//! - an object over `max_message_bytes` gets one error as soon as the limit
//!   is passed; the rest of it is skipped without being buffered, up to its
//!   closing brace (or a line break inside a string, as above).
//!
//! So memory stays within `max_message_bytes` per connection whatever comes in.

use std::io;

use bytes::{BufMut, BytesMut};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder};

/// The `chat` world's types themselves: what the decoder yields is what the
/// component receives, what it returns is what the encoder writes.
pub use crate::bindings::chat::{
    ClientRequest, Friend, GroupDelivery, LoggedOn, Login, LoginResult, PrivateDelivery,
    PrivateMessage, Register, RegisterResult, ServerMessage,
};

/// The `Command` of the error object.
pub const ERROR_COMMAND: &str = "99";
/// Longest excerpt of bad input quoted in an error.
const QUOTE_CHARS: usize = 40;

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Request(ClientRequest),
    /// Not a valid request; the reason is meant for humans (and for the
    /// error object). Decoding continues afterwards.
    Malformed(String),
}

/// What the encoder writes: one line each.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Message(ServerMessage),
    /// `{"Command":"14"}`
    Heartbeat,
    /// `{"Command":"99","Flag":0,"Message":reason}`
    Error(String),
    /// A message already encoded, line end included (one that came from
    /// another host of a cluster).
    Encoded(bytes::Bytes),
}

impl Outbound {
    /// The line the encoder writes for this message.
    pub fn encoded(&self) -> Vec<u8> {
        if let Outbound::Encoded(line) = self {
            return line.to_vec();
        }
        // Serialising a struct of strings and numbers cannot fail.
        let mut line = serde_json::to_vec(&wire(self)).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

impl crate::state::outbox::Wire for Outbound {
    fn to_wire(&self) -> Option<Vec<u8>> {
        Some(self.encoded())
    }
    fn from_wire(bytes: Vec<u8>) -> Option<Self> {
        Some(Outbound::Encoded(bytes.into()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between values: skipping whitespace.
    Between,
    /// Inside an object being buffered (its bytes are at the head of `src`).
    Object,
    /// Inside an object that passed the limit: scanned, never buffered.
    Skip,
    /// Inside input that is not an object: skipped to the next `{` or line end.
    Junk,
}

pub struct ChatCodec {
    max: usize,
    mode: Mode,
    /// Bytes at the head of `src` already scanned (in `Object` mode).
    scanned: usize,
    depth: usize,
    in_string: bool,
    escape: bool,
}

/// What scanning one byte of an object found.
enum Step {
    More,
    /// The byte closed the outermost brace.
    End,
    /// A raw line break inside a string: the object cannot be valid.
    Broken,
}

impl ChatCodec {
    pub fn new(max_message_bytes: usize) -> Self {
        ChatCodec {
            max: max_message_bytes.max(2),
            mode: Mode::Between,
            scanned: 0,
            depth: 0,
            in_string: false,
            escape: false,
        }
    }

    fn reset(&mut self) {
        self.mode = Mode::Between;
        self.scanned = 0;
        self.depth = 0;
        self.in_string = false;
        self.escape = false;
    }

    fn step(&mut self, b: u8) -> Step {
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
            } else if b == b'\n' {
                return Step::Broken;
            }
            return Step::More;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth = self.depth.saturating_add(1),
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    return Step::End;
                }
            }
            _ => {}
        }
        Step::More
    }
}

impl Decoder for ChatCodec {
    type Item = Inbound;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, io::Error> {
        loop {
            match self.mode {
                Mode::Between => {
                    let ws = src.iter().take_while(|b| b.is_ascii_whitespace()).count();
                    let _ = src.split_to(ws);
                    match src.first() {
                        None => return Ok(None),
                        Some(b'{') => {
                            self.reset();
                            self.mode = Mode::Object;
                        }
                        Some(_) => {
                            let shown = quote(&src[..src.len().min(QUOTE_CHARS * 4)]);
                            self.mode = Mode::Junk;
                            return Ok(Some(Inbound::Malformed(format!(
                                "expected a JSON object, got {shown}"
                            ))));
                        }
                    }
                }
                Mode::Junk => match src.iter().position(|b| *b == b'{' || *b == b'\n') {
                    Some(i) => {
                        let newline = src[i] == b'\n';
                        let _ = src.split_to(if newline { i + 1 } else { i });
                        self.mode = Mode::Between;
                    }
                    None => {
                        src.clear();
                        return Ok(None);
                    }
                },
                Mode::Object => {
                    let limit = src.len().min(self.max);
                    let mut done = None;
                    while self.scanned < limit {
                        let b = src[self.scanned];
                        self.scanned += 1;
                        match self.step(b) {
                            Step::More => {}
                            Step::End => {
                                done = Some(true);
                                break;
                            }
                            Step::Broken => {
                                done = Some(false);
                                break;
                            }
                        }
                    }
                    match done {
                        Some(complete) => {
                            let raw = src.split_to(self.scanned);
                            self.reset();
                            return Ok(Some(if complete {
                                parse(&raw)
                            } else {
                                Inbound::Malformed(
                                    "invalid JSON: a line break inside a string".into(),
                                )
                            }));
                        }
                        None if self.scanned >= self.max && src.len() > self.max => {
                            // Over the limit: say so once, forget what is buffered
                            // and skip the rest of the object unbuffered.
                            let _ = src.split_to(self.scanned);
                            self.scanned = 0;
                            self.mode = Mode::Skip;
                            return Ok(Some(Inbound::Malformed(format!(
                                "message larger than {} bytes",
                                self.max
                            ))));
                        }
                        None => return Ok(None),
                    }
                }
                Mode::Skip => {
                    let mut end = None;
                    for (i, b) in src.iter().enumerate() {
                        match self.step(*b) {
                            Step::More => {}
                            Step::End | Step::Broken => {
                                end = Some(i + 1);
                                break;
                            }
                        }
                    }
                    match end {
                        Some(n) => {
                            let _ = src.split_to(n);
                            self.reset();
                        }
                        None => {
                            src.clear();
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, io::Error> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        // An object cut short by the end of the stream is dropped: nobody is
        // left to read an error about it.
        src.clear();
        self.reset();
        Ok(None)
    }
}

/// The keys of a request the host knows; others are ignored without being
/// kept.
#[derive(Deserialize)]
struct RawRequest {
    #[serde(rename = "Command")]
    command: Option<serde_json::Value>,
    #[serde(rename = "Name")]
    name: Option<serde_json::Value>,
    #[serde(rename = "Password")]
    password: Option<serde_json::Value>,
    #[serde(rename = "FriendName")]
    friend_name: Option<serde_json::Value>,
    #[serde(rename = "Message")]
    message: Option<serde_json::Value>,
}

fn parse(raw: &[u8]) -> Inbound {
    match serde_json::from_slice::<RawRequest>(raw) {
        Ok(r) => match request(r) {
            Ok(req) => Inbound::Request(req),
            Err(reason) => Inbound::Malformed(reason),
        },
        Err(e) => Inbound::Malformed(format!("invalid JSON: {e}")),
    }
}

fn request(r: RawRequest) -> Result<ClientRequest, String> {
    let command = match &r.command {
        None => return Err("no Command".into()),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(_) => None,
    };
    let Some(command) = command else {
        return Err("Command must be a two-digit string such as \"01\" (or a number)".into());
    };
    let req = match command {
        1 => ClientRequest::Login(Login {
            name: string(r.name, "Name")?,
            password: optional_string(r.password, "Password")?,
        }),
        2 => ClientRequest::Register(Register {
            name: string(r.name, "Name")?,
            password: string(r.password, "Password")?,
        }),
        3 => ClientRequest::Logout,
        4 => ClientRequest::PrivateMessage(PrivateMessage {
            friend_name: string(r.friend_name, "FriendName")?,
            message: string(r.message, "Message")?,
        }),
        5 => ClientRequest::GroupMessage(string(r.message, "Message")?),
        other => {
            return Err(format!(
                "unknown Command \"{other:02}\" (known: 01 login, 02 register, 03 logout, 04 private message, 05 group message)"
            ));
        }
    };
    Ok(req)
}

fn string(v: Option<serde_json::Value>, key: &str) -> Result<String, String> {
    match v {
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(format!("{key} must be a string")),
        None => Err(format!("{key} is missing")),
    }
}

fn optional_string(v: Option<serde_json::Value>, key: &str) -> Result<Option<String>, String> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// The short, printable form of bad input quoted in an error.
fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(QUOTE_CHARS).collect();
    if line.chars().count() > QUOTE_CHARS || text.lines().nth(1).is_some() {
        out.push('…');
    }
    format!("{out:?}")
}

/// One server object. Keys in this order, absent ones left out: every
/// message's keys come out in the order the spec lists them.
#[derive(Serialize, Default)]
struct Wire<'a> {
    #[serde(rename = "Command")]
    command: &'static str,
    #[serde(rename = "Flag", skip_serializing_if = "Option::is_none")]
    flag: Option<u8>,
    #[serde(rename = "Friends", skip_serializing_if = "Option::is_none")]
    friends: Option<Vec<(&'a str, u8)>>,
    #[serde(rename = "FriendName", skip_serializing_if = "Option::is_none")]
    friend_name: Option<&'a str>,
    #[serde(rename = "LogOnUserName", skip_serializing_if = "Option::is_none")]
    log_on_user_name: Option<&'a str>,
    #[serde(rename = "IsUserGuest", skip_serializing_if = "Option::is_none")]
    is_user_guest: Option<u8>,
    #[serde(rename = "LogOutUserName", skip_serializing_if = "Option::is_none")]
    log_out_user_name: Option<&'a str>,
    #[serde(rename = "Speaker", skip_serializing_if = "Option::is_none")]
    speaker: Option<&'a str>,
    #[serde(rename = "Message", skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

fn wire(item: &Outbound) -> Wire<'_> {
    let flag = |b: bool| Some(b as u8);
    match item {
        Outbound::Heartbeat => Wire {
            command: "14",
            ..Wire::default()
        },
        Outbound::Error(reason) => Wire {
            command: ERROR_COMMAND,
            flag: Some(0),
            message: Some(reason),
            ..Wire::default()
        },
        Outbound::Encoded(_) => Wire::default(),
        Outbound::Message(m) => match m {
            ServerMessage::LoginResult(r) => Wire {
                command: "11",
                flag: flag(r.ok),
                friends: Some(
                    r.friends
                        .iter()
                        .map(|f| (f.name.as_str(), f.is_guest as u8))
                        .collect(),
                ),
                message: if r.ok { None } else { r.message.as_deref() },
                ..Wire::default()
            },
            ServerMessage::RegisterResult(r) => Wire {
                command: "12",
                flag: flag(r.ok),
                message: if r.ok { None } else { r.message.as_deref() },
                ..Wire::default()
            },
            ServerMessage::PrivateMessage(p) => Wire {
                command: "13",
                friend_name: Some(&p.sender),
                message: Some(&p.message),
                ..Wire::default()
            },
            ServerMessage::Receipt(ok) => Wire {
                command: "14",
                flag: flag(*ok),
                ..Wire::default()
            },
            ServerMessage::LoggedOn(l) => Wire {
                command: "30",
                log_on_user_name: Some(&l.name),
                is_user_guest: flag(l.is_guest),
                ..Wire::default()
            },
            ServerMessage::LoggedOut(name) => Wire {
                command: "31",
                log_out_user_name: Some(name),
                ..Wire::default()
            },
            ServerMessage::GroupMessage(g) => Wire {
                command: "32",
                speaker: Some(&g.speaker),
                message: Some(&g.message),
                ..Wire::default()
            },
        },
    }
}

impl Encoder<Outbound> for ChatCodec {
    type Error = io::Error;

    /// One JSON object and `\n`. serde_json escapes every control character,
    /// so no string can break the line.
    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), io::Error> {
        if let Outbound::Encoded(line) = item {
            dst.extend_from_slice(&line);
            return Ok(());
        }
        serde_json::to_writer(dst.writer(), &wire(&item))?;
        dst.put_u8(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 256;

    fn decode_all(codec: &mut ChatCodec, input: &[u8]) -> Vec<Inbound> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    fn decode_str(input: &str) -> Vec<Inbound> {
        decode_all(&mut ChatCodec::new(MAX), input.as_bytes())
    }

    /// Feeds `input` in `chunk`-byte reads; checks the buffer stays bounded.
    fn decode_chunked(codec: &mut ChatCodec, input: &[u8], chunk: usize) -> Vec<Inbound> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                out.push(item);
            }
            assert!(
                buf.len() <= codec.max + chunk,
                "buffer grew to {}",
                buf.len()
            );
        }
        out
    }

    fn group(m: &str) -> Inbound {
        Inbound::Request(ClientRequest::GroupMessage(m.into()))
    }

    fn is_malformed(i: &Inbound, needle: &str) -> bool {
        matches!(i, Inbound::Malformed(r) if r.contains(needle))
    }

    fn encode(item: Outbound) -> String {
        let mut dst = BytesMut::new();
        ChatCodec::new(MAX).encode(item, &mut dst).unwrap();
        String::from_utf8(dst.to_vec()).unwrap()
    }

    #[test]
    fn every_command() {
        let got = decode_str(concat!(
            r#"{"Command":"01","Name":"alice"}"#,
            r#"{"Command":"01","Name":"bob1","Password":"pw"}"#,
            r#"{"Command":"01","Name":"bob1","Password":null}"#,
            r#"{"Command":"02","Name":"carl","Password":"x9"}"#,
            r#"{"Command":"03"}"#,
            r#"{"Command":"04","FriendName":"bob1","Message":"hi \"there\" 你好"}"#,
            r#"{"Command":"05","Message":"all"}"#,
        ));
        assert_eq!(
            got,
            [
                Inbound::Request(ClientRequest::Login(Login {
                    name: "alice".into(),
                    password: None
                })),
                Inbound::Request(ClientRequest::Login(Login {
                    name: "bob1".into(),
                    password: Some("pw".into())
                })),
                Inbound::Request(ClientRequest::Login(Login {
                    name: "bob1".into(),
                    password: None
                })),
                Inbound::Request(ClientRequest::Register(Register {
                    name: "carl".into(),
                    password: "x9".into()
                })),
                Inbound::Request(ClientRequest::Logout),
                Inbound::Request(ClientRequest::PrivateMessage(PrivateMessage {
                    friend_name: "bob1".into(),
                    message: "hi \"there\" 你好".into()
                })),
                group("all"),
            ]
        );
    }

    #[test]
    fn command_as_number_and_other_keys_ignored() {
        assert_eq!(
            decode_str(r#"{"Command":5,"Message":"m","Extra":{"deep":[1,2,{"x":"}"}]}}"#),
            [group("m")]
        );
        assert_eq!(decode_str(r#"{"Message":"m","Command":"5"}"#), [group("m")]);
    }

    #[test]
    fn whitespace_and_newlines_between_objects() {
        let got = decode_str(
            "\r\n  {\"Command\":\"05\",\"Message\":\"a\"}\n\n{\n  \"Command\": \"05\",\n  \"Message\": \"b\"\n}\t{\"Command\":\"05\",\"Message\":\"c\"}",
        );
        assert_eq!(got, [group("a"), group("b"), group("c")]);
    }

    #[test]
    fn split_at_every_byte() {
        let input = concat!(
            r#"{"Command":"05","Message":"br{ace}s [and] \"quotes\" \\"}"#,
            "\n",
            r#"{"Command":"04","FriendName":"bob1","Message":"é"}"#
        );
        for chunk in 1..8 {
            let got = decode_chunked(&mut ChatCodec::new(MAX), input.as_bytes(), chunk);
            assert_eq!(
                got,
                [
                    group(r#"br{ace}s [and] "quotes" \"#),
                    Inbound::Request(ClientRequest::PrivateMessage(PrivateMessage {
                        friend_name: "bob1".into(),
                        message: "é".into()
                    }))
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn errors_and_the_stream_goes_on() {
        let got = decode_str(concat!(
            r#"{"Command":"05","Message":"a"}"#,
            "{not json}",
            r#"{"Command":"05","Message":"b"}"#,
            "[1,2]\n",
            "hello world\n",
            r#"{"Command":"99"}"#,
            r#"{"Command":"05"}"#,
            r#"{"Command":"05","Message":7}"#,
            r#"{"Command":true}"#,
            r#"{"Name":"x"}"#,
            r#"{"Command":"04","FriendName":"bob1","Message":"x","Message":"y"}"#,
            r#"{"Command":"05","Message":"c"}"#,
        ));
        assert_eq!(got.len(), 12, "{got:?}");
        assert_eq!(got[0], group("a"));
        assert!(is_malformed(&got[1], "invalid JSON"), "{:?}", got[1]);
        assert_eq!(got[2], group("b"));
        assert!(is_malformed(&got[3], "expected a JSON object"));
        // "[1,2]" is junk up to its `{`-free line end; so is "hello world".
        assert!(is_malformed(
            &got[4],
            "expected a JSON object, got \"hello world"
        ));
        assert!(is_malformed(&got[5], "unknown Command \"99\""));
        assert!(is_malformed(&got[6], "Message is missing"));
        assert!(is_malformed(&got[7], "Message must be a string"));
        assert!(is_malformed(&got[8], "Command must be"));
        assert!(is_malformed(&got[9], "no Command"));
        assert!(is_malformed(&got[10], "duplicate field"));
        assert_eq!(got[11], group("c"));
    }

    #[test]
    fn junk_stops_at_an_opening_brace() {
        let got = decode_str(r#"garbage{"Command":"05","Message":"a"}"#);
        assert_eq!(got.len(), 2);
        assert!(is_malformed(&got[0], "expected a JSON object"));
        assert_eq!(got[1], group("a"));
    }

    #[test]
    fn line_break_inside_a_string_resyncs() {
        let got = decode_str(
            "{\"Command\":\"05\",\"Message\":\"unterminated\n{\"Command\":\"05\",\"Message\":\"ok\"}",
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(is_malformed(&got[0], "line break inside a string"));
        assert_eq!(got[1], group("ok"));
    }

    #[test]
    fn oversize_gets_one_error_and_is_skipped_unbuffered() {
        let big = format!(
            r#"{{"Command":"05","Message":"{}","Nested":{{"a":["}}"]}}}}"#,
            "x".repeat(10 * MAX)
        );
        let input = format!("{big}{}", r#"{"Command":"05","Message":"after"}"#);
        for chunk in [1, 7, 64, 1000] {
            let got = decode_chunked(&mut ChatCodec::new(MAX), input.as_bytes(), chunk);
            assert_eq!(got.len(), 2, "chunk {chunk}: {got:?}");
            assert!(is_malformed(&got[0], "larger than 256 bytes"));
            assert_eq!(got[1], group("after"));
        }
        // Exactly at the limit is fine.
        let prefix = r#"{"Command":"05","Message":""#;
        let fill = "y".repeat(MAX - prefix.len() - 2);
        let exact = format!("{prefix}{fill}\"}}");
        assert_eq!(exact.len(), MAX);
        assert_eq!(decode_str(&exact), [group(&fill)]);
        let over = format!("{prefix}{fill}y\"}}");
        let got = decode_str(&over);
        assert_eq!(got.len(), 1);
        assert!(is_malformed(&got[0], "larger than"));
    }

    #[test]
    fn an_endless_object_stays_bounded() {
        let mut codec = ChatCodec::new(MAX);
        let mut buf = BytesMut::new();
        let mut errors = 0;
        buf.extend_from_slice(b"{\"Message\":\"");
        for _ in 0..1000 {
            buf.extend_from_slice(&[b'z'; 100]);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                assert!(is_malformed(&item, "larger than"));
                errors += 1;
            }
            assert!(buf.len() <= MAX + 100);
        }
        assert_eq!(errors, 1);
    }

    #[test]
    fn incomplete_object_at_eof_is_dropped() {
        let mut codec = ChatCodec::new(MAX);
        let mut buf = BytesMut::from(&br#"{"Command":"05","Message":"a"}{"Command""#[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(group("a")));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn encodes_every_server_message() {
        let cases = [
            (
                Outbound::Message(ServerMessage::LoginResult(LoginResult {
                    ok: true,
                    friends: vec![
                        Friend {
                            name: "alice".into(),
                            is_guest: true,
                        },
                        Friend {
                            name: "bob1".into(),
                            is_guest: false,
                        },
                    ],
                    message: None,
                })),
                r#"{"Command":"11","Flag":1,"Friends":[["alice",1],["bob1",0]]}"#,
            ),
            (
                Outbound::Message(ServerMessage::LoginResult(LoginResult {
                    ok: false,
                    friends: vec![],
                    message: Some("name in use".into()),
                })),
                r#"{"Command":"11","Flag":0,"Friends":[],"Message":"name in use"}"#,
            ),
            (
                Outbound::Message(ServerMessage::RegisterResult(RegisterResult {
                    ok: true,
                    message: Some("ignored on success".into()),
                })),
                r#"{"Command":"12","Flag":1}"#,
            ),
            (
                Outbound::Message(ServerMessage::RegisterResult(RegisterResult {
                    ok: false,
                    message: Some("taken".into()),
                })),
                r#"{"Command":"12","Flag":0,"Message":"taken"}"#,
            ),
            (
                Outbound::Message(ServerMessage::PrivateMessage(PrivateDelivery {
                    sender: "alice".into(),
                    message: "line1\nline2 \"q\"".into(),
                })),
                r#"{"Command":"13","FriendName":"alice","Message":"line1\nline2 \"q\""}"#,
            ),
            (
                Outbound::Message(ServerMessage::Receipt(true)),
                r#"{"Command":"14","Flag":1}"#,
            ),
            (
                Outbound::Message(ServerMessage::Receipt(false)),
                r#"{"Command":"14","Flag":0}"#,
            ),
            (Outbound::Heartbeat, r#"{"Command":"14"}"#),
            (
                Outbound::Message(ServerMessage::LoggedOn(LoggedOn {
                    name: "bob1".into(),
                    is_guest: true,
                })),
                r#"{"Command":"30","LogOnUserName":"bob1","IsUserGuest":1}"#,
            ),
            (
                Outbound::Message(ServerMessage::LoggedOut("bob1".into())),
                r#"{"Command":"31","LogOutUserName":"bob1"}"#,
            ),
            (
                Outbound::Message(ServerMessage::GroupMessage(GroupDelivery {
                    speaker: "bob1".into(),
                    message: "hi".into(),
                })),
                r#"{"Command":"32","Speaker":"bob1","Message":"hi"}"#,
            ),
            (
                Outbound::Error("not logged in".into()),
                r#"{"Command":"99","Flag":0,"Message":"not logged in"}"#,
            ),
        ];
        for (item, want) in cases {
            assert_eq!(encode(item), format!("{want}\n"));
        }
    }
}
