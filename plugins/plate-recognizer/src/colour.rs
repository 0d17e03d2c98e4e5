//! Colour: per-pixel plate colour classes (HSV thresholds) for the
//! locator's masks and the province window's plate extent, and the colour
//! of a rectified crop from its polarity and background hue.

use crate::segment::otsu;
use crate::{Color, debug_on};
use image::RgbImage;

/// Per pixel, one bit per plate colour: 1 blue, 2 yellow, 4 green, 8 pale
/// or cyan blue (the fallback mask).
#[inline(always)]
pub(crate) fn color_classes(img: &RgbImage) -> Vec<u8> {
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
pub(crate) fn color_bit(color: Color, pale: bool) -> u8 {
    match color {
        Color::Blue if pale => 8,
        Color::Blue => 1,
        Color::Yellow => 2,
        _ => 4,
    }
}

/// h in degrees [0, 360), s and v in [0, 1].
#[inline(always)]
pub(crate) fn hsv(r: u8, g: u8, b: u8) -> (f32, f32, f32) {
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
pub(crate) fn plate_color(crop: &RgbImage) -> Color {
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

/// `a.max(b)` for non-NaN values, without a call (wasm32 has none).
#[inline(always)]
pub(crate) fn fmax(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// `a.min(b)` for non-NaN values, without a call.
#[inline(always)]
pub(crate) fn fmin(a: f32, b: f32) -> f32 {
    if b < a { b } else { a }
}

/// `x.rem_euclid(6.0)` for |x| ≤ 6 (`fmod` is a call in wasm32): `x % 6`
/// is `x` itself there.
#[inline(always)]
pub(crate) fn rem6(x: f32) -> f32 {
    if x < 0.0 { x + 6.0 } else { x }
}
