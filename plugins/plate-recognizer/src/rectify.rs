//! Rectifying: a candidate's rotated (or sheared) rectangle, or a window
//! of it, cut out of the full-resolution photo by bilinear interpolation.
//! Only the pixels of the region a crop samples are made (`Photo::pixels`:
//! the bounding box of the sampled area plus the bilinear neighbours).

use crate::colour::{background_bits, color_classes, fmax, fmin, plate_color};
use crate::layout::line_fit;
use crate::locate::{Cand, Fallback};
use crate::photo::Photo;
use image::RgbImage;

/// Where a crop of a candidate comes from: the photo, the candidate and
/// the margins (width and height factors) it was cut out with.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) full: &'a Photo<'a>,
    pub(crate) c: &'a Cand,
    pub(crate) ew: f32,
    pub(crate) eh: f32,
}

pub(crate) fn rectify(
    full: &Photo,
    c: &Cand,
    exp_w: f32,
    exp_h: f32,
    ow: u32,
    oh: u32,
) -> RgbImage {
    rectify_window(full, c, exp_w, exp_h, [0.0, 1.0, 0.0, 1.0], ow, oh)
}

/// The rotated rectangle centred at (`cx`, `cy`), `w` × `h`, turned by
/// `angle` (radians, clockwise), cut out of `photo` as an `ow` × `oh`
/// image the way the recogniser cuts its candidates (for the training
/// tools: a labelled plate).
pub fn cut_box(photo: &RgbImage, [cx, cy, w, h, angle]: [f32; 5], ow: u32, oh: u32) -> RgbImage {
    let c = Cand {
        cx,
        cy,
        w,
        h,
        angle,
        color: None,
        shear: false,
        keystone: 0.0,
        fallback: Fallback::No,
    };
    rectify(&Photo::from_rgb(photo), &c, 1.0, 1.0, ow, oh)
}

