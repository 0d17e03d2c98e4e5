//! Generic framings for protocols defined in configuration alone
//! (`protocol = "raw"`): length-prefixed, terminator-delimited and
//! fixed-size frames, each capped at the listener's `max_message_bytes`.
//!
//! What the component sees and returns, per framing:
//! - `length`: whole frames, header included, in and out (verbatim).
//! - `terminator`: frames without the terminator; the encoder appends it.
//! - `fixed`: frames of exactly `size` bytes, in and out (verbatim).
//! - `websocket`: one message is one frame (handled by the WebSocket layer,
//!   not by this codec).

use bytes::{Buf, Bytes, BytesMut};
use serde::Deserialize;
use tokio_util::codec::{Decoder, Encoder};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Framing {
    /// A frame is `offset` bytes (e.g. a command word), a length field of
    /// `length_bytes` (1, 2, 4 or 8), then the body. The length counts the
    /// body, or the whole frame when `length_includes_header`.
    Length {
        length_bytes: u8,
        #[serde(default)]
        endian: Endian,
        #[serde(default)]
        offset: usize,
        #[serde(default)]
        length_includes_header: bool,
    },
    /// Frames end with `terminator` (any byte string, e.g. "\n" or "CLOSE\n").
    Terminator { terminator: String },
    /// Every frame is `size` bytes.
    Fixed { size: usize },
    /// WebSocket messages (text or binary; path from `ws_path`, default
    /// "/"). Outgoing frames are sent as text messages when `text` is set
    /// and they are UTF-8, as binary messages otherwise.
    Websocket {
        #[serde(default)]
        text: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    #[default]
    Big,
    Little,
}

impl Framing {
    pub fn validate(&self, max: usize) -> Result<(), String> {
        match self {
            Framing::Length {
                length_bytes,
                offset,
                ..
            } => {
                if ![1, 2, 4, 8].contains(length_bytes) {
                    return Err(format!(
                        "length_bytes must be 1, 2, 4 or 8, not {length_bytes}"
                    ));
                }
                if offset + *length_bytes as usize > max {
                    return Err("the header is larger than max_message_bytes".into());
                }
            }
            Framing::Terminator { terminator } if terminator.is_empty() => {
                return Err("empty terminator".into());
            }
            Framing::Fixed { size } if *size == 0 || *size > max => {
                return Err(format!("fixed size must be 1..={max} (max_message_bytes)"));
            }
            _ => {}
        }
        Ok(())
    }
}

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Frame(Bytes),
    /// A frame over the cap. With a terminator the rest of it is skipped and
    /// decoding goes on; a length-prefixed stream cannot be resynchronised,
    /// so the decoder fails after this and the connection closes.
    Oversize(String),
}

pub struct FrameCodec {
    framing: Framing,
    max: usize,
    /// Skipping an oversize terminator frame up to its terminator.
    skipping: bool,
    /// A length-prefixed stream that lost its framing.
    broken: bool,
    /// Bytes of the buffer already searched for the terminator.
    searched: usize,
}

impl FrameCodec {
    pub fn new(framing: Framing, max: usize) -> Self {
        FrameCodec {
            framing,
            max,
            skipping: false,
            broken: false,
            searched: 0,
        }
    }
}

