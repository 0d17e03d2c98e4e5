//! Trains the glyph classifiers of the province and letter-and-digit
//! checks (`src/pcnn.rs`): small CNNs on EasyPR-style binarised glyphs
//! (the character's tight box centred in a square, 20 × 20,
//! `mlp::char_features`). By default the province CNN
//! (`model/province-cnn.bin`); with `SET=alnum` the letter-and-digit CNN
//! (`model/alnum-cnn.bin`). With `MLP=1` it trains the earlier
//! one-hidden-layer province MLP instead (format in `src/mlp.rs`; 94.7 % on
//! the held-out tenth against the CNN's 98.6 %).
//!
//! ```text
//! mkdir -p /tmp/platechars && tar xzf /work/shared/data/plates/chars/easypr-chars.tar.gz -C /tmp/platechars
//! cargo run --release -p plate-recognizer --bin train-province -- /tmp/platechars \
//!     plugins/plate-recognizer/model/province-cnn.bin /work/shared/data/plates/glyphs
//! SET=alnum cargo run --release -p plate-recognizer --bin train-province -- /tmp/platechars \
//!     plugins/plate-recognizer/model/alnum-cnn.bin /work/shared/data/plates/glyphs
//! ```
//! Input, provinces: `charsChinese/zh_*/*.jpg` (binarised 20 × 20),
//! `annCh_gray/zh_*/*.jpg` (greyscale crops, binarised here with Otsu's
//! threshold) and `province_mapping.txt`; letters and digits:
//! `chars2/<class>/*.jpg` (binarised 20 × 20); all of the EasyPR character
//! set (Apache-2.0), with augmentation (rotation, shear, scale, low
//! resolution, threshold, stroke width, salt noise); and, in place of a
//! share `SYNTH` (default 0.3) of those samples, the same character's GA 36
//! glyph of the glyph set (`GLYPHS_DIR/font_model/140_*.jpg` and
//! `green_*.jpg`, MIT) drawn small in grey and binarised as the
//! recogniser's province window does (`synth_glyph`). Deterministic: fixed
//! seeds (`SEED`, default 0, moves them all); `EPOCHS` (default 30, 12 with
//! `SET=alnum`: 13,175 crops against 4,169). `BALANCE=sqrt|full` weighs the
//! loss of each class by (mean count / its count)^½ or ^1 (tried on
//! provinces: both read fewer photos, see the crate's README). `DUMP=DIR`
//! writes 48 drawn glyphs to `DIR` instead of training. `MOTION` (default
//! 0): the share of drawn glyphs smeared as by a moving car first.
//! `SET=double` (with `SYNTH=0.6`): the double-row province CNN
//! (`model/province-double-cnn.bin`), whose drawn glyphs are the top row's
//! (`220_*.jpg`) drawn 4.5 to 16 px high and sampled up as the
//! recogniser's top-row window does (`synth_up_glyph`).

use plate_recognizer::mlp::{self, Layer, Mlp, N_IN, SIDE};
use plate_recognizer::synth::{self, Rng};
use std::collections::BTreeMap;
use std::path::Path;

