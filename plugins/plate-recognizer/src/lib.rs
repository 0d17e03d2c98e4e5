//! Chinese licence-plate recogniser: classical computer vision for locating
//! and segmenting the plate, a tiny MLP (trained by `src/bin/train.rs`,
//! weights in `model/chars.bin`) for the characters. Pure Rust; builds for
//! `wasm32-wasip2`.
//!
//! Pipeline:
//! 1. decode, downscale to ≤ `WORK_WIDTH` pixels wide;
//! 2. candidates: per plate colour an HSV mask, closed, connected components
//!    whose principal-axis rectangle has a plate-like size and aspect ratio;
//!    plus vertical-edge-density candidates (Sobel-x, closing) for plates the
//!    colour masks miss; colour of those from the dominant hue;
//! 3. each candidate is cut out of the full-resolution image along its
//!    rotated rectangle (deskew) and resampled to a fixed height;
//! 4. the crop is binarised (Otsu on a colour-dependent grey), the character
//!    band found from row transitions, connected components fitted to the
//!    standard GA 36 character grid (7 slots: 45 mm glyphs, 12 mm gaps, 34 mm
//!    after the 2nd) to get one box per character;
//! 5. characters are classified (province net for slot 0, alphanumeric net
//!    for the rest, letters only in slot 1); the candidate with the best mean
//!    character probability wins.

pub mod cnn;
pub mod mlp;
pub mod pcnn;
pub mod synth;

use image::RgbImage;
use std::sync::OnceLock;

/// Digits and letters used on plates (no I, O).
pub const ALNUM: &str = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Province characters known to the province classifier.
pub const PROVINCES: &str = "川甘黑津辽闽琼晋新粤浙鄂贵沪京鲁宁陕皖豫云赣桂冀吉蒙青苏湘渝藏";

/// Photos wider than this are downscaled before locating plates.
pub const WORK_WIDTH: u32 = 640;

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
}

static MODEL: OnceLock<Result<cnn::Net, String>> = OnceLock::new();
const MODEL_BYTES: &[u8] = include_bytes!("../model/reader.bin");

static PROVINCE: OnceLock<Result<pcnn::PNet, String>> = OnceLock::new();
const PROVINCE_BYTES: &[u8] = include_bytes!("../model/province-cnn.bin");

/// The province-glyph classifier, loaded once.
pub fn province_model() -> Result<&'static pcnn::PNet, String> {
    match PROVINCE.get_or_init(|| pcnn::PNet::from_bytes(PROVINCE_BYTES)) {
        Ok(m) => Ok(m),
        Err(e) => Err(e.clone()),
    }
}

/// The plate reader, loaded once.
pub fn model() -> Result<&'static cnn::Net, String> {
    match MODEL.get_or_init(|| cnn::Net::from_bytes(MODEL_BYTES)) {
        Ok(m) => Ok(m),
        Err(e) => Err(e.clone()),
    }
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
    let rgb = decode(image_bytes)?;
    let net = model()?;
    let r = std::panic::catch_unwind(|| recognize_rgb(&rgb, net));
    r.map_err(|_| "internal error".to_string())
}

/// Decode with size limits (bounded memory on hostile input).
pub fn decode(image_bytes: &[u8]) -> Result<RgbImage, String> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(image_bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read image: {e}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(10_000);
    limits.max_image_height = Some(10_000);
    limits.max_alloc = Some(400 * 1024 * 1024);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("cannot decode image: {e}"))?;
    if img.width() < 16 || img.height() < 8 {
        return Err("image too small".into());
    }
    // (no copy when the image is already RGB8, as JPEG photos are)
    Ok(img.into_rgb8())
}

/// A located plate candidate: rotated rectangle in full-image coordinates.
#[derive(Clone, Debug)]
struct Cand {
    cx: f32,
    cy: f32,
    w: f32,
    h: f32,
    angle: f32,
    color: Option<Color>,
    /// Rectify by shearing (the crop's vertical stays the image's vertical):
    /// right for plates tilted by perspective rather than rotated.
    shear: bool,
    /// Found by a looser test: when to read it.
    fallback: Fallback,
}

/// Is a candidate of this kind still to be read?
fn wanted(kind: Fallback, st: &Search) -> bool {
    match kind {
        Fallback::No => true,
        Fallback::Unsure => st.sure < CONFIDENT,
        Fallback::Unread => st.best_conf() < MIN_CONFIDENCE,
    }
}

/// When a candidate found by a looser test is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Fallback {
    /// Always (not a fallback).
    #[default]
    No,
    /// While no read is confident.
    Unsure,
    /// While nothing at all was read.
    Unread,
}

/// Recognise from decoded pixels.
pub fn recognize_rgb(full: &RgbImage, net: &cnn::Net) -> Option<Recognition> {
    let scene = Scene::new(full);
    let cands = scene.candidates(full, Fallback::No, &[]);
    read_candidates(full, &scene, cands, net)
}

/// Time spent per stage by [`recognize_profiled`], in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Profile {
    pub decode_ms: f64,
    /// Locating the candidates every photo gets.
    pub locate_ms: f64,
    /// Reading, and locating the fallback candidates when needed.
    pub read_ms: f64,
    pub candidates: usize,
    /// Crops read by the sequence reader.
    pub reads: usize,
}

/// [`recognize`] with the time each stage took (for the timing tools).
pub fn recognize_profiled(image_bytes: &[u8]) -> (Result<Option<Recognition>, String>, Profile) {
    let mut prof = Profile::default();
    let t = std::time::Instant::now();
    let rgb = match decode(image_bytes) {
        Ok(r) => r,
        Err(e) => return (Err(e), prof),
    };
    prof.decode_ms = t.elapsed().as_secs_f64() * 1e3;
    let net = match model() {
        Ok(n) => n,
        Err(e) => return (Err(e), prof),
    };
    let t = std::time::Instant::now();
    let scene = Scene::new(&rgb);
    let cands = scene.candidates(&rgb, Fallback::No, &[]);
    prof.locate_ms = t.elapsed().as_secs_f64() * 1e3;
    prof.candidates = cands.len();
    let t = std::time::Instant::now();
    let n0 = cnn::READS.load(std::sync::atomic::Ordering::Relaxed);
    let r = read_candidates(&rgb, &scene, cands, net);
    prof.read_ms = t.elapsed().as_secs_f64() * 1e3;
    prof.reads = cnn::READS.load(std::sync::atomic::Ordering::Relaxed) - n0;
    (Ok(r), prof)
}

/// Every candidate plate rectangle (full-resolution coordinates),
/// deduplicated, most promising first, the fallbacks last.
fn locate(full: &RgbImage) -> Vec<Cand> {
    let scene = Scene::new(full);
    let mut cands = scene.candidates(full, Fallback::No, &[]);
    for kind in [Fallback::Unsure, Fallback::Unread] {
        let more = scene.candidates(full, kind, &cands);
        cands.extend(more);
    }
    cands
}

/// A photo prepared for locating: its working-size copy (at most
/// `WORK_WIDTH` wide), colour classes and vertical edges. The fallback
/// candidates are located from it only when the search needs them.
struct Scene {
    /// The working-size copy; `None` when the photo is small enough.
    small: Option<RgbImage>,
    /// Working size / full size.
    scale: f32,
    classes: Vec<u8>,
    edges: Mask,
}

impl Scene {
    fn new(full: &RgbImage) -> Scene {
        #[cfg(target_arch = "wasm32")]
        {
            // SAFETY: see `cnn::mm_fwd` (SIMD128 either validates or the
            // module does not load).
            unsafe { Self::new_simd(full) }
        }
        #[cfg(not(target_arch = "wasm32"))]
        Self::new_impl(full)
    }

    /// Compiled with SIMD128 (its helpers are inlined into it).
    #[cfg(target_arch = "wasm32")]
    #[target_feature(enable = "simd128")]
    unsafe fn new_simd(full: &RgbImage) -> Scene {
        Self::new_impl(full)
    }

    #[inline(always)]
    fn new_impl(full: &RgbImage) -> Scene {
        let (fw, fh) = full.dimensions();
        let scale = if fw > WORK_WIDTH {
            WORK_WIDTH as f32 / fw as f32
        } else {
            1.0
        };
        let small = (scale < 1.0).then(|| {
            let nh = ((fh as f32 * scale).round() as u32).max(1);
            resize_box(full, WORK_WIDTH, nh)
        });
        let img = small.as_ref().unwrap_or(full);
        Scene {
            classes: color_classes(img),
            edges: vertical_edges(img),
            small,
            scale,
        }
    }

    /// Candidates of one kind, in full-resolution coordinates, without
    /// near-duplicates of each other or of `known`; `known` and these
    /// together are at most `MAX_CANDIDATES`.
    fn candidates(&self, full: &RgbImage, kind: Fallback, known: &[Cand]) -> Vec<Cand> {
        #[cfg(target_arch = "wasm32")]
        {
            // SAFETY: as in `new`.
            unsafe { self.candidates_simd(full, kind, known) }
        }
        #[cfg(not(target_arch = "wasm32"))]
        self.candidates_impl(full, kind, known)
    }

    #[cfg(target_arch = "wasm32")]
    #[target_feature(enable = "simd128")]
    unsafe fn candidates_simd(&self, full: &RgbImage, kind: Fallback, known: &[Cand]) -> Vec<Cand> {
        self.candidates_impl(full, kind, known)
    }

    #[inline(always)]
    fn candidates_impl(&self, full: &RgbImage, kind: Fallback, known: &[Cand]) -> Vec<Cand> {
        let img = self.small.as_ref().unwrap_or(full);
        let mut cands = Vec::new();
        match kind {
            Fallback::No => {
                for color in [Color::Blue, Color::Yellow, Color::Green] {
                    color_candidates(img, &self.classes, color, false, &mut cands);
                }
                edge_candidates(&self.edges, &mut cands);
            }
            // pale or cyan blue: night photos lit by a flash or infrared,
            // faded plates, a colour cast
            Fallback::Unsure => color_candidates(img, &self.classes, Color::Blue, true, &mut cands),
            // plates on a car of their own colour (the loosest test)
            Fallback::Unread => {
                let near_edge = self.edges.box_op(2, 1, true);
                for color in [Color::Blue, Color::Yellow] {
                    textured_candidates(&near_edge, &self.classes, color, &mut cands);
                }
            }
        }
        let mut uniq: Vec<Cand> = Vec::new();
        for mut c in cands {
            // back to full-resolution coordinates
            c.cx /= self.scale;
            c.cy /= self.scale;
            c.w /= self.scale;
            c.h /= self.scale;
            c.fallback = kind;
            let dup = known.iter().chain(&uniq).any(|u| {
                (u.cx - c.cx).abs() < 0.15 * u.w
                    && (u.cy - c.cy).abs() < 0.3 * u.h
                    && (c.w / u.w.max(1.0)) > 0.87
                    && (c.w / u.w.max(1.0)) < 1.15
                    && (u.color == c.color || c.color.is_none())
            });
            if !dup {
                uniq.push(c);
            }
        }
        uniq.truncate(MAX_CANDIDATES.saturating_sub(known.len()));
        uniq
    }
}

