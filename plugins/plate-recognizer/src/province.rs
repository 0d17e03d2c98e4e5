//! The province character of a single-row read: its glyph cut out by the
//! segmenter and by a window placed with the fitted layout (binarised at
//! three thresholds inside the plate's extent), classified by the province
//! CNN (loaded once from `model/province-cnn.bin`), and voted with the
//! reader's own province probabilities (its training prior divided out);
//! a read without a glyph for the CNN keeps the reader's share of that
//! vote alone (`reader_share`).

use crate::colour::{background_bits, color_classes};
use crate::layout::fit_layout;
use crate::locate::mask::Mask;
use crate::locate::{Cand, Fallback};
use crate::read::format::{province_checked, valid_plate, valid_with};
use crate::read::{Dist, FIRST_MARGINS, argmax, model};
use crate::rectify::{Source, rectify, rectify_window};
use crate::segment::{Patch, glyph_patches, ink_grey, otsu};
use crate::{Color, cnn, debug_on, mlp, pcnn};
use image::RgbImage;
use std::sync::OnceLock;

/// The province-glyph classifier, loaded once.
pub fn province_model() -> Result<&'static pcnn::PNet, String> {
    static PROVINCE: OnceLock<Result<pcnn::PNet, String>> = OnceLock::new();
    crate::load_once(&PROVINCE, || {
        pcnn::PNet::from_bytes(include_bytes!("../model/province-cnn.bin"))
    })
}

/// The classifier of a double-row plate's top-row province glyph, as
/// [`up_patch`] cuts it out, loaded once: the province CNN's architecture
/// and EasyPR crops, with the top row's GA 36 drawings drawn small and
/// sampled up as that window does in place of 60 % of them
/// (`train-province` with `SET=double`).
pub fn double_province_model() -> Result<&'static pcnn::PNet, String> {
    static DOUBLE: OnceLock<Result<pcnn::PNet, String>> = OnceLock::new();
    crate::load_once(&DOUBLE, || {
        pcnn::PNet::from_bytes(include_bytes!("../model/province-double-cnn.bin"))
    })
}

/// Weight of the province CNN against the sequence reader for the
/// province character (see `refine_province`): 0.8 since the CNN learns
/// from drawn GA 36 glyphs (chosen on the tuning part, README).
pub const PROVINCE_CNN_WEIGHT: f32 = 0.8;

/// Weight of the double-row province CNN against the reader for a
/// double-row plate's province (`refine_double_province`): lower than a
/// single row's, since the reader reads the top row's large glyph well.
/// Chosen on rendered double-row plates (40 of each double-row kind, seed
/// 11, at 1, 0.5, 0.3 and 0.22 times their size): exact 308 of 320 at 0.5,
/// 310 at 0.7, 308 at 0.9; seed 5 309, 309, 308 (README, "Small
/// double-row plates"; 0.5 with the single-row CNN, "Double-row plates").
pub const DOUBLE_ROW_PROVINCE_CNN_WEIGHT: f32 = 0.7;

/// Development aid: reads a tight plate crop (the whole image is the plate)
/// and returns the sequence reader's text and the plate text with the
/// province refined at each of the given province-classifier weights.
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
        w: w / FIRST_MARGINS.0,
        h: h / FIRST_MARGINS.1,
        angle: 0.0,
        color: Some(color),
        shear: false,
        keystone: 0.0,
        fallback: Fallback::No,
    };
    let photo = crate::photo::Photo::from_rgb(img);
    let crop = rectify(
        &photo,
        &c,
        FIRST_MARGINS.0,
        FIRST_MARGINS.1,
        cnn::IN_W as u32,
        cnn::IN_H as u32,
    );
    let read = net.read_aligned(&cnn::prepare(&crop, false));
    let text: String = read.text.iter().collect();
    if !valid_plate(&read.text) {
        return Some((text, vec![]));
    }
    let src = Source {
        full: &photo,
        c: &c,
        ew: 1.08,
        eh: 1.2,
    };
    let seg = glyph_patches(&src, color, &read.text);
    let outs = weights
        .iter()
        .map(|&wc| {
            let mut t = read.text.clone();
            if let Some(d) = refine_province(src, &read, color, net, wc, seg.as_deref()) {
                t[0] = argmax(&d).0;
            }
            t.into_iter().collect()
        })
        .collect();
    Some((text, outs))
}

