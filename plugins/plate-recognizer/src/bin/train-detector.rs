//! Trains the plate detector (`src/detect.rs`): Adam, fixed seeds, one
//! thread.
//!
//! ```sh
//! CARGO_TARGET_DIR=/tmp/plate-target cargo run --release -p plate-recognizer --bin train-detector -- \
//!     /work/shared/data/plates/easypr /work/shared/data/plates/glyphs \
//!     plugins/plate-recognizer/model/detector.bin      # STEPS=6000 by default
//! ```
//!
//! Each sample is a 256 × 192 window of a **tuning** EasyPR photo (never a
//! held-out one: `plate_recognizer::held_out`), cut at a random place and
//! scale (25 to 60 % of the photo's width: the scale of the detector's
//! 512-px input), its labelled plates (`labels.tsv`: every plate, with rotation) as
//! targets; most samples also get one or two synthetic plates of any
//! colour and layout (GA 36 glyphs, `src/synth.rs`) pasted in at a random
//! size, rotation and shear, with lighting, colour cast, blur and noise
//! over the whole window. `DUMP=DIR` writes samples with their target
//! boxes drawn instead of training. `MOTION=S` (0 by default, and then no
//! random number is drawn for it): the share of windows smeared as by a
//! moving car or a panning camera (`synth::random_smear`, in the window's
//! pixels). `GREY=S` (0 by default, and then no random number is drawn
//! for it either): the share of windows made grey (luma in three equal
//! channels), as monochrome and infrared cameras send them.

use image::{Rgb, RgbImage, imageops};
use plate_recognizer::detect::{self, Cache, Detector, OUT, STRIDE};
use plate_recognizer::synth::{self, Glyphs, Kind, Rng};
use std::path::Path;

/// Of the pasted plates, the share that are real crops (with `LPRNET`).
const REAL_SHARE: f32 = 0.5;
const W: usize = 256;
const H: usize = 192;
/// A window's width, as a share of the photo's: the detector looks at the
/// whole photo 512 px wide (`detect::IN_W`), so a 256-px window of 25 to
/// 60 % of the width shows plates at the sizes it meets there (photos
/// 427 to 1024 px wide) while a training step costs a quarter of a whole
/// 512-px photo's.
const WINDOW_MIN: f32 = 0.25;
const WINDOW_MAX: f32 = 0.6;
const GW: usize = W / STRIDE;
const GH: usize = H / STRIDE;

/// A plate box: centre, width, height (pixels), angle (radians, clockwise).
#[derive(Clone, Copy, Debug)]
struct PlateBox {
    cx: f32,
    cy: f32,
    w: f32,
    h: f32,
    angle: f32,
}

