//! The segmenter of the earlier, segmentation-based version of this crate,
//! kept for the province glyph: Otsu binarisation of a 60 px high crop,
//! the character band from row transitions, connected components fitted
//! to the GA 36 grid. Also the binarisation helpers the other rooms share
//! (Otsu's threshold, a crop's ink as grey levels).

use crate::Color;
use crate::layout::dot_after;
use crate::locate::mask::Mask;
use crate::rectify::{Source, rectify};
use image::RgbImage;

/// A binarised glyph: width, height, pixels (ink 255).
pub(crate) type Patch = (usize, usize, Vec<u8>);

/// The segmenter's glyphs of a single-row plate cut out as `src` says
/// (a crop 60 px high, as the segmenter was tuned for; its grid is the
/// 7-character one with the dot where `text`'s layout has it,
/// [`dot_after`]), for the province and letter-and-digit checks.
pub(crate) fn glyph_patches(src: &Source, color: Color, text: &[char]) -> Option<Vec<Patch>> {
    let c = src.c;
    let aspect = (c.w * 1.06) / (c.h * 1.15).max(1.0);
    let ow = ((60.0 * aspect).round() as u32).clamp(60, 480);
    let crop = rectify(src.full, c, 1.06, 1.15, ow, 60);
    segment(&crop, color, dot_after(text)).map(|(p, _)| p)
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct BBox {
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
/// transitions, connected components fitted to the GA 36 grid with the
/// dot after character `dot` (the segmenter of the earlier,
/// segmentation-based version of this crate). Used for the province glyph
/// (patch 0), the kind of crop the province CNN was trained on.
pub(crate) fn segment(crop: &RgbImage, color: Color, dot: usize) -> Option<(Vec<Patch>, f32)> {
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
    // grid (units of char height): glyph 0.5, pitch 0.6333, extra gap after slot `dot`: 0.2444
    let slot_left = |k: usize, x0: f32, s: f32| -> f32 {
        x0 + s * hc * (k as f32 * 0.6333 + if k > dot { 0.2444 } else { 0.0 })
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
                        .fold(f32::MAX, crate::colour::fmin);
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
pub fn otsu(hist: &[u32; 256]) -> u8 {
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
    for (t, &n) in hist.iter().enumerate() {
        wb += n as f64;
        if wb == 0.0 {
            continue;
        }
        let wf = total as f64 - wb;
        if wf == 0.0 {
            break;
        }
        sb += t as f64 * n as f64;
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

/// A plate crop as grey levels with the characters bright: the darkest
/// channel on plates with light characters (blue, black), the inverted
/// brightest channel on the others.
pub(crate) fn ink_grey(img: &RgbImage, color: Color) -> Vec<u8> {
    let light = crate::colour::light_ink(color);
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
