//! Wire format of the locker board "ACon" text protocol (TCP), and nothing
//! more: this codec turns the device's `ACon_V1.0` … `CLOSE` reports into
//! typed [`Report`]s and typed [`Outbound`] answers back into bytes. It checks
//! syntax and shape (numbers, cell numbers, `ACT_CON` against `ROWS`×`COLS`),
//! bounds memory, and makes no business decision: which cells get codes,
//! whether a board is blocked, what a state code means are the caller's.
//!
//! Device → server (lines end in `\r\n` or `\n`; the device sends no newline
//! after the final `CLOSE` and then waits for the answer):
//!
//! ```text
//! ACon_V1.0
//! ID=1953
//! SEND=141349
//! CONNECTION=1
//! WIFI_STATE=0
//! GSM_STATE=0
//! RESET=1
//! STATE=0
//! COLS=8
//! ROWS=8
//! ACT_CON=01011011,11111111,10110111,11111111,10011111,11111111,10110111,11111111
//! BOX_ENG=2,5,8,23,24,25
//! BOX_TO=33,34
//! BOX_ACC=1,54,43
//! CLOSE
//! ```
//!
//! Server → device (lines end in `\n`): `ACon_V1.0`, `ID=`, `SEND=` (echo),
//! `RESET=0|1`, `STATE=0|3`, one `BOX_ENG=(cell,code,minutes)` per cell,
//! `CLOSE`; or a single `ERROR: <reason>` line.
//!
//! Between messages, the original server's technician commands, typed into
//! a terminal on site: a line `ip`, `server`, `client` or `info` is answered
//! `('<peer ip>', <peer port>)=>('<local ip>', <local port>)\r\n` (Python's
//! way of writing the two socket addresses), and `exit` or `quit` ends the
//! connection.
//!
//! Decoding never fails: malformed input becomes [`Inbound::Malformed`] with
//! a short human reason and the codec resynchronises on the next message.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

const HEADER: &[u8] = b"ACon_V1.0";
const CLOSE: &[u8] = b"CLOSE";
/// While skipping junk, a partial line longer than this cannot be `CLOSE` or
/// the header (even with generous whitespace), so it is dropped unbuffered.
const SHORT_LINE: usize = 64;
/// Longest device ID accepted (and emitted).
const MAX_ID_LEN: usize = 64;
/// Largest `COLS` / `ROWS`.
const MAX_GRID: u16 = 64;
/// Longest excerpt of bad input quoted in a reason.
const QUOTE_CHARS: usize = 40;

/// One decoded device report: the `locker` world's record itself (see
/// `wit/host.wit` for the meaning of each field), so what the codec yields is
/// what the component receives.
pub use crate::bindings::locker::{CellCode, Report};

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Report(Report),
    /// The input was not a valid message; the reason is short and meant for
    /// humans (and for the `ERROR:` answer). Decoding continues afterwards.
    Malformed(String),
    /// A technician asked which addresses the connection has (`ip`,
    /// `server`, `client`, `info`): answer [`Outbound::Addresses`].
    Addresses,
    /// A technician typed `exit` or `quit`: close the connection.
    Quit,
}

/// What the encoder accepts.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// The answer to a report: `block` is sent as `STATE=3`, otherwise `STATE=0`.
    Answer {
        id: String,
        send: u64,
        reset: bool,
        block: bool,
        cells: Vec<CellCode>,
    },
    /// `ERROR: <reason>`; line breaks in the reason are folded into spaces.
    Error(String),
    /// `('<peer ip>', <peer port>)=>('<local ip>', <local port>)\r\n`.
    Addresses { peer: SocketAddr, local: SocketAddr },
}

/// A technician's command: a whole line between messages.
fn technician(line: &[u8]) -> Option<Inbound> {
    match line {
        b"ip" | b"server" | b"client" | b"info" => Some(Inbound::Addresses),
        b"exit" | b"quit" => Some(Inbound::Quit),
        _ => None,
    }
}

/// A socket address as Python's `str()` of `getpeername()` writes it:
/// `('10.0.0.5', 40312)`, or `('::1', 5000, 0, 0)` for IPv6.
fn python_address(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(a) => format!("('{}', {})", a.ip(), a.port()),
        SocketAddr::V6(a) => format!(
            "('{}', {}, {}, {})",
            a.ip(),
            a.port(),
            a.flowinfo(),
            a.scope_id()
        ),
    }
}

