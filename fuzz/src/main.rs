//! libFuzzer over wasmgate's fuzz targets (`wasmgate::protocol::fuzz`):
//! every codec and the configuration parser, coverage-guided; and `jpeg`,
//! the plate recogniser's photo decoder (`plate_recognizer::fuzz`), which
//! reads the photos a camera sends, in process under `backend = "native"`.
//!
//! Built and run by `scripts/fuzz`, which instruments this crate and the
//! host library with SanitizerCoverage on stable Rust. The target is named
//! by `WASMGATE_FUZZ_TARGET`; when `WASMGATE_FUZZ_SEEDS` names a directory,
//! the target's seeds (valid messages from the tests) are written into it
//! before libFuzzer reads its corpus directories.
//!
//! Besides the target's own checks, every input is held to a memory
//! bound: the most bytes live at once while it runs may exceed what was
//! live before by at most the target's `max_alloc` plus
//! `ALLOC_PER_INPUT_BYTE` times the input's length. An input that makes a
//! decoder reserve what a length field claims, or decompress without a
//! limit, fails here even when the allocation succeeds.

#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use libfuzzer_sys::fuzz_target;
use wasmgate::protocol::fuzz::Target;

/// Counts the bytes live and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is System's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What an input may hold per byte of its own: a copy being decoded, what
/// was decoded from it, lossy UTF-8 (3 bytes per invalid byte) and the
/// parsers' own structures.
const ALLOC_PER_INPUT_BYTE: usize = 64;

/// What the inputs are checked by.
#[derive(Clone, Copy)]
enum Fuzzed {
    /// One of the host's targets.
    Host(&'static Target),
    /// The plate recogniser's photo decoder.
    Jpeg,
}

impl Fuzzed {
    fn named(name: &str) -> Option<Fuzzed> {
        match name {
            "jpeg" => Some(Fuzzed::Jpeg),
            _ => Target::named(name).map(Fuzzed::Host),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Fuzzed::Host(t) => t.name,
            Fuzzed::Jpeg => "jpeg",
        }
    }

    fn corpus(self) -> Vec<Vec<u8>> {
        match self {
            Fuzzed::Host(t) => (t.corpus)(),
            Fuzzed::Jpeg => plate_recognizer::fuzz::seeds(),
        }
    }

    fn max_alloc(self) -> usize {
        match self {
            Fuzzed::Host(t) => t.max_alloc,
            Fuzzed::Jpeg => plate_recognizer::fuzz::MAX_ALLOC,
        }
    }

    fn check(self, input: &[u8]) {
        match self {
            Fuzzed::Host(t) => t.check(input),
            Fuzzed::Jpeg => plate_recognizer::fuzz::exercise(input),
        }
    }
}

static TARGET: OnceLock<Fuzzed> = OnceLock::new();

fn init() {
    let name = std::env::var("WASMGATE_FUZZ_TARGET").unwrap_or_default();
    let Some(target) = Fuzzed::named(&name) else {
        let names: Vec<_> = wasmgate::protocol::fuzz::TARGETS
            .iter()
            .map(|t| t.name)
            .chain(["jpeg"])
            .collect();
        eprintln!(
            "WASMGATE_FUZZ_TARGET={name:?}: not a target; one of {}",
            names.join(", ")
        );
        std::process::exit(2);
    };
    if let Ok(dir) = std::env::var("WASMGATE_FUZZ_SEEDS") {
        for (i, seed) in target.corpus().iter().enumerate() {
            let path = std::path::Path::new(&dir).join(format!("seed-{i}"));
            if let Err(e) = std::fs::write(&path, seed) {
                eprintln!("{}: {e}", path.display());
                std::process::exit(2);
            }
        }
    }
    TARGET.set(target).ok();
}

fuzz_target!(init: init(), |input: &[u8]| {
    let target = *TARGET.get().expect("set by init");
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    target.check(input);
    let held = PEAK.load(Relaxed).saturating_sub(before);
    let allowed = target.max_alloc() + ALLOC_PER_INPUT_BYTE * input.len();
    assert!(
        held <= allowed,
        "{}: {held} bytes live at once for a {}-byte input (allowed {allowed})",
        target.name(),
        input.len()
    );
});
