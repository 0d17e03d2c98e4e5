//! Fuzz targets for every codec and for the configuration parser (issue
//! 20), and the two drivers that run them.
//!
//! A [`Target`] is a corpus of valid messages taken from the tests and a
//! check of one input. The checks hold on every input: no panic; what a
//! decoder keeps buffered never exceeds its message cap plus the piece just
//! read (a peer costs at most `max_message_bytes`); and decode ∘ encode is
//! the identity where both exist (raw framings, plate requests). Each input
//! is fed to the decoder in pieces, as TCP delivers it; how it is cut is
//! drawn from a generator seeded by the input itself, so an input always
//! runs the same way.
//!
//! The drivers:
//!
//! * **libFuzzer**, coverage-guided: the `fuzz/` crate links these targets
//!   (feature `fuzzing`) into a libFuzzer binary built on stable Rust with
//!   SanitizerCoverage instrumentation of this crate; `scripts/fuzz` builds
//!   and runs it. It also bounds the memory each input may allocate
//!   ([`Target::max_alloc`]).
//! * **a seeded mutation fuzzer** in the unit tests (bit flips, byte
//!   changes, insertions, deletions, duplicated and spliced runs, extreme
//!   length fields), `WASMGATE_FUZZ_SECS` seconds per target (default 2,
//!   what `scripts/test` spends). A failure prints the seed and the input
//!   in hex.