/// Reads every candidate (and the fallback candidates of `scene` while
/// nothing is confident); the most confident valid read wins.
fn read_candidates(
    full: &RgbImage,
    scene: &Scene,
    mut cands: Vec<Cand>,
    net: &cnn::Net,
) -> Option<Recognition> {
    let debug = debug_on();
    let mut st = Search::default();
    // per candidate: how many characters its first reads had with p >= 0.5
    let mut promise = vec![0usize; cands.len()];
    // pass 0: each candidate as located; pass 1 (only while no confident
    // read): looser crops of the candidates whose first read had at least
    // two clear characters (part of a plate, not a random texture)
    let mut top: Vec<usize> = Vec::new();
    let mut fallbacks = [Fallback::Unsure, Fallback::Unread].into_iter();
    for pass in 0..2 {
        if pass == 1 && st.sure >= CONFIDENT {
            break;
        }
        if pass == 1 {
            // the (at most) 2 candidates with the most clear characters
            top = (0..cands.len()).collect();
            top.sort_by(|&a, &b| promise[b].cmp(&promise[a]));
            top.truncate(2);
        }
        let mut ci = 0;
        while ci < cands.len() || pass == 0 {
            if ci == cands.len() {
                // the first pass has read every candidate: locate the next
                // kind of fallback, if still wanted
                match fallbacks.by_ref().find(|&k| wanted(k, &st)) {
                    Some(kind) => {
                        let more = scene.candidates(full, kind, &cands);
                        cands.extend(more);
                        promise.resize(cands.len(), 0);
                        continue;
                    }
                    None => break,
                }
            }
            let c = &cands[ci];
            ci += 1;
            let ci = ci - 1;
            if debug {
                eprintln!("pass {pass} cand {ci} {c:?}");
            }
            if pass == 1 && (promise[ci] < 2 || !top.contains(&ci)) {
                continue;
            }
            if !wanted(c.fallback, &st) {
                continue;
            }
            for rd in read_candidate(full, c, net, pass, &mut promise[ci]) {
                st.consider(rd, "read");
            }
            // second pass: the first confident read ends the search
            if pass == 1 && st.sure >= CONFIDENT {
                break;
            }
        }
    }
    // pass 2 (still nothing confident): zoom into the largest candidates
    // without a clear read -- a plate merged with its surroundings into one
    // big blob -- and locate again inside them at a finer scale
    if st.best_conf() < MIN_CONFIDENCE {
        let mut big: Vec<usize> = (0..cands.len()).filter(|&i| promise[i] < 2).collect();
        big.sort_by(|&a, &b| (cands[b].w * cands[b].h).total_cmp(&(cands[a].w * cands[a].h)));
        for &ci in big.iter().take(ZOOMS) {
            for sc in zoom(full, &cands[ci]) {
                let mut p = 0;
                for rd in read_candidate(full, &sc, net, 0, &mut p) {
                    st.consider(rd, &format!("zoom {ci} {sc:?}"));
                }
            }
            if st.sure >= CONFIDENT {
                break;
            }
        }
    }
    // pass 3: read the most confident plates again from boxes fitted to
    // their characters (a box that cut the province off, or held more than
    // the plate, gets a whole, centred plate); the most confident one also
    // with other margins
    st.fitted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut done: Vec<Cand> = Vec::new();
    for (conf, c) in std::mem::take(&mut st.fitted) {
        if conf < MIN_CONFIDENCE / 2.0 || done.len() == REFITS {
            break;
        }
        if done
            .iter()
            .any(|d| (d.cx - c.cx).abs() < 0.1 * d.w && (d.cy - c.cy).abs() < 0.3 * d.h)
        {
            continue;
        }
        let mut p = 0;
        for mut rd in read_candidate(full, &c, net, 0, &mut p) {
            rd.aligned = None;
            st.consider(rd, &format!("refit {c:?}"));
        }
        if done.is_empty() {
            // the most confident plate: also with tighter and looser
            // margins, more votes for each character
            for (ew, eh) in CONFIRM_MARGINS {
                let crop = rectify(full, &c, ew, eh, cnn::IN_W as u32, cnn::IN_H as u32);
                let color = c.color.unwrap_or_else(|| plate_color(&crop));
                let x = cnn::prepare(&crop, false);
                if let Some(mut rd) =
                    read_prepared(net, &x, color, Some((full, &c, ew, eh)), &mut p)
                {
                    rd.aligned = None;
                    st.consider(rd, "confirm");
                }
            }
        }
        done.push(c);
    }
    st.answer().filter(|b| b.confidence >= MIN_CONFIDENCE)
}

/// The state of one photo's search over its candidates.
#[derive(Default)]
struct Search {
    /// Every valid read so far: text, per-position distributions, result.
    reads: Vec<(Vec<char>, Vec<Dist>, Recognition)>,
    /// The most confident read by the reader alone (before the province vote).
    sure: f32,
    /// Boxes fitted to single-row reads, with their read's confidence.
    fitted: Vec<(f32, Cand)>,
}

impl Search {
    fn consider(&mut self, rd: Reading, what: &str) {
        self.sure = self.sure.max(rd.reader_conf);
        if debug_on() {
            eprintln!(
                "  {what} -> {} {} {:.3}",
                rd.rec.plate,
                rd.rec.color.as_str(),
                rd.rec.confidence
            );
        }
        if let Some(a) = rd.aligned {
            self.fitted.push((rd.rec.confidence, a));
        }
        self.reads
            .push((rd.rec.plate.chars().collect(), rd.dists, rd.rec));
    }

    /// The confidence of the most confident read so far (0 without one).
    fn best_conf(&self) -> f32 {
        self.reads
            .iter()
            .map(|r| r.2.confidence)
            .fold(0.0, f32::max)
    }

    /// The most confident read, its characters voted on by every read of
    /// the same plate (the same length, at most 2 characters different):
    /// per position, the character with the highest probability summed
    /// over those reads.
    /// Crops of one plate differ in their margins, and a character misread
    /// in one of them is usually read right in the others.
    fn answer(self) -> Option<Recognition> {
        let top = (0..self.reads.len()).max_by(|&a, &b| {
            self.reads[a]
                .2
                .confidence
                .total_cmp(&self.reads[b].2.confidence)
        })?;
        let text = &self.reads[top].0;
        let same: Vec<&(Vec<char>, Vec<Dist>, Recognition)> = self
            .reads
            .iter()
            .filter(|r| {
                r.0.len() == text.len() && r.0.iter().zip(text).filter(|(a, b)| a != b).count() <= 2
            })
            .collect();
        let voted: String = (0..text.len())
            .map(|i| {
                let mut score: Vec<(char, f32)> = Vec::new();
                for &(ch, p) in same.iter().flat_map(|r| &r.1[i]) {
                    match score.iter_mut().find(|s| s.0 == ch) {
                        Some(s) => s.1 += p,
                        None => score.push((ch, p)),
                    }
                }
                score
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|s| s.0)
                    .unwrap_or(text[i])
            })
            .collect();
        let mut best = self.reads.into_iter().nth(top)?.2;
        if debug_on() && voted != best.plate {
            eprintln!("  vote: {} -> {voted}", best.plate);
        }
        best.plate = voted;
        Some(best)
    }
}

/// Plates read again from a box fitted to their characters (pass 3).
const REFITS: usize = 2;

/// Crop margins (width, height factors) the most confident plate's fitted
/// box is also read with (pass 3), besides the usual 1.08 × 1.2.
const CONFIRM_MARGINS: [(f32, f32); 2] = [(1.0, 1.1), (1.18, 1.35)];

/// Candidates zoomed into when nothing was read confidently.
const ZOOMS: usize = 3;

/// Candidates located inside a (large) candidate's box, at most 4, each
/// smaller than it.
fn zoom(full: &RgbImage, c: &Cand) -> Vec<Cand> {
    let (fw, fh) = (full.width() as f32, full.height() as f32);
    let (hw, hh) = (0.6 * c.w.max(c.h), 0.6 * c.w.max(c.h) * 0.6);
    let x0 = (c.cx - hw).clamp(0.0, fw - 1.0) as u32;
    let y0 = (c.cy - hh).clamp(0.0, fh - 1.0) as u32;
    let x1 = (c.cx + hw).clamp(0.0, fw) as u32;
    let y1 = (c.cy + hh).clamp(0.0, fh) as u32;
    if x1 < x0 + 48 || y1 < y0 + 16 {
        return Vec::new();
    }
    let sub = image::imageops::crop_imm(full, x0, y0, x1 - x0, y1 - y0).to_image();
    let mut out = locate(&sub);
    out.retain(|k| k.w < 0.8 * c.w);
    out.truncate(4);
    for k in out.iter_mut() {
        k.cx += x0 as f32;
        k.cy += y0 as f32;
    }
    out
}

/// A read this confident ends the search after the first pass.
const CONFIDENT: f32 = 0.85;

/// At most this many components of each colour (and of the edge map) are
/// kept, the largest first.
const TAKE_N: usize = 16;

/// At most this many (deduplicated) candidates are read.
const MAX_CANDIDATES: usize = 48;
/// Reads below this confidence are not reported (no plate).
pub const MIN_CONFIDENCE: f32 = 0.5;

/// Reads of one candidate: single row, and for plates that may be double
/// row (yellow or white, aspect below 2.6) the two-row reading too.
fn read_candidate(
    full: &RgbImage,
    c: &Cand,
    net: &cnn::Net,
    pass: usize,
    promise: &mut usize,
) -> Vec<Reading> {
    let mut out = Vec::new();
    let aspect = c.w / c.h.max(1.0);
    // crops to read: (candidate, width factor, height factor)
    let mut variants: Vec<(Cand, f32, f32)> = Vec::new();
    if pass == 0 {
        variants.push((c.clone(), 1.08, 1.2));
    } else {
        variants.push((c.clone(), 1.3, 1.45));
        variants.push((c.clone(), 1.6, 1.3));
        if c.angle.abs() > 0.1 {
            // tilted by perspective: shear instead of rotating; the box
            // height along the vertical is h / cos(angle)
            let mut sh = c.clone();
            sh.shear = true;
            sh.h = c.h / c.angle.cos().abs().max(0.3);
            variants.push((sh, 1.1, 1.25));
        }
        if aspect < 2.6 {
            // too short for a single-row plate: widen to the plate's aspect
            let mut w = c.clone();
            w.w = c.h * 3.2;
            variants.push((w, 1.1, 1.25));
        }
    }
    for (c, ew, eh) in &variants {
        let crop = rectify(full, c, *ew, *eh, cnn::IN_W as u32, cnn::IN_H as u32);
        let color = match c.color {
            Some(col) => col,
            None => plate_color(&crop),
        };
        if let Some(r) = read_prepared(
            net,
            &cnn::prepare(&crop, false),
            color,
            Some((full, c, *ew, *eh)),
            promise,
        ) {
            out.push(r);
        }
        if pass == 0 && aspect < 2.6 && matches!(color, Color::Yellow | Color::White) {
            let crop2 = rectify(full, c, 1.06, 1.1, cnn::IN_W as u32, 64);
            if let Some(r) = read_prepared(net, &cnn::prepare(&crop2, true), color, None, promise) {
                out.push(r);
            }
        }
    }
    out
}