/// A binary glyph patch, foreground 255.
#[derive(Clone)]
struct Patch {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

/// An image file's grey levels: width, height, pixels.
fn luma(p: &Path) -> Option<(usize, usize, Vec<u8>)> {
    let img = image::open(p).ok()?.to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    Some((w, h, img.into_raw()))
}

fn load_patch(p: &Path) -> Option<Patch> {
    let (w, h, raw) = luma(p)?;
    let px = raw
        .into_iter()
        .map(|v| if v > 127 { 255 } else { 0 })
        .collect();
    Some(Patch { w, h, px })
}

/// A greyscale character crop (EasyPR `annCh_gray`), binarised with Otsu's
/// threshold; the ink is the class that covers less of the border.
fn load_grey_patch(p: &Path) -> Option<Patch> {
    let (w, h, raw) = luma(p)?;
    if w < 4 || h < 4 {
        return None;
    }
    let mut hist = [0u32; 256];
    for &v in &raw {
        hist[v as usize] += 1;
    }
    let t = plate_recognizer::otsu(&hist);
    let mut px: Vec<u8> = raw.iter().map(|&v| if v > t { 255 } else { 0 }).collect();
    let border = (0..w * h)
        .filter(|&i| i % w == 0 || i % w == w - 1 || i / w == 0 || i / w == h - 1)
        .filter(|&i| px[i] == 255)
        .count();
    if border * 2 > 2 * (w + h) {
        px.iter_mut().for_each(|v| *v = 255 - *v);
    }
    Some(Patch { w, h, px })
}

/// Random affine distortion + morphology; returns a new binary patch.
fn augment(p: &Patch, rng: &mut Rng) -> Patch {
    let pad = 6usize;
    let (w, h) = (p.w + 2 * pad, p.h + 2 * pad);
    let ang = rng.range(-0.12, 0.12);
    let shear = rng.range(-0.2, 0.2);
    let sx = rng.range(0.85, 1.15);
    let sy = rng.range(0.9, 1.1);
    let (c, s) = (ang.cos(), ang.sin());
    let cx = w as f32 / 2.0;
    let cy = h as f32 / 2.0;
    let thr = rng.range(0.35, 0.65);
    let mut grey = vec![0f32; w * h];
    let get = |x: isize, y: isize| -> f32 {
        let x = x - pad as isize;
        let y = y - pad as isize;
        if x < 0 || y < 0 || x >= p.w as isize || y >= p.h as isize {
            0.0
        } else {
            p.px[y as usize * p.w + x as usize] as f32 / 255.0
        }
    };
    for y in 0..h {
        for x in 0..w {
            let dx = x as f32 - cx;
            let dy = y as f32 - cy;
            // inverse map
            let ux = (c * dx + s * dy) / sx - shear * dy;
            let uy = (-s * dx + c * dy) / sy;
            let fx = ux + cx;
            let fy = uy + cy;
            let x0 = fx.floor();
            let y0 = fy.floor();
            let ax = fx - x0;
            let ay = fy - y0;
            let (xi, yi) = (x0 as isize, y0 as isize);
            let v = get(xi, yi) * (1.0 - ax) * (1.0 - ay)
                + get(xi + 1, yi) * ax * (1.0 - ay)
                + get(xi, yi + 1) * (1.0 - ax) * ay
                + get(xi + 1, yi + 1) * ax * ay;
            grey[y * w + x] = v;
        }
    }
    // half the time: seen at a low resolution (a glyph 6 to 12 px wide in
    // the photo), i.e. averaged over blocks and interpolated back
    if rng.f() < 0.5 {
        let f = rng.range(1.8, 3.5);
        let (lw, lh) = (
            ((w as f32 / f) as usize).max(2),
            ((h as f32 / f) as usize).max(2),
        );
        let mut low = vec![0f32; lw * lh];
        for (i, v) in low.iter_mut().enumerate() {
            let (lx, ly) = (i % lw, i / lw);
            let (x0, x1) = (lx * w / lw, ((lx + 1) * w / lw).max(lx * w / lw + 1));
            let (y0, y1) = (ly * h / lh, ((ly + 1) * h / lh).max(ly * h / lh + 1));
            let mut acc = 0f32;
            for y in y0..y1 {
                for x in x0..x1 {
                    acc += grey[y * w + x];
                }
            }
            *v = acc / ((x1 - x0) * (y1 - y0)) as f32;
        }
        for y in 0..h {
            let sy = ((y as f32 + 0.5) * lh as f32 / h as f32 - 0.5).clamp(0.0, (lh - 1) as f32);
            let (y0, ay) = (sy as usize, sy.fract());
            let y1 = (y0 + 1).min(lh - 1);
            for x in 0..w {
                let sx =
                    ((x as f32 + 0.5) * lw as f32 / w as f32 - 0.5).clamp(0.0, (lw - 1) as f32);
                let (x0, ax) = (sx as usize, sx.fract());
                let x1 = (x0 + 1).min(lw - 1);
                grey[y * w + x] = low[y0 * lw + x0] * (1.0 - ax) * (1.0 - ay)
                    + low[y0 * lw + x1] * ax * (1.0 - ay)
                    + low[y1 * lw + x0] * (1.0 - ax) * ay
                    + low[y1 * lw + x1] * ax * ay;
            }
        }
    }
    let mut out: Vec<u8> = grey
        .iter()
        .map(|&v| if v > thr { 255 } else { 0 })
        .collect();
    // stroke width: dilate or erode (4-neighbourhood)
    let r = rng.f();
    if r < 0.4 {
        let dil = r < 0.2;
        let src = out.clone();
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = y * w + x;
                let n = [src[i - 1], src[i + 1], src[i - w], src[i + w]];
                if dil && n.iter().any(|&v| v > 0) {
                    out[i] = 255;
                } else if !dil && n.contains(&0) {
                    out[i] = 0;
                }
            }
        }
    }
    // salt noise
    let n_noise = rng.below(3);
    for _ in 0..n_noise {
        let i = rng.below(w * h);
        out[i] = 255 - out[i];
    }
    Patch { w, h, px: out }
}