use bytes::{Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::codec::chat::ChatCodec;
use crate::codec::frames::{Endian, Frame, FrameCodec, Framing};
use crate::codec::greet::GreetCodec;
use crate::codec::locker::LockerCodec;
use crate::codec::plate::{self, Request};
use crate::codec::smarthome::SmartHomeCodec;

/// One fuzz target: a codec (or the configuration parser) and what must
/// hold for any input.
pub struct Target {
    pub name: &'static str,
    /// Valid inputs, from the tests: the seeds of both drivers.
    pub corpus: fn() -> Vec<Vec<u8>>,
    /// The most memory one input may hold at once, beyond a small multiple
    /// of its own length (see `fuzz/`): what the configured limits allow
    /// (message caps, the plate's decompression limit and bz2's own state).
    pub max_alloc: usize,
    check: fn(&mut Rng, &[u8]),
}

impl Target {
    /// Checks one input; panics if an invariant does not hold.
    pub fn check(&self, input: &[u8]) {
        // FNV-1a of the input: how it is cut into pieces.
        let seed = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
        (self.check)(&mut Rng(seed | 1), input)
    }

    pub fn named(name: &str) -> Option<&'static Target> {
        TARGETS.iter().find(|t| t.name == name)
    }
}

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    Target {
        name: "locker",
        corpus: || {
            vec![
                LOCKER_SAMPLE.to_vec(),
                b"ACon_V1.0\nID=5\nSEND=1\nCLOSE\n".to_vec(),
                b"ip\r\ninfo\nexit\n".to_vec(),
            ]
        },
        max_alloc: 64 << 10,
        check: |rng, input| {
            feed(rng, &mut LockerCodec::new(512), input, 512);
        },
    },
    Target {
        name: "chat",
        corpus: || {
            vec![
                br#"{"Command":"01","Name":"alice","Password":"s3cret"}"#.to_vec(),
                br#"{"Command":2,"Name":"Bob42","Password":"pw"}{"Command":"03"}"#.to_vec(),
                b"{\"Command\":\"04\",\"FriendName\":\"bob1\",\"Message\":\"hi \\u00e9\"}\n"
                    .to_vec(),
                br#"  {"Command":"05","Message":"x"} [1,2] "str" {"#.to_vec(),
            ]
        },
        max_alloc: 64 << 10,
        check: |rng, input| {
            feed(rng, &mut ChatCodec::new(256), input, 256);
        },
    },
    Target {
        name: "exec",
        corpus: || {
            vec![
                br#"{"cmd":"init","token":"abc"}"#.to_vec(),
                br#"{"cmd":"execute","extra":{"data":"ls"},"data":[1,{"a":null}]}"#.to_vec(),
                br#"{"cmd":"Heartbeat"}"#.to_vec(),
                br#"{"cmd":"checkDevice","session_id":null}"#.to_vec(),
            ]
        },
        // A WebSocket text frame is decoded whole (its size is the
        // listener's `max_message_bytes`, enforced by the WebSocket layer).
        max_alloc: 64 << 10,
        check: |_, input| {
            let _ = crate::codec::exec::decode(&String::from_utf8_lossy(input));
        },
    },
    Target {
        name: "greet",
        corpus: || vec![b"hello world\n".to_vec(), b"a\r\nb\n\n".to_vec()],
        max_alloc: 64 << 10,
        check: |rng, input| {
            feed(rng, &mut GreetCodec::new(128), input, 128);
        },
    },
    Target {
        name: "smarthome",
        corpus: || vec![0x4cu32.to_le_bytes().to_vec(), vec![0x45, 0, 0, 0, 9]],
        max_alloc: 64 << 10,
        check: |rng, input| {
            feed(rng, &mut SmartHomeCodec, input, 4);
        },
    },
    Target {
        name: "plate",
        corpus: || {
            let mut bz2 = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            std::io::Write::write_all(&mut bz2, &plate::recognition_body("cam1", "id1", b"JPEG"))
                .expect("bz2 into memory");
            vec![
                plate::login_frame("token"),
                [
                    &[3u8, 0][..],
                    &plate::recognition_body("cam1", "2024", b"\xff\xd8img"),
                ]
                .concat(),
                [&[3u8, 1][..], &bz2.finish().expect("bz2 into memory")].concat(),
            ]
        },
        // The image limit (128 KiB here) and bzip2's decompressor (about
        // 3.6 MB at block size 9).
        max_alloc: 8 << 20,
        check: |rng, input| {
            let logged_in = rng.below(2) == 0;
            if let Ok(Request::Recognition(r)) = plate::decode(input, 1 << 16, logged_in) {
                assert!(logged_in && r.image.len() <= 1 << 16);
            }
            // decode ∘ encode: a request made from what was read reads the same.
            let camera: String = String::from_utf8_lossy(&input[..input.len().min(20)])
                .chars()
                .filter(|c| *c != '\0' && !c.is_whitespace())
                .take(20)
                .collect();
            // Identify is a 19-byte field: what fits, whole characters.
            let mut identify = String::new();
            for c in camera.chars().take(6) {
                if identify.len() + c.len_utf8() > 19 {
                    break;
                }
                identify.push(c);
            }
            let frame = [
                &[3u8, 0][..],
                &plate::recognition_body(&camera, &identify, input),
            ]
            .concat();
            match plate::decode(&frame, 1 << 17, true) {
                Ok(Request::Recognition(r)) => {
                    assert_eq!(
                        (r.camera.as_str(), r.identify.as_str()),
                        (&*camera, &*identify)
                    );
                    assert_eq!(&r.image[..], input);
                }
                other => panic!("{other:?}"),
            }
        },
    },
    Target {
        name: "frames",
        corpus: || {
            vec![
                b"\x00\x05hello\x00\x00".to_vec(),
                b"CMD1\x0c\x00\x00\x00abcdline\r\nmore CLOSE\n".to_vec(),
                vec![0xff; 32],
            ]
        },
        max_alloc: 64 << 10,
        check: check_framings,
    },
    Target {
        name: "config",
        corpus: || {
            vec![
                crate::config::EMBEDDED.as_bytes().to_vec(),
                b"[limits]\nlogin_backoff_ms = 0\n[plugins.p]\nworld = \"raw\"\n[[listener]]\nname = \"l\"\nprotocol = \"raw\"\nlisten = \"127.0.0.1:0\"\nplugin = \"p\"\n[listener.framing]\nkind = \"length\"\nlength_bytes = 9\n".to_vec(),
            ]
        },
        // A TOML document is parsed whole; its tables take a few times its
        // length, which the per-input allowance covers.
        max_alloc: 256 << 10,
        check: |_, input| {
            let _ = super::parse(&String::from_utf8_lossy(input));
        },
    },
];