/// Codec for the ACon protocol; see the module docs.
///
/// Decoding rules worth knowing:
/// - A message runs from the `ACon_V1.0` line to the `CLOSE` line. `CLOSE`
///   with no newline at the very end of the buffered bytes also ends it; a
///   newline arriving later is then a blank line, and blank lines between or
///   inside messages are ignored.
/// - A non-blank line outside a message that is not the header yields one
///   `Malformed` per line. A header inside an unfinished message yields
///   `Malformed` for the unfinished one and starts the new one.
/// - A message (or a line outside a message) larger than `max_message_bytes`
///   yields one `Malformed`; then the rest is dropped without buffering: for a
///   message up to and including its `CLOSE` line (or up to a new header line,
///   which starts the next message), for a stray line up to its end.
/// - A known key given twice makes the message malformed (`duplicate key
///   "SEND"`); unknown keys are ignored, repeated or not.
/// - Line-level errors inside a message are reported when the message ends,
///   the first one wins.
#[derive(Debug)]
pub struct LockerCodec {
    max_message_bytes: usize,
    state: State,
    /// Leading bytes of `src` already known to hold no `\n`.
    scanned: usize,
}

#[derive(Debug)]
enum State {
    /// Between messages.
    Idle,
    /// Inside a message, after its header.
    Message(Pending),
    /// Dropping input after an oversize message or line.
    Skip {
        /// Skip up to the next `CLOSE` (or header) line; otherwise only up to
        /// the end of the current line.
        to_close: bool,
        /// The current line is known junk: drop it up to its `\n`.
        mid_line: bool,
    },
}

#[derive(Debug)]
struct Pending {
    /// Bytes the message took on the wire so far, line ends included.
    wire_bytes: usize,
    /// Trimmed non-blank body lines, each followed by `\n`.
    body: Vec<u8>,
}

impl Pending {
    fn new(header_bytes: usize) -> Self {
        Pending {
            wire_bytes: header_bytes,
            body: Vec::new(),
        }
    }
}

impl LockerCodec {
    /// A codec refusing messages larger than `max_message_bytes` on the wire.
    pub fn new(max_message_bytes: usize) -> Self {
        LockerCodec {
            max_message_bytes,
            state: State::Idle,
            scanned: 0,
        }
    }

    fn too_big(&self) -> Inbound {
        Inbound::Malformed(format!("message exceeds {} bytes", self.max_message_bytes))
    }

    fn clear(&mut self, src: &mut BytesMut) {
        src.clear();
        self.scanned = 0;
    }

    /// Handles one complete line (`raw` includes its `\n`).
    fn on_line(&mut self, raw: &[u8]) -> Option<Inbound> {
        let line = raw.trim_ascii();
        match &mut self.state {
            State::Idle => {
                if line.is_empty() {
                    None
                } else if line == HEADER {
                    self.state = State::Message(Pending::new(raw.len()));
                    None
                } else if let Some(command) = technician(line) {
                    Some(command)
                } else {
                    Some(Inbound::Malformed(format!(
                        "expected ACon_V1.0, got {}",
                        quote(line)
                    )))
                }
            }
            State::Message(pending) => {
                if line == CLOSE {
                    let body = std::mem::take(&mut pending.body);
                    self.state = State::Idle;
                    Some(finish(&body))
                } else if line == HEADER {
                    self.state = State::Message(Pending::new(raw.len()));
                    Some(Inbound::Malformed(
                        "incomplete message: new ACon_V1.0 before CLOSE".into(),
                    ))
                } else if pending.wire_bytes + raw.len() > self.max_message_bytes {
                    self.state = State::Skip {
                        to_close: true,
                        mid_line: false,
                    };
                    Some(self.too_big())
                } else {
                    pending.wire_bytes += raw.len();
                    if !line.is_empty() {
                        pending.body.extend_from_slice(line);
                        pending.body.push(b'\n');
                    }
                    None
                }
            }
            State::Skip { to_close, mid_line } => {
                if *mid_line {
                    *mid_line = false;
                    if !*to_close {
                        self.state = State::Idle;
                    }
                } else if line == CLOSE {
                    self.state = State::Idle;
                } else if line == HEADER {
                    self.state = State::Message(Pending::new(raw.len()));
                }
                None
            }
        }
    }

    /// Handles the unterminated tail of `src` (no `\n` in it): completes a
    /// message on a bare `CLOSE`, or drops what must not be buffered.
    fn on_partial(&mut self, src: &mut BytesMut) -> Option<Inbound> {
        let line = src.trim_ascii();
        match &mut self.state {
            State::Idle => {
                // A command without its line end, like a bare `CLOSE`.
                if let Some(command) = technician(line) {
                    self.clear(src);
                    Some(command)
                } else if src.len() > self.max_message_bytes {
                    self.clear(src);
                    self.state = State::Skip {
                        to_close: false,
                        mid_line: true,
                    };
                    Some(Inbound::Malformed(format!(
                        "line exceeds {} bytes",
                        self.max_message_bytes
                    )))
                } else {
                    None
                }
            }
            State::Message(pending) => {
                if line == CLOSE {
                    let body = std::mem::take(&mut pending.body);
                    self.state = State::Idle;
                    self.clear(src);
                    Some(finish(&body))
                } else if pending.wire_bytes + src.len() > self.max_message_bytes {
                    self.state = State::Skip {
                        to_close: true,
                        mid_line: true,
                    };
                    self.clear(src);
                    Some(self.too_big())
                } else {
                    None
                }
            }
            State::Skip { mid_line: true, .. } => {
                self.clear(src);
                None
            }
            State::Skip { mid_line, .. } => {
                if line == CLOSE {
                    self.state = State::Idle;
                    self.clear(src);
                } else if src.len() > SHORT_LINE {
                    *mid_line = true;
                    self.clear(src);
                }
                None
            }
        }
    }
}