/// A GA 36 province glyph (grey, ink 1.0), from `font_model/140_*.jpg` or
/// `green_*.jpg` of the glyph set.
struct Glyph {
    w: usize,
    h: usize,
    ink: Vec<f32>,
}

fn load_glyph(p: &Path) -> Option<Glyph> {
    let (w, h, raw) = luma(p)?;
    let ink = raw.iter().map(|&v| 1.0 - v as f32 / 255.0).collect();
    Some(Glyph { w, h, ink })
}

/// The glyph as a photo of a small plate shows it and the recogniser's
/// province window binarises it: drawn 7 to 30 px high (area-averaged,
/// slightly rotated and sheared), sometimes blurred, on a background with
/// low contrast, a lighting gradient and noise, at times with a bright bar
/// of the plate's frame at its left or top, then binarised at Otsu's
/// threshold moved by up to ±12 levels (as `window_patch` does). With
/// probability `motion` the drawn glyph is first smeared as a moving car
/// smears it (`synth::motion_blur` by a `synth::random_smear`, at most 0.4
/// of the glyph's height); with `motion` 0 no random number is drawn for
/// it.
fn synth_glyph(g: &Glyph, motion: f32, rng: &mut Rng) -> Patch {
    let th = rng.range(7.0, 30.0);
    let scale = th / g.h as f32;
    let tw = g.w as f32 * scale * rng.range(0.85, 1.15);
    let pad = 3usize;
    let (w, h, mut grey) = draw(g, th, tw, pad, rng);
    if motion > 0.0 && rng.f() < motion {
        let (len, vertical) = synth::random_smear(rng);
        let img = image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
            image::Luma([(grey[y as usize * w + x as usize] * 255.0).round() as u8])
        });
        let smeared = synth::motion_blur(&img, len.min(0.4 * th), vertical);
        for (v, &p) in grey.iter_mut().zip(smeared.as_raw()) {
            *v = p as f32 / 255.0;
        }
    }
    if rng.f() < 0.5 {
        soften(&mut grey, w, h);
    }
    if rng.f() < 0.25 {
        let x0 = rng.below(pad + 1);
        for y in 0..h {
            for x in x0..(x0 + 1 + rng.below(2)).min(w) {
                grey[y * w + x] = grey[y * w + x].max(rng.range(0.6, 1.0));
            }
        }
    }
    if rng.f() < 0.15 {
        let y0 = rng.below(pad + 1);
        for x in 0..w {
            grey[y0 * w + x] = grey[y0 * w + x].max(rng.range(0.6, 1.0));
        }
    }
    let lv = light(&grey, w, h, rng);
    Patch {
        w,
        h,
        px: binarise(&lv, rng),
    }
}