/// Like `rectify`, for the window [u0, u1] × [v0, v1] of the crop
/// (normalised crop coordinates).
pub(crate) fn rectify_window(
    full: &Photo,
    c: &Cand,
    exp_w: f32,
    exp_h: f32,
    win: [f32; 4],
    ow: u32,
    oh: u32,
) -> RgbImage {
    // (timed as cutting crops, the pixels it makes included)
    crate::stage::timed(&crate::stage::CROPS, || {
        let rw = c.w * exp_w;
        let rh = c.h * exp_h;
        let (fw, fh) = (full.width() as f32, full.height() as f32);
        let (ca, sa) = (c.angle.cos(), c.angle.sin());
        let mut out = RgbImage::new(ow, oh);
        // a sample's position, half a pixel back to pixel centres, clamped
        // to where its bilinear neighbours are inside the photo
        let clamped = |x: f32, y: f32| {
            (
                (x - 0.5).clamp(0.0, fw - 1.001),
                (y - 0.5).clamp(0.0, fh - 1.001),
            )
        };
        // (in perspective, `u` is the fraction of the way along the plate)
        let to_photo = |u: f32, v: f32| {
            if c.keystone != 0.0 {
                let [x, y] = c.in_perspective(u / c.w, v);
                (x, y)
            } else if c.shear {
                (c.cx + u * ca, c.cy + u * sa + v)
            } else {
                (c.cx + u * ca - v * sa, c.cy + u * sa + v * ca)
            }
        };
        // the region sampled: the window's corners (the samples lie inside
        // them), clamped as the samples are, plus the bilinear neighbours and
        // a pixel for rounding
        let (mut bx0, mut by0, mut bx1, mut by1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for (wu, wv) in [(0, 2), (1, 2), (0, 3), (1, 3)] {
            let (x, y) = to_photo((win[wu] - 0.5) * rw, (win[wv] - 0.5) * rh);
            let (x, y) = clamped(x, y);
            (bx0, by0) = (fmin(bx0, x), fmin(by0, y));
            (bx1, by1) = (fmax(bx1, x), fmax(by1, y));
        }
        let raw = full.pixels(
            (bx0 as i32 - 1).max(0) as u32,
            (by0 as i32 - 1).max(0) as u32,
            bx1 as i32 as u32 + 3,
            by1 as i32 as u32 + 3,
        );
        let stride = full.width() as usize * 3;
        let (last_x, last_y) = (full.width() as usize - 1, full.height() as usize - 1);
        // `to_photo` split into what depends on the column and what on the
        // row, with the same operations per sample: x = (cx + u·cos) − v·sin,
        // y = (cy + u·sin) + v·cos; sheared, x = (cx + u·cos) − 0 (the same
        // value, bit for bit) and y = (cy + u·sin) + v
        // (in perspective, each column's heights scaled: `gains`)
        let mut gains = Vec::new();
        let cols: Vec<(f32, f32)> = (0..ow)
            .map(|ox| {
                let u = (win[0] + (ox as f32 + 0.5) / ow as f32 * (win[1] - win[0]) - 0.5) * rw;
                if c.keystone != 0.0 {
                    let (a, g) = c.along(u / c.w);
                    gains.push(g);
                    return (c.cx + a * ca, c.cy + a * sa);
                }
                (c.cx + u * ca, c.cy + u * sa)
            })
            .collect();
        let row = |oy: usize| {
            let v = (win[2] + (oy as f32 + 0.5) / oh as f32 * (win[3] - win[2]) - 0.5) * rh;
            if c.shear { (0.0, v) } else { (v * sa, v * ca) }
        };
        // Natively, the lines a row's samples read are asked for `AHEAD`
        // rows before it, at every `every`-th sample (about one per 64-byte
        // line): in a large photo a crop's samples are pixels apart and its
        // rows rows apart, so each row reads lines no earlier row brought
        // in, and waiting for them was much of why the sampler took longer
        // per crop the larger the photo (README, "Time by photo size, per
        // crop read").
        let step = (rw * (win[1] - win[0]) / ow as f32).abs().max(1.0);
        let every = ((64.0 / (3.0 * step)) as usize).clamp(1, 16);
        let warm_row = |r: usize| {
            if r < oh as usize {
                let (wx, wy) = row(r);
                for &(ux, uy) in cols.iter().step_by(every) {
                    let (x, y) = clamped(ux - wx, uy + wy);
                    let i = y as i32 as usize * stride + x as i32 as usize * 3;
                    prefetch(&raw, i);
                    prefetch(&raw, i + stride);
                }
            }
        };
        if PREFETCH {
            (0..AHEAD).for_each(warm_row);
        }
        let dst = out.as_mut();
        for (r, line) in dst.chunks_exact_mut(ow as usize * 3).enumerate() {
            if PREFETCH {
                warm_row(r + AHEAD);
            }
            let (vx, vy) = row(r);
            let sample = |(x, y): (f32, f32), px: &mut [u8]| {
                // (x, y ≥ 0: truncation is floor, and a signed conversion is
                // cheaper than an unsigned one in wasm32)
                let (x0, y0) = (x as i32 as usize, y as i32 as usize);
                let (ax, ay) = (x - x0 as f32, y - y0 as f32);
                let x1 = (x0 + 1).min(last_x);
                let y1 = (y0 + 1).min(last_y);
                let at = |y: usize, x: usize| y * stride + x * 3;
                let quad = [at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1)];
                blend(&raw, quad, ax, ay, px);
            };
            if gains.is_empty() {
                for (&(ux, uy), px) in cols.iter().zip(line.chunks_exact_mut(3)) {
                    sample(clamped(ux - vx, uy + vy), px);
                }
            } else {
                for ((&(ux, uy), g), px) in cols.iter().zip(&gains).zip(line.chunks_exact_mut(3)) {
                    sample(clamped(ux - vx * g, uy + vy * g), px);
                }
            }
        }
        out
    })
}

/// Least perspective ([`Cand::keystone`]) a plate is read again in: its
/// ends' heights 1.22 to 1 (a plate 230 px wide seen about 37° from
/// square on by a camera with a 700 px focal length). Plates seen square
/// on in the EasyPR photos measure up to about 0.17 (a box that cuts an
/// end off, a shadow).
pub const KEYSTONE_MIN: f32 = 0.2;

