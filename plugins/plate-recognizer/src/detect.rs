//! The learned plate detector: a small fully convolutional network that
//! marks plate centres on a 512-px-wide copy of the photo and, at each
//! centre, the plate's size and rotation (a CenterNet-like head). Its
//! boxes become candidates for the reader when the classical locator's
//! read nothing.
//!
//! Five 3×3 convolutions (3-8-16-32-32-32 channels, ReLU, 2×2 max-pooling
//! after the first three) give, per cell of an 8-px grid, the plate-centre
//! logit, the centre's offset within the cell, the log of the plate's width
//! and height, and its angle. Trained by `src/bin/train-detector.rs` (fixed
//! seeds) on the tuning part of the EasyPR photos with their labelled
//! boxes and synthetic plates of every colour and layout pasted into them,
//! in 256-px windows at the scale of the 512-px input. Narrow layers at 512
//! px find more far and small plates than the earlier wider ones at 256 px
//! (3-16-32-48-48-48) for 1.4 times the multiply-adds (160 M for a 16:9
//! photo, 210 M for 4:3).

use crate::cnn::{
    ConvStack, conv_relu, convs_backward, mm, mm_fwd, model_from_bytes, model_to_bytes, pool,
};
use crate::locate::{Cand, Fallback};
use crate::photo::Photo;
use image::RgbImage;

/// The detector's input width; the height follows the photo's aspect, in
/// multiples of [`STRIDE`].
pub const IN_W: usize = 512;
/// Input pixels per output cell.
pub const STRIDE: usize = 8;
const CH: [usize; 6] = [3, 8, 16, 32, 32, 32];
const CONVS: usize = 5;
/// Convolutions followed by 2×2 max-pooling (the first ones).
const POOLED: usize = 3;
/// Outputs per cell: centre logit, dx, dy, ln(w / 32), ln(h / 8), angle.
pub const OUT: usize = 6;
/// Least centre probability for a box.
const MIN_SCORE: f32 = 0.3;
/// Most boxes per photo.
const MAX_BOXES: usize = 6;

/// Tensor shapes: per convolution weights and biases, then the head's.
pub fn shapes(_: usize) -> Vec<(usize, usize)> {
    let mut s = Vec::new();
    for i in 0..CONVS {
        s.push((CH[i + 1], CH[i] * 9));
        s.push((CH[i + 1], 1));
    }
    s.push((OUT, CH[CONVS]));
    s.push((OUT, 1));
    s
}

pub struct Detector {
    pub p: Vec<Vec<f32>>,
}

/// Intermediate values of one forward pass (for training).
#[derive(Default)]
pub struct Cache {
    dims: Vec<(usize, usize)>,
    col: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    idx: Vec<Vec<u32>>,
}

/// A box found by the detector, in the detector's input pixels.
#[derive(Clone, Copy, Debug)]
pub struct Found {
    pub score: f32,
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
    pub angle: f32,
}

impl Detector {
    pub fn to_bytes(&self) -> Vec<u8> {
        model_to_bytes(b"PLD1", &[], &self.p)
    }

    pub fn from_bytes(b: &[u8]) -> Result<Detector, String> {
        let (_, p) = model_from_bytes(b"PLD1", b, shapes)?;
        Ok(Detector { p })
    }

    /// Forward pass over a prepared input (`CH[0]` planes of `h` × `w`):
    /// [`OUT`] planes of (h / 8) × (w / 8).
    #[inline(always)]
    pub fn forward(&self, x: &[f32], h: usize, w: usize, cache: &mut Cache) -> Vec<f32> {
        assert_eq!(x.len(), CH[0] * h * w);
        assert!(h.is_multiple_of(STRIDE) && w.is_multiple_of(STRIDE));
        cache.dims.clear();
        cache.col.resize(CONVS, Vec::new());
        cache.a.resize(CONVS, Vec::new());
        cache.idx.resize(CONVS, Vec::new());
        let (mut h, mut w) = (h, w);
        let mut cur = x.to_vec();
        for i in 0..CONVS {
            let (cin, cout) = (CH[i], CH[i + 1]);
            cache.dims.push((h, w));
            let z = conv_relu(
                &cur,
                (cin, cout, h, w),
                &self.p[2 * i],
                &self.p[2 * i + 1],
                &mut cache.col[i],
            );
            if i < POOLED {
                let (out, idx) = pool(&z, cout, h, w, 2, 2);
                cache.idx[i] = idx;
                cur = out;
                h /= 2;
                w /= 2;
            } else {
                cache.idx[i].clear();
                cur = z.clone();
            }
            cache.a[i] = z;
        }
        self.head(&cur, h * w)
    }