/// A double-row plate's top-row glyph (`220_*`, 80 × 60 mm) as a small
/// plate shows it and `province::up_patch` cuts it out: drawn 4.5 to 16 px
/// high in the photo (area-averaged, slightly rotated and sheared; 6 px on
/// a plate 44 px wide), sometimes blurred, with low contrast, a lighting
/// gradient and noise, then sampled up (bilinear) as that window samples
/// the photo, to 30 to 50 px high and half as wide (`UP_SQUEEZE`: a
/// single-row glyph's proportions), and binarised at Otsu's threshold
/// moved by up to ±12 levels.
fn synth_up_glyph(g: &Glyph, rng: &mut Rng) -> Patch {
    let th = rng.range(4.5, 16.0);
    let tw = g.w as f32 * th / g.h as f32 * rng.range(0.9, 1.1);
    let pad = 2usize;
    let (w, h, mut grey) = draw(g, th, tw, pad, rng);
    if rng.f() < 0.5 {
        soften(&mut grey, w, h);
    }
    let lv = light(&grey, w, h, rng);
    // up to the window's sampling: the glyph oh high, oh / 2 wide
    let oh = rng.range(30.0, 50.0);
    let (fx, fy) = (0.5 * oh / tw, oh / th);
    let (uw, uh) = (
        (w as f32 * fx).round() as usize,
        (h as f32 * fy).round() as usize,
    );
    let up: Vec<u8> = (0..uw * uh)
        .map(|i| {
            let x = ((i % uw) as f32 + 0.5) / fx - 0.5;
            let y = ((i / uw) as f32 + 0.5) / fy - 0.5;
            let (x0, y0) = (
                x.floor().clamp(0.0, (w - 1) as f32),
                y.floor().clamp(0.0, (h - 1) as f32),
            );
            let (ax, ay) = ((x - x0).clamp(0.0, 1.0), (y - y0).clamp(0.0, 1.0));
            let (x0, y0) = (x0 as usize, y0 as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let p = |x: usize, y: usize| lv[y * w + x] as f32;
            let top = p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax;
            let bottom = p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax;
            (top * (1.0 - ay) + bottom * ay).round() as u8
        })
        .collect();
    Patch {
        w: uw,
        h: uh,
        px: binarise(&up, rng),
    }
}

/// The glyph drawn `tw` × `th` px with `pad` around it, area-averaged (4
/// × 4 samples a pixel), slightly rotated and sheared: ink 0 to 1.
fn draw(g: &Glyph, th: f32, tw: f32, pad: usize, rng: &mut Rng) -> (usize, usize, Vec<f32>) {
    let (w, h) = (tw.ceil() as usize + 2 * pad, th.ceil() as usize + 2 * pad);
    let ang = rng.range(-0.08, 0.08);
    let shear = rng.range(-0.15, 0.15);
    let (c, sn) = (ang.cos(), ang.sin());
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let (gx, gy) = (g.w as f32 / tw, g.h as f32 / th);
    let at = |u: f32, v: f32| -> f32 {
        let (xi, yi) = (u.floor() as isize, v.floor() as isize);
        if xi < 0 || yi < 0 || xi >= g.w as isize || yi >= g.h as isize {
            0.0
        } else {
            g.ink[yi as usize * g.w + xi as usize]
        }
    };
    let ss = 4;
    let mut grey = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0f32;
            for sy in 0..ss {
                for sx in 0..ss {
                    let dx = x as f32 + (sx as f32 + 0.5) / ss as f32 - cx;
                    let dy = y as f32 + (sy as f32 + 0.5) / ss as f32 - cy;
                    let ux = c * dx + sn * dy - shear * dy;
                    let uy = -sn * dx + c * dy;
                    acc += at(ux * gx + g.w as f32 / 2.0, uy * gy + g.h as f32 / 2.0);
                }
            }
            grey[y * w + x] = acc / (ss * ss) as f32;
        }
    }
    (w, h, grey)
}

/// Each pixel the mean of itself and its four neighbours.
fn soften(grey: &mut [f32], w: usize, h: usize) {
    let src = grey.to_vec();
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0f32;
            let mut n = 0f32;
            for (dx, dy) in [(0isize, 0isize), (-1, 0), (1, 0), (0, -1), (0, 1)] {
                let (xx, yy) = (x as isize + dx, y as isize + dy);
                if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
                    acc += src[yy as usize * w + xx as usize];
                    n += 1.0;
                }
            }
            grey[y * w + x] = acc / n;
        }
    }
}