/// Plate text of a valid format: province, letter, 5 (or 6 for new-energy
/// plates) letters or digits.
pub fn valid_plate(t: &[char]) -> bool {
    (t.len() == 7 || t.len() == 8)
        && PROVINCES.contains(t[0])
        && t[1].is_ascii_uppercase()
        && t[2..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// A read a plate of this colour can have: a valid text, and 8 characters
/// only on (green) new-energy plates.
fn fits(text: &[char], color: Color) -> bool {
    valid_plate(text) && (text.len() == 7 || color == Color::Green)
}

fn read_prepared(
    net: &cnn::Net,
    x: &[f32],
    color: Color,
    single_row: Option<(&RgbImage, &Cand, f32, f32)>,
    promise: &mut usize,
) -> Option<Reading> {
    let mut read = net.read_aligned(x);
    *promise = (*promise).max(read.conf.iter().filter(|&&p| p >= 0.5).count());
    if !fits(&read.text, color) {
        let len = if color == Color::Green { 8 } else { 7 };
        if let Some(r) = fix_format(&read, &net.classes, len) {
            if debug_on() {
                eprintln!(
                    "  format: {} -> {}",
                    read.text.iter().collect::<String>(),
                    r.text.iter().collect::<String>()
                );
            }
            read = r;
        }
    }
    let (mut text, mut probs) = (read.text.clone(), read.conf.clone());
    if debug_on() {
        eprintln!(
            "  raw read {} {:?} {:?}",
            text.iter().collect::<String>(),
            color,
            probs
        );
    }
    if !fits(&text, color) {
        return None;
    }
    let conf = |p: &[f32]| {
        let mean = p.iter().sum::<f32>() / p.len() as f32;
        let min = p.iter().copied().fold(1f32, f32::min);
        0.7 * mean + 0.3 * min
    };
    let reader_conf = conf(&probs);
    // per position: the reader's distribution at the character's column
    let nc = net.classes.len();
    let mut dists: Vec<Dist> = (0..text.len())
        .map(|i| {
            (1..nc)
                .map(|k| (net.classes[k], read.probs[k * cnn::T + read.cols[i]]))
                .filter(|&(ch, p)| p > 0.005 && valid_at(i, ch))
                .collect()
        })
        .collect();
    let mut aligned = None;
    if let Some((full, c, ew, eh)) = single_row {
        aligned = align(c, ew, &read);
        if let Some(d) = refine_province(full, c, ew, eh, &read, color, net, PROVINCE_MLP_WEIGHT) {
            (text[0], probs[0]) = argmax(&d);
            dists[0] = d;
        }
    }
    let color = if text.len() == 8 { Color::Green } else { color };
    Some(Reading {
        rec: Recognition {
            plate: text.into_iter().collect(),
            color,
            confidence: conf(&probs),
        },
        reader_conf,
        aligned,
        dists,
    })
}

/// A read that breaks the plate's format by one character, mended:
/// * the right length, one character not allowed where it is (a digit
///   where the letter goes): the allowed class the reader found most
///   probable at that column, if it gave it at least FORMAT_FLOOR;
/// * one character too many (a province glyph read as two, the frame's
///   edge read as a trailing 1 or L): the one whose removal leaves a valid
///   text whose columns fit the GA 36 layout best.
fn fix_format(read: &cnn::Read, classes: &[char], len: usize) -> Option<cnn::Read> {
    let n = read.text.len();
    fn without<T: Copy>(v: &[T], skip: usize) -> Vec<T> {
        v.iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .map(|(_, &x)| x)
            .collect()
    }
    let keep = |skip: usize| cnn::Read {
        text: without(&read.text, skip),
        conf: without(&read.conf, skip),
        cols: without(&read.cols, skip),
        centre: without(&read.centre, skip),
        probs: read.probs.clone(),
    };
    if n == len {
        let bad: Vec<usize> = (0..n).filter(|&i| !valid_at(i, read.text[i])).collect();
        let [i] = bad[..] else { return None };
        let (ch, p) = (1..classes.len())
            .filter(|&k| valid_at(i, classes[k]))
            .map(|k| (classes[k], read.probs[k * cnn::T + read.cols[i]]))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        if p < FORMAT_FLOOR {
            return None;
        }
        let mut r = keep(n);
        (r.text[i], r.conf[i]) = (ch, p);
        return Some(r);
    }
    if n != len + 1 {
        return None;
    }
    (0..n)
        .map(keep)
        .filter(|r| valid_plate(&r.text))
        .filter_map(|r| Some((fit_centres(&r.centre)?.3, r)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, r)| r)
}

/// The least probability the reader must have given the character a
/// format fix puts in place of one that was not allowed there.
const FORMAT_FLOOR: f32 = 0.05;

/// A probability distribution over characters (those with p > 0).
type Dist = Vec<(char, f32)>;

/// The most probable character of a distribution.
fn argmax(d: &[(char, f32)]) -> (char, f32) {
    d.iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(('?', 0.0))
}

/// Can `ch` be the `i`-th character of a plate (see `valid_plate`)?
fn valid_at(i: usize, ch: char) -> bool {
    match i {
        0 => PROVINCES.contains(ch),
        1 => ch.is_ascii_uppercase(),
        _ => ch.is_ascii_uppercase() || ch.is_ascii_digit(),
    }
}

/// One valid read of a crop.
struct Reading {
    rec: Recognition,
    /// The reader's own confidence (before the province vote).
    reader_conf: f32,
    /// Single-row reads: the box fitted to the characters read (`align`).
    aligned: Option<Cand>,
    /// Per position: the probability of each character there.
    dists: Vec<Dist>,
}

/// Weight of the province MLP against the sequence reader for the province
/// character (see `refine_province`).
pub const PROVINCE_MLP_WEIGHT: f32 = 0.5;

/// Development aid: reads a tight plate crop (the whole image is the plate)
/// and returns the sequence reader's text and the plate text with the
/// province refined at each of the given MLP weights.
pub fn diagnose_crop(
    img: &RgbImage,
    color: Color,
    weights: &[f32],
) -> Option<(String, Vec<String>)> {
    let net = model().ok()?;
    let (w, h) = (img.width() as f32, img.height() as f32);
    let c = Cand {
        cx: w / 2.0,
        cy: h / 2.0,
        w: w / 1.08,
        h: h / 1.2,
        angle: 0.0,
        color: Some(color),
        shear: false,
        fallback: Fallback::No,
    };
    let crop = rectify(img, &c, 1.08, 1.2, cnn::IN_W as u32, cnn::IN_H as u32);
    let read = net.read_aligned(&cnn::prepare(&crop, false));
    let text: String = read.text.iter().collect();
    if !valid_plate(&read.text) {
        return Some((text, vec![]));
    }
    let outs = weights
        .iter()
        .map(|&wm| {
            let mut t = read.text.clone();
            if let Some(d) = refine_province(img, &c, 1.08, 1.2, &read, color, net, wm) {
                t[0] = argmax(&d).0;
            }
            t.into_iter().collect()
        })
        .collect();
    Some((text, outs))
}

/// Where a single-row read puts the plate in its crop: `u = a + b · mm`
/// (u in 0..1 across the crop, mm from the plate's left edge), fitted by
/// least squares to the CTC columns of the characters after the province
/// (the province is the one most often cut off or misread). `None` for a
/// scale no plate has (the read is not a plate's row of characters).
fn fit_layout(read: &cnn::Read) -> Option<(f32, f32, &'static [f32])> {
    fit_centres(&read.centre).map(|(a, b, centres, _)| (a, b, centres))
}

/// `fit_layout` on the characters' CTC centres, with the mean squared
/// residual of the fit (in crop widths).
fn fit_centres(centre: &[f32]) -> Option<(f32, f32, &'static [f32], f32)> {
    let centres: &'static [f32] = match centre.len() {
        7 => &CENTRES_7,
        8 => &CENTRES_8,
        _ => return None,
    };
    let pts: Vec<(f32, f32)> = (1..centre.len())
        .map(|i| (centres[i], (centre[i] + 0.5) / cnn::T as f32))
        .collect();
    let n = pts.len() as f32;
    let (sx, sy) = pts.iter().fold((0f32, 0f32), |a, p| (a.0 + p.0, a.1 + p.1));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f32 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f32 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = sxy / sxx.max(1e-6);
    if !(0.0005..0.004).contains(&b) {
        if debug_on() {
            eprintln!("  layout: slope {b} out of range");
        }
        return None;
    }
    let a = my - b * mx;
    let res = pts.iter().map(|p| (a + b * p.0 - p.1).powi(2)).sum::<f32>() / n;
    Some((a, b, centres, res))
}

/// The candidate box moved and resized onto the plate that a single-row
/// read found in the crop `c` × (`ew`, `eh`): the plate's width (440 mm,
/// 480 mm for 8 characters) from the fitted layout, centred on it. Used to
/// read again when the located box cut a plate's edge off (usually the
/// province character) or held much more than the plate.
fn align(c: &Cand, ew: f32, read: &cnn::Read) -> Option<Cand> {
    let (a, b, centres) = fit_layout(read)?;
    let plate_mm = if centres.len() == 8 { 480.0 } else { 440.0 };
    let rw = c.w * ew;
    let du = (a + b * plate_mm / 2.0 - 0.5) * rw;
    let (ca, sa) = (c.angle.cos(), c.angle.sin());
    let mut out = c.clone();
    out.cx = c.cx + du * ca;
    out.cy = c.cy + du * sa;
    out.w = b * plate_mm * rw;
    Some(out)
}

/// Glyph centres (mm from the plate's left edge) of single-row layouts.
const CENTRES_7: [f32; 7] = [38.0, 95.0, 174.5, 231.5, 288.5, 345.5, 402.5];
const CENTRES_8: [f32; 8] = [38.0, 91.0, 183.0, 235.0, 287.0, 339.0, 391.0, 443.0];

/// Second opinion on the province character of a single-row read: the
/// glyph is placed from the other characters' CTC columns (least squares on
/// the GA 36 layout), cut out of the photo at higher resolution, binarised
/// and classified by the province MLP (trained on EasyPR's real glyph
/// crops); the answer is the average of both classifiers' probabilities.
#[allow(clippy::too_many_arguments)]
fn refine_province(
    full: &RgbImage,
    c: &Cand,
    ew: f32,
    eh: f32,
    read: &cnn::Read,
    color: Color,
    net: &cnn::Net,
    w_mlp: f32,
) -> Option<Dist> {
    let prov_net = province_model().ok()?;
    // 1. the segmenter's province patch (crop 60 px high, as it was tuned for;
    // its grid is the 7-character one)
    let seg_patch = if read.text.len() != 7 {
        None
    } else {
        let aspect = (c.w * 1.06) / (c.h * 1.15).max(1.0);
        let ow = ((60.0 * aspect).round() as u32).clamp(60, 480);
        let crop = rectify(full, c, 1.06, 1.15, ow, 60);
        segment(&crop, color).and_then(|(p, _)| p.into_iter().next())
    };
    let classify = |(pw, ph, patch): (usize, usize, Vec<u8>)| {
        prov_net.predict(&mlp::char_features(&patch, pw, ph)[..pcnn::S * pcnn::S])
    };
    let seg = seg_patch.map(classify);
    // the window's binarisations, averaged
    let win = window_patch(full, c, ew, eh, read, color).map(|ps| {
        let n = ps.len() as f32;
        let mut sum = vec![0f32; prov_net.classes.len()];
        for p in ps.into_iter().map(classify) {
            sum.iter_mut().zip(&p).for_each(|(s, v)| *s += v / n);
        }
        sum
    });
    let pm: Vec<f32> = match (seg, win) {
        (Some(s), Some(w)) => s.iter().zip(&w).map(|(a, b)| 0.5 * (a + b)).collect(),
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => return None,
    };
    Some(vote(prov_net, net, read, &pm, w_mlp, "seg+window"))
}

/// The province glyph cut out of the photo where the fitted layout puts it
/// (tight box), binarised at three thresholds, for the province classifier.
fn window_patch(
    full: &RgbImage,
    c: &Cand,
    ew: f32,
    eh: f32,
    read: &cnn::Read,
    color: Color,
) -> Option<Vec<(usize, usize, Vec<u8>)>> {
    let (a, b, centres) = fit_layout(read)?;
    let dbg = debug_on();
    let uc = a + b * centres[0];
    let gw = b * 45.0;
    let u0 = uc - 0.8 * gw;
    let u1 = uc + b * (centres[1] - centres[0]) + 0.8 * gw;
    let oh = 64u32;
    let px_w = (u1 - u0) * c.w * ew;
    let px_h = c.h * eh;
    let ow = ((oh as f32 * px_w / px_h.max(1.0)).round() as u32).clamp(16, 240);
    let win = rectify_window(full, c, ew, eh, [u0, u1, 0.0, 1.0], ow, oh);
    let (w, h) = (ow as usize, oh as usize);
    let g = ink_grey(&win, color);
    // columns left of the plate (no background colour in them: its frame,
    // the car) are no glyph, however bright
    let (edge, top, bottom) = plate_extent(&win, color);
    let mut hist = [0u32; 256];
    for y in top..bottom {
        for x in edge..w {
            hist[g[y * w + x] as usize] += 1;
        }
    }
    let t = otsu(&hist);
    if debug_on() {
        eprintln!(
            "  province window {w}x{h}: plate from x {edge}, rows {top}..{bottom}, threshold {t}"
        );
    }
    let bin = Mask {
        w,
        h,
        d: g.iter()
            .enumerate()
            .map(|(i, &v)| (v > t && i % w >= edge) as u8)
            .collect(),
    };
    let to_x = |u: f32| (((u - u0) / (u1 - u0)) * w as f32).clamp(0.0, w as f32 - 1.0) as usize;
    // ink per column and per row (in the letter's slot)
    let col_ink: Vec<usize> = (0..w)
        .map(|x| {
            (h / 8..h - h / 8)
                .filter(|&y| bin.d[y * w + x] != 0)
                .count()
        })
        .collect();
    let lc = uc + b * (centres[1] - centres[0]);
    let (lx0, lx1) = (to_x(lc - 0.45 * gw), to_x(lc + 0.45 * gw));
    // (rows inked across most of the window are the plate's frame, not the
    // letter: a frame touching the letter would stretch its rows)
    let row_ink: Vec<usize> = (0..h)
        .map(|y| {
            let row = &bin.d[y * w..(y + 1) * w];
            if row.iter().filter(|&&v| v != 0).count() * 4 > w * 3 {
                0
            } else {
                row[lx0..=lx1].iter().filter(|&&v| v != 0).count()
            }
        })
        .collect();
    // the letter's rows: the longest run of rows with ink (gaps of 1 allowed)
    let (mut best, mut cur_start, mut gap) = ((0usize, 0usize), None::<usize>, 0usize);
    for y in 0..=h {
        let on = y < h && row_ink[y] > 0;
        match (on, cur_start) {
            (true, None) => {
                cur_start = Some(y);
                gap = 0;
            }
            (true, Some(_)) => gap = 0,
            (false, Some(st)) => {
                gap += 1;
                if gap > 1 || y == h {
                    let end = y - gap;
                    if end + 1 - st > best.1 + 1 - best.0 || best == (0, 0) {
                        best = (st, end);
                    }
                    cur_start = None;
                }
            }
            _ => {}
        }
    }
    let (by0, by1) = best;
    if by1 < by0 + h / 4 {
        if dbg {
            eprintln!("  province: no letter rows");
        }
        return None;
    }
    // glyph columns: the emptiest column on each side of the estimate, of
    // several equally empty ones the nearest to the glyph (not the far side
    // of the plate's frame line, or of the plate's edge)
    let x0 = to_x(uc - 0.95 * gw).max(edge);
    let x1 = to_x(uc - 0.35 * gw).max(x0);
    let px0 = (x0..=x1).rev().min_by_key(|&x| col_ink[x]).unwrap_or(x0);
    let x0 = to_x(uc + 0.35 * gw);
    let px1 = (x0..=to_x(lc - 0.35 * gw).max(x0))
        .min_by_key(|&x| col_ink[x])
        .unwrap_or(x0);
    if px1 <= px0 + 2 {
        return None;
    }
    let (pw, ph) = (px1 - px0 + 1, by1 - by0 + 1);
    // the glyph's box binarised at Otsu's threshold and at two neighbours:
    // strokes of a small glyph merge or break with a few grey levels
    let patches: Vec<(usize, usize, Vec<u8>)> = [
        t,
        t.saturating_sub(THRESHOLD_STEP),
        t.saturating_add(THRESHOLD_STEP),
    ]
    .into_iter()
    .map(|tt| {
        let px = (0..ph)
            .flat_map(|yy| (0..pw).map(move |xx| (yy, xx)))
            .map(|(yy, xx)| {
                if g[(by0 + yy) * w + px0 + xx] > tt {
                    255
                } else {
                    0
                }
            })
            .collect();
        (pw, ph, px)
    })
    .collect();
    let patch = &patches[0].2;
    if debug_on() {
        if let Some(d) = std::env::var("PLATE_DEBUG")
            .ok()
            .filter(|d| std::path::Path::new(d).is_dir())
        {
            let _ = win.save(format!("{d}/prov_win_{}.png", c.cx as u32));
            if let Some(im) = image::GrayImage::from_raw(pw as u32, ph as u32, patch.clone()) {
                let _ = im.save(format!("{d}/prov_patch_{}.png", c.cx as u32));
            }
        }
    }
    Some(patches)
}

/// Where the plate is in a window (rectified, the plate's left part):
/// its first column, the first in which at least a quarter of the middle
/// rows have the plate's background colour, and the rows (first, last + 1)
/// in which at least a quarter of the columns from there have it. The
/// frame, the car body and the road around a plate are no glyph, however
/// bright. The whole window for plates without a colour (white, black)
/// or when no such columns and rows are found.
fn plate_extent(win: &RgbImage, color: Color) -> (usize, usize, usize) {
    let (w, h) = (win.width() as usize, win.height() as usize);
    let whole = (0, h / 6, h - h / 6);
    let bits = match color {
        Color::Blue => color_bit(Color::Blue, false) | color_bit(Color::Blue, true),
        Color::Yellow | Color::Green => color_bit(color, false),
        _ => return whole,
    };
    let classes = color_classes(win);
    let bg = |x: usize, y: usize| classes[y * w + x] & bits != 0;
    let rows = h / 4..h - h / 4;
    let n = rows.len();
    let Some(edge) = (0..w / 3).find(|&x| rows.clone().filter(|&y| bg(x, y)).count() * 4 >= n)
    else {
        return whole;
    };
    let plate_row = |y: &usize| (edge..w).filter(|&x| bg(x, *y)).count() * 4 >= w - edge;
    match ((0..h).find(plate_row), (0..h).rev().find(plate_row)) {
        (Some(top), Some(last)) if last >= top + h / 4 => (edge, top, last + 1),
        _ => (edge, whole.1, whole.2),
    }
}

/// A plate crop as grey levels with the characters bright: the darkest
/// channel on plates with light characters (blue, black), the inverted
/// brightest channel on the others.
fn ink_grey(img: &RgbImage, color: Color) -> Vec<u8> {
    let light = matches!(color, Color::Blue | Color::Black);
    img.pixels()
        .map(|p| {
            if light {
                p[0].min(p[1]).min(p[2])
            } else {
                255 - p[0].max(p[1]).max(p[2])
            }
        })
        .collect()
}

/// Share of the reader's training samples that are real LPRNet crops
/// (`train.rs`; the others are synthetic plates with uniform provinces).
pub const READER_REAL_SHARE: f32 = 0.25;

/// Share of those real crops that keep their own province glyph (nearly
/// all 皖); the others get a random province's glyph pasted in.
pub const READER_KEEP_PROVINCE: f32 = 0.1;

/// How much more often the reader saw 皖 than another province in
/// training: (synthetic + swapped + kept 皖) / (synthetic + swapped), with
/// 31 provinces; 1.79.
const READER_WAN_PRIOR: f32 = {
    let n = PROVINCE_COUNT as f32;
    let other =
        (1.0 - READER_REAL_SHARE) / n + READER_REAL_SHARE * (1.0 - READER_KEEP_PROVINCE) / n;
    (other + READER_REAL_SHARE * READER_KEEP_PROVINCE) / other
};

/// The number of province characters (`PROVINCES`).
const PROVINCE_COUNT: usize = 31;

/// Grey levels between the thresholds of `window_patch`'s binarisations.
const THRESHOLD_STEP: u8 = 12;

/// The province: weighted average of the MLP's probabilities and the
/// reader's (province classes at the province's peak column, renormalised).
fn vote(
    prov_net: &pcnn::PNet,
    net: &cnn::Net,
    read: &cnn::Read,
    pm: &[f32],
    w_mlp: f32,
    how: &str,
) -> Dist {
    let t0 = read.cols[0];
    let mut pc: Vec<f32> = prov_net
        .classes
        .iter()
        .map(|ch| {
            net.classes
                .iter()
                .position(|k| k == ch)
                .map(|k| read.probs[k * cnn::T + t0])
                .unwrap_or(0.0)
        })
        .collect();
    // the reader saw 皖 more often than any other province in training
    // (the real crops it kept unswapped): divide that prior out
    if let Some(k) = prov_net.classes.iter().position(|&ch| ch == '皖') {
        pc[k] /= READER_WAN_PRIOR;
    }
    let s: f32 = pc.iter().sum();
    pc.iter_mut().for_each(|v| *v /= s.max(1e-9));
    let d: Dist = pm
        .iter()
        .zip(&pc)
        .zip(&prov_net.classes)
        .map(|((a, b), &ch)| (ch, w_mlp * a + (1.0 - w_mlp) * b))
        .collect();
    if debug_on() {
        let (bc, bp) = argmax(&d);
        let (mi, mp) = pm
            .iter()
            .enumerate()
            .fold((0, 0f32), |a, (i, &p)| if p > a.1 { (i, p) } else { a });
        eprintln!(
            "  province ({how}): mlp {} {mp:.2}, reader {} -> {} {bp:.2}",
            prov_net.classes[mi], read.text[0], bc
        );
    }
    d
}

/// Box-filter downscale (each output pixel averages its source area).
#[inline(always)]
fn resize_box(img: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = (nw as usize, nh as usize);
    let raw = img.as_raw();
    if w == 2 * nw && h == 2 * nh {
        // exact halving (1280 × 720 → 640 × 360): average 2 × 2 blocks
        let mut out = vec![0u8; nw * nh * 3];
        // vertical sums of the row pair, then 2 × 2 blocks, 4 output pixels
        // per iteration
        let mut vs = vec![0u16; w * 3];
        for y in 0..nh {
            let r0 = &raw[2 * y * w * 3..(2 * y + 1) * w * 3];
            let r1 = &raw[(2 * y + 1) * w * 3..(2 * y + 2) * w * 3];
            for (v, (&a, &b)) in vs.iter_mut().zip(r0.iter().zip(r1)) {
                *v = a as u16 + b as u16;
            }
            let o = &mut out[y * nw * 3..(y + 1) * nw * 3];
            let half = |o: &mut [u8], v: &[u16]| {
                for k in 0..3 {
                    o[k] = ((v[k] + v[3 + k] + 2) / 4) as u8;
                }
            };
            let mut o4 = o.chunks_exact_mut(12);
            let mut v4 = vs.chunks_exact(24);
            for (o, v) in (&mut o4).zip(&mut v4) {
                half(&mut o[0..3], &v[0..6]);
                half(&mut o[3..6], &v[6..12]);
                half(&mut o[6..9], &v[12..18]);
                half(&mut o[9..12], &v[18..24]);
            }
            for (o, v) in o4
                .into_remainder()
                .chunks_exact_mut(3)
                .zip(v4.remainder().chunks_exact(6))
            {
                half(o, v);
            }
        }
        return RgbImage::from_raw(nw as u32, nh as u32, out).expect("buffer size");
    }
    let mut out = vec![0u8; nw * nh * 3];
    let xs: Vec<(usize, usize)> = (0..nw)
        .map(|x| {
            let a = x * w / nw;
            let b = ((x + 1) * w / nw).max(a + 1).min(w);
            (a, b)
        })
        .collect();
    let mut acc = vec![0u32; nw * 3];
    for y in 0..nh {
        let y0 = y * h / nh;
        let y1 = ((y + 1) * h / nh).max(y0 + 1).min(h);
        acc.fill(0);
        for sy in y0..y1 {
            let row = &raw[sy * w * 3..(sy + 1) * w * 3];
            for (x, &(a, b)) in xs.iter().enumerate() {
                let (mut r, mut g, mut bl) = (0u32, 0u32, 0u32);
                for sx in a..b {
                    r += row[sx * 3] as u32;
                    g += row[sx * 3 + 1] as u32;
                    bl += row[sx * 3 + 2] as u32;
                }
                acc[x * 3] += r;
                acc[x * 3 + 1] += g;
                acc[x * 3 + 2] += bl;
            }
        }
        for (x, &(a, b)) in xs.iter().enumerate() {
            let n = ((b - a) * (y1 - y0)) as u32;
            for k in 0..3 {
                out[(y * nw + x) * 3 + k] = ((acc[x * 3 + k] + n / 2) / n) as u8;
            }
        }
    }
    RgbImage::from_raw(nw as u32, nh as u32, out).expect("buffer size")
}

// ---------------------------------------------------------------- colour

/// h in degrees [0, 360), s and v in [0, 1].
#[inline(always)]
fn hsv(r: u8, g: u8, b: u8) -> (f32, f32, f32) {
    let (r, g, b) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    // (comparisons rather than f32::max / min, which are calls to fmaxf /
    // fminf in wasm32; the same values for these non-NaN inputs)
    let mx = fmax(fmax(r, g), b);
    let mn = fmin(fmin(r, g), b);
    let d = mx - mn;
    let v = mx;
    let s = if mx > 0.0 { d / mx } else { 0.0 };
    let h = if d <= 0.0 {
        0.0
    } else if mx == r {
        60.0 * rem6((g - b) / d)
    } else if mx == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    (h, s, v)
}

/// Plate colour of a rectified crop from its polarity and background hue:
/// the ink (characters) is the minority of the two Otsu classes of the
/// crop's central band; light ink means blue or black, dark ink yellow,
/// green or white; the background's mean hue and saturation decide.
fn plate_color(crop: &RgbImage) -> Color {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    let mut hist = [0u32; 256];
    let mut px = Vec::new();
    for y in h / 4..h - h / 4 {
        for x in w / 10..w - w / 10 {
            let p = crop.get_pixel(x as u32, y as u32).0;
            let l = ((p[0] as u32 * 77 + p[1] as u32 * 150 + p[2] as u32 * 29) >> 8) as u8;
            hist[l as usize] += 1;
            px.push((l, p));
        }
    }
    if px.is_empty() {
        return Color::Blue;
    }
    let t = otsu(&hist);
    let bright = px.iter().filter(|(l, _)| *l > t).count();
    let light_ink = bright * 2 < px.len();
    // background: the majority class
    let (mut sx, mut sy, mut ss, mut sv, mut n) = (0f32, 0f32, 0f32, 0f32, 0f32);
    for (l, p) in &px {
        if (*l > t) == light_ink {
            continue;
        }
        let (hh, s, v) = hsv(p[0], p[1], p[2]);
        let a = hh.to_radians();
        sx += s * a.cos();
        sy += s * a.sin();
        ss += s;
        sv += v;
        n += 1.0;
    }
    if n == 0.0 {
        return Color::Blue;
    }
    let hue = sy.atan2(sx).to_degrees().rem_euclid(360.0);
    let (sat, val) = (ss / n, sv / n);
    if debug_on() {
        eprintln!("  colour: light ink {light_ink}, hue {hue:.0}, sat {sat:.2}, val {val:.2}");
    }
    if light_ink {
        // black plates are rare (embassy, Hong Kong and Macau cars) and a
        // blue plate at night or under coloured light is dark and takes the
        // light's hue: black needs a dark background with (almost) no colour
        if sat < 0.1 && val < 0.35 {
            Color::Black
        } else {
            Color::Blue
        }
    } else if (15.0..=70.0).contains(&hue) && sat > 0.25 {
        Color::Yellow
    } else if (70.0..=170.0).contains(&hue) && sat > 0.12 {
        Color::Green
    } else {
        Color::White
    }
}

// ---------------------------------------------------------------- masks & morphology

struct Mask {
    w: usize,
    h: usize,
    d: Vec<u8>, // 0/1
}

impl Mask {
    /// Dilation (any pixel set) or erosion (all set) over a (2rx+1) ×
    /// (2ry+1) box, clipped at the borders (values 0 or 1). Separable: OR /
    /// AND of shifted rows, whole rows at a time (vectorised; few loop
    /// iterations, which matters in a component with epoch checks).
    #[inline(always)]
    fn box_op(&self, rx: usize, ry: usize, dilate: bool) -> Mask {
        let (w, h) = (self.w, self.h);
        let mut tmp = vec![0u8; w * h];
        // a row with `rx` pixels of the neutral value on either side
        let mut buf = vec![(!dilate) as u8; w + 2 * rx];
        for y in 0..h {
            buf[rx..rx + w].copy_from_slice(&self.d[y * w..(y + 1) * w]);
            let dst = &mut tmp[y * w..(y + 1) * w];
            #[cfg(target_arch = "wasm32")]
            if mask_window(dst, &buf, 1, rx, dilate) {
                continue;
            }
            mask_combine(dst, &buf[..w], &buf[2 * rx..2 * rx + w], dilate);
            for dx in 1..2 * rx {
                mask_combine_into(dst, &buf[dx..dx + w], dilate);
            }
        }
        if ry == 0 {
            return Mask { w, h, d: tmp };
        }
        let mut out = vec![0u8; w * h];
        for y in 0..h {
            let (y0, y1) = (y.saturating_sub(ry), (y + ry).min(h - 1));
            let dst = &mut out[y * w..(y + 1) * w];
            #[cfg(target_arch = "wasm32")]
            if y0 + 2 * ry == y1 && mask_window(dst, &tmp[y0 * w..(y1 + 1) * w], w, ry, dilate) {
                continue;
            }
            let row = |k: usize| &tmp[k * w..(k + 1) * w];
            if y1 == y0 {
                dst.copy_from_slice(row(y0));
                continue;
            }
            mask_combine(dst, row(y0), row(y1), dilate);
            for k in y0 + 1..y1 {
                mask_combine_into(dst, row(k), dilate);
            }
        }
        Mask { w, h, d: out }
    }
    #[inline(always)]
    fn close(&self, rx: usize, ry: usize) -> Mask {
        self.box_op(rx, ry, true).box_op(rx, ry, false)
    }
    #[inline(always)]
    fn open(&self, rx: usize, ry: usize) -> Mask {
        self.box_op(rx, ry, false).box_op(rx, ry, true)
    }

    /// 8-connected components: pixel index lists (in the order of a
    /// depth-first search from each component's first pixel in row-major
    /// order). The mask is copied with a border of zeros, so neighbours
    /// need no bounds checks, and runs of 8 empty pixels are skipped at once.
    fn components(&self, min_px: usize, max_comps: usize) -> Vec<Vec<u32>> {
        let (w, h) = (self.w, self.h);
        let wp = w + 2;
        // 1 = set and not yet visited
        let mut a = vec![0u8; wp * (h + 2)];
        for y in 0..h {
            a[(y + 1) * wp + 1..(y + 1) * wp + 1 + w]
                .iter_mut()
                .zip(&self.d[y * w..(y + 1) * w])
                .for_each(|(o, &v)| *o = (v != 0) as u8);
        }
        // neighbours in the order of the plain search (dy, then dx), as
        // offsets in the bordered copy and in the mask (no divisions)
        let nb = |s: usize| {
            [
                0usize.wrapping_sub(s + 1),
                0usize.wrapping_sub(s),
                0usize.wrapping_sub(s - 1),
                0usize.wrapping_sub(1),
                1,
                s - 1,
                s,
                s + 1,
            ]
        };
        let (nbp, nbo) = (nb(wp), nb(w));
        let mut out = Vec::new();
        let mut stack: Vec<(usize, usize)> = Vec::new();
        'rows: for y in 0..h {
            let r0 = (y + 1) * wp + 1;
            let mut x = 0;
            while x < w {
                if x + 8 <= w {
                    let v = u64::from_le_bytes(a[r0 + x..r0 + x + 8].try_into().expect("8 bytes"));
                    if v == 0 {
                        x += 8;
                        continue;
                    }
                }
                let start = r0 + x;
                x += 1;
                if a[start] == 0 {
                    continue;
                }
                a[start] = 0;
                stack.push((start, y * w + x - 1));
                let mut comp = Vec::new();
                while let Some((i, io)) = stack.pop() {
                    comp.push(io as u32);
                    for (&o, &oo) in nbp.iter().zip(&nbo) {
                        let j = i.wrapping_add(o);
                        if a[j] != 0 {
                            a[j] = 0;
                            stack.push((j, io.wrapping_add(oo)));
                        }
                    }
                }
                if comp.len() >= min_px {
                    out.push(comp);
                    if out.len() >= max_comps {
                        break 'rows;
                    }
                }
            }
        }
        out
    }
}

