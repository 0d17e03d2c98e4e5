//! Chinese licence-plate recogniser: classical computer vision locates
//! candidate plates, a small convolutional sequence reader (CTC,
//! LPRNet-like) reads each rectified candidate without segmenting it, and a
//! second small CNN double-checks the province character; a small learned
//! detector finds plates the classical locator cannot read. Pure Rust, the
//! models embedded (`model/*.bin`: the reader and its check reader, the
//! province CNNs, the letter-and-digit CNN, the detector); builds
//! natively and for `wasm32-wasip2`.
//!
//! The pipeline, one module (room) per stage; [`recognize`] runs it:
//!
//! 1. **decode** ([`Photo::decode`], `photo`, `jpeg`): JPEG or PNG with
//!    size and allocation limits; a baseline JPEG of 2 to 12 megapixels
//!    (when the memory for it is there) is entropy-decoded by our own
//!    decoder and kept as DCT coefficients, its pixels made at a reduced
//!    scale for locating and at full resolution only where crops are cut;
//!    anything else is decoded whole by the `image` crate;
//! 2. **locate** (`locate/`): a working copy at most [`WORK_WIDTH`] wide;
//!    per plate colour an HSV mask (`colour`), closed and opened, whose
//!    connected components with a plate-like principal-axis rectangle are
//!    candidates, plus vertical-edge-density candidates for plates of any
//!    colour; looser *fallback* candidates after them: pale blue while no
//!    read is sure, textured colour (a plate on a car of its own colour)
//!    read while nothing is, or where it could be the main plate;
//! 3. **rectify** (`rectify`): each candidate is cut out of the
//!    full-resolution photo along its rotated (or sheared) rectangle;
//! 4. **read** (`read/`): the sequence reader ([`cnn`]) reads the 32 × 128
//!    grey crop (double-row plates stitched side by side); a read that
//!    breaks the plate format by one character is mended (`read/format`);
//!    only reads of a valid format count;
//! 5. **province** (`province`): the province glyph, cut out by the earlier
//!    segmenter (`segment`) and by a window placed with the GA 36 layout
//!    fitted to the read's CTC columns (`layout`), is classified by the
//!    province CNN ([`pcnn`]) and voted with the reader; a double-row
//!    plate's, cut out of its top row, by a CNN of its own;
//! 6. **colour** (`colour`): the mask that found the plate, or for edge
//!    candidates the crop's polarity and background hue; 8 characters make
//!    a green new-energy plate;
//! 7. **choose** (`search`): passes over the candidates (as located,
//!    looser crops while nothing is sure, zooming into large candidates
//!    while nothing is read, re-reads from boxes fitted to the characters
//!    by `layout`); of several plates the main one wins (`search::main_plate`:
//!    the widest near the centre among the confident reads), its most
//!    confident read answered, each of its characters voted on by every
//!    read of the same plate unless the vote makes no valid plate;
//! 8. **detect** ([`detect`]): when all that read nothing, the learned
//!    detector's boxes are read the same way.
//!
//! The crate README gives the thresholds, the figures and their history.

pub mod cnn;
mod colour;
pub mod detect;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
mod glyphs;
mod jpeg;
pub mod labels;
mod layout;
mod locate;
pub mod mlp;
pub mod pcnn;
mod photo;
mod province;
mod read;
mod rectify;
mod search;
mod segment;
pub mod synth;
#[cfg(test)]
mod tests;
#[cfg(all(feature = "wasm-runner", not(target_arch = "wasm32")))]
pub mod wasm_host;

pub use glyphs::{ALNUM_CHECK_BELOW, ALNUM_CNN_WEIGHT, alnum_model};
pub use locate::{WORK_WIDTH, resize_box};
pub use photo::Photo;
pub use province::{
    PROVINCE_CNN_WEIGHT, READER_KEEP_PROVINCE, READER_REAL_SHARE, THRESHOLD_STEP, diagnose_crop,
    province_model,
};
pub use read::format::valid_plate;
pub use read::model;
pub use rectify::cut_box;
pub use search::MIN_CONFIDENCE;
pub use segment::otsu;

use image::RgbImage;
use locate::{Fallback, Scene};
use search::read_candidates;
use std::sync::OnceLock;

/// Digits and letters of plates (no I, no O: the letter O, second only, is
/// in `EXTRA`).
pub const ALNUM: &str = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Province characters known to the province classifier.
pub const PROVINCES: &str = "川甘黑津辽闽琼晋新粤浙鄂贵沪京鲁宁陕皖豫云赣桂冀吉蒙青苏湘渝藏";