/// How far a plate seen from one side is in perspective
/// ([`Cand::keystone`]), measured from the rows of its background colour
/// (blue, yellow, green) in each column of a crop of its box: the plate's
/// height along it is a straight line in the photo, and the ratio of its
/// ends' heights `r` gives `k = 2 (r − 1) / (r + 1)`. 0 for a plate
/// without a background colour (white, black, grey photos), where fewer
/// than half of the columns show the plate, or where the heights are not
/// on a line (a car of the plate's colour around it).
pub(crate) fn keystone_of(full: &Photo, c: &Cand) -> f32 {
    let (ow, oh) = (96usize, 64usize);
    let crop = rectify(full, c, 1.0, 1.6, ow as u32, oh as u32);
    let color = c.color.unwrap_or_else(|| plate_color(&crop));
    let Some(bits) = background_bits(color) else {
        return 0.0;
    };
    let classes = color_classes(&crop);
    let bg = |x: usize, y: usize| classes[y * ow + x] & bits != 0;
    // per column: its position along the box (-0.5 to 0.5) and the
    // plate's first and last row there, where both are inside the crop
    let cols: Vec<(f32, f32, f32)> = (ow / 10..ow - ow / 10)
        .filter_map(|x| {
            let top = (0..oh).find(|&y| bg(x, y))?;
            let bottom = (0..oh).rev().find(|&y| bg(x, y))?;
            (top > 0 && bottom + 1 < oh && bottom + 1 - top >= oh / 4).then_some((
                (x as f32 + 0.5) / ow as f32 - 0.5,
                top as f32,
                (bottom + 1) as f32,
            ))
        })
        .collect();
    if cols.len() * 2 < ow * 8 / 10 {
        return 0.0;
    }
    let edge = |pick: fn(&(f32, f32, f32)) -> f32| {
        let pts: Vec<(f32, f32)> = cols.iter().map(|c| (c.0, pick(c))).collect();
        let (a, b, res) = line_fit(&pts);
        (a, b, res.sqrt())
    };
    let (top, bottom) = (edge(|c| c.1), edge(|c| c.2));
    let (left, right) = (
        (bottom.0 - bottom.1 / 2.0) - (top.0 - top.1 / 2.0),
        (bottom.0 + bottom.1 / 2.0) - (top.0 + top.1 / 2.0),
    );
    let mid = bottom.0 - top.0;
    // both edges on lines, and converging (slopes of opposite signs, as a
    // plate's edges do in perspective; a turned box tilts both alike)
    let straight = top.2.max(bottom.2) <= 0.05 * mid;
    if !straight || top.1 * bottom.1 >= 0.0 || left <= 0.0 || right <= 0.0 {
        return 0.0;
    }
    let r = left / right;
    let k = 2.0 * (r - 1.0) / (r + 1.0);
    if crate::debug_on() {
        eprintln!(
            "  keystone: heights {left:.1} .. {right:.1} (rms {:.1}, {:.1}) -> {k:.3}",
            top.2, bottom.2
        );
    }
    k.clamp(-0.9, 0.9)
}

/// How many rows ahead of the one sampled [`rectify_window`] asks for
/// the lines its samples will read.
const AHEAD: usize = 2;

/// Whether [`prefetch`] does anything: x86-64 only. wasm32 has no
/// prefetch, and early loads in its place made the component's sampler
/// slower, not faster (NOTEBOOK.md, "The crop sampler's lines asked for
/// ahead").
const PREFETCH: bool = cfg!(target_arch = "x86_64");