/// Ink as grey levels in a photo: a random background and ink level (low
/// contrast at times), a lighting gradient and noise.
fn light(grey: &[f32], w: usize, h: usize, rng: &mut Rng) -> Vec<u8> {
    let (bg, fg) = (rng.range(0.05, 0.4), rng.range(0.55, 1.0));
    let (gxs, gys) = (rng.range(-0.15, 0.15), rng.range(-0.15, 0.15));
    let sigma = rng.range(0.0, 0.08);
    (0..w * h)
        .map(|i| {
            let (x, y) = (
                (i % w) as f32 / w as f32 - 0.5,
                (i / w) as f32 / h as f32 - 0.5,
            );
            let v = bg + (fg - bg) * grey[i] + gxs * x + gys * y + sigma * rng.gauss();
            (v.clamp(0.0, 1.0) * 255.0) as u8
        })
        .collect()
}

/// Grey levels binarised at Otsu's threshold moved by up to ±12 levels
/// (`THRESHOLD_STEP`), as the province windows are: ink 255.
fn binarise(lv: &[u8], rng: &mut Rng) -> Vec<u8> {
    let step = plate_recognizer::THRESHOLD_STEP as i32;
    let mut hist = [0u32; 256];
    lv.iter().for_each(|&v| hist[v as usize] += 1);
    let t = plate_recognizer::otsu(&hist) as i32 + [0, -step, step][rng.below(3)];
    lv.iter()
        .map(|&v| if v as i32 > t { 255 } else { 0 })
        .collect()
}

/// A setting from the environment, `default` when unset or unreadable.
fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Sample {
    patch: Patch,
    label: usize,
}

fn train_net(
    name: &str,
    classes: Vec<char>,
    data: &[Sample],
    hidden: usize,
    epochs: usize,
    rng: &mut Rng,
) -> Mlp {
    let n_out = classes.len();
    // split train / validation (every 10th sample)
    let (val, tr): (Vec<&Sample>, Vec<&Sample>) = data
        .iter()
        .enumerate()
        .partition(|(i, _)| i % 10 == 0)
        .into_iter_pair();
    eprintln!(
        "[{name}] {} train, {} val, {} classes",
        tr.len(),
        val.len(),
        n_out
    );
    let init = |n_in: usize, n_out: usize, rng: &mut Rng| Layer {
        n_in,
        n_out,
        w: (0..n_in * n_out)
            .map(|_| rng.gauss() * (2.0 / n_in as f32).sqrt())
            .collect(),
        b: vec![0.0; n_out],
    };
    let mut net = Mlp {
        name: name.into(),
        classes,
        l1: init(N_IN, hidden, rng),
        l2: init(hidden, n_out, rng),
    };
    // class weights against imbalance
    let mut counts = vec![0usize; n_out];
    for s in &tr {
        counts[s.label] += 1;
    }
    let mean = tr.len() as f32 / n_out as f32;
    let cw: Vec<f32> = counts
        .iter()
        .map(|&c| (mean / c.max(1) as f32).sqrt().clamp(0.5, 3.0))
        .collect();
    let mut order: Vec<usize> = (0..tr.len()).collect();
    let mut h = vec![0f32; hidden];
    let mut o = vec![0f32; n_out];
    let mut dh = vec![0f32; hidden];
    for ep in 0..epochs {
        let lr = 0.02 * (1.0 - ep as f32 / epochs as f32) + 0.001;
        for i in (1..order.len()).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
        let mut loss = 0f32;
        for &idx in &order {
            let s = tr[idx];
            let p = if rng.f() < 0.8 {
                augment(&s.patch, rng)
            } else {
                s.patch.clone()
            };
            let x = mlp::char_features(&p.px, p.w, p.h);
            // forward
            for (k, hk) in h.iter_mut().enumerate() {
                let row = &net.l1.w[k * N_IN..(k + 1) * N_IN];
                let mut a = net.l1.b[k];
                for (wv, xv) in row.iter().zip(&x) {
                    a += wv * xv;
                }
                *hk = a.max(0.0);
            }
            for (k, ok) in o.iter_mut().enumerate() {
                let row = &net.l2.w[k * hidden..(k + 1) * hidden];
                let mut a = net.l2.b[k];
                for (wv, hv) in row.iter().zip(&h) {
                    a += wv * hv;
                }
                *ok = a;
            }
            mlp::softmax(&mut o);
            loss -= o[s.label].max(1e-9).ln();
            let g = lr * cw[s.label];
            // backward
            dh.iter_mut().for_each(|v| *v = 0.0);
            for (k, &ok) in o.iter().enumerate() {
                let d = ok - if k == s.label { 1.0 } else { 0.0 };
                let row = &mut net.l2.w[k * hidden..(k + 1) * hidden];
                for j in 0..hidden {
                    dh[j] += d * row[j];
                    row[j] -= g * d * h[j];
                }
                net.l2.b[k] -= g * d;
            }
            for j in 0..hidden {
                if h[j] <= 0.0 {
                    continue;
                }
                let d = dh[j];
                let row = &mut net.l1.w[j * N_IN..(j + 1) * N_IN];
                for (wv, xv) in row.iter_mut().zip(&x) {
                    *wv -= g * d * xv;
                }
                net.l1.b[j] -= g * d;
            }
        }
        // validation on the quantised round trip
        let q = &mlp::load_models(&mlp::save_models(std::slice::from_ref(&net))).unwrap()[0];
        let ok = val
            .iter()
            .filter(|s| {
                let x = mlp::char_features(&s.patch.px, s.patch.w, s.patch.h);
                q.classify(&x).0 == q.classes[s.label]
            })
            .count();
        eprintln!(
            "[{name}] epoch {ep}: loss {:.4}, val acc {:.2}%",
            loss / tr.len() as f32,
            100.0 * ok as f32 / val.len().max(1) as f32
        );
    }
    net
}