/// The reader's other characters: the letter O (second character only)
/// and the characters of a plate's use (`read/format.rs`).
pub const EXTRA: &str = "O学警挂港澳使领";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Blue,
    Yellow,
    Green,
    White,
    Black,
}

impl Color {
    pub fn as_str(&self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Yellow => "yellow",
            Color::Green => "green",
            Color::White => "white",
            Color::Black => "black",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Recognition {
    pub plate: String,
    pub color: Color,
    pub confidence: f32,
    /// Where the plate is in the photo: the corners of its (rotated or
    /// sheared) box, in pixels of the full-size photo — top left, top
    /// right, bottom right, bottom left.
    pub corners: [[f32; 2]; 4],
}

/// An embedded model, loaded on the first call (a load error is kept and
/// returned by every call).
pub(crate) fn load_once<T>(
    cell: &'static OnceLock<Result<T, String>>,
    load: impl FnOnce() -> Result<T, String>,
) -> Result<&'static T, String> {
    cell.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// `PLATE_DEBUG` set (development aid: candidates and reads on stderr; a
/// directory name also gets crops saved), read once.
fn debug_on() -> bool {
    static D: OnceLock<bool> = OnceLock::new();
    *D.get_or_init(|| std::env::var("PLATE_DEBUG").is_ok())
}

/// Recognise the main plate in an encoded image (JPEG or PNG).
/// `Err` = cannot decode (or no model); `Ok(None)` = no plate found.
pub fn recognize(image_bytes: &[u8]) -> Result<Option<Recognition>, String> {
    let photo = Photo::decode(image_bytes)?;
    let net = model()?;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        recognize_photo(&photo, net)
    }));
    r.map_err(|_| "internal error".to_string())
}

/// Decode the whole photo with size limits (bounded memory on hostile
/// input), as [`Photo::decode`] decodes it (a baseline JPEG of 2 to 12 MP
/// by our own decoder, anything else by the `image` crate): the same pixels
/// [`recognize`] cuts its crops from.
pub fn decode(image_bytes: &[u8]) -> Result<RgbImage, String> {
    let photo = Photo::decode(image_bytes)?;
    Ok(photo.to_rgb())
}

/// The evaluation split of a photo set (the crate README, "The split"): a
/// photo is **held out** when the 32-bit FNV-1a hash of its file name
/// (UTF-8, extension included) is a multiple of 3. Chosen before looking at
/// any result; it depends on nothing but the name. Nothing is trained or
/// tuned on a held-out photo.
pub fn held_out(file_name: &str) -> bool {
    let h = file_name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    });
    h % 3 == 0
}

/// Recognise from decoded pixels.
pub fn recognize_rgb(full: &RgbImage, net: &cnn::Net) -> Option<Recognition> {
    recognize_photo(&Photo::from_rgb(full), net)
}

/// Recognise from a decoded photo (its pixels made where needed).
pub fn recognize_photo(full: &Photo, net: &cnn::Net) -> Option<Recognition> {
    let scene = Scene::new(full);
    let cands = scene.candidates(Fallback::No, &[]);
    read_or_close_up(full, &scene, cands, net)
}

/// The whole search after locating (`scene`, its candidates `cands`): the
/// candidates, fallbacks and detector ([`read_or_detect`]), then, where
/// nothing was answered, the close-up pass ([`close_up`]). What
/// [`recognize_photo`] and [`recognize_profiled`] both run.
fn read_or_close_up(
    full: &Photo,
    scene: &Scene,
    cands: Vec<locate::Cand>,
    net: &cnn::Net,
) -> Option<Recognition> {
    read_or_detect(full, scene, cands, net).or_else(|| close_up(full, net))
}

/// The widest copy of a photo [`close_up`] sets into its frame.
const CLOSE_UP_WIDTH: u32 = 800;