/// xorshift64*: reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Feeds `input` to `codec` in random pieces, decoding after each, then at
/// EOF; checks that what stays buffered is bounded by `cap`.
fn feed<D: Decoder>(rng: &mut Rng, codec: &mut D, input: &[u8], cap: usize) {
    // Each item is dropped as it comes, as the host handles one message
    // before the next: keeping them all would count the driver's own list
    // against the codec's memory bound (`fuzz/`), not the codec's.
    let mut buf = BytesMut::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(4096));
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(item)) => drop(item),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            buf.len() <= cap + n,
            "{} bytes buffered, cap {cap} + {n} just read",
            buf.len()
        );
    }
    while let Ok(Some(item)) = codec.decode_eof(&mut buf) {
        drop(item);
    }
}

fn framings() -> Vec<Framing> {
    vec![
        Framing::Length {
            length_bytes: 2,
            endian: Endian::Big,
            offset: 0,
            length_includes_header: false,
        },
        Framing::Length {
            length_bytes: 4,
            endian: Endian::Little,
            offset: 4,
            length_includes_header: true,
        },
        Framing::Length {
            length_bytes: 8,
            endian: Endian::Big,
            offset: 1,
            length_includes_header: false,
        },
        Framing::Terminator {
            terminator: "\r\n".into(),
        },
        Framing::Terminator {
            terminator: "CLOSE\n".into(),
        },
        Framing::Fixed { size: 7 },
    ]
}

/// Every kind of generic framing, with the checks of [`feed`], and
/// decode ∘ encode where the framing can carry the body (the encoder of a
/// length framing writes what the plugin made, its header included: no
/// round trip of its own).
fn check_framings(rng: &mut Rng, input: &[u8]) {
    for framing in framings() {
        let max = 200;
        // A framing may hold a header or a partial terminator beyond the
        // body's cap (at most 16 bytes: offset, length, terminator).
        feed(
            rng,
            &mut FrameCodec::new(framing.clone(), max),
            input,
            max + 16,
        );
        let body = Bytes::copy_from_slice(&input[..input.len().min(max / 2)]);
        let carried = match &framing {
            Framing::Terminator { terminator } => !body
                .windows(terminator.len())
                .any(|w| w == terminator.as_bytes()),
            Framing::Fixed { size } => body.len() == *size,
            _ => false,
        };
        if !carried {
            continue;
        }
        let mut codec = FrameCodec::new(framing.clone(), max);
        let mut wire = BytesMut::new();
        if codec.encode(body.clone(), &mut wire).is_err() {
            continue;
        }
        match codec.decode(&mut wire) {
            Ok(Some(Frame::Frame(got))) => assert_eq!(got, body, "{framing:?}"),
            other => panic!("{framing:?}: {:?}", other.map(|f| f.map(|_| ()))),
        }
    }
}

const LOCKER_SAMPLE: &[u8] = b"ACon_V1.0\r\nID=1953\r\nSEND=141349\r\nCONNECTION=1\r\nWIFI_STATE=0\r\nGSM_STATE=0\r\nRESET=1\r\nSTATE=0\r\nCOLS=2\r\nROWS=2\r\nACT_CON=11,01\r\nBOX_ENG=2,5\r\nBOX_TO=3\r\nBOX_ACC=1,4\r\nCLOSE";

#[cfg(test)]
mod seeded {
    //! The seeded mutation fuzzer: one test per target. A longer run:
    //! `WASMGATE_FUZZ_SECS=600 cargo test -p wasmgate --features bench --lib fuzz -- --nocapture`.

    use std::time::{Duration, Instant};

    use super::*;