trait PairExt<'a> {
    fn into_iter_pair(self) -> (Vec<&'a Sample>, Vec<&'a Sample>);
}
impl<'a> PairExt<'a> for (Vec<(usize, &'a Sample)>, Vec<(usize, &'a Sample)>) {
    fn into_iter_pair(self) -> (Vec<&'a Sample>, Vec<&'a Sample>) {
        (
            self.0.into_iter().map(|x| x.1).collect(),
            self.1.into_iter().map(|x| x.1).collect(),
        )
    }
}

fn list_jpgs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.extension()
            .map(|e| e == "jpg" || e == "png")
            .unwrap_or(false)
    });
    v.sort();
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: train-province CHARS_DIR OUT_MODEL GLYPHS_DIR");
        std::process::exit(2);
    }
    let root = Path::new(&args[1]);
    let out = Path::new(&args[2]);
    // (0: the kept model's seeds)
    let seed: u64 = env_or("SEED", 0);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let prov_map: BTreeMap<String, char> = plate_recognizer::synth::province_folders(root)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .collect();
    let set = match std::env::var("SET").as_deref() {
        Ok("alnum") => Set::Alnum,
        Ok("double") => Set::Double,
        _ => Set::Province,
    };
    let alnum = set == Set::Alnum;
    let classes: Vec<char> = set.classes().chars().collect();
    let mut pr_data = Vec::new();
    if alnum {
        // EasyPR's binarised letter and digit crops, one folder per class
        for (li, ch) in classes.iter().enumerate() {
            for p in list_jpgs(&root.join("chars2").join(ch.to_string())) {
                if let Some(patch) = load_patch(&p) {
                    pr_data.push(Sample { patch, label: li });
                }
            }
        }
    } else {
        for (k, ch) in &prov_map {
            let Some(li) = classes.iter().position(|c| c == ch) else {
                eprintln!("province {ch} not in PROVINCES, skipped");
                continue;
            };
            for p in list_jpgs(&root.join("charsChinese").join(k)) {
                if let Some(patch) = load_patch(&p) {
                    pr_data.push(Sample { patch, label: li });
                }
            }
            for p in list_jpgs(&root.join("annCh_gray").join(k)) {
                if let Some(patch) = load_grey_patch(&p) {
                    pr_data.push(Sample { patch, label: li });
                }
            }
        }
    }
    for i in (1..pr_data.len()).rev() {
        let j = rng.below(i + 1);
        pr_data.swap(i, j);
    }
    let epochs: usize = env_or("EPOCHS", if alnum { 12 } else { 30 });
    if std::env::var("MLP").is_ok() {
        // the earlier one-hidden-layer MLP, for comparison
        let pr = train_net("province", classes, &pr_data, 96, epochs, &mut rng);
        let bytes = mlp::save_models(&[pr]);
        std::fs::write(out, &bytes).expect("write model");
        eprintln!(
            "wrote {} ({} bytes), features {SIDE}x{SIDE}",
            out.display(),
            bytes.len()
        );
    } else {
        let fonts = Path::new(&args[3]).join("font_model");
        let glyphs: Vec<Vec<Glyph>> = classes
            .iter()
            .map(|ch| {
                set.glyph_kinds()
                    .iter()
                    .filter_map(|k| load_glyph(&fonts.join(format!("{k}_{ch}.jpg"))))
                    .collect()
            })
            .collect();
        if let Ok(dir) = std::env::var("DUMP") {
            let mut r = Rng(5);
            let motion = env_or("MOTION", 0.0);
            for (i, gl) in glyphs.iter().enumerate().take(8) {
                for k in 0..6 {
                    let p = set.draw(&gl[k % gl.len()], motion, &mut r);
                    image::GrayImage::from_raw(p.w as u32, p.h as u32, p.px)
                        .unwrap()
                        .save(Path::new(&dir).join(format!("glyph_{i}_{k}.png")))
                        .unwrap();
                }
            }
            return;
        }
        train_cnn(&pr_data, set, &glyphs, epochs, seed, out, &mut rng);
    }
}

