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

pub mod mlp;

use image::{RgbImage, imageops};
use std::sync::OnceLock;

/// Digits and letters used on plates (no I, O).
pub const ALNUM: &str = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Province characters known to the province classifier.
pub const PROVINCES: &str = "川甘黑津辽闽琼晋新粤浙鄂贵沪京鲁宁陕皖豫云赣桂冀吉蒙青苏湘渝藏";

/// Photos wider than this are downscaled before locating plates.
pub const WORK_WIDTH: u32 = 1024;
/// Height of the rectified plate crop.
const CROP_H: u32 = 60;

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
    /// Plates whose characters are brighter than the background.
    fn light_chars(&self) -> bool {
        matches!(self, Color::Blue | Color::Black)
    }
}

#[derive(Clone, Debug)]
pub struct Recognition {
    pub plate: String,
    pub color: Color,
    pub confidence: f32,
}

static MODEL: OnceLock<Result<Vec<mlp::Mlp>, String>> = OnceLock::new();
const MODEL_BYTES: &[u8] = include_bytes!("../model/chars.bin");

/// The character classifiers (alphanumeric, province), loaded once.
pub fn models() -> Result<&'static [mlp::Mlp], String> {
    match MODEL.get_or_init(|| {
        let m = mlp::load_models(MODEL_BYTES)?;
        if m.len() < 2 {
            return Err("model has fewer than 2 nets".into());
        }
        Ok(m)
    }) {
        Ok(m) => Ok(m.as_slice()),
        Err(e) => Err(e.clone()),
    }
}