    /// Backward pass from d(loss)/d(output); accumulates into `grads`.
    pub fn backward(&self, cache: &Cache, dout: &[f32], grads: &mut [Vec<f32>]) {
        let feat = &cache.a[CONVS - 1];
        let c = CH[CONVS];
        let n = feat.len() / c;
        // head: out = W · feat + b
        mm(
            OUT,
            n,
            c,
            dout,
            false,
            feat,
            true,
            &mut grads[2 * CONVS],
            1.0,
        );
        for o in 0..OUT {
            grads[2 * CONVS + 1][o] += dout[o * n..(o + 1) * n].iter().sum::<f32>();
        }
        let mut dcur = vec![0f32; c * n];
        mm(
            c,
            OUT,
            n,
            &self.p[2 * CONVS],
            true,
            dout,
            false,
            &mut dcur,
            0.0,
        );
        convs_backward(
            ConvStack {
                p: &self.p,
                ch: &CH,
                dims: &cache.dims,
                col: &cache.col,
                a: &cache.a,
                idx: &cache.idx,
            },
            dcur,
            grads,
        );
    }

    /// The boxes of a forward pass's output (`gh` × `gw` cells), best first:
    /// local maxima of the centre probability of at least [`MIN_SCORE`].
    pub fn boxes(out: &[f32], gh: usize, gw: usize) -> Vec<Found> {
        let n = gh * gw;
        let heat: Vec<f32> = out[..n].iter().map(|&v| sigmoid(v)).collect();
        let mut found = Vec::new();
        for gy in 0..gh {
            for gx in 0..gw {
                let s = heat[gy * gw + gx];
                if s < MIN_SCORE {
                    continue;
                }
                let peak = (gy.saturating_sub(1)..(gy + 2).min(gh)).all(|y| {
                    (gx.saturating_sub(1)..(gx + 2).min(gw))
                        .all(|x| heat[y * gw + x] <= s || (y, x) == (gy, gx))
                });
                if !peak {
                    continue;
                }
                let at = |o: usize| out[o * n + gy * gw + gx];
                found.push(Found {
                    score: s,
                    cx: (gx as f32 + 0.5 + at(1)) * STRIDE as f32,
                    cy: (gy as f32 + 0.5 + at(2)) * STRIDE as f32,
                    w: at(3).clamp(-3.0, 3.0).exp() * 32.0,
                    h: at(4).clamp(-3.0, 3.0).exp() * 8.0,
                    angle: at(5).clamp(-0.8, 0.8),
                });
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        found.truncate(MAX_BOXES);
        found
    }

    /// The detector's candidates for a photo (its prepared `input`), in
    /// the photo's full-resolution coordinates, most likely first.
    pub(crate) fn candidates(&self, input: &Input) -> Vec<Cand> {
        #[cfg(target_arch = "wasm32")]
        {
            // SAFETY: as in `locate::Scene::new` (SIMD128 either validates
            // or the module does not load).
            unsafe { self.candidates_simd(input) }
        }
        #[cfg(not(target_arch = "wasm32"))]
        self.candidates_impl(input)
    }

    /// Compiled with SIMD128 (the resize, convolutions and pooling are
    /// inlined into it).
    #[cfg(target_arch = "wasm32")]
    #[target_feature(enable = "simd128")]
    unsafe fn candidates_simd(&self, input: &Input) -> Vec<Cand> {
        self.candidates_impl(input)
    }

    /// The forward pass for detecting in wasm32, with SIMD128 kernels
    /// and no cache for a backward pass. The first convolution (3 input
    /// channels, where transforms would cost more than they save) by the
    /// reader's direct kernel (`cnn::wasm::conv3x3_relu`: `forward`'s
    /// sums in its order), the others by Winograd's F(4×4, 3×3) with
    /// fused multiply-adds (`cnn::wasm::winograd_conv_relu`, the
    /// reader's: 36 products per 4 × 4 outputs and channel pair instead of
    /// 144) on a grid of whole tiles down and whole groups of 4 tiles
    /// across (zeros below and to the right of the input, their outputs
    /// dropped after pooling). The same network as [`Detector::forward`]
    /// computed with other roundings: the outputs differ from it in their
    /// last bits (tested). With direct convolutions throughout it took
    /// 1.4–1.5 × its native time (`matrixmultiply`, with AVX2 or AVX-512
    /// and FMA).
    #[cfg(target_arch = "wasm32")]
    #[target_feature(enable = "simd128,relaxed-simd")]
    unsafe fn infer(&self, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        use crate::cnn::wasm;
        // the weights packed for the kernels, kept for the loaded model
        static PACKED: wasm::Packed = std::sync::OnceLock::new();
        let packed = wasm::packed_for(std::slice::from_ref(&PACKED), &self.p, || {
            (0..CONVS)
                .map(|i| match i {
                    0 => wasm::pack4(&self.p[0], CH[1], CH[0] * 9),
                    _ => wasm::winograd_pack(&self.p[2 * i], CH[i + 1], CH[i]),
                })
                .collect()
        });
        assert_eq!(x.len(), CH[0] * h * w);
        assert!(h.is_multiple_of(STRIDE) && w.is_multiple_of(STRIDE));
        // the first convolution and its pooling
        let mut z = vec![0f32; CH[1] * h * w];
        let xp = wasm::pad(x, CH[0], h, w);
        wasm::conv3x3_relu(&xp, CH[0], h, w, &packed[0], &self.p[1], CH[1], &mut z);
        let mut cur = wasm::pool2x2(&z, CH[1], h, w, false);
        // `cur`: [c × sh × sw] holding the input of the next layer, h × w
        let (mut h, mut w) = (h / 2, w / 2);
        let (mut sh, mut sw) = (h, w);
        for i in 1..CONVS {
            let (cin, cout) = (CH[i], CH[i + 1]);
            // the kernel's grid
            let (gh, gw) = (h.next_multiple_of(4), w.next_multiple_of(16));
            let xp = wasm::regrid(&cur, cin, [sh, sw], [h, w], [gh, gw], 1);
            let mut z = vec![0f32; cout * gh * gw];
            wasm::winograd_conv_relu(
                &xp,
                cin,
                gh,
                gw,
                &packed[i],
                &self.p[2 * i + 1],
                cout,
                &mut z,
            );
            if i < POOLED {
                cur = wasm::pool2x2(&z, cout, gh, gw, false);
                (h, w, sh, sw) = (h / 2, w / 2, gh / 2, gw / 2);
            } else {
                (cur, sh, sw) = (z, gh, gw);
            }
        }
        if (sh, sw) != (h, w) {
            cur = wasm::regrid(&cur, CH[CONVS], [sh, sw], [h, w], [h, w], 0);
        }
        self.head(&cur, h * w)
    }

    /// The 1×1 head over the last features (`n` cells).
    #[inline(always)]
    fn head(&self, feat: &[f32], n: usize) -> Vec<f32> {
        let mut out = vec![0f32; OUT * n];
        for o in 0..OUT {
            out[o * n..(o + 1) * n].fill(self.p[2 * CONVS + 1][o]);
        }
        mm_fwd(OUT, CH[CONVS], n, &self.p[2 * CONVS], feat, &mut out);
        out
    }

    /// The outputs of a pass over a prepared input, as this build infers.
    #[inline(always)]
    fn outputs(&self, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        // SAFETY: as in `Detector::candidates` (the component is built
        // with SIMD128 and relaxed SIMD, and does not load without them)
        #[cfg(target_arch = "wasm32")]
        let out = unsafe { self.infer(x, h, w) };
        #[cfg(not(target_arch = "wasm32"))]
        let out = self.forward(x, h, w, &mut Cache::default());
        out
    }

    #[inline(always)]
    fn candidates_impl(&self, input: &Input) -> Vec<Cand> {
        let &Input {
            ref x,
            h,
            w,
            sx,
            sy,
        } = input;
        let out = self.outputs(x, h, w);
        Detector::boxes(&out, h / STRIDE, w / STRIDE)
            .into_iter()
            .map(|f| {
                // The angle is the photo's (scales differ little in x and y).
                Cand {
                    cx: f.cx / sx,
                    cy: f.cy / sy,
                    w: f.w / sx,
                    h: f.h / sy,
                    angle: f.angle,
                    color: None,
                    shear: false,
                    keystone: 0.0,
                    fallback: Fallback::No,
                }
            })
            .collect()
    }
}

impl Detector {
    /// How much the photo (its prepared `input`) looks like a plate at a
    /// read's box (`corners`, photo pixels): the highest plate-centre probability of the cells
    /// whose centres lie within the box's bounds widened by one cell, in
    /// the detector's 512-px input. Computed on a window of that input
    /// around the box with [`CONTEXT`] pixels on every side, aligned to
    /// the 8-px grid: the same cells, the same values as a pass over the
    /// whole input (the network sees less than that around a cell), for a
    /// fraction of its cost.
    pub(crate) fn plate_score(&self, input: &Input, corners: &[[f32; 2]; 4]) -> f32 {
        self.plate_score_in(input, corners, true)
    }

    /// [`Detector::plate_score`] on a window of the input (`window`) or
    /// on the whole input (the tests compare both).
    pub(crate) fn plate_score_in(
        &self,
        input: &Input,
        corners: &[[f32; 2]; 4],
        window: bool,
    ) -> f32 {
        let &Input {
            ref x,
            h,
            w,
            sx,
            sy,
        } = input;
        let span = |k: usize, s: f32| {
            let v = corners.iter().map(|c| c[k] * s);
            (
                v.clone().fold(f32::MAX, f32::min),
                v.fold(f32::MIN, f32::max),
            )
        };
        let ((bx0, bx1), (by0, by1)) = (span(0, sx), span(1, sy));
        let cell = STRIDE as f32;
        // the window, in whole cells
        let grid = |lo: f32, hi: f32, n: usize| {
            if !window {
                return (0, n / STRIDE);
            }
            let a = ((lo - cell - CONTEXT as f32) / cell).floor().max(0.0) as usize;
            let b = ((hi + cell + CONTEXT as f32) / cell).ceil().max(0.0) as usize;
            (a.min(n / STRIDE), b.clamp(a, n / STRIDE))
        };
        let ((gx0, gx1), (gy0, gy1)) = (grid(bx0, bx1, w), grid(by0, by1, h));
        // whole groups of 8 cells across (the whole input, 64 cells, is
        // one): what wasm32's direct kernel once needed at every layer,
        // kept so that the windows, and natively their values, stay those
        // the threshold was chosen with (the Winograd kernels pad to the
        // grid they need)
        let want = (gx1 - gx0).div_ceil(8).saturating_mul(8).min(w / STRIDE);
        let gx1 = (gx0 + want).min(w / STRIDE);
        let gx0 = gx1 - want;
        let (ww, wh) = ((gx1 - gx0) * STRIDE, (gy1 - gy0) * STRIDE);
        if ww == 0 || wh == 0 {
            return 0.0;
        }
        let mut win = Vec::with_capacity(CH[0] * wh * ww);
        for k in 0..CH[0] {
            for y in gy0 * STRIDE..gy1 * STRIDE {
                let row = k * h * w + y * w;
                win.extend_from_slice(&x[row + gx0 * STRIDE..row + gx1 * STRIDE]);
            }
        }
        let out = self.outputs(&win, wh, ww);
        let (gw, gh) = (gx1 - gx0, gy1 - gy0);
        let mut best = f32::MIN;
        for gy in 0..gh {
            for gx in 0..gw {
                let cx = ((gx0 + gx) as f32 + 0.5) * cell;
                let cy = ((gy0 + gy) as f32 + 0.5) * cell;
                if (bx0 - cell..=bx1 + cell).contains(&cx)
                    && (by0 - cell..=by1 + cell).contains(&cy)
                {
                    best = best.max(out[gy * gw + gx]);
                }
            }
        }
        if best == f32::MIN { 0.0 } else { sigmoid(best) }
    }
}

/// Input pixels of context around a box for [`Detector::plate_score`]:
/// more than the network sees around a cell (its five 3×3 convolutions,
/// three with 2×2 pooling after them, see 54 px: 27 px either side of a
/// cell's centre).
pub const CONTEXT: usize = 48;

/// The embedded detector (`model/detector.bin`), loaded on the first call.
pub fn model() -> Result<&'static Detector, String> {
    static MODEL: std::sync::OnceLock<Result<Detector, String>> = std::sync::OnceLock::new();
    crate::load_once(&MODEL, || {
        Detector::from_bytes(include_bytes!("../model/detector.bin"))
    })
}

pub fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// The input size for a photo of `fw` × `fh`: [`IN_W`] wide, the height
/// in whole cells.
pub fn input_size(fw: u32, fh: u32) -> (usize, usize) {
    let h = (IN_W as f32 * fh as f32 / fw as f32 / STRIDE as f32).round() as usize;
    (h.clamp(2, 64) * STRIDE, IN_W)
}

/// The detector's input for a photo: its [`IN_W`]-px copy.
pub struct Input {
    /// RGB planes scaled to [-0.5, 0.5].
    pub x: Vec<f32>,
    /// Height and width (whole cells).
    pub h: usize,
    pub w: usize,
    /// Input / photo, in x and y.
    pub sx: f32,
    pub sy: f32,
}

impl Input {
    fn of(small: &RgbImage, fw: u32, fh: u32) -> Input {
        let (h, w) = (small.height() as usize, small.width() as usize);
        Input {
            x: planes(small),
            h,
            w,
            sx: w as f32 / fw as f32,
            sy: h as f32 / fh as f32,
        }
    }
}

/// The detector's input for decoded pixels (the trainer's).
#[inline(always)]
pub fn prepare(full: &RgbImage) -> Input {
    let (h, w) = input_size(full.width(), full.height());
    let small = crate::locate::resize_box(full, w as u32, h as u32);
    Input::of(&small, full.width(), full.height())
}

/// [`prepare`] for a photo: its 512-px copy made from a JPEG's
/// coefficients at a reduced scale where possible (`Photo::working_copy`).
/// Made once per photo, by `locate::Scene::detector_input`.
#[inline(always)]
pub(crate) fn prepare_photo(full: &Photo) -> Input {
    let (h, w) = input_size(full.width(), full.height());
    let small = crate::stage::copy(|| full.working_copy(w as u32, h as u32));
    Input::of(&small, full.width(), full.height())
}

/// RGB planes of an image, scaled to [-0.5, 0.5].
#[inline(always)]
pub fn planes(img: &RgbImage) -> Vec<f32> {
    let n = (img.width() * img.height()) as usize;
    let mut x = vec![0f32; 3 * n];
    for (i, p) in img.pixels().enumerate() {
        for k in 0..3 {
            x[k * n + i] = p.0[k] as f32 / 255.0 - 0.5;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    /// In wasm32 the detector runs on Winograd convolutions (`infer`):
    /// the training pass's (`forward`'s) outputs to float rounding, on
    /// inputs whose height and width at some layer are not whole tiles
    /// (the grid the kernel pads them to must not show).
    #[cfg(target_arch = "wasm32")]
    #[test]
    fn simd_inference_is_the_forward_pass() {
        let det = super::model().expect("the embedded detector");
        let mut s = 11u32;
        for (h, w) in [(48, 128), (40, 64), (64, 192), (16, 8)] {
            let x: Vec<f32> = (0..3 * h * w)
                .map(|_| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (s >> 8) as f32 / (1 << 24) as f32 - 0.5
                })
                .collect();
            let want = det.forward(&x, h, w, &mut super::Cache::default());
            // SAFETY: SIMD128 and relaxed SIMD are enabled for the tests'
            // build (scripts/test)
            let got = unsafe { det.infer(&x, h, w) };
            assert_eq!(got.len(), want.len());
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            eprintln!("{h}x{w}: scale {scale}, worst difference {worst}");
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "{h}x{w} output {i}: {a} vs {b}"
                );
            }
        }
    }
}