/// Second opinion on the province character of a single-row read: two
/// glyphs, the segmenter's (`seg`, 7-character reads) and one placed from
/// the other characters' CTC columns (least squares on the GA 36 layout)
/// and cut out of the photo at higher resolution, binarised and classified
/// by the province CNN; the answer is the weighted average of its
/// probabilities and the reader's, over the provinces the read's other
/// characters allow (`None` if they allow none of the CNN's).
pub(crate) fn refine_province(
    src: Source,
    read: &cnn::Read,
    color: Color,
    net: &cnn::Net,
    w_cnn: f32,
    seg: Option<&[Patch]>,
) -> Option<Dist> {
    // embassy (使) and 港/澳 (粤 only) plates: no province to check
    if !province_checked(&read.text) {
        return None;
    }
    let prov_net = province_model().ok()?;
    // 1. the segmenter's province glyph (its grid is the 7-character one)
    let seg_patch = seg
        .filter(|_| read.text.len() == 7)
        .and_then(|p| p.first())
        .cloned();
    let seg = seg_patch.map(|p| classify(prov_net, &[p]));
    // the window's binarisations, averaged
    let win = window_patch(src, read, color).map(|ps| classify(prov_net, &ps));
    let pm: Vec<f32> = match (seg, win) {
        (Some(s), Some(w)) => s.iter().zip(&w).map(|(a, b)| 0.5 * (a + b)).collect(),
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => return None,
    };
    // of the vote, the provinces the rest of the text allows (no 粤 before
    // a Z that does not end in 港 or 澳)
    allowed(read, vote(prov_net, net, read, &pm, w_cnn, "seg+window"))
}

/// Of a province vote, the provinces the rest of the read's text allows
/// (no 粤 before a Z that does not end in 港 or 澳); `None` if none.
fn allowed(read: &cnn::Read, d: Dist) -> Option<Dist> {
    let d: Dist = d
        .into_iter()
        .filter(|&(ch, _)| valid_with(&read.text, 0, ch))
        .collect();
    (!d.is_empty()).then_some(d)
}

/// The province CNN's probabilities for glyph patches (width, height,
/// ink 255), averaged.
pub(crate) fn classify(prov_net: &pcnn::PNet, patches: &[(usize, usize, Vec<u8>)]) -> Vec<f32> {
    let n = patches.len() as f32;
    let mut sum = vec![0f32; prov_net.classes.len()];
    for (pw, ph, patch) in patches {
        let p = prov_net.predict(&mlp::char_features(patch, *pw, *ph)[..pcnn::S * pcnn::S]);
        sum.iter_mut().zip(&p).for_each(|(s, v)| *s += v / n);
    }
    sum
}

/// Second opinion on the province character of a double-row read: the
/// glyph of the top row's left cell cut out of the photo where the plate's
/// layout puts it (GA 36: 80 × 60 mm at x 110, y 15 of 440 × 220; the
/// plate's left and right edges and top found by its colour where it has
/// one, else the box), sampled [`UP_SQUEEZE`] as finely across as down so
/// that it has a single-row glyph's proportions, binarised at three
/// thresholds, classified by the double-row province CNN (which learnt the
/// top row's drawings so cut out: [`double_province_model`]) and voted
/// with the reader as in [`refine_province`].
pub(crate) fn refine_double_province(
    src: Source,
    read: &cnn::Read,
    color: Color,
    net: &cnn::Net,
    w_cnn: f32,
) -> Option<Dist> {
    if !province_checked(&read.text) {
        return None;
    }
    let prov_net = double_province_model().ok()?;
    let pm = classify(prov_net, &up_patch(src, color)?);
    allowed(read, vote(prov_net, net, read, &pm, w_cnn, "double row"))
}

/// How much more finely a double-row plate's top row is sampled down
/// than across for [`refine_double_province`]: a top-row glyph (80 × 60
/// mm) comes out in a single-row glyph's proportions (45 × 90).
const UP_SQUEEZE: f32 = (45.0 / 80.0) / (90.0 / 60.0);

