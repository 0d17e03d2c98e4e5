//! The smart-home wire format: little-endian 32-bit words.
//!
//! Request: a command word (4 bytes). Answer: command word, payload length,
//! payload. The error answer (ours; the original had none) is command word
//! [`ERROR_COMMAND`] with a UTF-8 reason as payload.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Client → server: send the home's database.
pub const DOWNLOAD: u32 = 0x4c;
/// Server → client: here is the database.
pub const DATABASE: u32 = 0x43;
/// Server → client: the request failed; the payload says why.
pub const ERROR_COMMAND: u32 = 0x45;

/// One answer frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub command: u32,
    pub payload: Bytes,
}

impl Answer {
    pub fn error(reason: &str) -> Answer {
        Answer {
            command: ERROR_COMMAND,
            payload: Bytes::copy_from_slice(reason.as_bytes()),
        }
    }
}

#[derive(Debug, Default)]
pub struct SmartHomeCodec;

impl Decoder for SmartHomeCodec {
    type Item = u32;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<u32>, Self::Error> {
        if src.len() < 4 {
            return Ok(None);
        }
        Ok(Some(src.get_u32_le()))
    }
}

impl Encoder<Answer> for SmartHomeCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Answer, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let len = u32::try_from(item.payload.len()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "payload over 4 GiB")
        })?;
        dst.reserve(8 + item.payload.len());
        dst.put_u32_le(item.command);
        dst.put_u32_le(len);
        dst.extend_from_slice(&item.payload);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_article_clients_request() {
        // struct.pack('<i', 0x4c) == b'L\x00\x00\x00', possibly split.
        let mut c = SmartHomeCodec;
        let mut buf = BytesMut::from(&b"L\x00"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\x00\x00");
        assert_eq!(c.decode(&mut buf).unwrap(), Some(DOWNLOAD));
        assert!(buf.is_empty());
    }

    #[test]
    fn encodes_word_length_payload_little_endian() {
        let mut out = BytesMut::new();
        SmartHomeCodec
            .encode(
                Answer {
                    command: DATABASE,
                    payload: Bytes::from_static(b"abc"),
                },
                &mut out,
            )
            .unwrap();
        assert_eq!(&out[..], b"\x43\x00\x00\x00\x03\x00\x00\x00abc");
        let mut out = BytesMut::new();
        SmartHomeCodec
            .encode(Answer::error("no"), &mut out)
            .unwrap();
        assert_eq!(&out[..], b"\x45\x00\x00\x00\x02\x00\x00\x00no");
    }
}
