//! Rectifying: a candidate's rotated (or sheared) rectangle, or a window
//! of it, cut out of the full-resolution photo by bilinear interpolation.
//! Only the pixels of the region a crop samples are made (`Photo::pixels`:
//! the bounding box of the sampled area plus the bilinear neighbours).

use crate::colour::{fmax, fmin};
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
    let rw = c.w * exp_w;
    let rh = c.h * exp_h;
    let (fw, fh) = (full.width() as f32, full.height() as f32);
    let (ca, sa) = (c.angle.cos(), c.angle.sin());
    let mut out = RgbImage::new(ow, oh);
    let to_photo = |u: f32, v: f32| {
        if c.shear {
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
        let (x, y) = (
            (x - 0.5).clamp(0.0, fw - 1.001),
            (y - 0.5).clamp(0.0, fh - 1.001),
        );
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
    for oy in 0..oh {
        for ox in 0..ow {
            let u = (win[0] + (ox as f32 + 0.5) / ow as f32 * (win[1] - win[0]) - 0.5) * rw;
            let v = (win[2] + (oy as f32 + 0.5) / oh as f32 * (win[3] - win[2]) - 0.5) * rh;
            let (x, y) = to_photo(u, v);
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

/// `v.round().clamp(0.0, 255.0) as u8` without the call to `roundf` that
/// `round` is in wasm32 (nor to `truncf`, which `trunc` is natively on
/// x86-64 without SSE4.1), with a signed conversion: within [-1, 256]
/// `v as i32` is `trunc(v)` exactly and `v - trunc(v)` is exact; out of
/// it (and NaN) both give the same as at its ends.
#[inline(always)]
pub(crate) fn round_u8(v: f32) -> u8 {
    let v = v.clamp(-1.0, 256.0);
    let i = v as i32;
    (i + ((v - i as f32 >= 0.5) as i32)).clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::round_u8;

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
