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

/// The plate reader, loaded once.
pub fn model() -> Result<&'static cnn::Net, String> {
    match MODEL.get_or_init(|| cnn::Net::from_bytes(MODEL_BYTES)) {
        Ok(m) => Ok(m),
        Err(e) => Err(e.clone()),
    }
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
    Ok(img.to_rgb8())
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
}

/// Recognise from decoded pixels.
pub fn recognize_rgb(full: &RgbImage, net: &cnn::Net) -> Option<Recognition> {
    let cands = locate(full);
    read_candidates(full, &cands, net)
}

/// Time spent per stage by [`recognize_profiled`], in milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Profile {
    pub decode_ms: f64,
    pub locate_ms: f64,
    pub read_ms: f64,
    pub candidates: usize,
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
    let cands = locate(&rgb);
    prof.locate_ms = t.elapsed().as_secs_f64() * 1e3;
    prof.candidates = cands.len();
    let t = std::time::Instant::now();
    let r = read_candidates(&rgb, &cands, net);
    prof.read_ms = t.elapsed().as_secs_f64() * 1e3;
    (Ok(r), prof)
}

/// Candidate plate rectangles (full-resolution coordinates), deduplicated,
/// most promising first.
fn locate(full: &RgbImage) -> Vec<Cand> {
    let (fw, fh) = full.dimensions();
    let scale = if fw > WORK_WIDTH {
        WORK_WIDTH as f32 / fw as f32
    } else {
        1.0
    };
    let small_owned;
    let small = if scale < 1.0 {
        let nh = ((fh as f32 * scale).round() as u32).max(1);
        small_owned = resize_box(full, WORK_WIDTH, nh);
        &small_owned
    } else {
        full
    };
    let mut cands = Vec::new();
    let classes = color_classes(small);
    for color in [Color::Blue, Color::Yellow, Color::Green] {
        color_candidates(small, &classes, color, &mut cands);
    }
    edge_candidates(small, &mut cands);
    // back to full-resolution coordinates
    for c in cands.iter_mut() {
        c.cx /= scale;
        c.cy /= scale;
        c.w /= scale;
        c.h /= scale;
    }
    // drop near-duplicate candidates
    let mut uniq: Vec<Cand> = Vec::new();
    for c in cands {
        let dup = uniq.iter().any(|u| {
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
    uniq.truncate(MAX_CANDIDATES);
    uniq
}

/// Reads every candidate; the most confident valid read wins.
fn read_candidates(full: &RgbImage, cands: &[Cand], net: &cnn::Net) -> Option<Recognition> {
    let debug = std::env::var("PLATE_DEBUG").is_ok();
    let mut best: Option<Recognition> = None;
    for (ci, c) in cands.iter().enumerate() {
        for r in read_candidate(full, c, net) {
            if debug {
                eprintln!("cand {ci} {c:?} -> {} {} {:.3}", r.plate, r.color.as_str(), r.confidence);
            }
            if best.as_ref().map(|b| r.confidence > b.confidence).unwrap_or(true) {
                best = Some(r);
            }
        }
    }
    best.filter(|b| b.confidence >= MIN_CONFIDENCE)
}

/// At most this many (deduplicated) candidates are read.
const MAX_CANDIDATES: usize = 24;
/// Reads below this confidence are not reported (no plate).
pub const MIN_CONFIDENCE: f32 = 0.5;

/// Reads of one candidate: single row, and for plates that may be double
/// row (yellow or white, aspect below 2.6) the two-row reading too.
fn read_candidate(full: &RgbImage, c: &Cand, net: &cnn::Net) -> Vec<Recognition> {
    let mut out = Vec::new();
    let crop = rectify(full, c, 1.08, 1.2, cnn::IN_W as u32, cnn::IN_H as u32);
    let color = match c.color {
        Some(col) => col,
        None => dominant_color(&crop).unwrap_or(Color::Blue),
    };
    if let Some(r) = read_prepared(net, &cnn::prepare(&crop, false), color) {
        out.push(r);
    }
    let aspect = c.w / c.h.max(1.0);
    if aspect < 2.6 && matches!(color, Color::Yellow | Color::White) {
        let crop2 = rectify(full, c, 1.06, 1.1, cnn::IN_W as u32, 64);
        if let Some(r) = read_prepared(net, &cnn::prepare(&crop2, true), color) {
            out.push(r);
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
        && t[2..].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

fn read_prepared(net: &cnn::Net, x: &[f32], color: Color) -> Option<Recognition> {
    let (text, probs) = net.read(x);
    if !valid_plate(&text) {
        return None;
    }
    // 8 characters only on (green) new-energy plates
    if text.len() == 8 && color != Color::Green {
        return None;
    }
    let mean = probs.iter().sum::<f32>() / probs.len() as f32;
    let min = probs.iter().copied().fold(1f32, f32::min);
    let color = if text.len() == 8 { Color::Green } else { color };
    Some(Recognition {
        plate: text.into_iter().collect(),
        color,
        confidence: 0.7 * mean + 0.3 * min,
    })
}

/// Box-filter downscale (each output pixel averages its source area).
fn resize_box(img: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = (nw as usize, nh as usize);
    let raw = img.as_raw();
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
#[inline]
fn hsv(r: u8, g: u8, b: u8) -> (f32, f32, f32) {
    let (r, g, b) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    let mx = r.max(g).max(b);
    let mn = r.min(g).min(b);
    let d = mx - mn;
    let v = mx;
    let s = if mx > 0.0 { d / mx } else { 0.0 };
    let h = if d <= 0.0 {
        0.0
    } else if mx == r {
        60.0 * (((g - b) / d).rem_euclid(6.0))
    } else if mx == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    (h, s, v)
}

fn is_color(color: Color, r: u8, g: u8, b: u8) -> bool {
    let (h, s, v) = hsv(r, g, b);
    match color {
        Color::Blue => (190.0..=260.0).contains(&h) && s > 0.25 && v > 0.18,
        Color::Yellow => (18.0..=62.0).contains(&h) && s > 0.35 && v > 0.3,
        Color::Green => (75.0..=165.0).contains(&h) && s > 0.25 && v > 0.3,
        Color::White => s < 0.15 && v > 0.6,
        Color::Black => v < 0.2,
    }
}

/// Dominant plate colour of a crop (blue/yellow/green/white/black).
fn dominant_color(crop: &RgbImage) -> Option<Color> {
    let n = (crop.width() * crop.height()) as usize;
    let mut cc = [0usize; 3];
    for p in crop.pixels() {
        let (h, s, v) = hsv(p[0], p[1], p[2]);
        if s > 0.25 && v > 0.15 {
            if (185.0..=260.0).contains(&h) {
                cc[0] += 1;
            } else if (15.0..=65.0).contains(&h) {
                cc[1] += 1;
            } else if (70.0..=170.0).contains(&h) {
                cc[2] += 1;
            }
        }
    }
    let (i, &m) = cc.iter().enumerate().max_by_key(|x| *x.1)?;
    if m * 6 >= n {
        return Some([Color::Blue, Color::Yellow, Color::Green][i]);
    }
    let mut counts = [0usize; 5];
    let all = [
        Color::Blue,
        Color::Yellow,
        Color::Green,
        Color::White,
        Color::Black,
    ];
    for p in crop.pixels() {
        for (i, c) in all.iter().enumerate() {
            if is_color(*c, p[0], p[1], p[2]) {
                counts[i] += 1;
                break;
            }
        }
    }
    let (i, &m) = counts.iter().enumerate().max_by_key(|x| *x.1)?;
    if m * 5 < n {
        return None;
    }
    Some(all[i])
}

// ---------------------------------------------------------------- masks & morphology

struct Mask {
    w: usize,
    h: usize,
    d: Vec<u8>, // 0/1
}

impl Mask {
    /// Dilation (any pixel set) or erosion (all set) over a (2rx+1) ×
    /// (2ry+1) box, clipped at the borders; separable running counts.
    fn box_op(&self, rx: usize, ry: usize, dilate: bool) -> Mask {
        let (w, h) = (self.w, self.h);
        let mut tmp = vec![0u8; w * h];
        // rows
        for y in 0..h {
            let src = &self.d[y * w..(y + 1) * w];
            let dst = &mut tmp[y * w..(y + 1) * w];
            let mut cnt: usize = src[..rx.min(w)].iter().map(|&v| v as usize).sum();
            for x in 0..w {
                if x + rx < w {
                    cnt += src[x + rx] as usize;
                }
                if x > rx {
                    cnt -= src[x - rx - 1] as usize;
                }
                let n = (x + rx + 1).min(w) - x.saturating_sub(rx);
                dst[x] = if dilate { (cnt > 0) as u8 } else { (cnt == n) as u8 };
            }
        }
        // columns, all at once, row by row
        let mut out = vec![0u8; w * h];
        let mut cnt = vec![0u16; w];
        for y in 0..ry.min(h) {
            for (c, &v) in cnt.iter_mut().zip(&tmp[y * w..(y + 1) * w]) {
                *c += v as u16;
            }
        }
        for y in 0..h {
            if y + ry < h {
                for (c, &v) in cnt.iter_mut().zip(&tmp[(y + ry) * w..(y + ry + 1) * w]) {
                    *c += v as u16;
                }
            }
            if y > ry {
                for (c, &v) in cnt.iter_mut().zip(&tmp[(y - ry - 1) * w..(y - ry) * w]) {
                    *c -= v as u16;
                }
            }
            let n = ((y + ry + 1).min(h) - y.saturating_sub(ry)) as u16;
            let dst = &mut out[y * w..(y + 1) * w];
            if dilate {
                for (d, &c) in dst.iter_mut().zip(&cnt) {
                    *d = (c > 0) as u8;
                }
            } else {
                for (d, &c) in dst.iter_mut().zip(&cnt) {
                    *d = (c == n) as u8;
                }
            }
        }
        Mask { w, h, d: out }
    }
    fn close(&self, rx: usize, ry: usize) -> Mask {
        self.box_op(rx, ry, true).box_op(rx, ry, false)
    }
    fn open(&self, rx: usize, ry: usize) -> Mask {
        self.box_op(rx, ry, false).box_op(rx, ry, true)
    }

    /// 8-connected components: pixel index lists.
    fn components(&self, min_px: usize, max_comps: usize) -> Vec<Vec<u32>> {
        let (w, h) = (self.w, self.h);
        let mut seen = vec![false; w * h];
        let mut out = Vec::new();
        let mut stack = Vec::new();
        for start in 0..w * h {
            if self.d[start] == 0 || seen[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start as u32);
            let mut comp = Vec::new();
            while let Some(i) = stack.pop() {
                comp.push(i);
                let (x, y) = ((i as usize) % w, (i as usize) / w);
                for dy in -1i32..=1 {
                    for dx in -1i32..=1 {
                        let nx = x as i32 + dx;
                        let ny = y as i32 + dy;
                        if nx < 0 || ny < 0 || nx >= w as i32 || ny >= h as i32 {
                            continue;
                        }
                        let j = ny as usize * w + nx as usize;
                        if self.d[j] != 0 && !seen[j] {
                            seen[j] = true;
                            stack.push(j as u32);
                        }
                    }
                }
            }
            if comp.len() >= min_px {
                out.push(comp);
                if out.len() >= max_comps {
                    break;
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

/// Per pixel, one bit per plate colour: 1 blue, 2 yellow, 4 green.
fn color_classes(img: &RgbImage) -> Vec<u8> {
    img.as_raw()
        .chunks_exact(3)
        .map(|p| {
            let (r, g, b) = (p[0], p[1], p[2]);
            // cheap rejection: grey pixels are no plate colour
            let mx = r.max(g).max(b) as i32;
            let mn = r.min(g).min(b) as i32;
            if mx - mn < mx / 5 + 1 {
                return 0;
            }
            is_color(Color::Blue, r, g, b) as u8
                | (is_color(Color::Yellow, r, g, b) as u8) << 1
                | (is_color(Color::Green, r, g, b) as u8) << 2
        })
        .collect()
}

fn color_candidates(img: &RgbImage, classes: &[u8], color: Color, out: &mut Vec<Cand>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let bit = match color {
        Color::Blue => 1,
        Color::Yellow => 2,
        _ => 4,
    };
    let m = Mask {
        w,
        h,
        d: classes.iter().map(|&c| (c & bit != 0) as u8).collect(),
    };
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
            if std::env::var("PLATE_DEBUG").is_ok() && comp.len() > 300 {
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
    out.extend(found.into_iter().take(8).map(|x| x.0));
}

/// Candidates from vertical-edge density (plates of any colour).
fn edge_candidates(img: &RgbImage, out: &mut Vec<Cand>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 8 || h < 8 {
        return;
    }
    let gray: Vec<i32> = img
        .pixels()
        .map(|p| (p[0] as i32 * 77 + p[1] as i32 * 150 + p[2] as i32 * 29) >> 8)
        .collect();
    let mut gx = vec![0i32; w * h];
    let mut sum = 0i64;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let v = (gray[i - w + 1] + 2 * gray[i + 1] + gray[i + w + 1])
                - (gray[i - w - 1] + 2 * gray[i - 1] + gray[i + w - 1]);
            gx[i] = v.abs();
            sum += v.abs() as i64;
        }
    }
    let mean = sum as f32 / (w * h) as f32;
    let thr = (mean * 3.0).max(60.0) as i32;
    let m = Mask {
        w,
        h,
        d: gx.iter().map(|&v| (v > thr) as u8).collect(),
    };
    let r = (w / 128).max(3);
    let m1 = m.close(r * 2, r / 3 + 1).open(r / 2 + 1, r / 3 + 1);
    let mut found: Vec<(Cand, usize)> = m1
        .components(200, 4000)
        .into_iter()
        .filter_map(|comp| {
            let c = pca_rect(&comp, w);
            if std::env::var("PLATE_DEBUG").is_ok() && comp.len() > 200 {
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
    out.extend(found.into_iter().take(8).map(|x| x.0));
}

// ---------------------------------------------------------------- rectify

fn rectify(full: &RgbImage, c: &Cand, exp_w: f32, exp_h: f32, ow: u32, oh: u32) -> RgbImage {
    let rw = c.w * exp_w;
    let rh = c.h * exp_h;
    let (fw, fh) = (full.width() as f32, full.height() as f32);
    let (ca, sa) = (c.angle.cos(), c.angle.sin());
    let mut out = RgbImage::new(ow, oh);
    let raw = full.as_raw();
    let stride = full.width() as usize * 3;
    for oy in 0..oh {
        for ox in 0..ow {
            let u = ((ox as f32 + 0.5) / ow as f32 - 0.5) * rw;
            let v = ((oy as f32 + 0.5) / oh as f32 - 0.5) * rh;
            let x = (c.cx + u * ca - v * sa - 0.5).clamp(0.0, fw - 1.001);
            let y = (c.cy + u * sa + v * ca - 0.5).clamp(0.0, fh - 1.001);
            let (x0, y0) = (x.floor() as usize, y.floor() as usize);
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
                px[k] = v.round().clamp(0.0, 255.0) as u8;
            }
            out.put_pixel(ox, oy, image::Rgb(px));
        }
    }
    out
}