impl Decoder for LockerCodec {
    type Item = Inbound;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, io::Error> {
        loop {
            let start = self.scanned.min(src.len());
            let Some(pos) = src[start..].iter().position(|&b| b == b'\n') else {
                self.scanned = src.len();
                return Ok(self.on_partial(src));
            };
            let raw = src.split_to(start + pos + 1);
            self.scanned = 0;
            if let Some(item) = self.on_line(&raw) {
                return Ok(Some(item));
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, io::Error> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        // Whatever is left is an unterminated line that did not complete anything.
        let tail = src.trim_ascii();
        let item = match &self.state {
            State::Message(_) => Some("incomplete message at end of stream".to_string()),
            State::Idle if tail == HEADER => {
                Some("incomplete message at end of stream".to_string())
            }
            State::Idle if !tail.is_empty() => {
                Some(format!("expected ACon_V1.0, got {}", quote(tail)))
            }
            State::Idle | State::Skip { .. } => None,
        };
        self.state = State::Idle;
        self.clear(src);
        Ok(item.map(Inbound::Malformed))
    }
}

impl Encoder<Outbound> for LockerCodec {
    type Error = io::Error;

    /// Writes an answer or an `ERROR:` line. An `Answer` whose `id` or a
    /// cell `code` could not be written as one clean line is refused with
    /// `InvalidInput` (and nothing is written).
    fn encode(&mut self, item: Outbound, dst: &mut BytesMut) -> Result<(), io::Error> {
        let mut out = String::new();
        match item {
            Outbound::Answer {
                id,
                send,
                reset,
                block,
                cells,
            } => {
                if !valid_id(&id) {
                    return Err(invalid(format!("cannot send ID {}", quote(id.as_bytes()))));
                }
                if let Some(bad) = cells.iter().find(|c| !valid_code(&c.code)) {
                    return Err(invalid(format!(
                        "cannot send code {} for cell {}",
                        quote(bad.code.as_bytes()),
                        bad.cell
                    )));
                }
                // Writing into a String cannot fail.
                let _ = writeln!(out, "ACon_V1.0");
                let _ = writeln!(out, "ID={id}");
                let _ = writeln!(out, "SEND={send}");
                let _ = writeln!(out, "RESET={}", u8::from(reset));
                let _ = writeln!(out, "STATE={}", if block { 3 } else { 0 });
                for c in &cells {
                    let _ = writeln!(out, "BOX_ENG=({},{},{})", c.cell, c.code, c.minutes);
                }
                let _ = writeln!(out, "CLOSE");
            }
            Outbound::Error(reason) => {
                let reason: Vec<&str> = reason
                    .split(['\r', '\n'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                let _ = writeln!(out, "ERROR: {}", reason.join(" "));
            }
            Outbound::Addresses { peer, local } => {
                let _ = write!(
                    out,
                    "{}=>{}\r\n",
                    python_address(&peer),
                    python_address(&local)
                );
            }
        }
        dst.extend_from_slice(out.as_bytes());
        Ok(())
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A cell code the answer can carry without breaking its line.
pub fn valid_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Bad input for a reason: at most [`QUOTE_CHARS`] characters, quoted and
/// escaped so the reason stays one printable line.
fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars();
    let mut short: String = chars.by_ref().take(QUOTE_CHARS).collect();
    if chars.next().is_some() {
        short.push('…');
    }
    format!("{short:?}")
}

fn finish(body: &[u8]) -> Inbound {
    match parse_report(body) {
        Ok(report) => Inbound::Report(report),
        Err(reason) => Inbound::Malformed(reason),
    }
}

/// Keys seen so far; the report is assembled once the body is read.
#[derive(Default)]
struct Fields {
    id: Option<String>,
    send: Option<u64>,
    connection: Option<u8>,
    wifi_state: Option<u8>,
    gsm_state: Option<u8>,
    reset: Option<bool>,
    state: Option<Vec<u8>>,
    cols: Option<u16>,
    rows: Option<u16>,
    act_con: Option<Vec<Vec<bool>>>,
    box_eng: Option<Vec<u16>>,
    box_to: Option<Vec<u16>>,
    box_acc: Option<Vec<u16>>,
}

/// Parses the body lines of one message (header and `CLOSE` excluded; each
/// line trimmed, non-blank and followed by `\n`).
fn parse_report(body: &[u8]) -> Result<Report, String> {
    let mut f = Fields::default();
    for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let text = String::from_utf8_lossy(line);
        let Some((key, value)) = text.split_once('=') else {
            return Err(format!("line without '=': {}", quote(line)));
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "" => return Err(format!("line without a key: {}", quote(line))),
            "ID" => set(&mut f.id, key, parse_id(value)?)?,
            "SEND" => set(&mut f.send, key, number(key, value)?)?,
            "CONNECTION" => set(&mut f.connection, key, number(key, value)?)?,
            "WIFI_STATE" => set(&mut f.wifi_state, key, number(key, value)?)?,
            "GSM_STATE" => set(&mut f.gsm_state, key, number(key, value)?)?,
            "RESET" => set(&mut f.reset, key, parse_reset(value)?)?,
            "STATE" => set(&mut f.state, key, parse_codes(key, value)?)?,
            "COLS" => set(&mut f.cols, key, grid_size(key, value)?)?,
            "ROWS" => set(&mut f.rows, key, grid_size(key, value)?)?,
            "ACT_CON" => set(&mut f.act_con, key, parse_act_con(value)?)?,
            "BOX_ENG" => set(&mut f.box_eng, key, parse_cells(key, value)?)?,
            "BOX_TO" => set(&mut f.box_to, key, parse_cells(key, value)?)?,
            "BOX_ACC" => set(&mut f.box_acc, key, parse_cells(key, value)?)?,
            _ => {} // unknown key: newer firmware, ignored
        }
    }

    let id = f.id.ok_or("missing ID")?;
    let send = f.send.ok_or("missing SEND")?;
    if let (Some(rows), Some(cols), Some(grid)) = (f.rows, f.cols, &f.act_con) {
        if grid.len() != usize::from(rows) {
            return Err(format!("ACT_CON has {} rows, ROWS={rows}", grid.len()));
        }
        if let Some((i, row)) = grid
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != usize::from(cols))
        {
            return Err(format!(
                "ACT_CON row {} has {} cells, COLS={cols}",
                i + 1,
                row.len()
            ));
        }
    }
    Ok(Report {
        id,
        send,
        connection: f.connection,
        wifi_state: f.wifi_state,
        gsm_state: f.gsm_state,
        reset: f.reset.unwrap_or(false),
        state: f.state.unwrap_or_default(),
        cols: f.cols,
        rows: f.rows,
        act_con: f.act_con,
        box_eng: f.box_eng.unwrap_or_default(),
        box_to: f.box_to.unwrap_or_default(),
        box_acc: f.box_acc.unwrap_or_default(),
    })
}

fn set<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("duplicate key {key:?}"));
    }
    *slot = Some(value);
    Ok(())
}