struct Photo {
    img: RgbImage,
    boxes: Vec<PlateBox>,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The tuning photos, at most 1024 px wide, with their labelled boxes.
fn load_photos(dir: &Path, held_out: bool) -> Vec<Photo> {
    let mut photos = Vec::new();
    for photo in plate_recognizer::labels::photos(dir, held_out).expect("labels.tsv") {
        let (_, boxes, img) = photo.expect("a readable, decodable photo");
        let s = (1024.0 / img.width() as f32).min(1.0);
        let img = if s < 1.0 {
            imageops::resize(
                &img,
                1024,
                (img.height() as f32 * s).round() as u32,
                imageops::FilterType::Triangle,
            )
        } else {
            img
        };
        let boxes = boxes
            .into_iter()
            .map(|b| PlateBox {
                cx: b.cx * s,
                cy: b.cy * s,
                w: b.w * s,
                h: b.h * s,
                angle: b.angle,
            })
            .collect();
        photos.push(Photo { img, boxes });
    }
    photos
}

/// A random 4:3 window of a photo as a W × H image, and its plates.
fn window(p: &Photo, rng: &mut Rng) -> (RgbImage, Vec<PlateBox>) {
    let (pw, ph) = (p.img.width() as f32, p.img.height() as f32);
    let mut ww = pw * rng.range(WINDOW_MIN, WINDOW_MAX);
    let mut wh = ww * 0.75;
    if wh > ph {
        wh = ph;
        ww = wh / 0.75;
    }
    ww = ww.min(pw);
    // Most windows hold a labelled plate.
    let (x0, y0) = if rng.chance(0.8) && !p.boxes.is_empty() {
        let b = p.boxes[rng.below(p.boxes.len())];
        (
            (b.cx - rng.range(0.15, 0.85) * ww).clamp(0.0, pw - ww),
            (b.cy - rng.range(0.15, 0.85) * wh).clamp(0.0, ph - wh),
        )
    } else {
        (rng.range(0.0, pw - ww), rng.range(0.0, ph - wh))
    };
    let crop = imageops::crop_imm(
        &p.img,
        x0 as u32,
        y0 as u32,
        (ww as u32).max(8),
        (wh as u32).max(6),
    )
    .to_image();
    let (sx, sy) = (
        W as f32 / crop.width() as f32,
        H as f32 / crop.height() as f32,
    );
    let img = plate_recognizer::resize_box(&crop, W as u32, H as u32);
    let boxes = p
        .boxes
        .iter()
        .map(|b| PlateBox {
            cx: (b.cx - x0.floor()) * sx,
            cy: (b.cy - y0.floor()) * sy,
            w: b.w * sx,
            h: b.h * sy,
            angle: b.angle,
        })
        .filter(|b| b.cx >= 0.0 && b.cy >= 0.0 && b.cx < W as f32 && b.cy < H as f32)
        .collect();
    (img, boxes)
}

/// Pastes a synthetic plate into `img` where it overlaps no plate of
/// `boxes`; returns its box.
fn paste_plate(
    img: &mut RgbImage,
    boxes: &[PlateBox],
    g: &Glyphs,
    real: &[RgbImage],
    rng: &mut Rng,
) -> Option<PlateBox> {
    let plate = if !real.is_empty() && rng.chance(REAL_SHARE) {
        real[rng.below(real.len())].clone()
    } else {
        let kind = Kind::ALL[rng.below(Kind::ALL.len())];
        let text = synth::random_text(kind, rng);
        synth::render_plate(g, kind, &text, 0.0, rng)
    };
    let w = rng.range(18.0, 120.0);
    let h = w * plate.height() as f32 / plate.width() as f32 * rng.range(0.85, 1.15);
    let angle = rng.range(-0.2, 0.2);
    let shear = rng.range(-0.2, 0.2);
    let cx = rng.range(w / 2.0, W as f32 - w / 2.0);
    let cy = rng.range(h, H as f32 - h);
    if boxes.iter().any(|b| {
        (b.cx - cx).abs() < (b.w + w) / 2.0 + 4.0 && (b.cy - cy).abs() < (b.h + h) / 2.0 + 4.0
    }) {
        return None;
    }
    let small = imageops::resize(
        &plate,
        (w.round() as u32).max(4),
        (h.round() as u32).max(2),
        imageops::FilterType::Triangle,
    );
    let (sw, sh) = (small.width() as f32, small.height() as f32);
    let (ca, sa) = (angle.cos(), angle.sin());
    let gain = rng.range(0.55, 1.1);
    let r = (w + h) * 0.75;
    let (xa, xb) = (
        (cx - r).max(0.0) as u32,
        ((cx + r) as u32).min(W as u32 - 1),
    );
    let (ya, yb) = (
        (cy - r).max(0.0) as u32,
        ((cy + r) as u32).min(H as u32 - 1),
    );
    for y in ya..=yb {
        for x in xa..=xb {
            // photo → plate: undo the rotation, then the shear.
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let u = dx * ca + dy * sa;
            let v = -dx * sa + dy * ca;
            let u = u - shear * v;
            let (px, py) = (u + sw / 2.0, v + sh / 2.0);
            if px < 0.0 || py < 0.0 || px >= sw - 1.0 || py >= sh - 1.0 {
                continue;
            }
            let c = synth::bilinear(&small, px, py);
            img.put_pixel(x, y, Rgb(c.map(|v| (v * gain).clamp(0.0, 255.0) as u8)));
        }
    }
    Some(PlateBox {
        cx,
        cy,
        w,
        h,
        angle: angle + shear * 0.5,
    })
}

/// Lighting, colour cast, blur and noise over the whole window.
fn photometric(img: &mut RgbImage, rng: &mut Rng) {
    let contrast = rng.range(0.6, 1.25);
    let bright = rng.range(-45.0, 40.0);
    let cast = [
        rng.range(0.85, 1.15),
        rng.range(0.85, 1.15),
        rng.range(0.85, 1.15),
    ];
    let noise = rng.range(0.0, 8.0);
    for p in img.pixels_mut() {
        for (c, k) in p.0.iter_mut().zip(cast) {
            let v = (*c as f32 - 128.0) * contrast + 128.0 + bright;
            *c = (v * k + noise * rng.gauss()).clamp(0.0, 255.0) as u8;
        }
    }
    if rng.chance(0.3) {
        *img = imageops::blur(img, rng.range(0.3, 1.0));
    }
}

fn sample(
    photos: &[Photo],
    g: &Glyphs,
    real: &[RgbImage],
    motion: f32,
    grey: f32,
    rng: &mut Rng,
) -> (RgbImage, Vec<PlateBox>) {
    let (mut img, mut boxes) = window(&photos[rng.below(photos.len())], rng);
    let pasted = if rng.chance(0.7) { 1 + rng.below(2) } else { 0 };
    for _ in 0..pasted {
        if let Some(b) = paste_plate(&mut img, &boxes, g, real, rng) {
            boxes.push(b);
        }
    }
    photometric(&mut img, rng);
    if motion > 0.0 && rng.chance(motion) {
        let (len, vertical) = synth::random_smear(rng);
        img = synth::motion_blur(&img, len, vertical);
    }
    if grey > 0.0 && rng.chance(grey) {
        img = synth::grey(img);
    }
    (img, boxes)
}

/// The loss of one output against its boxes, and d(loss)/d(output).
fn loss(out: &[f32], boxes: &[PlateBox]) -> (f32, Vec<f32>) {
    let n = GH * GW;
    let mut grad = vec![0f32; OUT * n];
    // Centre heat: a Gaussian per plate, 1 at its centre cell.
    let mut heat = vec![0f32; n];
    // Per cell: the plate it regresses (the nearest centre within a cell).
    let mut owner: Vec<Option<(f32, usize)>> = vec![None; n];
    for (i, b) in boxes.iter().enumerate() {
        let (gx, gy) = (b.cx / STRIDE as f32, b.cy / STRIDE as f32);
        let sx = (b.w / STRIDE as f32 / 5.0).clamp(0.6, 2.5);
        let sy = (b.h / STRIDE as f32 / 2.0).clamp(0.5, 1.2);
        let (cgx, cgy) = (gx.floor() as usize, gy.floor() as usize);
        for y in 0..GH {
            for x in 0..GW {
                let dx = x as f32 + 0.5 - gx;
                let dy = y as f32 + 0.5 - gy;
                let mut t = (-(dx * dx) / (2.0 * sx * sx) - (dy * dy) / (2.0 * sy * sy)).exp();
                if (x, y) == (cgx.min(GW - 1), cgy.min(GH - 1)) {
                    t = 1.0;
                }
                let c = y * GW + x;
                heat[c] = heat[c].max(t);
                if dx.abs() <= 1.5 && dy.abs() <= 1.0 {
                    let d = dx * dx + dy * dy;
                    if owner[c].is_none_or(|(od, _)| d < od) {
                        owner[c] = Some((d, i));
                    }
                }
            }
        }
    }
    let norm = boxes.len().max(1) as f32;
    let mut total = 0f32;
    for c in 0..n {
        let p = detect::sigmoid(out[c]).clamp(1e-6, 1.0 - 1e-6);
        let t = heat[c];
        let (l, g) = if t >= 1.0 {
            (
                -(1.0 - p).powi(2) * p.ln(),
                2.0 * p * (1.0 - p).powi(2) * p.ln() - (1.0 - p).powi(3),
            )
        } else {
            let wneg = (1.0 - t).powi(4);
            (
                -wneg * p * p * (1.0 - p).ln(),
                -wneg * (2.0 * p * p * (1.0 - p) * (1.0 - p).ln() - p.powi(3)),
            )
        };
        total += l / norm;
        grad[c] = g / norm;
    }
    let regressed = owner.iter().filter(|o| o.is_some()).count().max(1) as f32;
    for (c, o) in owner.iter().enumerate() {
        let Some((_, i)) = *o else { continue };
        let b = boxes[i];
        let (x, y) = ((c % GW) as f32, (c / GW) as f32);
        let want = [
            b.cx / STRIDE as f32 - (x + 0.5),
            b.cy / STRIDE as f32 - (y + 0.5),
            (b.w / 32.0).ln(),
            (b.h / 8.0).ln(),
            b.angle,
        ];
        let weight = [1.0, 1.0, 1.0, 1.0, 2.0];
        for k in 0..5 {
            let e = out[(k + 1) * n + c] - want[k];
            // Huber (δ = 1)
            let (l, g) = if e.abs() <= 1.0 {
                (0.5 * e * e, e)
            } else {
                (e.abs() - 0.5, e.signum())
            };
            total += weight[k] * l / regressed;
            grad[(k + 1) * n + c] = weight[k] * g / regressed;
        }
    }
    (total, grad)
}

/// Of the labelled plates of `photos`, the share the detector finds: a box
/// whose centre is within half the plate's height... of its width from
/// the plate's centre and whose width is within 35 %.
fn recall(det: &Detector, photos: &[Photo]) -> (usize, usize) {
    let (mut found, mut all) = (0, 0);
    let mut ratios = Vec::new();
    for p in photos {
        let detect::Input { x, h, w, sx, sy } = detect::prepare(&p.img);
        let out = det.forward(&x, h, w, &mut Cache::default());
        let boxes = Detector::boxes(&out, h / STRIDE, w / STRIDE);
        for b in &p.boxes {
            all += 1;
            if boxes.iter().any(|f| {
                let (cx, cy, fw) = (f.cx / sx, f.cy / sy, f.w / sx);
                (cx - b.cx).abs() < b.w * 0.25
                    && (cy - b.cy).abs() < b.h * 0.5
                    && (fw / b.w - 1.0).abs() < 0.35
            }) {
                found += 1;
            }
            if let Some(f) = boxes
                .iter()
                .find(|f| (f.cx / sx - b.cx).abs() < b.w * 0.5 && (f.cy / sy - b.cy).abs() < b.h)
            {
                ratios.push([
                    f.w / sx / b.w,
                    f.h / sy / b.h,
                    (f.cx / sx - b.cx) / b.w,
                    (f.cy / sy - b.cy) / b.h,
                    f.angle - b.angle,
                ]);
            }
        }
    }
    for (k, name) in ["w ratio", "h ratio", "dx / w", "dy / h", "angle error"]
        .iter()
        .enumerate()
    {
        let mut v: Vec<f32> = ratios.iter().map(|r| r[k]).collect();
        v.sort_by(f32::total_cmp);
        if !v.is_empty() {
            eprintln!(
                "  {name}: p10 {:.3} p50 {:.3} p90 {:.3}",
                v[v.len() / 10],
                v[v.len() / 2],
                v[v.len() * 9 / 10]
            );
        }
    }
    (found, all)
}

fn draw(img: &mut RgbImage, b: &PlateBox) {
    let (ca, sa) = (b.angle.cos(), b.angle.sin());
    for i in 0..200 {
        let t = i as f32 / 200.0 - 0.5;
        for (u, v) in [
            (t * b.w, -b.h / 2.0),
            (t * b.w, b.h / 2.0),
            (-b.w / 2.0, t * b.h),
            (b.w / 2.0, t * b.h),
        ] {
            let (x, y) = (b.cx + u * ca - v * sa, b.cy + u * sa + v * ca);
            if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
                img.put_pixel(x as u32, y as u32, Rgb([255, 0, 255]));
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: train-detector EASYPR_DIR GLYPHS_DIR OUT.bin");
        std::process::exit(2);
    }
    let photos = load_photos(Path::new(&args[1]), false);
    let glyphs = Glyphs::load(Path::new(&args[2])).expect("glyphs");
    eprintln!(
        "{} tuning photos, {} plates",
        photos.len(),
        photos.iter().map(|p| p.boxes.len()).sum::<usize>()
    );
    // Real plate crops to paste besides synthetic ones (LPRNet's, tight
    // crops of blue plates), when `LPRNET=DIR` is given.
    let real: Vec<RgbImage> = match std::env::var("LPRNET") {
        Ok(dir) => {
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .expect("LPRNET dir")
                .map(|e| e.expect("dir entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "png"))
                .collect();
            files.sort();
            files
                .iter()
                .map(|p| image::open(p).expect("a plate crop").to_rgb8())
                .collect()
        }
        Err(_) => Vec::new(),
    };
    let mut rng = Rng::new(env("SEED", 7));
    let motion: f32 = env("MOTION", 0.0);
    let grey: f32 = env("GREY", 0.0);
    if let Ok(dir) = std::env::var("DUMP") {
        for i in 0..24 {
            let (mut img, boxes) = sample(&photos, &glyphs, &real, motion, grey, &mut rng);
            for b in &boxes {
                draw(&mut img, b);
            }
            img.save(Path::new(&dir).join(format!("sample-{i}.png")))
                .expect("write sample");
        }
        return;
    }
    if let Ok(model) = std::env::var("EVAL") {
        let det = Detector::from_bytes(&std::fs::read(model).expect("model")).expect("a detector");
        let (f, a) = recall(&det, &photos);
        eprintln!("tuning photos: {f} of {a} labelled plates found");
        return;
    }
    let steps: usize = env("STEPS", 6000);
    let batch: usize = env("BATCH", 8);
    let base_lr: f32 = env("LR", 0.002);
    let mut det = Detector {
        p: plate_recognizer::cnn::he_init(detect::shapes(0), &mut rng),
    };
    // The centre logits start at a prior of 1 %.
    let last = det.p.len() - 1;
    det.p[last][0] = -4.6;
    let mut m1: Vec<Vec<f32>> = det.p.iter().map(|t| vec![0.0; t.len()]).collect();
    let mut m2 = m1.clone();
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let started = std::time::Instant::now();
    let mut run_loss = 0f32;
    for step in 0..steps {
        let mut grads: Vec<Vec<f32>> = det.p.iter().map(|t| vec![0.0; t.len()]).collect();
        let mut cache = Cache::default();
        for _ in 0..batch {
            let (img, boxes) = sample(&photos, &glyphs, &real, motion, grey, &mut rng);
            let x = detect::planes(&img);
            let out = det.forward(&x, H, W, &mut cache);
            let (l, mut g) = loss(&out, &boxes);
            g.iter_mut().for_each(|v| *v /= batch as f32);
            run_loss += l / batch as f32;
            det.backward(&cache, &g, &mut grads);
        }
        let norm = grads.iter().flatten().map(|g| g * g).sum::<f32>().sqrt();
        let clip = (5.0 / norm).min(1.0);
        let prog = step as f32 / steps as f32;
        let warm = ((step + 1) as f32 / 100.0).min(1.0);
        let lr = base_lr * warm * (0.03 + 0.97 * 0.5 * (1.0 + (std::f32::consts::PI * prog).cos()));
        let t = (step + 1) as i32;
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for k in 0..det.p.len() {
            for j in 0..det.p[k].len() {
                let g = grads[k][j] * clip;
                m1[k][j] = b1 * m1[k][j] + (1.0 - b1) * g;
                m2[k][j] = b2 * m2[k][j] + (1.0 - b2) * g * g;
                det.p[k][j] -= lr * (m1[k][j] / c1) / ((m2[k][j] / c2).sqrt() + eps);
            }
        }
        if (step + 1) % 100 == 0 {
            eprintln!(
                "step {:5} loss {:.4} lr {:.5} |g| {:.2} {:.0}s",
                step + 1,
                run_loss / 100.0,
                lr,
                norm,
                started.elapsed().as_secs_f64()
            );
            run_loss = 0.0;
        }
        if (step + 1) % 500 == 0 || step + 1 == steps {
            std::fs::write(&args[3], det.to_bytes()).expect("write the model");
        }
    }
    let (f, a) = recall(&det, &photos);
    eprintln!("tuning photos: {f} of {a} labelled plates found");
    let held = load_photos(Path::new(&args[1]), true);
    let (f, a) = recall(&det, &held);
    eprintln!("held-out photos: {f} of {a} labelled plates found");
}