/// A close-up (a plate filling half the photo or more, as a camera at a
/// gate frames it, or a crop of a car): read again with the photo set, at
/// most [`CLOSE_UP_WIDTH`] wide, into the middle of a frame three times its
/// size of its mean colour, so that its plate is as large in the locators'
/// working copies as the plates they were made for (the colour and edge
/// masks' morphology, the detector's training sizes: a quarter of the
/// photo's width or less). Only where nothing was answered, and only a
/// plate of [`CLOSE_UP_MIN_SHARE`] of the photo's width or more; the box
/// is given back in the photo's pixels.
fn close_up(full: &Photo, net: &cnn::Net) -> Option<Recognition> {
    let (fw, fh) = full.dimensions();
    let s = (CLOSE_UP_WIDTH as f32 / fw as f32).min(1.0);
    let (w, h) = (
        ((fw as f32 * s).round() as u32).max(1),
        ((fh as f32 * s).round() as u32).max(1),
    );
    let copy = full.working_copy(w, h);
    let n = (w as u64 * h as u64).max(1);
    let mut sum = [0u64; 3];
    for p in copy.pixels() {
        for (s, &v) in sum.iter_mut().zip(&p.0) {
            *s += v as u64;
        }
    }
    let mean = image::Rgb(sum.map(|v| (v / n) as u8));
    let mut frame = RgbImage::from_pixel(3 * w, 3 * h, mean);
    let (ox, oy) = (w, h);
    image::imageops::replace(&mut frame, &copy, ox as i64, oy as i64);
    let framed = Photo::from_rgb(&frame);
    // only plates wide enough to answer are read
    let min_width = CLOSE_UP_MIN_SHARE * w as f32;
    let scene = Scene::new(&framed).with_min_width(min_width);
    let cands = scene.candidates(Fallback::No, &[]);
    let mut r = read_or_detect(&framed, &scene, cands, net)?;
    for c in &mut r.corners {
        c[0] = (c[0] - ox as f32) / s;
        c[1] = (c[1] - oy as f32) / s;
    }
    let [a, b, ..] = r.corners;
    let width = (b[0] - a[0]).hypot(b[1] - a[1]);
    (width >= CLOSE_UP_MIN_SHARE * fw as f32).then_some(r)
}

/// The narrowest plate, as a share of the photo's width, that [`close_up`]
/// answers: narrower plates are the first search's to find, and a second
/// search over a photo where it found none answers more often where there
/// is none.
const CLOSE_UP_MIN_SHARE: f32 = 0.3;

/// Reads the classical locator's candidates `cands` and, when no plate is read
/// from them (nor from the search's fallback candidates), the learned
/// detector's (`detect`): a plate the colour and edge masks miss, such as a
/// blue plate on a blue taxi. The detector is not the first locator: on the
/// held-out EasyPR photos the plates read from its boxes are no more than
/// from the classical ones, and it would run on every photo (the crate
/// README, "The learned detector").
fn read_or_detect(
    full: &Photo,
    scene: &Scene,
    cands: Vec<locate::Cand>,
    net: &cnn::Net,
) -> Option<Recognition> {
    read_candidates(full, scene, cands, net).or_else(|| {
        let det = detect::model().ok()?;
        let mut learned = stage::timed(&stage::DETECT, || {
            det.candidates(scene.detector_input(full))
        });
        if debug_on() {
            for c in &learned {
                eprintln!("detector box {c:?} wide enough: {}", scene.wide_enough(c));
            }
        }
        learned.retain(|c| scene.wide_enough(c));
        if learned.is_empty() {
            return None;
        }
        read_candidates(full, scene, learned, net)
    })
}

/// The classical locator's candidate boxes of a photo, every kind (its
/// fallbacks included), as `[cx, cy, w, h, angle]` in the photo's pixels:
/// the places the search reads. The reader's trainer cuts its negatives
/// (`NEGATIVES`) at them in photos whose plates are painted over.
pub fn located_boxes(img: &RgbImage) -> Vec<[f32; 5]> {
    locate::locate(&Photo::from_rgb(img))
        .into_iter()
        .map(|c| [c.cx, c.cy, c.w, c.h, c.angle])
        .collect()
}

/// Time spent inside the read stage, accumulated by the timing tools
/// (nanoseconds, all calls since the start; [`recognize_profiled`] gives
/// the share of one photo).
pub mod stage {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The sequence reader's forward passes.
    pub static READER: AtomicU64 = AtomicU64::new(0);
    /// The glyph CNNs' forward passes (province, letters and digits).
    pub static CHECK_CNN: AtomicU64 = AtomicU64::new(0);
    /// The whole province and letter-and-digit checks (cutting the glyphs,
    /// binarising, the CNNs).
    pub static CHECKS: AtomicU64 = AtomicU64::new(0);
    /// Making a JPEG's pixels from its coefficients (IDCT, upsampling,
    /// colour conversion): the reduced-scale working copies and the
    /// full-resolution regions of crops.
    pub static PIXELS: AtomicU64 = AtomicU64::new(0);
    /// The working copies of the locator and the detector (made from the
    /// coefficients at a reduced scale, or box-filtered from the decoded
    /// pixels), whole.
    pub static COPY: AtomicU64 = AtomicU64::new(0);
    /// Of [`COPY`]: the JPEG pixels made for the copies (also in
    /// [`PIXELS`]).
    pub static COPY_PIXELS: AtomicU64 = AtomicU64::new(0);
    /// Cutting crops out of the photo (`rectify`), the full-resolution
    /// pixels they make included.
    pub static CROPS: AtomicU64 = AtomicU64::new(0);
    /// The learned detector's passes (its working copy included).
    pub static DETECT: AtomicU64 = AtomicU64::new(0);