/// The province glyph of a double-row plate's top row, for
/// [`refine_double_province`]: `None` where no glyph of about the
/// expected size is found there.
pub(crate) fn up_patch(src: Source, color: Color) -> Option<Vec<(usize, usize, Vec<u8>)>> {
    let Source { full, c, ew, eh } = src;
    // the crop's upper part, rows 0 .. V1 (normalised crop coordinates)
    const V1: f32 = 0.6;
    let oh = 96usize;
    let ow = ((oh as f32 * c.w * ew / (c.h * eh * V1).max(1.0) * UP_SQUEEZE).round() as usize)
        .clamp(32, 320);
    let win = rectify_window(full, c, ew, eh, [0.0, 1.0, 0.0, V1], ow as u32, oh as u32);
    let (w, h) = (ow, oh);
    // the plate in the window: the box's, and its colour's extent
    let plate_h = h as f32 / (eh * V1);
    let by_box = (
        (0.5 - 0.5 / ew) * w as f32,
        (0.5 + 0.5 / ew) * w as f32,
        (0.5 - 0.5 / eh) / V1 * h as f32,
    );
    let (left, right, top) = colour_extent(&win, color)
        .filter(|e| {
            let (box_w, extent_w) = (by_box.1 - by_box.0, e.1 - e.0);
            extent_w > 0.8 * box_w
                && extent_w < 1.2 * box_w
                && (e.2 - by_box.2).abs() < 0.15 * plate_h
        })
        .unwrap_or(by_box);
    let pw = right - left;
    // where GA 36 puts the glyph, in window pixels
    let (gx0, gx1) = (left + 110.0 / 440.0 * pw, left + 190.0 / 440.0 * pw);
    let (gy0, gy1) = (top + 15.0 / 220.0 * plate_h, top + 75.0 / 220.0 * plate_h);
    let (gw, gh) = (gx1 - gx0, gy1 - gy0);
    let px = |x: f32| (x.round().max(0.0) as usize).min(w - 1);
    let py = |y: f32| (y.round().max(0.0) as usize).min(h - 1);
    // binarised at Otsu's threshold over the plate's top row
    let g = ink_grey(&win, color);
    let (x0, x1) = (px(left), px(right));
    let (y0, y1) = (py(top), py(top + 85.0 / 220.0 * plate_h));
    if x1 <= x0 + 4 || y1 <= y0 + 4 {
        return None;
    }
    let mut hist = [0u32; 256];
    for y in y0..y1 {
        for x in x0..x1 {
            hist[g[y * w + x] as usize] += 1;
        }
    }
    let t = otsu(&hist);
    let ink = |x: usize, y: usize| g[y * w + x] > t;
    // the glyph's rows: the longest inked run in its columns (rows inked
    // across most of the plate are its frame, not the glyph)
    let (cx0, cx1) = (px(gx0 + 0.1 * gw), px(gx1 - 0.1 * gw));
    let (ry0, ry1) = (py(gy0 - 0.12 * gh), py(gy1 + 0.12 * gh));
    let row_ink: Vec<usize> = (ry0..=ry1)
        .map(|y| {
            if (x0..x1).filter(|&x| ink(x, y)).count() * 4 > (x1 - x0) * 3 {
                0
            } else {
                (cx0..=cx1).filter(|&x| ink(x, y)).count()
            }
        })
        .collect();
    // (gaps between a glyph's strokes allowed: 云, 宁, 京 are several
    // pieces one above the other)
    let (r0, r1) = longest_inked_run(&row_ink, (0.3 * gh) as usize);
    let (by0, by1) = (ry0 + r0, ry0 + r1);
    // the glyph's columns: likewise (gaps between its parts allowed: 桂,
    // 湘, 沪 are side by side; the dot after it is further)
    let (a, b) = (px(gx0 - 0.25 * gw), px(gx1 + 0.2 * gw));
    let col_ink: Vec<usize> = (a..=b)
        .map(|x| (by0..=by1).filter(|&y| ink(x, y)).count())
        .collect();
    let (c0, c1) = longest_inked_run(&col_ink, (0.2 * gw) as usize);
    let (bx0, bx1) = (a + c0, a + c1);
    let (fw, fh) = ((bx1 + 1).saturating_sub(bx0) as f32, (by1 + 1 - by0) as f32);
    if debug_on() {
        eprintln!(
            "  double-row province: window {w}x{h}, plate x {left:.0}..{right:.0} top {top:.0}, \
             glyph {bx0}..{bx1} x {by0}..{by1} (expected {gw:.0} x {gh:.0}), threshold {t}"
        );
    }
    // a glyph of about the size GA 36 gives it
    if !(0.6 * gh..=1.3 * gh).contains(&fh) || !(0.5 * gw..=1.3 * gw).contains(&fw) {
        return None;
    }
    let patches = threshold_patches(&g, w, t, (bx0, bx1), (by0, by1));
    save_debug(&win, &patches[0], "up", c.cx);
    Some(patches)
}