/// Recognise the main plate in an encoded image (JPEG or PNG).
/// `Err` = cannot decode (or no model); `Ok(None)` = no plate found.
pub fn recognize(image_bytes: &[u8]) -> Result<Option<Recognition>, String> {
    let rgb = decode(image_bytes)?;
    let models = models()?;
    let r = std::panic::catch_unwind(|| recognize_rgb(&rgb, models));
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
pub fn recognize_rgb(full: &RgbImage, models: &[mlp::Mlp]) -> Option<Recognition> {
    let (fw, fh) = full.dimensions();
    let scale = if fw > WORK_WIDTH {
        WORK_WIDTH as f32 / fw as f32
    } else {
        1.0
    };
    let small_owned;
    let small = if scale < 1.0 {
        let nh = ((fh as f32 * scale).round() as u32).max(1);
        small_owned = imageops::thumbnail(full, WORK_WIDTH, nh);
        &small_owned
    } else {
        full
    };
    let mut cands = Vec::new();
    for color in [Color::Blue, Color::Yellow, Color::Green] {
        color_candidates(small, color, &mut cands);
    }
    edge_candidates(small, &mut cands);
    // back to full-resolution coordinates
    for c in cands.iter_mut() {
        c.cx /= scale;
        c.cy /= scale;
        c.w /= scale;
        c.h /= scale;
    }
    if cands.len() > 40 {
        cands.truncate(40);
    }
    // drop near-duplicate candidates
    let mut uniq: Vec<Cand> = Vec::new();
    for c in cands {
        let dup = uniq.iter().any(|u| {
            (u.cx - c.cx).abs() < 0.2 * u.w
                && (u.cy - c.cy).abs() < 0.3 * u.h
                && (c.w / u.w.max(1.0)) > 0.85
                && (c.w / u.w.max(1.0)) < 1.18
                && (u.color == c.color || c.color.is_none())
        });
        if !dup {
            uniq.push(c);
        }
    }
    let cands = uniq;
    // (recognition, plate width in full-resolution pixels)
    let mut reads: Vec<(Recognition, f32)> = Vec::new();
    let debug = std::env::var("PLATE_DEBUG").ok();
    for (ci, c) in cands.iter().enumerate() {
        // margins (width, height factors) and a left shift (fraction of the
        // width). A third, left-shifted variant (1.3, 1.25, 0.12) recovers
        // province glyphs the colour mask missed but, with confidence-only
        // selection, cost as many plates as it gained on EasyPR: disabled.
        for (exp_w, exp_h, shift) in [(1.06f32, 1.15f32, 0.0f32), (1.22, 1.25, 0.0)] {
            let mut c = c.clone();
            c.cx -= shift * c.w * c.angle.cos();
            c.cy -= shift * c.w * c.angle.sin();
            let c = &c;
            let crop = rectify(full, c, exp_w, exp_h);
            // colour-less (edge) candidates: try both polarities
            let tries: Vec<(Color, Color)> = match c.color {
                Some(col) => vec![(col, col)],
                None => {
                    let dom = dominant_color(&crop);
                    let light = match dom {
                        Some(d @ (Color::Blue | Color::Black)) => d,
                        _ => Color::Blue,
                    };
                    let dark = match dom {
                        Some(d @ (Color::Yellow | Color::Green | Color::White)) => d,
                        _ => Color::Yellow,
                    };
                    vec![(Color::Blue, light), (Color::Yellow, dark)]
                }
            };
            for (polarity, color) in tries {
                let res = read_crop(&crop, polarity, models);
                if let Some(d) = &debug {
                    let _ = crop.save(format!(
                        "{d}/cand{ci:02}_{exp_w}_{shift}_{}_{}.png",
                        color.as_str(),
                        res.as_ref()
                            .map(|r| format!("{}_{:.2}", r.0, r.1))
                            .unwrap_or("none".into())
                    ));
                }
                if let Some((plate, conf)) = res {
                    reads.push((
                        Recognition {
                            plate,
                            color,
                            confidence: conf,
                        },
                        c.w,
                    ));
                }
            }
        }
    }
    choose(reads)
}

/// Pick the main plate: among confident reads prefer the larger plate (the
/// main plate is usually the closest car), otherwise the most confident one.
fn choose(reads: Vec<(Recognition, f32)>) -> Option<Recognition> {
    let max_conf = reads.iter().map(|r| r.0.confidence).fold(0f32, f32::max);
    if max_conf <= 0.3 {
        return None;
    }
    let floor = (max_conf - 0.25).max(0.55).min(max_conf);
    let max_w = reads
        .iter()
        .filter(|r| r.0.confidence >= floor)
        .map(|r| r.1)
        .fold(1f32, f32::max);
    reads
        .into_iter()
        .filter(|r| r.0.confidence >= floor)
        .map(|(r, w)| {
            let score = r.confidence + 0.35 * (w / max_w);
            (r, score)
        })
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
        .map(|x| x.0)
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
    fn box_op(&self, rx: usize, ry: usize, dilate: bool) -> Mask {
        let (w, h) = (self.w, self.h);
        // integral image
        let mut ii = vec![0u32; (w + 1) * (h + 1)];
        for y in 0..h {
            let mut row = 0u32;
            for x in 0..w {
                row += self.d[y * w + x] as u32;
                ii[(y + 1) * (w + 1) + x + 1] = ii[y * (w + 1) + x + 1] + row;
            }
        }
        let mut out = vec![0u8; w * h];
        for y in 0..h {
            let y0 = y.saturating_sub(ry);
            let y1 = (y + ry + 1).min(h);
            for x in 0..w {
                let x0 = x.saturating_sub(rx);
                let x1 = (x + rx + 1).min(w);
                let s = ii[y1 * (w + 1) + x1] + ii[y0 * (w + 1) + x0]
                    - ii[y0 * (w + 1) + x1]
                    - ii[y1 * (w + 1) + x0];
                let area = ((y1 - y0) * (x1 - x0)) as u32;
                out[y * w + x] = if dilate {
                    (s > 0) as u8
                } else {
                    (s == area) as u8
                };
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
    c.w >= 36.0
        && c.h >= 10.0
        && c.w <= img_w as f32 * 0.9
        && (1.8..=7.0).contains(&aspect)
        && fill > 0.4
        && c.angle.abs() < 0.8
}

fn color_candidates(img: &RgbImage, color: Color, out: &mut Vec<Cand>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut m = Mask {
        w,
        h,
        d: vec![0; w * h],
    };
    for (i, p) in img.pixels().enumerate() {
        m.d[i] = is_color(color, p[0], p[1], p[2]) as u8;
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

fn rectify(full: &RgbImage, c: &Cand, exp_w: f32, exp_h: f32) -> RgbImage {
    let rw = c.w * exp_w;
    let rh = c.h * exp_h;
    let oh = CROP_H;
    let ow = ((oh as f32 * rw / rh.max(1.0)).round() as u32).clamp(60, 480);
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

// ---------------------------------------------------------------- segmentation

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

/// Binary character patches (w, h, pixels 0/255) of a rectified crop, in
/// slot order (7 slots). Public for the training binary.
pub fn segment_crop_for_training(
    crop: &RgbImage,
    color: Color,
) -> Option<Vec<(usize, usize, Vec<u8>)>> {
    let crop = if crop.height() != CROP_H {
        let nw = ((crop.width() as f32 * CROP_H as f32 / crop.height().max(1) as f32).round()
            as u32)
            .max(1);
        imageops::resize(crop, nw, CROP_H, imageops::FilterType::Triangle)
    } else {
        crop.clone()
    };
    segment(&crop, color).map(|x| x.0)
}

/// Character patches and the grid-fit score (0..=6).
fn segment(crop: &RgbImage, color: Color) -> Option<(Vec<(usize, usize, Vec<u8>)>, f32)> {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    if w < 20 || h < 10 {
        return None;
    }
    let light = color.light_chars();
    let g: Vec<u8> = crop
        .pixels()
        .map(|p| {
            if light {
                p[0].min(p[1]).min(p[2])
            } else {
                255 - p[0].max(p[1]).max(p[2])
            }
        })
        .collect();
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

/// Read a rectified crop: plate string and confidence (mean char probability).
fn read_crop(crop: &RgbImage, color: Color, models: &[mlp::Mlp]) -> Option<(String, f32)> {
    let (chars, fit) = segment(crop, color)?;
    let (alnum, prov) = (&models[0], &models[1]);
    let mut plate = String::new();
    let mut conf_sum = 0f32;
    let mut conf_min = 1f32;
    let debug = std::env::var("PLATE_DEBUG").ok();
    for (k, (w, h, px)) in chars.iter().enumerate() {
        let x = mlp::char_features(px, *w, *h);
        if let Some(d) = &debug {
            if let Some(im) = image::GrayImage::from_raw(*w as u32, *h as u32, px.clone()) {
                let _ = im.save(format!("{d}/char_{}_{k}.png", crop.width()));
            }
        }
        let (ch, p) = if k == 0 {
            prov.classify(&x)
        } else {
            let probs = alnum.predict(&x);
            let mut bi = 0;
            let mut bp = -1f32;
            for (i, &pv) in probs.iter().enumerate() {
                let c = alnum.classes[i];
                if k == 1 && c.is_ascii_digit() {
                    continue;
                }
                if pv > bp {
                    bp = pv;
                    bi = i;
                }
            }
            (alnum.classes[bi], bp)
        };
        plate.push(ch);
        conf_sum += p;
        conf_min = conf_min.min(p);
    }
    let conf = 0.8 * conf_sum / chars.len() as f32 + 0.2 * conf_min;
    let _ = fit;
    Some((plate, conf))
}