    /// Runs `f`, adding its time to `to`.
    #[inline(always)]
    pub(crate) fn timed<R>(to: &AtomicU64, f: impl FnOnce() -> R) -> R {
        let t = std::time::Instant::now();
        let r = f();
        to.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }

    /// Makes a working copy with `f`, its time added to [`COPY`] and the
    /// JPEG pixels made meanwhile to [`COPY_PIXELS`].
    #[inline(always)]
    pub(crate) fn copy<R>(f: impl FnOnce() -> R) -> R {
        let px = PIXELS.load(Ordering::Relaxed);
        let r = timed(&COPY, f);
        COPY_PIXELS.fetch_add(PIXELS.load(Ordering::Relaxed) - px, Ordering::Relaxed);
        r
    }

    pub(crate) fn ms(of: &AtomicU64) -> f64 {
        of.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// Time spent per stage by [`recognize_profiled`], in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Profile {
    /// Decoding: for a baseline JPEG the entropy decoding only (its pixels
    /// are made later, in `pixels_ms`), otherwise the whole decode.
    pub decode_ms: f64,
    /// Locating the candidates every photo gets.
    pub locate_ms: f64,
    /// Reading, and locating the fallback candidates when needed.
    pub read_ms: f64,
    pub candidates: usize,
    /// Crops read by the sequence reader.
    pub reads: usize,
    /// Of `read_ms`: the sequence reader's forward passes.
    pub reader_ms: f64,
    /// Of `read_ms`: the province and letter-and-digit checks (their CNNs
    /// included).
    pub checks_ms: f64,
    /// Of `checks_ms`: the glyph CNNs' forward passes.
    pub check_cnn_ms: f64,
    /// Of `locate_ms` and `read_ms`: making a JPEG's pixels from its
    /// coefficients (reduced-scale copies, full-resolution regions).
    pub pixels_ms: f64,
    /// Of `locate_ms` and `read_ms`: the working copies of the locator
    /// and (when it runs) the detector, their JPEG pixels included.
    pub copy_ms: f64,
    /// Of `pixels_ms`: those made for the working copies.
    pub copy_pixels_ms: f64,
    /// Of `locate_ms` and `read_ms`: cutting crops (their JPEG pixels
    /// included).
    pub crops_ms: f64,
    /// Of `read_ms`: the learned detector, when it runs (its working copy
    /// included).
    pub detect_ms: f64,
}

/// [`recognize`] with the time each stage took (for the timing tools).
pub fn recognize_profiled(image_bytes: &[u8]) -> (Result<Option<Recognition>, String>, Profile) {
    let mut prof = Profile::default();
    let t = std::time::Instant::now();
    let rgb = match Photo::decode(image_bytes) {
        Ok(r) => r,
        Err(e) => return (Err(e), prof),
    };
    prof.decode_ms = t.elapsed().as_secs_f64() * 1e3;
    let net = match model() {
        Ok(n) => n,
        Err(e) => return (Err(e), prof),
    };
    // the stages' counters, read before locating and after reading
    let counters = [
        &stage::READER,
        &stage::CHECKS,
        &stage::CHECK_CNN,
        &stage::PIXELS,
        &stage::COPY,
        &stage::COPY_PIXELS,
        &stage::CROPS,
        &stage::DETECT,
    ];
    let before = counters.map(stage::ms);
    let t = std::time::Instant::now();
    let scene = Scene::new(&rgb);
    let cands = scene.candidates(Fallback::No, &[]);
    prof.locate_ms = t.elapsed().as_secs_f64() * 1e3;
    prof.candidates = cands.len();
    let t = std::time::Instant::now();
    let n0 = cnn::READS.load(std::sync::atomic::Ordering::Relaxed);
    let r = read_or_close_up(&rgb, &scene, cands, net);
    prof.read_ms = t.elapsed().as_secs_f64() * 1e3;
    prof.reads = cnn::READS.load(std::sync::atomic::Ordering::Relaxed) - n0;
    let mut d = counters.map(stage::ms);
    for (d, b) in d.iter_mut().zip(before) {
        *d -= b;
    }
    [
        prof.reader_ms,
        prof.checks_ms,
        prof.check_cnn_ms,
        prof.pixels_ms,
        prof.copy_ms,
        prof.copy_pixels_ms,
        prof.crops_ms,
        prof.detect_ms,
    ] = d;
    (Ok(r), prof)
}