/// With `PLATE_DEBUG` naming a directory: a province window and its
/// glyph patch written there as PNGs (`prov_win_…`, `prov_patch_…`).
fn save_debug(win: &RgbImage, (pw, ph, patch): &(usize, usize, Vec<u8>), what: &str, cx: f32) {
    if let Some(d) = std::env::var("PLATE_DEBUG")
        .ok()
        .filter(|d| debug_on() && std::path::Path::new(d).is_dir())
    {
        let _ = win.save(format!("{d}/prov_win_{what}{}.png", cx as u32));
        if let Some(im) = image::GrayImage::from_raw(*pw as u32, *ph as u32, patch.clone()) {
            let _ = im.save(format!("{d}/prov_patch_{what}{}.png", cx as u32));
        }
    }
}

/// A plate's extent in a window of its upper part (left, right + 1, top):
/// the columns in which at least a quarter of the rows have the plate's
/// background colour, and the first row in which at least a quarter of
/// those columns have it. `None` for plates without a colour (white,
/// black), where no such columns are found, or where the colour reaches
/// the window's edge.
fn colour_extent(win: &RgbImage, color: Color) -> Option<(f32, f32, f32)> {
    let (w, h) = (win.width() as usize, win.height() as usize);
    let bits = background_bits(color)?;
    let classes = color_classes(win);
    let bg = |x: usize, y: usize| classes[y * w + x] & bits != 0;
    let plate_col = |x: &usize| (0..h).filter(|&y| bg(*x, y)).count() * 4 >= h;
    let left = (0..w).find(plate_col)?;
    let right = (0..w).rev().find(plate_col)? + 1;
    let top = (0..h).find(|&y| (left..right).filter(|&x| bg(x, y)).count() * 4 >= right - left)?;
    // the colour running out of the window is a car's, not the plate's
    (left > 0 && right < w && top > 0).then_some((left as f32, right as f32, top as f32))
}

/// The province glyph cut out of the photo where the fitted layout puts it
/// (tight box), binarised at three thresholds, for the province classifier.
pub(crate) fn window_patch(
    src: Source,
    read: &cnn::Read,
    color: Color,
) -> Option<Vec<(usize, usize, Vec<u8>)>> {
    let Source { full, c, ew, eh } = src;
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
    // the letter's rows: the longest run of rows with ink
    let (by0, by1) = longest_inked_run(&row_ink, 1);
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
    let patches = threshold_patches(&g, w, t, (px0, px1), (by0, by1));
    save_debug(&win, &patches[0], "", c.cx);
    Some(patches)
}