fn broken() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "frame over the size limit; stream cannot resynchronise",
    )
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if self.broken {
            src.clear();
            return Err(broken());
        }
        match &self.framing {
            // Messages come from the WebSocket layer, never through this codec.
            Framing::Websocket { .. } => {
                src.clear();
                Err(std::io::Error::other("WebSocket framing has no byte codec"))
            }
            Framing::Fixed { size } => {
                if src.len() < *size {
                    return Ok(None);
                }
                Ok(Some(Frame::Frame(src.split_to(*size).freeze())))
            }
            Framing::Length {
                length_bytes,
                endian,
                offset,
                length_includes_header,
            } => {
                let header = offset + *length_bytes as usize;
                if src.len() < header {
                    return Ok(None);
                }
                let field = &src[*offset..header];
                let mut value: u64 = 0;
                for i in 0..field.len() {
                    let b = match endian {
                        Endian::Big => field[i],
                        Endian::Little => field[field.len() - 1 - i],
                    };
                    value = (value << 8) | u64::from(b);
                }
                let total = if *length_includes_header {
                    value
                } else {
                    value.saturating_add(header as u64)
                };
                if total > self.max as u64 || total < header as u64 {
                    self.broken = true;
                    src.clear();
                    return Ok(Some(Frame::Oversize(format!(
                        "frame of {total} bytes announced; the limit is {} bytes",
                        self.max
                    ))));
                }
                let total = total as usize;
                if src.len() < total {
                    src.reserve(total - src.len());
                    return Ok(None);
                }
                Ok(Some(Frame::Frame(src.split_to(total).freeze())))
            }
            Framing::Terminator { terminator } => {
                let t = terminator.as_bytes();
                loop {
                    let from = self.searched.saturating_sub(t.len() - 1);
                    let found = find(&src[from..], t).map(|p| p + from);
                    self.searched = match found {
                        Some(_) => 0,
                        None => src.len(),
                    };
                    match found {
                        Some(pos) if self.skipping => {
                            src.advance(pos + t.len());
                            self.skipping = false;
                        }
                        Some(pos) if pos > self.max => {
                            src.advance(pos + t.len());
                            return Ok(Some(Frame::Oversize(format!(
                                "frame over {} bytes",
                                self.max
                            ))));
                        }
                        Some(pos) => {
                            let frame = src.split_to(pos).freeze();
                            src.advance(t.len());
                            return Ok(Some(Frame::Frame(frame)));
                        }
                        None => {
                            // Keep only what could still be the start of a terminator.
                            let keep = t.len() - 1;
                            if self.skipping {
                                src.advance(src.len().saturating_sub(keep));
                                self.searched = src.len();
                                return Ok(None);
                            }
                            if src.len() > self.max + keep {
                                src.advance(src.len() - keep);
                                self.searched = src.len();
                                self.skipping = true;
                                return Ok(Some(Frame::Oversize(format!(
                                    "frame over {} bytes",
                                    self.max
                                ))));
                            }
                            return Ok(None);
                        }
                    }
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Encoder<Bytes> for FrameCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(&item);
        if let Framing::Terminator { terminator } = &self.framing {
            dst.extend_from_slice(terminator.as_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(codec: &mut FrameCodec, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Ok(Some(f)) = codec.decode(&mut buf) {
                out.push(f);
            }
        }
        out
    }

    fn frame(b: &[u8]) -> Frame {
        Frame::Frame(Bytes::copy_from_slice(b))
    }

    #[test]
    fn length_prefixed_with_command_word_little_endian() {
        // The smart-home answer's shape: command u32 LE, length u32 LE, body.
        let f = Framing::Length {
            length_bytes: 4,
            endian: Endian::Little,
            offset: 4,
            length_includes_header: false,
        };
        let msg = b"\x43\0\0\0\x03\0\0\0abc";
        let bytes: Vec<&[u8]> = msg.iter().map(std::slice::from_ref).collect();
        assert_eq!(
            all(&mut FrameCodec::new(f.clone(), 64), &bytes),
            [frame(msg)]
        );
        let two = [&msg[..], &msg[..]].concat();
        assert_eq!(
            all(&mut FrameCodec::new(f, 64), &[&two]),
            [frame(msg), frame(msg)]
        );
    }

    #[test]
    fn length_including_header_big_endian() {
        let f = Framing::Length {
            length_bytes: 2,
            endian: Endian::Big,
            offset: 0,
            length_includes_header: true,
        };
        assert_eq!(
            all(&mut FrameCodec::new(f, 64), &[b"\0\x05abc\0\x02"]),
            [frame(b"\0\x05abc"), frame(b"\0\x02")]
        );
    }

    #[test]
    fn oversize_length_breaks_the_stream() {
        let f = Framing::Length {
            length_bytes: 4,
            endian: Endian::Big,
            offset: 0,
            length_includes_header: false,
        };
        let mut c = FrameCodec::new(f, 16);
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xffjunk"[..]);
        assert!(matches!(c.decode(&mut buf), Ok(Some(Frame::Oversize(_)))));
        assert!(c.decode(&mut BytesMut::from(&b"\0\0\0\x01x"[..])).is_err());
    }

    #[test]
    fn terminator_split_anywhere_and_oversize_skipped() {
        let f = Framing::Terminator {
            terminator: "CLOSE\n".into(),
        };
        let input = b"one CLOSE\ntwoCLOSE\n";
        let chunks: Vec<&[u8]> = input.iter().map(std::slice::from_ref).collect();
        assert_eq!(
            all(&mut FrameCodec::new(f.clone(), 16), &chunks),
            [frame(b"one "), frame(b"two")]
        );

        let mut c = FrameCodec::new(f, 8);
        let long = [
            b"x".repeat(100).as_slice(),
            b"CLOSE\nok".as_slice(),
            b"CLOSE\n".as_slice(),
        ]
        .concat();
        let got = all(&mut c, &[&long[..50], &long[50..]]);
        assert!(matches!(got[0], Frame::Oversize(_)), "{got:?}");
        assert_eq!(got[1..], [frame(b"ok")]);
    }

    #[test]
    fn endless_junk_without_terminator_stays_bounded() {
        let mut c = FrameCodec::new(
            Framing::Terminator {
                terminator: "\n".into(),
            },
            32,
        );
        let mut buf = BytesMut::new();
        let mut oversize = 0;
        for _ in 0..1000 {
            buf.extend_from_slice(&[b'y'; 1000]);
            while let Ok(Some(f)) = c.decode(&mut buf) {
                assert!(matches!(f, Frame::Oversize(_)));
                oversize += 1;
            }
            assert!(buf.len() <= 1000 + 32, "buffer grew to {}", buf.len());
        }
        assert_eq!(oversize, 1);
        buf.extend_from_slice(b"\nfine\n");
        assert_eq!(c.decode(&mut buf).unwrap(), Some(frame(b"fine")));
    }

    #[test]
    fn fixed_frames_and_encoding() {
        let mut c = FrameCodec::new(Framing::Fixed { size: 3 }, 8);
        assert_eq!(
            all(&mut c, &[b"abcde", b"f"]),
            [frame(b"abc"), frame(b"def")]
        );
        let mut out = BytesMut::new();
        FrameCodec::new(
            Framing::Terminator {
                terminator: "\r\n".into(),
            },
            8,
        )
        .encode(Bytes::from_static(b"hi"), &mut out)
        .unwrap();
        assert_eq!(&out[..], b"hi\r\n");
    }

    #[test]
    fn framing_from_config() {
        let f: Framing =
            toml::from_str("kind = \"length\"\nlength_bytes = 2\nendian = \"little\"").unwrap();
        assert_eq!(
            f,
            Framing::Length {
                length_bytes: 2,
                endian: Endian::Little,
                offset: 0,
                length_includes_header: false
            }
        );
        assert!(f.validate(100).is_ok());
        let bad: Framing = toml::from_str("kind = \"length\"\nlength_bytes = 3").unwrap();
        assert!(bad.validate(100).is_err());
        assert!(toml::from_str::<Framing>("kind = \"fixed\"\nsize = 4\nbogus = 1").is_err());
    }
}