/// Principal-axis rectangle of a pixel set.
fn pca_rect(pix: &[u32], w: usize) -> Cand {
    let n = pix.len() as f32;
    let (mut mx, mut my) = (0f32, 0f32);
    for &i in pix {
        mx += (i as usize % w) as f32;
        my += (i as usize / w) as f32;
    }
    mx /= n;
    my /= n;
    let (mut sxx, mut syy, mut sxy) = (0f32, 0f32, 0f32);
    for &i in pix {
        let dx = (i as usize % w) as f32 - mx;
        let dy = (i as usize / w) as f32 - my;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let (c, s) = (angle.cos(), angle.sin());
    let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &i in pix {
        let dx = (i as usize % w) as f32 - mx;
        let dy = (i as usize / w) as f32 - my;
        let u = dx * c + dy * s;
        let v = -dx * s + dy * c;
        u0 = u0.min(u);
        u1 = u1.max(u);
        v0 = v0.min(v);
        v1 = v1.max(v);
    }
    let uc = (u0 + u1) / 2.0;
    let vc = (v0 + v1) / 2.0;
    Cand {
        cx: mx + uc * c - vc * s,
        cy: my + uc * s + vc * c,
        w: u1 - u0 + 1.0,
        h: v1 - v0 + 1.0,
        angle,
        color: None,
        shear: false,
        fallback: Fallback::No,
    }
}

fn plate_like(c: &Cand, n_px: usize, img_w: usize) -> bool {
    let aspect = c.w / c.h.max(1.0);
    let fill = n_px as f32 / (c.w * c.h).max(1.0);
    c.w >= 28.0
        && c.h >= 8.0
        && c.w <= img_w as f32 * 0.9
        && (1.8..=7.0).contains(&aspect)
        && fill > 0.4
        && c.angle.abs() < 0.8
}

/// Per pixel, one bit per plate colour: 1 blue, 2 yellow, 4 green, 8 pale
/// or cyan blue (the fallback mask).
#[inline(always)]
fn color_classes(img: &RgbImage) -> Vec<u8> {
    let class = |p: &[u8]| -> u8 {
        let (r, g, b) = (p[0], p[1], p[2]);
        // cheap rejection: grey pixels are no plate colour
        let mx = r.max(g).max(b) as i32;
        let mn = r.min(g).min(b) as i32;
        if mx - mn < mx / 10 + 1 {
            return 0;
        }
        // the thresholds of `is_color`, with one HSV conversion
        let (h, s, v) = hsv(r, g, b);
        (((190.0..=260.0).contains(&h) && s > 0.25 && v > 0.18) as u8)
            | ((((18.0..=62.0).contains(&h) && s > 0.35 && v > 0.3) as u8) << 1)
            | ((((75.0..=165.0).contains(&h) && s > 0.25 && v > 0.3) as u8) << 2)
            | ((((165.0..=255.0).contains(&h) && s > 0.1 && v > 0.25) as u8) << 3)
    };
    let raw = img.as_raw();
    let mut out = vec![0u8; raw.len() / 3];
    // 4 pixels per iteration (fewer loop back-edges in wasm32)
    let mut o4 = out.chunks_exact_mut(4);
    let mut p4 = raw.chunks_exact(12);
    for (o, p) in (&mut o4).zip(&mut p4) {
        o[0] = class(&p[0..3]);
        o[1] = class(&p[3..6]);
        o[2] = class(&p[6..9]);
        o[3] = class(&p[9..12]);
    }
    for (o, p) in o4
        .into_remainder()
        .iter_mut()
        .zip(p4.remainder().chunks_exact(3))
    {
        *o = class(p);
    }
    out
}

/// The bit of `color_classes` for a plate colour.
fn color_bit(color: Color, pale: bool) -> u8 {
    match color {
        Color::Blue if pale => 8,
        Color::Blue => 1,
        Color::Yellow => 2,
        _ => 4,
    }
}

#[inline(always)]
fn color_candidates(img: &RgbImage, classes: &[u8], color: Color, pale: bool, out: &mut Vec<Cand>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let bit = color_bit(color, pale);
    let m = Mask {
        w,
        h,
        d: classes.iter().map(|&c| (c & bit != 0) as u8).collect(),
    };
    mask_candidates(m, color, out);
}

/// Textured colour: pixels of a plate colour next to a strong vertical
/// edge. A plate on a car of its own colour (a blue taxi, a yellow bus)
/// merges with the body in the colour mask; the body has no characters.
/// `near_edge`: the vertical edges dilated by 2 px across, 1 px down.
#[inline(always)]
fn textured_candidates(near_edge: &Mask, classes: &[u8], color: Color, out: &mut Vec<Cand>) {
    let bit = color_bit(color, false);
    let m = Mask {
        w: near_edge.w,
        h: near_edge.h,
        d: classes
            .iter()
            .zip(&near_edge.d)
            .map(|(&c, &e)| (c & bit != 0 && e != 0) as u8)
            .collect(),
    };
    mask_candidates(m, color, out);
}

/// Plate-like components of a colour mask (closed at two scales).
#[inline(always)]
fn mask_candidates(m: Mask, color: Color, out: &mut Vec<Cand>) {
    let w = m.w;
    // too few pixels of this colour for any plate-sized component
    if m.d.iter().map(|&v| v as usize).sum::<usize>() < 60 {
        return;
    }
    let r = (w / 256).max(1);
    let m1 = m.close(r + 1, r).open(1, 1);
    let m2 = m.close(r * 3 + 1, r).open(1, 1);
    let mut found: Vec<(Cand, usize)> = m1
        .components(150, 4000)
        .into_iter()
        .chain(m2.components(150, 4000))
        .filter_map(|comp| {
            let mut c = pca_rect(&comp, w);
            c.color = Some(color);
            if debug_on() && comp.len() > 300 {
                eprintln!(
                    "{:?} comp n={} {:?} fill={:.2}",
                    color,
                    comp.len(),
                    c,
                    comp.len() as f32 / (c.w * c.h)
                );
            }
            plate_like(&c, comp.len(), w).then_some((c, comp.len()))
        })
        .collect();
    found.sort_by(|a, b| b.1.cmp(&a.1));
    out.extend(found.into_iter().take(TAKE_N).map(|x| x.0));
}

/// Strong vertical edges (Sobel x above 3 × its image mean, at least 60).
#[inline(always)]
fn vertical_edges(img: &RgbImage) -> Mask {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return Mask {
            w,
            h,
            d: vec![0; w * h],
        };
    }
    let gray: Vec<i32> = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| (p[0] as i32 * 77 + p[1] as i32 * 150 + p[2] as i32 * 29) >> 8)
        .collect();
    // Sobel x, row by row: column sums (1, 2, 1), then their difference
    // two columns apart (whole-row loops, vectorised)
    let mut gx = vec![0i32; w * h];
    let mut sum = 0i64;
    let mut cs = vec![0i32; w];
    for y in 1..h - 1 {
        let (up, mid, dn) = (
            &gray[(y - 1) * w..y * w],
            &gray[y * w..(y + 1) * w],
            &gray[(y + 1) * w..(y + 2) * w],
        );
        for (c, ((&a, &b), &d)) in cs.iter_mut().zip(up.iter().zip(mid).zip(dn)) {
            *c = a + 2 * b + d;
        }
        let row = &mut gx[y * w + 1..(y + 1) * w - 1];
        let mut rs = 0i32;
        for (g, (&r, &l)) in row.iter_mut().zip(cs[2..].iter().zip(&cs[..w - 2])) {
            let v = (r - l).abs();
            *g = v;
            rs += v;
        }
        sum += rs as i64;
    }
    let mean = sum as f32 / (w * h).max(1) as f32;
    let thr = (mean * 3.0).max(60.0) as i32;
    Mask {
        w,
        h,
        d: gx.iter().map(|&v| (v > thr) as u8).collect(),
    }
}