/// Parses plain decimal digits only (no sign, no blanks inside).
fn digits<T: FromStr>(value: &str) -> Option<Result<T, ()>> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse().map_err(|_| ()))
}

fn number<T: FromStr>(key: &str, value: &str) -> Result<T, String> {
    match digits(value) {
        None => Err(format!(
            "{key} is not a number: {}",
            quote(value.as_bytes())
        )),
        Some(Err(())) => Err(format!(
            "{key} is out of range: {}",
            quote(value.as_bytes())
        )),
        Some(Ok(n)) => Ok(n),
    }
}

fn parse_id(value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err("ID is empty".into())
    } else if valid_id(value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "bad ID {} (want up to {MAX_ID_LEN} of A-Z a-z 0-9 - _)",
            quote(value.as_bytes())
        ))
    }
}

fn parse_reset(value: &str) -> Result<bool, String> {
    match value {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(format!(
            "RESET must be 0 or 1, got {}",
            quote(value.as_bytes())
        )),
    }
}

fn grid_size(key: &str, value: &str) -> Result<u16, String> {
    let n = number::<u16>(key, value)?;
    if (1..=MAX_GRID).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{key} must be 1..={MAX_GRID}, got {n}"))
    }
}

/// Comma-separated items; an empty value is an empty list.
fn items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(move |_| !value.is_empty())
}

fn parse_codes(key: &str, value: &str) -> Result<Vec<u8>, String> {
    items(value)
        .map(|item| match digits(item) {
            Some(Ok(code)) => Ok(code),
            _ => Err(format!("bad code {} in {key}", quote(item.as_bytes()))),
        })
        .collect()
}

/// Cell numbers >= 1; the lone value `0` means "none".
fn parse_cells(key: &str, value: &str) -> Result<Vec<u16>, String> {
    if value == "0" {
        return Ok(Vec::new());
    }
    items(value)
        .map(|item| match digits(item) {
            Some(Ok(cell)) if cell >= 1 => Ok(cell),
            _ => Err(format!(
                "bad cell number {} in {key}",
                quote(item.as_bytes())
            )),
        })
        .collect()
}

