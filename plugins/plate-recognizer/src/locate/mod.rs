//! Locating: the candidate plates of a photo, as rotated rectangles in
//! full-resolution coordinates. Owns the working-size copy of the photo
//! ([`Scene`]), the candidate type ([`Cand`]) and when a looser candidate
//! is read ([`Fallback`]), deduplication, and zooming into a large
//! candidate. The masks and their morphology are in `mask`, the colour and
//! edge candidates in `colour_mask` and `edges`.

mod colour_mask;
mod edges;
pub(crate) mod mask;

use crate::Color;
use crate::colour::{color_classes, fmax, fmin};
use crate::photo::Photo;
use colour_mask::{color_candidates, textured_candidates};
use edges::{edge_candidates, vertical_edges};
use image::RgbImage;
use mask::Mask;

/// Photos wider than this are downscaled before locating plates.
pub const WORK_WIDTH: u32 = 640;

/// A located plate candidate: rotated rectangle in full-image coordinates.
#[derive(Clone, Debug)]
pub(crate) struct Cand {
    pub(crate) cx: f32,
    pub(crate) cy: f32,
    pub(crate) w: f32,
    pub(crate) h: f32,
    pub(crate) angle: f32,
    pub(crate) color: Option<Color>,
    /// Rectify by shearing (the crop's vertical stays the image's vertical):
    /// right for plates tilted by perspective rather than rotated.
    pub(crate) shear: bool,
    /// Perspective across the plate, for a plate seen from one side: its
    /// height at `s` (the position along it as a fraction of `w`, 0 at the
    /// centre, ±0.5 at its ends) is `h / (1 + keystone · s)`, and its
    /// width foreshortened the same way ([`Cand::along`]); 0 for a plate
    /// seen square on (then `shear` applies, otherwise not).
    pub(crate) keystone: f32,
    /// Found by a looser test: when to read it.
    pub(crate) fallback: Fallback,
}

impl Cand {
    /// The rotated rectangle of a box's corners (top left, top right,
    /// bottom right, bottom left): its centre, the top edge's length and
    /// direction, the left edge's length (a sheared box becomes the
    /// rectangle of its edges).
    pub(crate) fn around(corners: &[[f32; 2]; 4]) -> Cand {
        let [c0, c1, _, c3] = *corners;
        Cand {
            cx: corners.iter().map(|c| c[0]).sum::<f32>() / 4.0,
            cy: corners.iter().map(|c| c[1]).sum::<f32>() / 4.0,
            w: (c1[0] - c0[0]).hypot(c1[1] - c0[1]),
            h: (c3[0] - c0[0]).hypot(c3[1] - c0[1]),
            angle: (c1[1] - c0[1]).atan2(c1[0] - c0[0]),
            color: None,
            shear: false,
            keystone: 0.0,
            fallback: Fallback::No,
        }
    }