/// Candidates from vertical-edge density (plates of any colour).
#[inline(always)]
fn edge_candidates(m: &Mask, out: &mut Vec<Cand>) {
    let w = m.w;
    if w < 8 || m.h < 8 {
        return;
    }
    let r = (w / 128).max(3);
    let m1 = m.close(r * 2, r / 3 + 1).open(r / 2 + 1, r / 3 + 1);
    let mut found: Vec<(Cand, usize)> = m1
        .components(200, 4000)
        .into_iter()
        .filter_map(|comp| {
            let c = pca_rect(&comp, w);
            if debug_on() && comp.len() > 200 {
                eprintln!(
                    "edge comp n={} {:?} fill={:.2}",
                    comp.len(),
                    c,
                    comp.len() as f32 / (c.w * c.h)
                );
            }
            (plate_like(&c, comp.len(), w) && c.angle.abs() < 0.35).then_some((c, comp.len()))
        })
        .collect();
    found.sort_by(|a, b| b.1.cmp(&a.1));
    out.extend(found.into_iter().take(TAKE_N).map(|x| x.0));
}

// ---------------------------------------------------------------- rectify

fn rectify(full: &RgbImage, c: &Cand, exp_w: f32, exp_h: f32, ow: u32, oh: u32) -> RgbImage {
    rectify_window(full, c, exp_w, exp_h, [0.0, 1.0, 0.0, 1.0], ow, oh)
}