/// Which glyph CNN is trained (`SET`).
#[derive(Clone, Copy, PartialEq)]
enum Set {
    /// Provinces (the default): `model/province-cnn.bin`.
    Province,
    /// Letters and digits (`SET=alnum`): `model/alnum-cnn.bin`.
    Alnum,
    /// Provinces as a double-row plate's top row shows them (`SET=double`):
    /// `model/province-double-cnn.bin`; the drawn glyphs are the top row's
    /// (`220_*`, `synth_up_glyph`).
    Double,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Province => "province",
            Set::Alnum => "alnum",
            Set::Double => "province-double",
        }
    }

    fn classes(self) -> &'static str {
        match self {
            Set::Alnum => plate_recognizer::ALNUM,
            Set::Province | Set::Double => plate_recognizer::PROVINCES,
        }
    }

    /// One of the set's drawn glyphs: the top row's as `up_patch` cuts it
    /// out (`synth_up_glyph`) for the double-row CNN, else as the province
    /// window cuts a single-row glyph out (`synth_glyph`).
    fn draw(self, g: &Glyph, motion: f32, rng: &mut Rng) -> Patch {
        match self {
            Set::Double => synth_up_glyph(g, rng),
            Set::Province | Set::Alnum => synth_glyph(g, motion, rng),
        }
    }

    /// The glyph set's drawings of its characters: `font_model/KIND_*.jpg`.
    fn glyph_kinds(self) -> &'static [&'static str] {
        match self {
            Set::Double => &["220"],
            Set::Province | Set::Alnum => &["140", "green"],
        }
    }
}