    /// The box's corners in the photo: top left, top right, bottom right,
    /// bottom left (as `rectify` maps the crop's corners).
    pub(crate) fn corners(&self) -> [[f32; 2]; 4] {
        let (ca, sa) = (self.angle.cos(), self.angle.sin());
        let (hw, hh) = (self.w / 2.0, self.h / 2.0);
        if self.keystone != 0.0 {
            return [(-0.5, -hh), (0.5, -hh), (0.5, hh), (-0.5, hh)]
                .map(|(s, v)| self.in_perspective(s, v));
        }
        [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)].map(|(u, v)| {
            if self.shear {
                [self.cx + u * ca, self.cy + u * sa + v]
            } else {
                [self.cx + u * ca - v * sa, self.cy + u * sa + v * ca]
            }
        })
    }

    /// Where the point `s` of the way along a plate in perspective
    /// ([`Cand::keystone`] `k`; `s` a fraction of `w` from its centre) is
    /// seen, as an offset along the box's axis from its centre, and how
    /// much its heights are scaled there: `w · ((1 − k²/4) · s / (1 + k·s)
    /// + k/4)` and `1 / (1 + k·s)`, a pinhole camera's view of a plane
    /// turned about its vertical axis, with the ends (`s` = ±0.5) at ±w/2.
    #[inline(always)]
    pub(crate) fn along(&self, s: f32) -> (f32, f32) {
        let k = self.keystone;
        let g = 1.0 / (1.0 + k * s);
        (self.w * ((1.0 - k * k / 4.0) * s * g + k / 4.0), g)
    }

    /// The photo's point `s` of the way along a plate in perspective
    /// ([`Cand::along`]) and `v` px across it where it is seen square on
    /// (at its centre; scaled by the height there).
    pub(crate) fn in_perspective(&self, s: f32, v: f32) -> [f32; 2] {
        let (ca, sa) = (self.angle.cos(), self.angle.sin());
        let (u, g) = self.along(s);
        let v = v * g;
        [self.cx + u * ca - v * sa, self.cy + u * sa + v * ca]
    }

    /// The part of the plate from `s0` to `s1` (fractions of `w` from its
    /// centre, as in [`Cand::along`]) as a box of its own: the same view
    /// restricted, so that the part's own ends and perspective are those
    /// the plate's give there.
    pub(crate) fn part(&self, s0: f32, s1: f32) -> Cand {
        let (a0, _) = self.along(s0);
        let (a1, _) = self.along(s1);
        let sm = (s0 + s1) / 2.0;
        let k = self.keystone;
        let du = (a0 + a1) / 2.0;
        let (ca, sa) = (self.angle.cos(), self.angle.sin());
        let mut out = self.clone();
        out.cx = self.cx + du * ca;
        out.cy = self.cy + du * sa;
        out.w = a1 - a0;
        out.h = self.h / (1.0 + k * sm);
        out.keystone = k * (s1 - s0) / (1.0 + k * sm);
        out
    }
}

/// When a candidate found by a looser test is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// Always (not a fallback).
    #[default]
    No,
    /// While no read is confident.
    Unsure,
    /// A plate on a car of its own colour (textured colour, the loosest
    /// test): while nothing was read, or where it could be the main plate
    /// (`search::wanted`).
    Textured,
}

/// Every candidate plate rectangle (full-resolution coordinates),
/// deduplicated, most promising first, the fallbacks last.
pub(crate) fn locate(full: &Photo) -> Vec<Cand> {
    let scene = Scene::new(full);
    let mut cands = scene.candidates(Fallback::No, &[]);
    for kind in [Fallback::Unsure, Fallback::Textured] {
        let more = scene.candidates(kind, &cands);
        cands.extend(more);
    }
    cands
}

/// A photo prepared for locating: its working-size copy (at most
/// `WORK_WIDTH` wide), colour classes and vertical edges. The fallback
/// candidates are located from it after the others, when the search asks
/// for them (`search::read_candidates`).
pub(crate) struct Scene {
    /// The working-size copy (the photo itself, when small enough; from a
    /// JPEG at a reduced scale: `Photo::working_copy`).
    img: RgbImage,
    /// Working size / full size.
    scale: f32,
    classes: Vec<u8>,
    edges: Mask,
    /// A monochrome or infrared camera's photo ([`Scene::colourless`]).
    colourless: bool,
    /// The learned detector's input for the photo, made when first asked
    /// for ([`Scene::detector_input`]).
    detector: std::cell::OnceCell<crate::detect::Input>,
    /// Candidates narrower than this (full-resolution pixels) are not
    /// given: 0 but in the close-up pass (`crate::close_up`).
    min_width: f32,
}

impl Scene {
    pub(crate) fn new(full: &Photo) -> Scene {
        #[cfg(target_arch = "wasm32")]
        {
            // SAFETY: see `cnn::mm_fwd` (SIMD128 either validates or the
            // module does not load).
            unsafe { Self::new_simd(full) }
        }
        #[cfg(not(target_arch = "wasm32"))]
        Self::new_impl(full)
    }

    /// Compiled with SIMD128 (its helpers are inlined into it).
    #[cfg(target_arch = "wasm32")]
    #[target_feature(enable = "simd128")]
    unsafe fn new_simd(full: &Photo) -> Scene {
        Self::new_impl(full)
    }