/// Like `rectify`, for the window [u0, u1] × [v0, v1] of the crop
/// (normalised crop coordinates).
fn rectify_window(
    full: &RgbImage,
    c: &Cand,
    exp_w: f32,
    exp_h: f32,
    win: [f32; 4],
    ow: u32,
    oh: u32,
) -> RgbImage {
    let rw = c.w * exp_w;
    let rh = c.h * exp_h;
    let (fw, fh) = (full.width() as f32, full.height() as f32);
    let (ca, sa) = (c.angle.cos(), c.angle.sin());
    let mut out = RgbImage::new(ow, oh);
    let raw = full.as_raw();
    let stride = full.width() as usize * 3;
    for oy in 0..oh {
        for ox in 0..ow {
            let u = (win[0] + (ox as f32 + 0.5) / ow as f32 * (win[1] - win[0]) - 0.5) * rw;
            let v = (win[2] + (oy as f32 + 0.5) / oh as f32 * (win[3] - win[2]) - 0.5) * rh;
            let (x, y) = if c.shear {
                (c.cx + u * ca, c.cy + u * sa + v)
            } else {
                (c.cx + u * ca - v * sa, c.cy + u * sa + v * ca)
            };
            let x = (x - 0.5).clamp(0.0, fw - 1.001);
            let y = (y - 0.5).clamp(0.0, fh - 1.001);
            // (x, y ≥ 0: truncation is floor, and a signed conversion is
            // cheaper than an unsigned one in wasm32)
            let (x0, y0) = (x as i32 as usize, y as i32 as usize);
            let (ax, ay) = (x - x0 as f32, y - y0 as f32);
            let x1 = (x0 + 1).min(full.width() as usize - 1);
            let y1 = (y0 + 1).min(full.height() as usize - 1);
            let mut px = [0u8; 3];
            for k in 0..3 {
                let p00 = raw[y0 * stride + x0 * 3 + k] as f32;
                let p10 = raw[y0 * stride + x1 * 3 + k] as f32;
                let p01 = raw[y1 * stride + x0 * 3 + k] as f32;
                let p11 = raw[y1 * stride + x1 * 3 + k] as f32;
                let v = p00 * (1.0 - ax) * (1.0 - ay)
                    + p10 * ax * (1.0 - ay)
                    + p01 * (1.0 - ax) * ay
                    + p11 * ax * ay;
                px[k] = round_u8(v);
            }
            out.put_pixel(ox, oy, image::Rgb(px));
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
struct BBox {
    x0: usize,
    y0: usize,
    x1: usize, // inclusive
    y1: usize,
}
impl BBox {
    fn w(&self) -> usize {
        self.x1 - self.x0 + 1
    }
    fn h(&self) -> usize {
        self.y1 - self.y0 + 1
    }
    fn cx(&self) -> f32 {
        (self.x0 + self.x1) as f32 / 2.0
    }
}

/// Character patches and the grid-fit score (0..=6) of a single-row crop
/// (60 px high): Otsu binarisation, the character band from row
/// transitions, connected components fitted to the GA 36 grid. Used for the
/// province glyph (patch 0), which the province MLP was trained for (the
/// segmenter of the earlier, segmentation-based version of this crate).
fn segment(crop: &RgbImage, color: Color) -> Option<(Vec<(usize, usize, Vec<u8>)>, f32)> {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    if w < 20 || h < 10 {
        return None;
    }
    let g = ink_grey(crop, color);
    let mut hist = [0u32; 256];
    for y in h / 6..h - h / 6 {
        for x in w / 20..w - w / 20 {
            hist[g[y * w + x] as usize] += 1;
        }
    }
    let t = otsu(&hist);
    let bin: Vec<u8> = g.iter().map(|&v| (v > t) as u8).collect();

    // character band from row transitions
    let trans: Vec<usize> = (0..h)
        .map(|y| {
            (1..w)
                .filter(|&x| bin[y * w + x] != bin[y * w + x - 1])
                .count()
        })
        .collect();
    let thr = 10;
    let (mut best_s, mut best_len) = (0, 0);
    let mut y = 0;
    while y < h {
        if trans[y] >= thr {
            let s = y;
            let mut e = y;
            let mut gap = 0;
            let mut k = y + 1;
            while k < h {
                if trans[k] >= thr {
                    e = k;
                    gap = 0;
                } else {
                    gap += 1;
                    if gap > 1 {
                        break;
                    }
                }
                k += 1;
            }
            if e + 1 - s > best_len {
                best_len = e + 1 - s;
                best_s = s;
            }
            y = e + 1;
        } else {
            y += 1;
        }
    }
    if best_len < h * 3 / 10 {
        return None;
    }
    let (by0, by1) = (best_s, best_s + best_len - 1);
    let bh = best_len;

    // components inside the band
    let mut band = Mask {
        w,
        h: bh,
        d: bin[by0 * w..(by1 + 1) * w].to_vec(),
    };
    // cut the band's left/right 1px to avoid attaching to plate frame
    for yy in 0..bh {
        band.d[yy * w] = 0;
        band.d[yy * w + w - 1] = 0;
    }
    let comps = band.components(3, 500);
    let mut boxes: Vec<(BBox, usize)> = comps
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            let mut b = BBox {
                x0: usize::MAX,
                y0: usize::MAX,
                x1: 0,
                y1: 0,
            };
            for &i in c {
                let (x, y) = (i as usize % w, i as usize / w);
                b.x0 = b.x0.min(x);
                b.x1 = b.x1.max(x);
                b.y0 = b.y0.min(y);
                b.y1 = b.y1.max(y);
            }
            (b, ci)
        })
        .collect();
    boxes.sort_by_key(|b| b.0.x0);
    let tall: Vec<BBox> = boxes
        .iter()
        .map(|b| b.0)
        .filter(|b| b.h() as f32 >= 0.55 * bh as f32 && (b.w() as f32) <= 0.95 * bh as f32)
        .collect();
    if tall.len() < 3 {
        return None;
    }
    let mut hs: Vec<usize> = tall.iter().map(|b| b.h()).collect();
    hs.sort();
    let hc = hs[hs.len() / 2] as f32;
    // grid (units of char height): glyph 0.5, pitch 0.6333, extra gap after slot 1: 0.2444
    let slot_left = |k: usize, x0: f32, s: f32| -> f32 {
        x0 + s * hc * (k as f32 * 0.6333 + if k >= 2 { 0.2444 } else { 0.0 })
    };
    let cw = |s: f32| 0.5 * hc * s;
    let mut best: Option<(f32, f32, f32)> = None; // score, x0, s
    let mut s = 0.8f32;
    while s <= 1.3 {
        for b in &tall {
            for k in 1..7 {
                let x0 = b.cx() - cw(s) / 2.0 - (slot_left(k, 0.0, s));
                if x0 < -cw(s) * 0.5 || slot_left(6, x0, s) + cw(s) > w as f32 + cw(s) * 0.3 {
                    continue;
                }
                let mut score = 0f32;
                for kk in 1..7 {
                    let c = slot_left(kk, x0, s) + cw(s) / 2.0;
                    let tol = 0.28 * 0.6333 * hc * s;
                    let d = tall
                        .iter()
                        .map(|t| (t.cx() - c).abs())
                        .fold(f32::MAX, f32::min);
                    if d < tol {
                        score += 1.0 - 0.5 * d / tol;
                    }
                }
                if best.map(|bb| score > bb.0).unwrap_or(true) {
                    best = Some((score, x0, s));
                }
            }
        }
        s += 0.025;
    }
    let (score, x0, s) = best?;
    if score < 2.5 {
        return None;
    }
    let cwp = cw(s);
    // vertical extent of the glyphs: median top / bottom of the tall components
    let mut tops: Vec<usize> = tall.iter().map(|b| b.y0).collect();
    let mut bots: Vec<usize> = tall.iter().map(|b| b.y1).collect();
    tops.sort();
    bots.sort();
    let ty0 = tops[tops.len() / 2].saturating_sub(1);
    let ty1 = (bots[bots.len() / 2] + 1).min(bh - 1);
    if ty1 <= ty0 + 3 {
        return None;
    }
    let mut out = Vec::with_capacity(7);
    for k in 0..7 {
        let l = slot_left(k, x0, s);
        let r = l + cwp;
        let lo = l - 0.15 * cwp;
        let hi = r + 0.15 * cwp;
        if k == 0 {
            // province glyph (several strokes): everything inside the slot
            // rectangle, vertically limited to the other glyphs' extent
            let x0i = (l - 0.05 * cwp).max(1.0) as usize;
            let x1i = ((r + 0.05 * cwp).max(0.0) as usize).min(w - 2);
            if x1i <= x0i + 2 {
                return None;
            }
            let pw = x1i - x0i + 1;
            let ph = ty1 + 1 - ty0;
            let mut px = vec![0u8; pw * ph];
            for yy in 0..ph {
                for xx in 0..pw {
                    px[yy * pw + xx] = band.d[(ty0 + yy) * w + x0i + xx] * 255;
                }
            }
            out.push((pw, ph, px));
            continue;
        }
        let members: Vec<&(BBox, usize)> = boxes
            .iter()
            .filter(|(b, _)| {
                let bc = b.cx();
                bc >= lo
                    && bc <= hi
                    && b.w() as f32 <= 1.4 * cwp
                    && (b.h() as f32 >= 0.25 * hc || b.w() * b.h() >= 6)
            })
            .collect();
        let members: Vec<&(BBox, usize)> = members
            .into_iter()
            .filter(|(b, ci)| {
                // drop solid blocks (plate frame, car body)
                let fill = comps[*ci].len() as f32 / (b.w() * b.h()) as f32;
                !(fill > 0.85 && b.w() * b.h() > 60)
            })
            .collect();
        let mut px_owned: Vec<u8>;
        let (pw, ph);
        if members.is_empty() {
            let x0i = l.max(0.0) as usize;
            let x1i = (r.max(0.0) as usize).min(w - 1);
            if x1i <= x0i {
                return None;
            }
            pw = x1i - x0i + 1;
            ph = bh;
            px_owned = vec![0u8; pw * ph];
            for yy in 0..ph {
                for xx in 0..pw {
                    px_owned[yy * pw + xx] = band.d[yy * w + x0i + xx] * 255;
                }
            }
        } else {
            let mut u = members[0].0;
            for (m, _) in &members[1..] {
                u.x0 = u.x0.min(m.x0);
                u.x1 = u.x1.max(m.x1);
                u.y0 = u.y0.min(m.y0);
                u.y1 = u.y1.max(m.y1);
            }
            pw = u.w();
            ph = u.h();
            px_owned = vec![0u8; pw * ph];
            for (_, ci) in &members {
                for &i in &comps[*ci] {
                    let (x, y) = (i as usize % w, i as usize / w);
                    px_owned[(y - u.y0) * pw + (x - u.x0)] = 255;
                }
            }
        }
        out.push((pw, ph, px_owned));
    }
    Some((out, score))
}

/// Otsu's threshold of a 256-bin histogram.
fn otsu(hist: &[u32; 256]) -> u8 {
    let total: u64 = hist.iter().map(|&v| v as u64).sum();
    if total == 0 {
        return 128;
    }
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &v)| i as f64 * v as f64)
        .sum();
    let (mut wb, mut sb) = (0f64, 0f64);
    let (mut best, mut best_t) = (-1f64, 128u8);
    for t in 0..256 {
        wb += hist[t] as f64;
        if wb == 0.0 {
            continue;
        }
        let wf = total as f64 - wb;
        if wf == 0.0 {
            break;
        }
        sb += t as f64 * hist[t] as f64;
        let mb = sb / wb;
        let mf = (sum_all - sb) / wf;
        let between = wb * wf * (mb - mf) * (mb - mf);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

// ---------------------------------------------------------------- low-level helpers

/// `dst = a | b` (dilate) or `a & b` (erode), bytewise.
#[inline(always)]
fn mask_combine(dst: &mut [u8], a: &[u8], b: &[u8], dilate: bool) {
    let it = dst.iter_mut().zip(a.iter().zip(b));
    if dilate {
        it.for_each(|(o, (&x, &y))| *o = x | y);
    } else {
        it.for_each(|(o, (&x, &y))| *o = x & y);
    }
}

/// `dst |= a` (dilate) or `dst &= a` (erode), bytewise.
#[inline(always)]
fn mask_combine_into(dst: &mut [u8], a: &[u8], dilate: bool) {
    let it = dst.iter_mut().zip(a);
    if dilate {
        it.for_each(|(o, &x)| *o |= x);
    } else {
        it.for_each(|(o, &x)| *o &= x);
    }
}

/// `a.max(b)` for non-NaN values, without a call (wasm32 has none).
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// `a.min(b)` for non-NaN values, without a call.
#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if b < a { b } else { a }
}

