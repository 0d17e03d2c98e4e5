//! The greeting protocol's lines: `HELLO <name>` in, one line out.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// A line from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Hello(String),
    /// Anything else: why.
    Malformed(String),
}

/// Lines of at most `max` bytes; a longer one is malformed and skipped.
pub struct GreetCodec(LinesCodec);

impl GreetCodec {
    pub fn new(max: usize) -> Self {
        GreetCodec(LinesCodec::new_with_max_length(max))
    }
}

impl Decoder for GreetCodec {
    type Item = Inbound;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, Self::Error> {
        match self.0.decode(src) {
            Ok(line) => Ok(line.map(|l| parse(&l))),
            Err(LinesCodecError::MaxLineLengthExceeded) => {
                Ok(Some(Inbound::Malformed("line too long".to_string())))
            }
            Err(LinesCodecError::Io(e)) => Err(e),
        }
    }
}

impl Encoder<String> for GreetCodec {
    type Error = std::io::Error;

    /// One line; line breaks inside it become spaces.
    fn encode(&mut self, line: String, dst: &mut BytesMut) -> Result<(), Self::Error> {
        self.0
            .encode(line.replace(['\r', '\n'], " "), dst)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

fn parse(line: &str) -> Inbound {
    match line.trim_end_matches('\r').strip_prefix("HELLO ") {
        Some(name) if !name.trim().is_empty() => Inbound::Hello(name.trim().to_string()),
        _ => Inbound::Malformed("expected HELLO <name>".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_lines_and_the_rest() {
        let mut c = GreetCodec::new(16);
        let mut buf = BytesMut::from("HELLO ann\r\nHI\nHELLO 0123456789abcdef\nHELLO bo\n");
        assert_eq!(
            c.decode(&mut buf).unwrap(),
            Some(Inbound::Hello("ann".into()))
        );
        assert!(matches!(
            c.decode(&mut buf).unwrap(),
            Some(Inbound::Malformed(_))
        ));
        assert!(
            matches!(c.decode(&mut buf).unwrap(), Some(Inbound::Malformed(r)) if r == "line too long")
        );
        assert_eq!(
            c.decode(&mut buf).unwrap(),
            Some(Inbound::Hello("bo".into()))
        );
        let mut out = BytesMut::new();
        c.encode("a\nb".to_string(), &mut out).unwrap();
        assert_eq!(&out[..], b"a b\n");
    }
}