    #[inline(always)]
    fn new_impl(full: &Photo) -> Scene {
        let (fw, fh) = full.dimensions();
        let scale = if fw > WORK_WIDTH {
            WORK_WIDTH as f32 / fw as f32
        } else {
            1.0
        };
        let img = crate::stage::copy(|| {
            if scale < 1.0 {
                let nh = ((fh as f32 * scale).round() as u32).max(1);
                full.working_copy(WORK_WIDTH, nh)
            } else {
                full.working_copy(fw, fh)
            }
        });
        Scene {
            colourless: colourless(&img),
            classes: color_classes(&img),
            edges: vertical_edges(&img),
            img,
            scale,
            detector: std::cell::OnceCell::new(),
            min_width: 0.0,
        }
    }

    /// This scene giving only candidates `min_width` wide or wider (its
    /// photo's pixels), the learned detector's too
    /// ([`Scene::wide_enough`]).
    pub(crate) fn with_min_width(mut self, min_width: f32) -> Scene {
        self.min_width = min_width;
        self
    }

    /// Whether a candidate is as wide as this scene's candidates must be.
    pub(crate) fn wide_enough(&self, c: &Cand) -> bool {
        c.w >= self.min_width
    }

    /// Whether the photo has (almost) no colour, as a monochrome or
    /// infrared camera sees: the colour masks find nothing in it, and a
    /// crop's colour says only which way round its characters are.
    pub(crate) fn colourless(&self) -> bool {
        self.colourless
    }

    /// The learned detector's input for `full` (the photo of this scene),
    /// made on the first call: the detector's check of an unsure answer
    /// and its own pass after a refused one use the same copy.
    pub(crate) fn detector_input(&self, full: &Photo) -> &crate::detect::Input {
        self.detector
            .get_or_init(|| crate::detect::prepare_photo(full))
    }

    /// Candidates of one kind, in full-resolution coordinates, without
    /// near-duplicates of each other or of `known`; `known` and these
    /// together are at most `MAX_CANDIDATES`.
    pub(crate) fn candidates(&self, kind: Fallback, known: &[Cand]) -> Vec<Cand> {
        #[cfg(target_arch = "wasm32")]
        {
            // SAFETY: as in `new`.
            unsafe { self.candidates_simd(kind, known) }
        }
        #[cfg(not(target_arch = "wasm32"))]
        self.candidates_impl(kind, known)
    }

    #[cfg(target_arch = "wasm32")]
    #[target_feature(enable = "simd128")]
    unsafe fn candidates_simd(&self, kind: Fallback, known: &[Cand]) -> Vec<Cand> {
        self.candidates_impl(kind, known)
    }