/// `x.rem_euclid(6.0)` for |x| ≤ 6 (`fmod` is a call in wasm32): `x % 6`
/// is `x` itself there.
#[inline(always)]
fn rem6(x: f32) -> f32 {
    if x < 0.0 { x + 6.0 } else { x }
}

/// `v.round().clamp(0.0, 255.0) as u8` without the call to `roundf` that
/// `round` is in wasm32, and with a signed conversion: `v - trunc(v)` is
/// exact; out of [-1, 256] (and NaN) both give the same as at its ends.
#[inline(always)]
fn round_u8(v: f32) -> u8 {
    let v = v.clamp(-1.0, 256.0);
    let t = v.trunc();
    ((t as i32) + ((v - t >= 0.5) as i32)).clamp(0, 255) as u8
}

/// wasm32: `dst[x]` = OR (dilate) or AND of `src[x + k·step]` for k in
/// 0..=2r, for radii 1 to 10, with SIMD128 and the window unrolled: one loop
/// iteration per 16 pixels (a row pass per shift costs an epoch check per
/// 16 pixels and shift). Returns false (nothing done) for other radii.
/// `src.len() ≥ dst.len() + 2r·step`.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
fn mask_window(dst: &mut [u8], src: &[u8], step: usize, r: usize, dilate: bool) -> bool {
    macro_rules! radii {
        ($($r:literal)*) => {
            match (r, dilate) {
                $(
                    ($r, true) => mask_window_n::<$r, true>(dst, src, step),
                    ($r, false) => mask_window_n::<$r, false>(dst, src, step),
                )*
                _ => return false,
            }
        };
    }
    radii!(1 2 3 4 5 6 7 8 9 10);
    true
}