fn parse_act_con(value: &str) -> Result<Vec<Vec<bool>>, String> {
    items(value)
        .enumerate()
        .map(|(i, row)| {
            row.chars()
                .map(|c| match c {
                    '0' => Ok(false),
                    '1' => Ok(true),
                    _ => Err(format!("ACT_CON row {} has a bad character {c:?}", i + 1)),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 16384;

    const SAMPLE: &str = "ACon_V1.0\r\nID=1953\r\nSEND=141349\r\nCONNECTION=1\r\nWIFI_STATE=0\r\n\
        GSM_STATE=0\r\nRESET=1\r\nSTATE=0\r\nCOLS=8\r\nROWS=8\r\n\
        ACT_CON=01011011,11111111,10110111,11111111,10011111,11111111,10110111,11111111\r\n\
        BOX_ENG=2,5,8,23,24,25\r\nBOX_TO=33,34\r\nBOX_ACC=1,54,43\r\nCLOSE";

    fn row(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == '1').collect()
    }

    fn sample_report() -> Report {
        Report {
            id: "1953".into(),
            send: 141349,
            connection: Some(1),
            wifi_state: Some(0),
            gsm_state: Some(0),
            reset: true,
            state: vec![0],
            cols: Some(8),
            rows: Some(8),
            act_con: Some(
                [
                    "01011011", "11111111", "10110111", "11111111", "10011111", "11111111",
                    "10110111", "11111111",
                ]
                .iter()
                .map(|s| row(s))
                .collect(),
            ),
            box_eng: vec![2, 5, 8, 23, 24, 25],
            box_to: vec![33, 34],
            box_acc: vec![1, 54, 43],
        }
    }

    fn minimal(id: &str, send: u64) -> Report {
        Report {
            id: id.into(),
            send,
            connection: None,
            wifi_state: None,
            gsm_state: None,
            reset: false,
            state: vec![],
            cols: None,
            rows: None,
            act_con: None,
            box_eng: vec![],
            box_to: vec![],
            box_acc: vec![],
        }
    }

    fn good(send: u64) -> String {
        format!("ACon_V1.0\r\nID=7\r\nSEND={send}\r\nCLOSE\r\n")
    }

    /// Decodes everything in `input` at once (no EOF).
    fn decode_all(codec: &mut LockerCodec, input: &[u8]) -> Vec<Inbound> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(item) = codec.decode(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    fn decode_str(input: &str) -> Vec<Inbound> {
        decode_all(&mut LockerCodec::new(MAX), input.as_bytes())
    }

    /// Feeds `input` in `chunk`-byte reads; checks the buffer stays bounded.
    fn decode_chunked(
        codec: &mut LockerCodec,
        input: &[u8],
        chunk: usize,
        bound: usize,
    ) -> Vec<Inbound> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                out.push(item);
            }
            assert!(buf.len() <= bound, "buffer grew to {}", buf.len());
            if let State::Message(p) = &codec.state {
                assert!(p.body.len() <= bound, "body grew to {}", p.body.len());
            }
        }
        out
    }

    fn malformed(s: &str) -> Inbound {
        Inbound::Malformed(s.into())
    }

    #[test]
    fn spec_sample_decodes_exactly() {
        assert_eq!(decode_str(SAMPLE), vec![Inbound::Report(sample_report())]);
    }

    #[test]
    fn spec_sample_byte_by_byte() {
        let mut codec = LockerCodec::new(MAX);
        let out = decode_chunked(&mut codec, SAMPLE.as_bytes(), 1, SAMPLE.len());
        assert_eq!(out, vec![Inbound::Report(sample_report())]);
    }

    #[test]
    fn every_split_point_works() {
        let input = format!("{SAMPLE}\r\n{}", good(9));
        let want = vec![
            Inbound::Report(sample_report()),
            Inbound::Report(minimal("7", 9)),
        ];
        for cut in 0..=input.len() {
            let mut codec = LockerCodec::new(MAX);
            let mut buf = BytesMut::from(&input.as_bytes()[..cut]);
            let mut out = Vec::new();
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                out.push(item);
            }
            buf.extend_from_slice(&input.as_bytes()[cut..]);
            while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
                out.push(item);
            }
            assert_eq!(out, want, "cut at {cut}");
        }
    }

    #[test]
    fn two_messages_in_one_buffer() {
        let input = format!("{}{}", good(1), good(2));
        assert_eq!(
            decode_str(&input),
            vec![
                Inbound::Report(minimal("7", 1)),
                Inbound::Report(minimal("7", 2))
            ]
        );
    }

    #[test]
    fn sample_then_stray_newline_then_next_message() {
        let mut codec = LockerCodec::new(MAX);
        assert_eq!(
            decode_all(&mut codec, SAMPLE.as_bytes()),
            vec![Inbound::Report(sample_report())]
        );
        let rest = format!("\r\n\n  \r\n{}", good(3));
        assert_eq!(
            decode_all(&mut codec, rest.as_bytes()),
            vec![Inbound::Report(minimal("7", 3))]
        );
    }

    #[test]
    fn lf_only_and_whitespace_and_blank_lines() {
        let input = "ACon_V1.0\n ID = 12-ab_C \n\nSEND=5\n  \nBOX_TO= 3 , 4\nCLOSE\n";
        let mut want = minimal("12-ab_C", 5);
        want.box_to = vec![3, 4];
        assert_eq!(decode_str(input), vec![Inbound::Report(want)]);
        let lf = SAMPLE.replace("\r\n", "\n");
        assert_eq!(decode_str(&lf), vec![Inbound::Report(sample_report())]);
    }

    #[test]
    fn unknown_keys_ignored() {
        let input = "ACon_V1.0\nID=1\nSEND=2\nFUTURE=x\nFUTURE=y\nTEMP=\nCLOSE\n";
        assert_eq!(decode_str(input), vec![Inbound::Report(minimal("1", 2))]);
    }

    #[test]
    fn box_zero_means_none() {
        let input = "ACon_V1.0\nID=1\nSEND=2\nBOX_ENG=0\nBOX_TO=0\nBOX_ACC= 0 \nSTATE=1,2\nCLOSE\n";
        let mut want = minimal("1", 2);
        want.state = vec![1, 2];
        assert_eq!(decode_str(input), vec![Inbound::Report(want)]);
    }

    #[test]
    fn garbage_before_header() {
        let input = format!("HELLO\r\n\r\nWORLD\n{}", good(4));
        assert_eq!(
            decode_str(&input),
            vec![
                malformed(r#"expected ACon_V1.0, got "HELLO""#),
                malformed(r#"expected ACon_V1.0, got "WORLD""#),
                Inbound::Report(minimal("7", 4)),
            ]
        );
    }

    #[test]
    fn technician_commands_between_messages() {
        let input = format!("ip\r\ninfo\n{}  server  \r\nclient\nquit\nexit", good(4));
        assert_eq!(
            decode_str(&input),
            vec![
                Inbound::Addresses,
                Inbound::Addresses,
                Inbound::Report(minimal("7", 4)),
                Inbound::Addresses,
                Inbound::Addresses,
                Inbound::Quit,
                Inbound::Quit,
            ]
        );
        // Inside a message they are keys without '=', and other words are
        // not commands.
        let inside = "ACon_V1.0\nID=1\nSEND=2\nip\nCLOSE\nIP\n";
        assert_eq!(
            decode_str(inside),
            vec![
                malformed(r#"line without '=': "ip""#),
                malformed(r#"expected ACon_V1.0, got "IP""#),
            ]
        );
    }

    #[test]
    fn addresses_as_python_writes_them() {
        let mut codec = LockerCodec::new(MAX);
        let mut dst = BytesMut::new();
        let answer = Outbound::Addresses {
            peer: "10.0.0.5:40312".parse().unwrap(),
            local: "[::1]:5000".parse().unwrap(),
        };
        codec.encode(answer, &mut dst).unwrap();
        assert_eq!(&dst[..], b"('10.0.0.5', 40312)=>('::1', 5000, 0, 0)\r\n");
    }

    /// Each malformed body yields exactly its reason, then a good message decodes.
    #[test]
    fn malformed_messages_then_recovery() {
        let cases: &[(&str, &str)] = &[
            ("SEND=1\n", "missing ID"),
            ("ID=1\n", "missing SEND"),
            ("ID=1\nSEND=12x\n", r#"SEND is not a number: "12x""#),
            (
                "ID=1\nSEND=99999999999999999999\n",
                r#"SEND is out of range: "99999999999999999999""#,
            ),
            ("ID=\nSEND=1\n", "ID is empty"),
            (
                "ID=a b\nSEND=1\n",
                r#"bad ID "a b" (want up to 64 of A-Z a-z 0-9 - _)"#,
            ),
            ("ID=1\nSEND=1\nFOO\n", r#"line without '=': "FOO""#),
            ("ID=1\nSEND=1\n=3\n", r#"line without a key: "=3""#),
            ("ID=1\nSEND=1\nSEND=2\n", r#"duplicate key "SEND""#),
            (
                "ID=1\nSEND=1\nRESET=2\n",
                r#"RESET must be 0 or 1, got "2""#,
            ),
            ("ID=1\nSEND=1\nCOLS=0\n", "COLS must be 1..=64, got 0"),
            ("ID=1\nSEND=1\nROWS=65\n", "ROWS must be 1..=64, got 65"),
            (
                "ID=1\nSEND=1\nCONNECTION=300\n",
                r#"CONNECTION is out of range: "300""#,
            ),
            ("ID=1\nSEND=1\nSTATE=0,x\n", r#"bad code "x" in STATE"#),
            (
                "ID=1\nSEND=1\nBOX_TO=x\n",
                r#"bad cell number "x" in BOX_TO"#,
            ),
            (
                "ID=1\nSEND=1\nBOX_ENG=1,0\n",
                r#"bad cell number "0" in BOX_ENG"#,
            ),
            (
                "ID=1\nSEND=1\nBOX_ACC=70000\n",
                r#"bad cell number "70000" in BOX_ACC"#,
            ),
            (
                "ID=1\nSEND=1\nACT_CON=01,1x\n",
                "ACT_CON row 2 has a bad character 'x'",
            ),
            (
                "ID=1\nSEND=1\nCOLS=2\nROWS=3\nACT_CON=01,11\n",
                "ACT_CON has 2 rows, ROWS=3",
            ),
            (
                "ID=1\nSEND=1\nCOLS=2\nROWS=3\nACT_CON=01,11,110\n",
                "ACT_CON row 3 has 3 cells, COLS=2",
            ),
        ];
        for (body, reason) in cases {
            let input = format!("ACon_V1.0\r\n{body}CLOSE\r\n{}", good(8));
            assert_eq!(
                decode_str(&input),
                vec![malformed(reason), Inbound::Report(minimal("7", 8))],
                "body {body:?}"
            );
        }
    }

    #[test]
    fn act_con_unchecked_without_rows_and_cols() {
        let input = "ACon_V1.0\nID=1\nSEND=1\nCOLS=8\nACT_CON=01,1\nCLOSE\n";
        let mut want = minimal("1", 1);
        want.cols = Some(8);
        want.act_con = Some(vec![row("01"), row("1")]);
        assert_eq!(decode_str(input), vec![Inbound::Report(want)]);
    }

    #[test]
    fn header_inside_unfinished_message() {
        let input = format!("ACon_V1.0\nID=1\n{}", good(5));
        assert_eq!(
            decode_str(&input),
            vec![
                malformed("incomplete message: new ACon_V1.0 before CLOSE"),
                Inbound::Report(minimal("7", 5)),
            ]
        );
    }

    #[test]
    fn oversize_message_one_malformed_then_recovery() {
        let max = 256;
        let mut input = String::from("ACon_V1.0\r\nID=1\r\nSEND=1\r\n");
        for i in 0..200 {
            input.push_str(&format!("X{i}=1111111111\r\n"));
        }
        input.push_str("CLOSE\r\n");
        input.push_str(&good(6));
        for chunk in [1, 7, 100, 4096] {
            let mut codec = LockerCodec::new(max);
            let out = decode_chunked(&mut codec, input.as_bytes(), chunk, max + chunk);
            assert_eq!(
                out,
                vec![
                    malformed("message exceeds 256 bytes"),
                    Inbound::Report(minimal("7", 6))
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn oversize_message_ending_in_bare_close() {
        let max = 64;
        let input = format!(
            "ACon_V1.0\nID=1\nSEND=1\nACT_CON={}\nCLOSE",
            "1".repeat(500)
        );
        let mut codec = LockerCodec::new(max);
        let out = decode_chunked(&mut codec, input.as_bytes(), 10, max + 10);
        assert_eq!(out, vec![malformed("message exceeds 64 bytes")]);
        let next = format!("\r\n{}", good(2));
        assert_eq!(
            decode_all(&mut codec, next.as_bytes()),
            vec![Inbound::Report(minimal("7", 2))]
        );
    }

    #[test]
    fn endless_line_inside_message_is_bounded() {
        let max = 1024;
        let mut codec = LockerCodec::new(max);
        let mut out = decode_all(&mut codec, b"ACon_V1.0\nID=1\nSEND=1\nACT_CON=");
        let junk = vec![b'1'; 1 << 20];
        out.extend(decode_chunked(&mut codec, &junk, 1000, max + 1000));
        out.extend(decode_chunked(&mut codec, &junk, 1, max + 1));
        let rest = format!("\nMORE=1\nCLOSE\n{}", good(3));
        out.extend(decode_chunked(&mut codec, rest.as_bytes(), 3, max + 3));
        assert_eq!(
            out,
            vec![
                malformed("message exceeds 1024 bytes"),
                Inbound::Report(minimal("7", 3))
            ]
        );
    }

    #[test]
    fn endless_line_outside_message_is_bounded() {
        let max = 1024;
        let mut codec = LockerCodec::new(max);
        let junk = vec![b'z'; 1 << 20];
        let mut out = decode_chunked(&mut codec, &junk, 999, max + 999);
        let rest = format!("zzz\r\n{}", good(4));
        out.extend(decode_chunked(&mut codec, rest.as_bytes(), 5, max + 5));
        assert_eq!(
            out,
            vec![
                malformed("line exceeds 1024 bytes"),
                Inbound::Report(minimal("7", 4))
            ]
        );
    }

    #[test]
    fn oversize_then_header_without_close_resyncs() {
        let max = 64;
        let input = format!(
            "ACon_V1.0\nID=1\nSEND=1\nACT_CON={}\n{}",
            "1".repeat(100),
            good(5)
        );
        let mut codec = LockerCodec::new(max);
        assert_eq!(
            decode_all(&mut codec, input.as_bytes()),
            vec![
                malformed("message exceeds 64 bytes"),
                Inbound::Report(minimal("7", 5))
            ]
        );
    }

    #[test]
    fn long_junk_line_is_quoted_short() {
        let input = format!("{}\n", "é".repeat(100));
        let out = decode_str(&input);
        assert_eq!(
            out,
            vec![malformed(&format!(
                "expected ACon_V1.0, got \"{}…\"",
                "é".repeat(40)
            ))]
        );
        // Non-UTF-8 bytes are not a problem either.
        let out = decode_all(&mut LockerCodec::new(MAX), b"\xff\xfe\n");
        assert_eq!(
            out,
            vec![malformed("expected ACon_V1.0, got \"\u{fffd}\u{fffd}\"")]
        );
    }

    #[test]
    fn decode_eof_behaviour() {
        // Partial message at EOF: one Malformed, then None.
        let mut codec = LockerCodec::new(MAX);
        let mut buf = BytesMut::from("ACon_V1.0\r\nID=1\r\nSEND=2\r\nCLO");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(
            codec.decode_eof(&mut buf).unwrap(),
            Some(malformed("incomplete message at end of stream"))
        );
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());

        // Bare header at EOF.
        let mut buf = BytesMut::from("ACon_V1.0");
        assert_eq!(
            codec.decode_eof(&mut buf).unwrap(),
            Some(malformed("incomplete message at end of stream"))
        );
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);

        // Complete sample (no final newline) at EOF, then nothing.
        let mut buf = BytesMut::from(SAMPLE);
        assert_eq!(
            codec.decode_eof(&mut buf).unwrap(),
            Some(Inbound::Report(sample_report()))
        );
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);

        // Blank leftovers: nothing.
        let mut buf = BytesMut::from("\r\n \r");
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());

        // Unterminated junk: reported once.
        let mut buf = BytesMut::from("HELLO");
        assert_eq!(
            codec.decode_eof(&mut buf).unwrap(),
            Some(malformed(r#"expected ACon_V1.0, got "HELLO""#))
        );
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn encodes_answer_exactly() {
        let mut codec = LockerCodec::new(MAX);
        let mut dst = BytesMut::new();
        let cell = |cell| CellCode {
            cell,
            code: "1492".into(),
            minutes: 4800,
        };
        codec
            .encode(
                Outbound::Answer {
                    id: "1953".into(),
                    send: 141349,
                    reset: false,
                    block: false,
                    cells: vec![cell(2), cell(5)],
                },
                &mut dst,
            )
            .unwrap();
        assert_eq!(
            &dst[..],
            b"ACon_V1.0\nID=1953\nSEND=141349\nRESET=0\nSTATE=0\n\
              BOX_ENG=(2,1492,4800)\nBOX_ENG=(5,1492,4800)\nCLOSE\n"
        );

        dst.clear();
        codec
            .encode(
                Outbound::Answer {
                    id: "A-1".into(),
                    send: 0,
                    reset: true,
                    block: true,
                    cells: vec![],
                },
                &mut dst,
            )
            .unwrap();
        assert_eq!(
            &dst[..],
            b"ACon_V1.0\nID=A-1\nSEND=0\nRESET=1\nSTATE=3\nCLOSE\n"
        );
    }

    #[test]
    fn encodes_error_on_one_line() {
        let mut codec = LockerCodec::new(MAX);
        let mut dst = BytesMut::new();
        codec
            .encode(Outbound::Error("missing ID".into()), &mut dst)
            .unwrap();
        codec
            .encode(Outbound::Error("two\r\nlines\n".into()), &mut dst)
            .unwrap();
        assert_eq!(&dst[..], b"ERROR: missing ID\nERROR: two lines\n");
    }

    #[test]
    fn refuses_unsendable_answer() {
        let mut codec = LockerCodec::new(MAX);
        let mut dst = BytesMut::new();
        let bad_id = Outbound::Answer {
            id: "a\nb".into(),
            send: 1,
            reset: false,
            block: false,
            cells: vec![],
        };
        assert_eq!(
            codec.encode(bad_id, &mut dst).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let bad_code = Outbound::Answer {
            id: "1".into(),
            send: 1,
            reset: false,
            block: false,
            cells: vec![CellCode {
                cell: 1,
                code: "1,2)".into(),
                minutes: 1,
            }],
        };
        assert!(codec.encode(bad_code, &mut dst).is_err());
        assert!(dst.is_empty());
    }

    #[test]
    fn encoded_answer_without_cells_decodes_back() {
        // The answer uses the same framing; with no cells it is also a valid report.
        let mut codec = LockerCodec::new(MAX);
        let mut buf = BytesMut::new();
        codec
            .encode(
                Outbound::Answer {
                    id: "9".into(),
                    send: 3,
                    reset: false,
                    block: false,
                    cells: vec![],
                },
                &mut buf,
            )
            .unwrap();
        let mut want = minimal("9", 3);
        want.state = vec![0];
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Inbound::Report(want)));
    }
}