    #[inline(always)]
    fn candidates_impl(&self, kind: Fallback, known: &[Cand]) -> Vec<Cand> {
        let img = &self.img;
        let mut cands = Vec::new();
        match kind {
            Fallback::No => {
                for color in [Color::Blue, Color::Yellow, Color::Green] {
                    color_candidates(img, &self.classes, color, false, &mut cands);
                }
                edge_candidates(&self.edges, &mut cands);
            }
            // pale or cyan blue: night photos lit by a flash or infrared,
            // faded plates, a colour cast
            Fallback::Unsure => color_candidates(img, &self.classes, Color::Blue, true, &mut cands),
            // plates on a car of their own colour (the loosest test)
            Fallback::Textured => {
                let near_edge = self.edges.box_op(2, 1, true);
                for color in [Color::Blue, Color::Yellow] {
                    textured_candidates(&near_edge, &self.classes, color, &mut cands);
                }
            }
        }
        let mut uniq: Vec<Cand> = Vec::new();
        for mut c in cands {
            // back to full-resolution coordinates
            c.cx /= self.scale;
            c.cy /= self.scale;
            c.w /= self.scale;
            c.h /= self.scale;
            c.fallback = kind;
            if !self.wide_enough(&c) {
                continue;
            }
            let dup = known.iter().chain(&uniq).any(|u| {
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
        uniq.truncate(MAX_CANDIDATES.saturating_sub(known.len()));
        uniq
    }
}

/// Whether a photo has (almost) no colour, as a monochrome or infrared
/// camera takes it: under one pixel in a thousand (of every other row and
/// column) whose channels are more than `COLOURLESS_CHROMA` apart. A
/// colour photo has some anywhere: a car, a sign, the sky; a grey one only
/// its JPEG's rounding.
pub(crate) fn colourless(img: &RgbImage) -> bool {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let (mut seen, mut coloured) = (0usize, 0usize);
    for y in (0..h).step_by(2) {
        for p in raw[3 * y * w..3 * (y + 1) * w].chunks_exact(6) {
            let (mx, mn) = (p[0].max(p[1]).max(p[2]), p[0].min(p[1]).min(p[2]));
            coloured += (mx - mn > COLOURLESS_CHROMA) as usize;
            seen += 1;
        }
    }
    coloured * 1000 < seen
}

/// Channels further apart than this (of 255) make a pixel coloured
/// ([`colourless`]): above a grey JPEG's rounding and an infrared camera's
/// faint tint, below any colour seen as one.
const COLOURLESS_CHROMA: u8 = 24;

/// Candidates located inside a (large) candidate's box, at most 4, each
/// smaller than it.
pub(crate) fn zoom(full: &Photo, c: &Cand) -> Vec<Cand> {
    let (fw, fh) = (full.width() as f32, full.height() as f32);
    let (hw, hh) = (0.6 * c.w.max(c.h), 0.6 * c.w.max(c.h) * 0.6);
    let x0 = (c.cx - hw).clamp(0.0, fw - 1.0) as u32;
    let y0 = (c.cy - hh).clamp(0.0, fh - 1.0) as u32;
    let x1 = (c.cx + hw).clamp(0.0, fw) as u32;
    let y1 = (c.cy + hh).clamp(0.0, fh) as u32;
    if x1 < x0 + 48 || y1 < y0 + 16 {
        return Vec::new();
    }
    let sub = Photo::from(full.crop(x0, y0, x1 - x0, y1 - y0));
    let mut out = locate(&sub);
    out.retain(|k| k.w < 0.8 * c.w);
    out.truncate(4);
    for k in out.iter_mut() {
        k.cx += x0 as f32;
        k.cy += y0 as f32;
    }
    out
}

/// At most this many components of each colour (and of the edge map) are
/// kept, the largest first.
pub(crate) const TAKE_N: usize = 16;

/// At most this many (deduplicated) candidates are read.
pub(crate) const MAX_CANDIDATES: usize = 48;

/// Box-filter downscale (each output pixel averages its source area): the
/// working-size copy, the detector's input.
#[inline(always)]
pub fn resize_box(img: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    resize_box_raw(img.as_raw(), w, h, nw as usize, nh as usize)
}

/// [`resize_box`] of the RGB pixels `raw` (`w` × `h`).
#[inline(always)]
pub(crate) fn resize_box_raw(raw: &[u8], w: usize, h: usize, nw: usize, nh: usize) -> RgbImage {
    if w == 2 * nw && h == 2 * nh {
        // exact halving (1280 × 720 → 640 × 360): average 2 × 2 blocks
        let mut out = vec![0u8; nw * nh * 3];
        // vertical sums of the row pair, then 2 × 2 blocks, 4 output pixels
        // per iteration
        let mut vs = vec![0u16; w * 3];
        for y in 0..nh {
            let r0 = &raw[2 * y * w * 3..(2 * y + 1) * w * 3];
            let r1 = &raw[(2 * y + 1) * w * 3..(2 * y + 2) * w * 3];
            for (v, (&a, &b)) in vs.iter_mut().zip(r0.iter().zip(r1)) {
                *v = a as u16 + b as u16;
            }
            let o = &mut out[y * nw * 3..(y + 1) * nw * 3];
            let half = |o: &mut [u8], v: &[u16]| {
                for k in 0..3 {
                    o[k] = ((v[k] + v[3 + k] + 2) / 4) as u8;
                }
            };
            let mut o4 = o.chunks_exact_mut(12);
            let mut v4 = vs.chunks_exact(24);
            for (o, v) in (&mut o4).zip(&mut v4) {
                half(&mut o[0..3], &v[0..6]);
                half(&mut o[3..6], &v[6..12]);
                half(&mut o[6..9], &v[12..18]);
                half(&mut o[9..12], &v[18..24]);
            }
            for (o, v) in o4
                .into_remainder()
                .chunks_exact_mut(3)
                .zip(v4.remainder().chunks_exact(6))
            {
                half(o, v);
            }
        }
        return RgbImage::from_raw(nw as u32, nh as u32, out).expect("buffer size");
    }
    let mut out = vec![0u8; nw * nh * 3];
    let xs: Vec<(usize, usize)> = (0..nw)
        .map(|x| {
            let a = x * w / nw;
            let b = ((x + 1) * w / nw).max(a + 1).min(w);
            (a, b)
        })
        .collect();
    // per output row: the column sums of its source rows (whole rows at a
    // time, vectorised), then each output pixel's sum over its columns
    // (u16 column sums: an output row sums about width / nw source rows of
    // at most 255 each, at most 17 rows as `decode` admits 10,000 px; a
    // u16 holds 257)
    let mut cols = vec![0u16; w * 3];
    for y in 0..nh {
        let y0 = y * h / nh;
        let y1 = ((y + 1) * h / nh).max(y0 + 1).min(h);
        cols.fill(0);
        debug_assert!(y1 - y0 <= 257, "u16 column sums overflow");
        for sy in y0..y1 {
            let row = &raw[sy * w * 3..(sy + 1) * w * 3];
            for (c, &v) in cols.iter_mut().zip(row) {
                *c += v as u16;
            }
        }
        for (x, &(a, b)) in xs.iter().enumerate() {
            let n = ((b - a) * (y1 - y0)) as u32;
            let mut sum = [0u32; 3];
            for px in cols[a * 3..b * 3].chunks_exact(3) {
                for k in 0..3 {
                    sum[k] += px[k] as u32;
                }
            }
            for k in 0..3 {
                out[(y * nw + x) * 3 + k] = ((sum[k] + n / 2) / n) as u8;
            }
        }
    }
    RgbImage::from_raw(nw as u32, nh as u32, out).expect("buffer size")
}

/// Principal-axis rectangle of a pixel set.
pub(crate) fn pca_rect(pix: &[u32], w: usize) -> Cand {
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
        // (not `f32::min` / `max`: calls in wasm32)
        u0 = fmin(u0, u);
        u1 = fmax(u1, u);
        v0 = fmin(v0, v);
        v1 = fmax(v1, v);
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
        shear: false,
        keystone: 0.0,
        fallback: Fallback::No,
    }
}

/// Least width / height of a candidate box: a single-row plate (about
/// 3.1) seen well off square on, or cut short.
pub(crate) const LEAST_ASPECT: f32 = 1.8;

/// Least width / height of a yellow colour component's box: a double-row
/// plate (440 × 220 mm) seen about 50° from one side (2 cos 50° = 1.29).
/// At [`LEAST_ASPECT`] those seen from 35° (1.64) were no candidates (the
/// crate README, "Double-row plates"). Not for textured candidates (a
/// plate on a yellow car): there a box that short is a car's part, whose
/// confident misreads ended the search early.
pub(crate) const LEAST_ASPECT_YELLOW: f32 = 1.3;

/// Whether a component's box could be a plate: its size, aspect (at least
/// `least`, at most 7), fill and tilt.
pub(crate) fn plate_like(c: &Cand, n_px: usize, img_w: usize, least: f32) -> bool {
    let aspect = c.w / c.h.max(1.0);
    let fill = n_px as f32 / (c.w * c.h).max(1.0);
    c.w >= 28.0
        && c.h >= 8.0
        && c.w <= img_w as f32 * 0.9
        && (least..=7.0).contains(&aspect)
        && fill > 0.4
        && c.angle.abs() < 0.8
}