#[cfg(target_arch = "wasm32")]
#[inline]
#[target_feature(enable = "simd128")]
fn mask_window_n<const R: usize, const DILATE: bool>(dst: &mut [u8], src: &[u8], step: usize) {
    use core::arch::wasm32::*;
    let w = dst.len();
    assert!(src.len() >= w + 2 * R * step);
    let mut x = 0;
    // SAFETY: reads at x + k·step + 16 ≤ w + 2R·step ≤ src.len(), writes
    // at x + 16 ≤ w.
    unsafe {
        let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
        while x + 16 <= w {
            let mut acc = v128_load(sp.add(x) as *const v128);
            let mut k = 1;
            while k <= 2 * R {
                let v = v128_load(sp.add(x + k * step) as *const v128);
                acc = if DILATE {
                    v128_or(acc, v)
                } else {
                    v128_and(acc, v)
                };
                k += 1;
            }
            v128_store(dp.add(x) as *mut v128, acc);
            x += 16;
        }
    }
    for x in x..w {
        let mut a = src[x];
        for k in 1..=2 * R {
            a = if DILATE {
                a | src[x + k * step]
            } else {
                a & src[x + k * step]
            };
        }
        dst[x] = a;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(text: &str, probs: &[f32]) -> Reading {
        let conf = probs.iter().sum::<f32>() / probs.len() as f32;
        Reading {
            rec: Recognition {
                plate: text.into(),
                color: Color::Blue,
                confidence: conf,
            },
            reader_conf: conf,
            aligned: None,
            dists: text
                .chars()
                .zip(probs)
                .map(|(c, &p)| vec![(c, p)])
                .collect(),
        }
    }

    /// The answer is the most confident read with each character voted on
    /// A read of `text` at the given CTC centres (columns), each character
    /// with probability 0.9 at its column; `alt` adds (column, class, p).
    fn read_at(
        classes: &[char],
        text: &str,
        centre: &[f32],
        alt: &[(usize, char, f32)],
    ) -> cnn::Read {
        let text: Vec<char> = text.chars().collect();
        let cols: Vec<usize> = centre.iter().map(|&c| c.round() as usize).collect();
        let mut probs = vec![0f32; classes.len() * cnn::T];
        let k = |ch: char| classes.iter().position(|&c| c == ch).unwrap();
        for t in 0..cnn::T {
            probs[t] = 1.0;
        }
        for (&ch, &t) in text.iter().zip(&cols) {
            (probs[t], probs[k(ch) * cnn::T + t]) = (0.1, 0.9);
        }
        for &(t, ch, p) in alt {
            probs[k(ch) * cnn::T + t] = p;
        }
        cnn::Read {
            conf: vec![0.9; text.len()],
            text,
            cols,
            centre: centre.to_vec(),
            probs,
        }
    }

    /// The plate's extent in a province window: from the first column with
    /// the plate's colour, over the rows that have it; the whole window for
    /// a colourless plate.
    #[test]
    fn province_window_starts_at_the_plate() {
        // 40 × 64: a light grey car body (x < 6), then the blue plate
        // between rows 10 and 53, with a white frame line at x = 8 and a
        // white glyph stroke at x = 16..20; grey above and below
        let win = RgbImage::from_fn(40, 64, |x, y| {
            if x < 6 || !(10..54).contains(&y) {
                image::Rgb([200, 200, 200])
            } else if x == 8 || (16..20).contains(&x) {
                image::Rgb([240, 240, 240])
            } else {
                image::Rgb([20, 60, 170])
            }
        });
        assert_eq!(plate_extent(&win, Color::Blue), (6, 10, 54));
        // the same window for a white plate: nothing to go by
        assert_eq!(plate_extent(&win, Color::White), (0, 64 / 6, 64 - 64 / 6));
        // no blue anywhere: the whole window
        let grey = RgbImage::from_pixel(40, 64, image::Rgb([200, 200, 200]));
        assert_eq!(plate_extent(&grey, Color::Blue), (0, 64 / 6, 64 - 64 / 6));
    }

    /// The 皖 prior follows from the training mix (1.79) and the province list.
    #[test]
    fn reader_wan_prior_is_the_training_mix() {
        assert_eq!(PROVINCES.chars().count(), PROVINCE_COUNT);
        assert!(
            (READER_WAN_PRIOR - 1.795).abs() < 0.001,
            "{READER_WAN_PRIOR}"
        );
    }

    #[test]
    fn reads_are_mended_to_the_plate_format() {
        let classes: Vec<char> = "_0123456789ABDEQX皖粤".chars().collect();
        let s = |r: Option<cnn::Read>| r.map(|r| r.text.into_iter().collect::<String>());
        // columns of a 7-character plate (u = 0.02 + 0.002 mm across the crop)
        let at: Vec<f32> = CENTRES_7
            .iter()
            .map(|mm| (0.02 + 0.002 * mm) * cnn::T as f32 - 0.5)
            .collect();
        // a digit where the letter goes: the most probable letter there
        let r = read_at(
            &classes,
            "粤012345",
            &at,
            &[(at[1] as usize, 'Q', 0.3), (at[1] as usize, 'D', 0.2)],
        );
        assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some("粤Q12345"));
        // ... but not one the reader hardly considered
        let r = read_at(&classes, "粤012345", &at, &[(at[1] as usize, 'Q', 0.01)]);
        assert_eq!(s(fix_format(&r, &classes, 7)), None);
        // two characters out of place are not one slip
        let r = read_at(&classes, "粤01234粤", &at, &[(at[1] as usize, 'Q', 0.3)]);
        assert_eq!(s(fix_format(&r, &classes, 7)), None);
        // one too many: the character off the layout goes (here the second
        // half of a province glyph, read as E), not the one that leaves the
        // format valid but a gap in the row (X or 4)
        let mut extra = at.clone();
        extra.insert(1, 0.5 * (at[0] + at[1]));
        let r = read_at(&classes, "皖EX30479", &extra, &[]);
        assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some("皖X30479"));
        // a trailing 1 from the frame's edge
        let mut edge = at.clone();
        edge.push(at[6] + 2.0);
        let r = read_at(&classes, "粤AB12331", &edge, &[]);
        assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some("粤AB1233"));
        // two too many: no
        let mut two = extra.clone();
        two.push(at[6] + 2.0);
        let r = read_at(&classes, "皖EX304791", &two, &[]);
        assert_eq!(s(fix_format(&r, &classes, 7)), None);
    }

    /// by the reads of the same plate; reads of another plate do not vote.
    #[test]
    fn reads_of_one_plate_vote_per_character() {
        let mut st = Search::default();
        for (text, probs) in [
            ("粤AL62T2", [0.9, 1.0, 1.0, 1.0, 1.0, 0.55, 1.0]),
            ("粤AL6212", [0.9, 1.0, 1.0, 1.0, 1.0, 0.5, 0.9]),
            ("粤AL6212", [0.8, 1.0, 1.0, 0.9, 1.0, 0.6, 0.9]),
            // another plate of the photo, same length: too different to vote
            ("京N11111", [0.1; 7]),
            ("京N11111", [0.1; 7]),
        ] {
            st.consider(reading(text, &probs), text);
        }
        assert!((st.best_conf() - 0.9214).abs() < 1e-3);
        let r = st.answer().unwrap();
        assert_eq!(r.plate, "粤AL6212");
        assert!(
            (r.confidence - 0.9214).abs() < 1e-3,
            "the top read's confidence"
        );
        // one read: itself
        let mut st = Search::default();
        st.consider(reading("粤AL62T2", &[0.9; 7]), "a");
        assert_eq!(st.answer().unwrap().plate, "粤AL62T2");
        assert!(Search::default().answer().is_none());
        // whole distributions vote: the runner-up of each read counts
        let mut st = Search::default();
        let mut a = reading("粤Q18632", &[0.51, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        a.dists[0] = vec![('粤', 0.51), ('皖', 0.45)];
        let mut b = reading("皖Q18632", &[0.44, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        b.dists[0] = vec![('皖', 0.44), ('粤', 0.02)];
        st.consider(a, "a");
        st.consider(b, "b");
        assert_eq!(st.answer().unwrap().plate, "皖Q18632");
    }

    /// The synthetic photo of a blue plate, 京N62847 (`tests/fixtures`).
    fn blue_photo() -> RgbImage {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/blue-京N62847.jpg"
        ))
        .unwrap();
        decode(&bytes).unwrap()
    }

    /// The candidate its blue colour finds in a photo.
    fn blue_candidate(img: &RgbImage) -> Cand {
        locate(img)
            .into_iter()
            .find(|c| c.color == Some(Color::Blue))
            .expect("the plate is found by its colour")
    }

    /// A box that holds more than the plate (40 % too wide, off-centre) is
    /// fitted back onto the plate from the characters it reads.
    #[test]
    fn a_loose_box_is_fitted_to_the_characters() {
        let img = blue_photo();
        let net = model().unwrap();
        let plate = blue_candidate(&img);
        let mut loose = plate.clone();
        loose.w *= 1.4;
        loose.cx += 0.12 * plate.w;
        let crop = rectify(&img, &loose, 1.08, 1.2, cnn::IN_W as u32, cnn::IN_H as u32);
        let read = net.read_aligned(&cnn::prepare(&crop, false));
        // (the reader alone is weak on provinces; the layout fit ignores it)
        assert_eq!(read.text[1..].iter().collect::<String>(), "N62847");
        let fitted = align(&loose, 1.08, &read).expect("a 7-character row fits");
        assert!(
            (fitted.w / plate.w - 1.0).abs() < 0.1 && (fitted.cx - plate.cx).abs() < 0.05 * plate.w,
            "fitted {fitted:?}, plate {plate:?}"
        );
        // a read that is not a row of 7 or 8 characters fits nothing
        let mut short = read;
        short.text.truncate(5);
        short.centre.truncate(5);
        assert!(align(&loose, 1.08, &short).is_none());
    }

    /// A crop of `bg` with vertical strokes of `ink` (a third of the area).
    fn plate_crop(bg: [u8; 3], ink: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(128, 32, |x, y| {
            let stroke = (8..24).contains(&y) && x % 12 < 4;
            image::Rgb(if stroke { ink } else { bg })
        })
    }

    /// Light ink on a dark background is black only when the background
    /// has (almost) no colour; a blue plate at night, dark and tinted by
    /// the light, stays blue.
    #[test]
    fn dark_plates_are_blue_unless_colourless() {
        for bg in [[30, 22, 48], [46, 34, 36], [8, 12, 24], [24, 40, 110]] {
            assert_eq!(
                plate_color(&plate_crop(bg, [200, 200, 210])),
                Color::Blue,
                "{bg:?}"
            );
        }
        for bg in [[18, 18, 20], [40, 42, 44]] {
            assert_eq!(
                plate_color(&plate_crop(bg, [230, 230, 230])),
                Color::Black,
                "{bg:?}"
            );
        }
    }

    /// A faded plate at night (flash-lit, washed-out colours: the plate's
    /// blue keeps a saturation of about 0.15) is located by the pale-blue
    /// mask, where the plain blue mask no longer sees it; the photo still
    /// reads as the plate.
    #[test]
    fn pale_blue_plate_is_located() {
        let img = blue_photo();
        let pale = RgbImage::from_fn(img.width(), img.height(), |x, y| {
            let p = img.get_pixel(x, y).0.map(f32::from);
            let grey = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            // an eighth of the colour left, washed out by a flash (the
            // plate's blue [1, 27, 122] becomes [86, 89, 101])
            image::Rgb(
                [0, 1, 2].map(|k| (grey + 56.0 + 0.12 * (p[k] - grey)).clamp(0.0, 255.0) as u8),
            )
        });
        let plain = |cands: &[Cand]| {
            cands
                .iter()
                .filter(|c| c.color == Some(Color::Blue) && c.fallback == Fallback::No)
                .count()
        };
        let plate = blue_candidate(&img);
        let located = locate(&pale);
        assert_eq!(plain(&located), 0, "plain blue mask: {located:?}");
        assert!(
            located.iter().any(|c| c.fallback == Fallback::Unsure
                && c.color == Some(Color::Blue)
                && (c.cx - plate.cx).abs() < 0.2 * plate.w
                && (c.cy - plate.cy).abs() < 0.5 * plate.h),
            "pale mask: {located:?}, plate {plate:?}"
        );
        let r = recognize_rgb(&pale, model().unwrap()).expect("read");
        assert_eq!((r.plate.as_str(), r.color), ("京N62847", Color::Blue));
    }
}