/// The longest run of entries with ink (first, last; gaps of up to
/// `max_gap` empty entries allowed), `(0, 0)` without ink.
fn longest_inked_run(ink: &[usize], max_gap: usize) -> (usize, usize) {
    let n = ink.len();
    let (mut best, mut cur_start, mut gap) = ((0usize, 0usize), None::<usize>, 0usize);
    for y in 0..=n {
        let on = ink.get(y).is_some_and(|&v| v > 0);
        match (on, cur_start) {
            (true, None) => {
                cur_start = Some(y);
                gap = 0;
            }
            (true, Some(_)) => gap = 0,
            (false, Some(st)) => {
                gap += 1;
                if gap > max_gap || y == n {
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
    best
}

/// A glyph's box (columns `xs`, rows `ys`, both inclusive) of an ink
/// image `g` (`w` wide) binarised at threshold `t` and at its two
/// neighbours ([`THRESHOLD_STEP`]): strokes of a small glyph merge or
/// break with a few grey levels. Ink is 255.
fn threshold_patches(
    g: &[u8],
    w: usize,
    t: u8,
    (x0, x1): (usize, usize),
    (y0, y1): (usize, usize),
) -> Vec<(usize, usize, Vec<u8>)> {
    let (pw, ph) = (x1 - x0 + 1, y1 - y0 + 1);
    [
        t,
        t.saturating_sub(THRESHOLD_STEP),
        t.saturating_add(THRESHOLD_STEP),
    ]
    .into_iter()
    .map(|tt| {
        let px = (0..ph)
            .flat_map(|yy| (0..pw).map(move |xx| (yy, xx)))
            .map(|(yy, xx)| {
                if g[(y0 + yy) * w + x0 + xx] > tt {
                    255
                } else {
                    0
                }
            })
            .collect();
        (pw, ph, px)
    })
    .collect()
}

/// Where the plate is in a window (rectified, the plate's left part):
/// its first column, the first in which at least a quarter of the middle
/// rows have the plate's background colour, and the rows (first, last + 1)
/// in which at least a quarter of the columns from there have it. The
/// frame, the car body and the road around a plate are no glyph, however
/// bright. The whole window for plates without a colour (white, black)
/// or when no such columns and rows are found.
pub(crate) fn plate_extent(win: &RgbImage, color: Color) -> (usize, usize, usize) {
    let (w, h) = (win.width() as usize, win.height() as usize);
    let whole = (0, h / 6, h - h / 6);
    let Some(bits) = background_bits(color) else {
        return whole;
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

/// Share of the reader's training samples that are real LPRNet crops
/// (`train.rs`; the others are synthetic plates with uniform provinces).
pub const READER_REAL_SHARE: f32 = 0.25;

/// Share of those real crops that keep their own province glyph (nearly
/// all 皖); the others get a random province's glyph pasted in.
pub const READER_KEEP_PROVINCE: f32 = 0.1;

/// How much more often the reader saw 皖 than another province in
/// training: (synthetic + swapped + kept 皖) / (synthetic + swapped), with
/// 31 provinces; 1.79.
pub(crate) const READER_WAN_PRIOR: f32 = {
    let n = PROVINCE_COUNT as f32;
    let other =
        (1.0 - READER_REAL_SHARE) / n + READER_REAL_SHARE * (1.0 - READER_KEEP_PROVINCE) / n;
    (other + READER_REAL_SHARE * READER_KEEP_PROVINCE) / other
};

/// The number of province characters (`PROVINCES`).
pub(crate) const PROVINCE_COUNT: usize = 31;

/// Grey levels between the thresholds of `window_patch`'s binarisations.
pub const THRESHOLD_STEP: u8 = 12;

/// A read's province as it counts in the vote where the province CNN has
/// no glyph to classify: the reader's share alone (`1 - w_cnn` of its
/// province probabilities, its training prior divided out, as in
/// [`vote`]), over the provinces the rest of the text allows, as where
/// the CNN has a view. None where the read's first character is no
/// province to check, or where the text allows none.
pub(crate) fn reader_share(net: &cnn::Net, read: &cnn::Read, w_cnn: f32) -> Option<Dist> {
    if !province_checked(&read.text) {
        return None;
    }
    let prov_net = province_model().ok()?;
    let none = vec![0f32; prov_net.classes.len()];
    allowed(read, vote(prov_net, net, read, &none, w_cnn, "reader only"))
}

/// The province: weighted average of the province CNN's probabilities and the
/// reader's (province classes at the province's peak column, renormalised).
pub(crate) fn vote(
    prov_net: &pcnn::PNet,
    net: &cnn::Net,
    read: &cnn::Read,
    pm: &[f32],
    w_cnn: f32,
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
        .map(|((a, b), &ch)| (ch, w_cnn * a + (1.0 - w_cnn) * b))
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