/// A glyph CNN (`src/pcnn.rs`) on the same samples, same split (every
/// 10th held out), same augmentation; Adam, batches of 32.
fn train_cnn(
    data: &[Sample],
    set: Set,
    glyphs: &[Vec<Glyph>],
    epochs: usize,
    seed: u64,
    out: &Path,
    rng: &mut Rng,
) {
    let synth_share: f32 = env_or("SYNTH", 0.3);
    let motion: f32 = env_or("MOTION", 0.0);
    use plate_recognizer::pcnn::{PCache, PNet, S};
    let name = set.name();
    let classes: Vec<char> = set.classes().chars().collect();
    let nc = classes.len();
    let mut srng = Rng::new(7 + seed);
    let mut net = PNet::init(classes, &mut srng);
    let (val, tr): (Vec<&Sample>, Vec<&Sample>) = data
        .iter()
        .enumerate()
        .partition::<Vec<_>, _>(|(i, _)| i % 10 == 0)
        .into_iter_pair();
    let feat = |p: &Patch| mlp::char_features(&p.px, p.w, p.h)[..S * S].to_vec();
    let mut m1: Vec<Vec<f32>> = net.p.iter().map(|t| vec![0.0; t.len()]).collect();
    let mut m2 = m1.clone();
    let mut step = 0i32;
    let mut order: Vec<usize> = (0..tr.len()).collect();
    let mut cache = PCache::default();
    let mut counts = vec![0usize; nc];
    for s in &tr {
        counts[s.label] += 1;
    }
    let mean = tr.len() as f32 / nc as f32;
    let bal = std::env::var("BALANCE").unwrap_or_default();
    let cw: Vec<f32> = counts
        .iter()
        .map(|&c| {
            let r = mean / c.max(1) as f32;
            match bal.as_str() {
                "full" => r,
                "sqrt" => r.sqrt(),
                _ => 1.0,
            }
        })
        .collect();
    for ep in 0..epochs {
        for i in (1..order.len()).rev() {
            let j = rng.below(i + 1);
            order.swap(i, j);
        }
        let lr = 0.001 * (1.0 - ep as f32 / epochs as f32) + 0.00005;
        let mut loss = 0f32;
        for chunk in order.chunks(32) {
            let mut g: Vec<Vec<f32>> = net.p.iter().map(|t| vec![0.0; t.len()]).collect();
            for &idx in chunk {
                let s = tr[idx];
                let gl = &glyphs[s.label];
                let p = if !gl.is_empty() && rng.f() < synth_share {
                    set.draw(&gl[rng.below(gl.len())], motion, rng)
                } else if rng.f() < 0.8 {
                    augment(&s.patch, rng)
                } else {
                    s.patch.clone()
                };
                let lg = net.forward(&feat(&p), &mut cache);
                let mx = lg.iter().copied().fold(f32::MIN, f32::max);
                let e: Vec<f32> = lg.iter().map(|v| (v - mx).exp()).collect();
                let z: f32 = e.iter().sum();
                let mut d: Vec<f32> = e.iter().map(|v| v / z).collect();
                loss -= d[s.label].max(1e-9).ln();
                d[s.label] -= 1.0;
                d.iter_mut().for_each(|v| *v *= cw[s.label]);
                net.backward(&cache, &d, &mut g);
            }
            step += 1;
            let inv = 1.0 / chunk.len() as f32;
            let (c1, c2) = (1.0 - 0.9f32.powi(step), 1.0 - 0.999f32.powi(step));
            for k in 0..net.p.len() {
                for j in 0..net.p[k].len() {
                    let gv = g[k][j] * inv;
                    m1[k][j] = 0.9 * m1[k][j] + 0.1 * gv;
                    m2[k][j] = 0.999 * m2[k][j] + 0.001 * gv * gv;
                    net.p[k][j] -= lr * (m1[k][j] / c1) / ((m2[k][j] / c2).sqrt() + 1e-8);
                }
            }
        }
        let ok = val
            .iter()
            .filter(|s| {
                let pr = net.predict(&feat(&s.patch));
                pr.iter()
                    .enumerate()
                    .fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a })
                    .0
                    == s.label
            })
            .count();
        eprintln!(
            "[cnn {name}] epoch {ep}: loss {:.4}, val acc {:.2}%",
            loss / tr.len() as f32,
            100.0 * ok as f32 / val.len().max(1) as f32
        );
    }
    std::fs::write(out, net.to_bytes()).expect("write cnn model");
    eprintln!("wrote {}", out.display());
}