    fn budget() -> Duration {
        let secs = std::env::var("WASMGATE_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2.0);
        Duration::from_secs_f64(secs)
    }

    /// A mutation of `input` (one of the corpus, or of what was made before).
    fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], input: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(out.len() + 1);
            match rng.below(9) {
                0 if !out.is_empty() => {
                    let i = rng.below(out.len());
                    out[i] ^= 1 << rng.below(8);
                }
                1 if !out.is_empty() => {
                    let i = rng.below(out.len());
                    out[i] = [0, 0xff, b'\n', b'\r', b'{', b'}', b'"', 0x7f][rng.below(8)];
                }
                2 => out.insert(at, rng.next() as u8),
                3 if !out.is_empty() => {
                    let n = rng.below(out.len() - at.min(out.len()) + 1);
                    out.drain(at.min(out.len())..(at + n).min(out.len()));
                }
                4 if !out.is_empty() => {
                    // Duplicate a run, sometimes many times.
                    let from = rng.below(out.len());
                    let n = 1 + rng.below((out.len() - from).min(64));
                    let run = out[from..from + n].to_vec();
                    for _ in 0..1 + rng.below(8) {
                        out.splice(at.min(out.len())..at.min(out.len()), run.iter().copied());
                    }
                }
                5 => {
                    // Splice in part of another corpus entry.
                    let other = &corpus[rng.below(corpus.len())];
                    let from = rng.below(other.len());
                    let n = rng.below(other.len() - from + 1);
                    out.splice(
                        at.min(out.len())..at.min(out.len()),
                        other[from..from + n].iter().copied(),
                    );
                }
                6 if out.len() >= 4 => {
                    // An extreme length field somewhere.
                    let i = rng.below(out.len() - 3);
                    let v: [u8; 4] = [
                        [0xff; 4],
                        [0x7f, 0xff, 0xff, 0xff],
                        [0, 0, 0, 0],
                        [0x80, 0, 0, 0],
                    ][rng.below(4)];
                    out[i..i + 4].copy_from_slice(&v);
                }
                7 => out.truncate(at),
                _ => out.extend_from_slice(&corpus[rng.below(corpus.len())]),
            }
        }
        out.truncate(1 << 16);
        out
    }

    /// Runs the target on mutated inputs for the time budget; a panic names
    /// the seed and the input.
    fn fuzz(name: &str) {
        let target = Target::named(name).expect("a target of that name");
        let corpus = (target.corpus)();
        let seed = std::env::var("WASMGATE_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x9e37_79b9_7f4a_7c15u64 ^ name.len() as u64);
        let mut rng = Rng(seed | 1);
        let started = Instant::now();
        let mut runs = 0u64;
        let mut last = corpus[0].clone();
        while started.elapsed() < budget() {
            let base = if rng.below(2) == 0 {
                corpus[rng.below(corpus.len())].clone()
            } else {
                last.clone()
            };
            let input = mutate(&mut rng, &corpus, &base);
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.check(&input)));
            if let Err(panic) = result {
                eprintln!(
                    "fuzz {name}: seed {seed}, run {runs}, input {}",
                    hex::encode(&input)
                );
                std::panic::resume_unwind(panic);
            }
            last = input;
            runs += 1;
        }
        eprintln!("fuzz {name}: {runs} inputs in {:?}", started.elapsed());
        assert!(runs > 0);
    }

    #[test]
    fn every_target_has_a_test_and_its_seeds_pass() {
        let tested = [
            "locker",
            "chat",
            "exec",
            "greet",
            "smarthome",
            "plate",
            "frames",
            "config",
        ];
        let names: Vec<_> = TARGETS.iter().map(|t| t.name).collect();
        assert_eq!(names, tested);
        for target in TARGETS {
            for seed in (target.corpus)() {
                target.check(&seed);
            }
        }
    }

    #[test]
    fn fuzz_locker() {
        fuzz("locker");
    }

    #[test]
    fn fuzz_chat() {
        fuzz("chat");
    }

    #[test]
    fn fuzz_exec() {
        fuzz("exec");
    }

    #[test]
    fn fuzz_greet() {
        fuzz("greet");
    }

    #[test]
    fn fuzz_smarthome() {
        fuzz("smarthome");
    }

    #[test]
    fn fuzz_plate_and_bz2() {
        fuzz("plate");
    }

    #[test]
    fn fuzz_generic_framings() {
        fuzz("frames");
    }

    #[test]
    fn fuzz_configuration() {
        fuzz("config");
    }
}
