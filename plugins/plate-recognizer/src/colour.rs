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
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see `cnn::mm_fwd` (SIMD128 validates or the module does
    // not load); `unsafe` only without the global `+simd128` flag
    #[allow(unused_unsafe)]
    let done = unsafe { color_classes_simd(raw, &mut out) };
    #[cfg(not(target_arch = "wasm32"))]
    let done = 0;
    let (raw, out_rest) = (&raw[3 * done..], &mut out[done..]);
    // 4 pixels per iteration (fewer loop back-edges in wasm32)
    let mut o4 = out_rest.chunks_exact_mut(4);
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

/// `color_classes` of the first pixels of `raw` (RGB) into `out`, 4
/// pixels per SIMD128 step, with the same operations per pixel as
/// `class` and `hsv` (the same divisions, comparisons for `fmax` /
/// `fmin` / `rem6`, the branches as selections): the same classes.
/// Returns how many pixels it did (a multiple of 4, leaving at least 2
/// at the end: each step loads 16 bytes for 12).
#[cfg(target_arch = "wasm32")]
#[target_feature(enable = "simd128")]
fn color_classes_simd(raw: &[u8], out: &mut [u8]) -> usize {
    use core::arch::wasm32::*;
    let n = out.len().min(raw.len() / 3);
    // 4 pixels = 12 bytes, loaded as 16: stop while 16 bytes remain
    let steps = if raw.len() >= 16 {
        (raw.len() - 16) / 12 + 1
    } else {
        0
    };
    let steps = steps.min(n / 4);
    let f = f32x4_splat;
    let lane = |v: v128, i: [u8; 4]| -> v128 {
        // bytes i of v into the low byte of each 32-bit lane, zeros above
        let idx = u8x16(
            i[0], 255, 255, 255, i[1], 255, 255, 255, i[2], 255, 255, 255, i[3], 255, 255, 255,
        );
        u8x16_swizzle(v, idx)
    };
    for k in 0..steps {
        // SAFETY: 12·k + 16 ≤ raw.len() by `steps`.
        let px = unsafe { v128_load(raw.as_ptr().add(12 * k) as *const v128) };
        let (ri, gi, bi) = (
            lane(px, [0, 3, 6, 9]),
            lane(px, [1, 4, 7, 10]),
            lane(px, [2, 5, 8, 11]),
        );
        // cheap rejection: mx − mn < mx / 10 + 1 (integers; mx ≤ 255, so
        // mx / 10 = (mx · 6554) >> 16)
        let mxi = u32x4_max(u32x4_max(ri, gi), bi);
        let mni = u32x4_min(u32x4_min(ri, gi), bi);
        let tenth = u32x4_shr(i32x4_mul(mxi, u32x4_splat(6554)), 16);
        let grey = i32x4_lt(i32x4_sub(mxi, mni), i32x4_add(tenth, u32x4_splat(1)));
        // hsv
        let r = f32x4_div(f32x4_convert_u32x4(ri), f(255.0));
        let g = f32x4_div(f32x4_convert_u32x4(gi), f(255.0));
        let b = f32x4_div(f32x4_convert_u32x4(bi), f(255.0));
        let mx = f32x4_pmax(f32x4_pmax(r, g), b);
        let mn = f32x4_pmin(f32x4_pmin(r, g), b);
        let d = f32x4_sub(mx, mn);
        let v = mx;
        let s = v128_bitselect(f32x4_div(d, mx), f(0.0), f32x4_gt(mx, f(0.0)));
        let xr = f32x4_div(f32x4_sub(g, b), d);
        let xr = v128_bitselect(f32x4_add(xr, f(6.0)), xr, f32x4_lt(xr, f(0.0)));
        let hr = f32x4_mul(f(60.0), xr);
        let hg = f32x4_mul(f(60.0), f32x4_add(f32x4_div(f32x4_sub(b, r), d), f(2.0)));
        let hb = f32x4_mul(f(60.0), f32x4_add(f32x4_div(f32x4_sub(r, g), d), f(4.0)));
        let h = v128_bitselect(hg, hb, f32x4_eq(mx, g));
        let h = v128_bitselect(hr, h, f32x4_eq(mx, r));
        let h = v128_bitselect(f(0.0), h, f32x4_le(d, f(0.0)));
        let within = |lo: f32, hi: f32, smin: f32, vmin: f32| {
            v128_and(
                v128_and(f32x4_ge(h, f(lo)), f32x4_le(h, f(hi))),
                v128_and(f32x4_gt(s, f(smin)), f32x4_gt(v, f(vmin))),
            )
        };
        let bits = v128_or(
            v128_or(
                v128_and(within(190.0, 260.0, 0.25, 0.18), u32x4_splat(1)),
                v128_and(within(18.0, 62.0, 0.35, 0.3), u32x4_splat(2)),
            ),
            v128_or(
                v128_and(within(75.0, 165.0, 0.25, 0.3), u32x4_splat(4)),
                v128_and(within(165.0, 255.0, 0.1, 0.25), u32x4_splat(8)),
            ),
        );
        let bits = v128_andnot(bits, grey);
        let o = &mut out[4 * k..4 * k + 4];
        o[0] = u32x4_extract_lane::<0>(bits) as u8;
        o[1] = u32x4_extract_lane::<1>(bits) as u8;
        o[2] = u32x4_extract_lane::<2>(bits) as u8;
        o[3] = u32x4_extract_lane::<3>(bits) as u8;
    }
    4 * steps
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

/// The bits of [`color_classes`] a plate's background of this colour
/// sets (blue plain or pale); `None` for plates without a background
/// colour of their own (white, black).
pub(crate) fn background_bits(color: Color) -> Option<u8> {
    match color {
        Color::Blue => Some(color_bit(Color::Blue, false) | color_bit(Color::Blue, true)),
        Color::Yellow | Color::Green => Some(color_bit(color, false)),
        _ => None,
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
/// green or white; the background's mean hue and saturation decide, and
/// for a faint yellow its colour against the step from ink to background
/// (the same at any contrast: haze, glare, a flat photo). A
/// colourless majority over a strongly blue minority is a blue plate
/// whose white characters (bold, or with light surroundings) are most of
/// the band, not a white plate; a grey majority under a light class that
/// holds the band's most frequent shade is a white plate's blurred black
/// characters, the ink, not its background.
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
    let mut light_ink = bright * 2 < px.len();
    // background: the majority class
    let Some(mut bg) = Class::of(&px, t, !light_ink) else {
        return Color::Blue;
    };
    let mut ink = Class::of(&px, t, light_ink);
    // grey without a colour of its own, or tinted only by red ink (a
    // police plate's 警, blurred into its black characters)
    let grey = (bg.sat < COLOURLESS_SAT && bg.rel(ink.as_ref()) < GREY_MAX_REL)
        || (reddish(bg.hue) && bg.sat < RED_TINT_MAX_SAT);
    if light_ink
        && grey
        && bg.val >= BLACK_MAX_VAL
        && peak(&hist) > t
        && let Some(light) = ink.take()
    {
        // a grey majority, not dark as a black plate's, under a light
        // class holding the band's most frequent shade: a white plate
        // whose black characters, blurred into every grey between ink and
        // plate (a small plate), are most of the band. The plate is its
        // one shade; a blue plate's background is the peak of its band
        // however faint its blue
        light_ink = false;
        ink = Some(std::mem::replace(&mut bg, light));
    }
    let rel = bg.rel(ink.as_ref());
    let (hue, sat, val) = (bg.hue, bg.sat, bg.val);
    if debug_on() {
        eprintln!(
            "  colour: light ink {light_ink}, hue {hue:.0}, sat {sat:.2}, val {val:.2}, rel {rel:.2}, grey {:.2} ratio {:.2}; ink {ink:?}",
            bg.grey,
            bg.colourless() / ink.as_ref().map_or(1.0, |k| k.n)
        );
    }
    if light_ink && greenish(hue, sat) && ink.as_ref().is_some_and(|k| greenish(k.hue, k.sat)) {
        // light ink is white (blue and black plates; a red 使 or 领 is
        // small) on a background that is not green: both classes green
        // are a green plate whose dark characters, tinted by its green
        // (blurred on a small plate, or bold), are most of the band (not
        // a black plate on a green car, whose light class has the car's
        // colour)
        if debug_on() {
            eprintln!("  colour: green light class {ink:?}");
        }
        return Color::Green;
    }
    if light_ink {
        // black plates are rare (embassy, Hong Kong and Macau cars) and a
        // blue plate at night or under coloured light is dark and takes the
        // light's hue: black needs a dark background with (almost) no
        // colour (`Class::black`)
        if bg.black(ink.as_ref()) {
            Color::Black
        } else {
            Color::Blue
        }
    } else if (15.0..=70.0).contains(&hue) && (sat > 0.25 || (sat > 0.12 && rel > YELLOW_REL_MIN)) {
        Color::Yellow
    } else if greenish(hue, sat) {
        Color::Green
    } else if let Some(ink) = ink
        .as_ref()
        .filter(|k| (165.0..=260.0).contains(&k.hue) && k.sat > BLUE_INK_MIN_SAT)
    {
        // a colourless majority over a strongly blue minority: a blue
        // plate whose white characters (bold, or with light surroundings)
        // are most of the band; a white plate's ink is black or red
        if debug_on() {
            eprintln!("  colour: blue ink {ink:?}");
        }
        Color::Blue
    } else if sat >= CAR_MIN_SAT
        && bg.grey >= CAR_MIN_GREY
        && ink
            .as_ref()
            .is_some_and(|k| k.black(Some(&bg)) && bg.colourless() < k.n)
    {
        // a light majority that is two things, a strong colour and
        // colourless light, over a black minority (`Class::black`) that
        // outnumbers the colourless light: the car's paint round a black
        // plate (a crop looser than the plate) and the plate's own light
        // characters on its dark background. A white plate, under a cast
        // or beside a coloured car, has more colourless light (its
        // background) than dark (its characters)
        if debug_on() {
            eprintln!("  colour: a black plate on a coloured car");
        }
        Color::Black
    } else {
        Color::White
    }
}

/// How saturated a light majority must be, on the mean, to hold a car's
/// paint (0.16 to 0.27 where it decided a rendered black plate's colour;
/// half its pixels, the plate's characters, are colourless).
const CAR_MIN_SAT: f32 = 0.15;

/// How much of a light majority must be colourless for it to hold a
/// plate's light characters as well as a car's paint (0.47 to 0.60 where
/// the rule decided rendered black plates' colour; a white plate under a
/// colour cast, tinted throughout, has almost none: 0.02 to 0.14 in the
/// EasyPR crops where the other conditions hold).
const CAR_MIN_GREY: f32 = 0.3;

/// The most frequent luminance of a histogram smoothed over 9 levels.
fn peak(hist: &[u32; 256]) -> u8 {
    let mut best = (0u32, 0u8);
    for i in 0..256usize {
        let n: u32 = hist[i.saturating_sub(4)..(i + 5).min(256)].iter().sum();
        if n > best.0 {
            best = (n, i as u8);
        }
    }
    best.1
}

/// A green plate's background: hue and saturation of an Otsu class.
fn greenish(hue: f32, sat: f32) -> bool {
    (70.0..=170.0).contains(&hue) && sat > 0.12
}

/// Red hues: below a yellow background's 15° or above 340°.
fn reddish(hue: f32) -> bool {
    !(15.0..=340.0).contains(&hue)
}

/// Whether a plate of this colour has light characters on a dark
/// background (blue, black) rather than dark on light.
pub(crate) fn light_ink(color: Color) -> bool {
    matches!(color, Color::Blue | Color::Black)
}

/// Below this saturation a dark background is a black plate's, and a
/// grey one has no colour of its own.
const COLOURLESS_SAT: f32 = 0.1;

/// A colourless background darker than this (value 0 to 1) is a black
/// plate's.
const BLACK_MAX_VAL: f32 = 0.35;

/// How little colour against the step to its light characters
/// (`Class::rel`) a dark background may have to be a black plate's
/// whatever its saturation, which at a value of 0.1 a level or two of
/// JPEG chroma noise makes 0.1 or more: rendered black plates at 0.22 ×
/// have 0.008 to 0.014 in most crops, EasyPR's dark crops (blue plates
/// at night, under coloured light, and what is not a plate) at least
/// 0.021 at any size or contrast, a blue plate at night about 0.07.
const BLACK_MAX_REL: f32 = 0.015;

/// How little colour (against the step from the ink, `Class::rel`) a
/// grey majority under a light class may have to be a small white
/// plate's blurred characters: the rendered white plates it was made for
/// have up to 0.08, blue plates at their own contrast about 1.
const GREY_MAX_REL: f32 = 0.2;

/// How saturated a red-tinted grey class may be to be a police plate's
/// blurred black and red characters (0.11 to 0.26 on the rendered police
/// plates at 0.22 ×), not a colour: no plate has a red background.
const RED_TINT_MAX_SAT: f32 = 0.3;

/// How colourful a yellowish background must be, against the luminance
/// step from the ink to it (`chroma / step`: the same at any contrast),
/// to make a plate yellow where its saturation is only 0.12 to 0.25 (a
/// yellow plate in haze, glare or a flat photo). Yellow plates of the
/// tuning part have 0.8 to 1.2.
const YELLOW_REL_MIN: f32 = 0.5;

/// How saturated the ink class of a mostly bright, colourless crop must
/// be to make it a blue plate's background (0.3 and 0.5 read the same on
/// the tuning part).
const BLUE_INK_MIN_SAT: f32 = 0.3;

/// One Otsu class of a crop's central band: mean hue (saturation
/// weighted, degrees), saturation and value, mean chroma (max - min of
/// the channels) and luminance (0 to 255).
#[derive(Debug)]
struct Class {
    hue: f32,
    sat: f32,
    val: f32,
    chroma: f32,
    luma: f32,
    /// The share of its pixels without a colour (saturation under
    /// [`COLOURLESS_SAT`]).
    grey: f32,
    /// How many pixels it has.
    n: f32,
}

impl Class {
    /// The pixels above (`bright`) or not above Otsu's threshold `t`.
    fn of(px: &[(u8, [u8; 3])], t: u8, bright: bool) -> Option<Class> {
        let (mut sx, mut sy, mut ss, mut sv, mut sc, mut sl, mut sg, mut n) =
            (0f32, 0f32, 0f32, 0f32, 0f32, 0f32, 0f32, 0f32);
        for (l, p) in px {
            if (*l > t) != bright {
                continue;
            }
            let (hh, s, v) = hsv(p[0], p[1], p[2]);
            let a = hh.to_radians();
            sx += s * a.cos();
            sy += s * a.sin();
            ss += s;
            sv += v;
            sc += (p[0].max(p[1]).max(p[2]) - p[0].min(p[1]).min(p[2])) as f32;
            sl += *l as f32;
            sg += f32::from(u8::from(s < COLOURLESS_SAT));
            n += 1.0;
        }
        (n > 0.0).then(|| Class {
            hue: sy.atan2(sx).to_degrees().rem_euclid(360.0),
            sat: ss / n,
            val: sv / n,
            chroma: sc / n,
            luma: sl / n,
            grey: sg / n,
            n,
        })
    }

    /// Whether this is a black plate's black against `other`: dark, and
    /// without a colour of its own, by its saturation or by its colour
    /// against the step to `other` ([`Class::rel`]; a small plate's black
    /// takes a saturation of 0.1 or more from JPEG chroma noise).
    fn black(&self, other: Option<&Class>) -> bool {
        self.val < BLACK_MAX_VAL && (self.sat < COLOURLESS_SAT || self.rel(other) < BLACK_MAX_REL)
    }

    /// How many of its pixels have no colour (`grey` of `n`).
    fn colourless(&self) -> f32 {
        self.grey * self.n
    }

    /// This class's colour against the luminance step from `ink` to it
    /// (mean chroma ÷ step): a plate in haze or glare (low contrast) keeps
    /// it where its saturation falls; a white plate in warm light, or a
    /// grey one, has little of it.
    fn rel(&self, ink: Option<&Class>) -> f32 {
        ink.map_or(0.0, |ink| {
            self.chroma / (self.luma - ink.luma).abs().max(1.0)
        })
    }
}

/// Whether a crop seen as yellow is a large car's new-energy plate (GA 36:
/// yellow under its province and letter, green under its serial, with 8
/// characters like a small car's green one): the crop's right part, where
/// only the serial is, has a green plate's colour.
pub(crate) fn serial_green(crop: &RgbImage) -> bool {
    let (w, h) = crop.dimensions();
    let right = image::imageops::crop_imm(crop, w * 2 / 5, 0, w / 2, h).to_image();
    plate_color(&right) == Color::Green
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