/// Asks for the cache line holding `raw[i]` ahead of its use (nothing
/// when `i` is outside `raw`, or without [`PREFETCH`]).
#[inline(always)]
fn prefetch(raw: &[u8], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if i < raw.len() {
        // SAFETY: `i` is inside `raw`; a prefetch reads nothing and cannot
        // fault.
        unsafe {
            use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(raw.as_ptr().add(i).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (raw, i);
}

/// Writes to `px` the bilinear blend, rounded, of the RGB pixels at byte
/// offsets `q` (top left, top right, bottom left, bottom right) of `raw`,
/// at (`ax`, `ay`) between them. In wasm32 the three channels are three
/// lanes of SIMD128 with the same operations per lane, so the same bytes.
#[inline(always)]
fn blend(raw: &[u8], q: [usize; 4], ax: f32, ay: f32, px: &mut [u8]) {
    #[cfg(target_arch = "wasm32")]
    #[allow(unused_unsafe)]
    // SAFETY: only SIMD128 is needed, and the components are built with it
    // (`scripts/build-plugins`); a module using it validates or does not load.
    unsafe {
        blend_simd(raw, q, ax, ay, px)
    }
    #[cfg(not(target_arch = "wasm32"))]
    blend_plain(raw, q, ax, ay, px)
}

/// [`blend`] one channel at a time (natively; in wasm32 the reference
/// the SIMD128 version is tested against).
#[inline(always)]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
fn blend_plain(raw: &[u8], q: [usize; 4], ax: f32, ay: f32, px: &mut [u8]) {
    let p: [&[u8]; 4] = q.map(|i| &raw[i..i + 3]);
    for k in 0..3 {
        let v = p[0][k] as f32 * (1.0 - ax) * (1.0 - ay)
            + p[1][k] as f32 * ax * (1.0 - ay)
            + p[2][k] as f32 * (1.0 - ax) * ay
            + p[3][k] as f32 * ax * ay;
        px[k] = round_u8(v);
    }
}

/// [`blend`] with the channels in lanes (the fourth lane, the next
/// pixel's first byte or 0, is computed and dropped); [`round_u8`] per lane.
#[cfg(target_arch = "wasm32")]
#[inline]
#[target_feature(enable = "simd128")]
fn blend_simd(raw: &[u8], q: [usize; 4], ax: f32, ay: f32, px: &mut [u8]) {
    use core::arch::wasm32::*;
    let load = |i: usize| {
        let b: [u8; 4] = match raw.get(i..i + 4) {
            Some(b) => b.try_into().expect("4 bytes"),
            None => [raw[i], raw[i + 1], raw[i + 2], 0],
        };
        let v = u32x4(u32::from_le_bytes(b), 0, 0, 0);
        f32x4_convert_u32x4(u32x4_extend_low_u16x8(u16x8_extend_low_u8x16(v)))
    };
    let [p00, p10, p01, p11] = q.map(load);
    let (wx, wy) = (f32x4_splat(1.0 - ax), f32x4_splat(1.0 - ay));
    let (ax, ay) = (f32x4_splat(ax), f32x4_splat(ay));
    let term = |p: v128, a: v128, b: v128| f32x4_mul(f32x4_mul(p, a), b);
    let v = f32x4_add(
        f32x4_add(
            f32x4_add(term(p00, wx, wy), term(p10, ax, wy)),
            term(p01, wx, ay),
        ),
        term(p11, ax, ay),
    );
    // round_u8: clamp to [-1, 256], truncate, + 1 from a fraction of 0.5
    let v = f32x4_pmin(f32x4_splat(256.0), f32x4_pmax(f32x4_splat(-1.0), v));
    let i = i32x4_trunc_sat_f32x4(v);
    let up = f32x4_ge(f32x4_sub(v, f32x4_convert_i32x4(i)), f32x4_splat(0.5));
    let i = i32x4_min(
        i32x4_max(i32x4_sub(i, up), i32x4_splat(0)),
        i32x4_splat(255),
    );
    let b = u8x16_narrow_i16x8(i16x8_narrow_i32x4(i, i), i16x8_splat(0));
    px[0] = u8x16_extract_lane::<0>(b);
    px[1] = u8x16_extract_lane::<1>(b);
    px[2] = u8x16_extract_lane::<2>(b);
}

/// `v.round().clamp(0.0, 255.0) as u8` without the call to `roundf` that
/// `round` is in wasm32 (nor to `truncf`, which `trunc` is natively on
/// x86-64 without SSE4.1), with a signed conversion: within [-1, 256]
/// `v as i32` is `trunc(v)` exactly and `v - trunc(v)` is exact; out of
/// it (and NaN) both give the same as at its ends.
#[inline(always)]
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn round_u8(v: f32) -> u8 {
    let v = v.clamp(-1.0, 256.0);
    let i = v as i32;
    (i + ((v - i as f32 >= 0.5) as i32)).clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::round_u8;

    /// The SIMD128 blend gives the plain blend's bytes, at the end of the
    /// buffer too (where it cannot load a fourth byte).
    #[cfg(target_arch = "wasm32")]
    #[test]
    fn simd_blend_is_the_plain_blend() {
        let mut s = 7u32;
        let mut rnd = move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            s >> 8
        };
        let raw: Vec<u8> = (0..3 * 64).map(|_| rnd() as u8).collect();
        for i in 0..20_000 {
            let q = [(); 4].map(|_| 3 * (rnd() as usize % 64));
            // fractions on a grid, their ends and a few just inside them
            let f = |v: u32| match v % 8 {
                0 => 0.0,
                1 => 1.0,
                2 => 0.5,
                3 => 0.999_999_9,
                _ => (v % 4096) as f32 / 4096.0,
            };
            let (ax, ay) = (f(rnd()), f(rnd()));
            let (mut a, mut b) = ([0u8; 3], [0u8; 3]);
            // SAFETY: SIMD128 is enabled for the tests' build (scripts/test)
            // (with +simd128 for the whole build the call needs no unsafe)
            #[allow(unused_unsafe)]
            unsafe {
                super::blend_simd(&raw, q, ax, ay, &mut a)
            };
            super::blend_plain(&raw, q, ax, ay, &mut b);
            assert_eq!(a, b, "case {i}: {q:?} at {ax}, {ay}");
        }
    }

    #[test]
    fn round_u8_is_round_then_clamp() {
        let mut vs: Vec<f32> = (-4000..=30000).map(|i| i as f32 / 100.0).collect();
        vs.extend([
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.49999997,
            254.49998,
            255.49998,
            -0.5,
            1e9,
            -1e9,
        ]);
        for v in vs {
            let want = if v.is_nan() {
                0
            } else {
                v.round().clamp(0.0, 255.0) as u8
            };
            assert_eq!(round_u8(v), want, "{v}");
        }
    }
}
