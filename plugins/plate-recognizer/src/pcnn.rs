//! Province-glyph classifier CNN: the 20 × 20 normalised binary glyph of
//! `mlp::char_features` (the character's tight box centred in a square) →
//! two 3×3 convolutions (32, 64 channels, ReLU, 2×2 max-pooling) → 128 →
//! 31 provinces. Trained by `src/bin/train-province.rs` on EasyPR's real
//! province crops and GA 36 province glyphs drawn small and binarised; uses
//! the convolution helpers of `cnn.rs`.
//!
//! Model file (`model/province-cnn.bin`): magic `PPC1`, u32 byte length +
//! UTF-8 classes, u32 tensor count, per tensor u32 length + f32 values
//! (conv1 w, b, conv2 w, b, fc1 w, b, fc2 w, b).

use crate::cnn::{
    col2im, he_init, im2col, mm, mm_fwd, model_from_bytes, model_to_bytes, pool, relu,
};

pub const S: usize = 20;
const C1: usize = 32;
const C2: usize = 64;
const F: usize = C2 * (S / 4) * (S / 4);
const H: usize = 128;

#[derive(Clone, Debug)]
pub struct PNet {
    pub classes: Vec<char>,
    pub p: Vec<Vec<f32>>,
}

pub fn shapes(nc: usize) -> Vec<(usize, usize)> {
    vec![
        (C1, 9),
        (C1, 1),
        (C2, C1 * 9),
        (C2, 1),
        (H, F),
        (H, 1),
        (nc, H),
        (nc, 1),
    ]
}

#[derive(Default)]
pub struct PCache {
    col0: Vec<f32>,
    a1: Vec<f32>,
    i1: Vec<u32>,
    col1: Vec<f32>,
    a2: Vec<f32>,
    i2: Vec<u32>,
    p2: Vec<f32>,
    h: Vec<f32>,
}

impl PNet {
    pub fn init(classes: Vec<char>, rng: &mut crate::synth::Rng) -> PNet {
        let p = he_init(shapes(classes.len()), rng);
        PNet { classes, p }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        model_to_bytes(b"PPC1", &self.classes, &self.p)
    }

    pub fn from_bytes(b: &[u8]) -> Result<PNet, String> {
        let (classes, p) =
            model_from_bytes(b"PPC1", b, shapes).map_err(|e| format!("province model: {e}"))?;
        Ok(PNet { classes, p })
    }

    /// The forward pass for inference in wasm32: the first convolution's
    /// product by `cnn::wasm::gemm_packed`; the second convolution by
    /// Winograd's F(4×4, 3×3) (`cnn::winograd`, as the reader's larger
    /// convolutions: 36 products per 4 × 4 outputs and channel pair instead
    /// of 144) on a 12 × 16 grid — the kernels' tile multiples — whose
    /// top-left 10 × 10 are the outputs; the first fully connected layer by
    /// `gemv_packed` (four running sums, one load of weights per four
    /// products); all with fused multiply-adds and the weights packed once
    /// for the loaded model; the rest as in `forward`. The logits differ
    /// from `forward`'s in their last bits (in a component on a machine
    /// without AVX-512, `PLATE_BENCH_READ`: 0.326 → 0.240 ms per glyph,
    /// against 0.205 natively).
    #[cfg(target_arch = "wasm32")]
    #[target_feature(enable = "simd128,relaxed-simd")]
    unsafe fn forward_simd(&self, x: &[f32]) -> Vec<f32> {
        use crate::cnn::wasm::{self, gemm_packed, pack4};
        /// The second convolution's grid: its 10 × 10 input zero-padded
        /// to what `winograd_input` takes.
        const WH: usize = 12;
        const WW: usize = 16;
        // the province and the letter-and-digit CNNs: one cell each
        static PACKED: [wasm::Packed; 2] = [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
        let pk = wasm::packed_for(&PACKED, &self.p, || {
            vec![
                pack4(&self.p[0], C1, 9),
                wasm::winograd_pack(&self.p[2], C2, C1),
                pack4(&self.p[4], H, F),
            ]
        });
        let nc = self.classes.len();
        let mut col = Vec::new();
        im2col(&x[..S * S], 1, S, S, &mut col);
        let mut z = vec![0f32; C1 * S * S];
        for o in 0..C1 {
            z[o * S * S..(o + 1) * S * S].fill(self.p[1][o]);
        }
        gemm_packed(C1, 9, S * S, &pk[0], &col, &mut z);
        relu(&mut z);
        let (p1, _) = pool(&z, C1, S, S, 2, 2);
        let s2 = S / 2;
        let xp = wasm::pad_grid(&p1, C1, s2, s2, WH, WW);
        // (bias and ReLU included)
        let mut zg = vec![0f32; C2 * WH * WW];
        wasm::winograd_conv_relu(&xp, C1, WH, WW, &pk[1], &self.p[3], C2, &mut zg);
        let mut z = vec![0f32; C2 * s2 * s2];
        for o in 0..C2 {
            for y in 0..s2 {
                let g = (o * WH + y) * WW;
                z[(o * s2 + y) * s2..(o * s2 + y + 1) * s2].copy_from_slice(&zg[g..g + s2]);
            }
        }
        let (p2, _) = pool(&z, C2, s2, s2, 2, 2);
        let mut h = self.p[5].clone();
        wasm::gemv_packed(H, F, &pk[2], &p2, &mut h);
        relu(&mut h);
        let mut lg = self.p[7].clone();
        mm_fwd(nc, H, 1, &self.p[6], &h, &mut lg);
        lg
    }

    /// Logits for a 20 × 20 glyph (values 0..1).
    #[inline(always)]
    pub fn forward(&self, x: &[f32], c: &mut PCache) -> Vec<f32> {
        let nc = self.classes.len();
        im2col(&x[..S * S], 1, S, S, &mut c.col0);
        let mut z = vec![0f32; C1 * S * S];
        for o in 0..C1 {
            z[o * S * S..(o + 1) * S * S].fill(self.p[1][o]);
        }
        mm_fwd(C1, 9, S * S, &self.p[0], &c.col0, &mut z);
        relu(&mut z);
        let (p1, i1) = pool(&z, C1, S, S, 2, 2);
        c.a1 = z;
        c.i1 = i1;
        let s2 = S / 2;
        im2col(&p1, C1, s2, s2, &mut c.col1);
        let mut z = vec![0f32; C2 * s2 * s2];
        for o in 0..C2 {
            z[o * s2 * s2..(o + 1) * s2 * s2].fill(self.p[3][o]);
        }
        mm_fwd(C2, C1 * 9, s2 * s2, &self.p[2], &c.col1, &mut z);
        relu(&mut z);
        let (p2, i2) = pool(&z, C2, s2, s2, 2, 2);
        c.a2 = z;
        c.i2 = i2;
        let mut h = self.p[5].clone();
        mm_fwd(H, F, 1, &self.p[4], &p2, &mut h);
        relu(&mut h);
        let mut lg = self.p[7].clone();
        mm_fwd(nc, H, 1, &self.p[6], &h, &mut lg);
        c.p2 = p2;
        c.h = h;
        lg
    }

    pub fn backward(&self, c: &PCache, dlg: &[f32], g: &mut [Vec<f32>]) {
        let nc = self.classes.len();
        mm(nc, 1, H, dlg, false, &c.h, false, &mut g[6], 1.0);
        g[7].iter_mut().zip(dlg).for_each(|(a, b)| *a += b);
        let mut dh = vec![0f32; H];
        mm(H, nc, 1, &self.p[6], true, dlg, false, &mut dh, 0.0);
        dh.iter_mut().zip(&c.h).for_each(|(d, &a)| {
            if a <= 0.0 {
                *d = 0.0
            }
        });
        mm(H, 1, F, &dh, false, &c.p2, false, &mut g[4], 1.0);
        g[5].iter_mut().zip(&dh).for_each(|(a, b)| *a += b);
        let mut dp2 = vec![0f32; F];
        mm(F, H, 1, &self.p[4], true, &dh, false, &mut dp2, 0.0);
        let s2 = S / 2;
        let mut dz2 = vec![0f32; C2 * s2 * s2];
        for (d, &j) in dp2.iter().zip(&c.i2) {
            dz2[j as usize] += d;
        }
        dz2.iter_mut().zip(&c.a2).for_each(|(d, &a)| {
            if a <= 0.0 {
                *d = 0.0
            }
        });
        mm(
            C2,
            s2 * s2,
            C1 * 9,
            &dz2,
            false,
            &c.col1,
            true,
            &mut g[2],
            1.0,
        );
        for o in 0..C2 {
            g[3][o] += dz2[o * s2 * s2..(o + 1) * s2 * s2].iter().sum::<f32>();
        }
        let mut dcol = vec![0f32; C1 * 9 * s2 * s2];
        mm(
            C1 * 9,
            C2,
            s2 * s2,
            &self.p[2],
            true,
            &dz2,
            false,
            &mut dcol,
            0.0,
        );
        let mut dp1 = vec![0f32; C1 * s2 * s2];
        col2im(&dcol, C1, s2, s2, &mut dp1);
        let mut dz1 = vec![0f32; C1 * S * S];
        for (d, &j) in dp1.iter().zip(&c.i1) {
            dz1[j as usize] += d;
        }
        dz1.iter_mut().zip(&c.a1).for_each(|(d, &a)| {
            if a <= 0.0 {
                *d = 0.0
            }
        });
        mm(C1, S * S, 9, &dz1, false, &c.col0, true, &mut g[0], 1.0);
        for o in 0..C1 {
            g[1][o] += dz1[o * S * S..(o + 1) * S * S].iter().sum::<f32>();
        }
    }

    /// Softmax probabilities for a 20 × 20 glyph.
    pub fn predict(&self, x: &[f32]) -> Vec<f32> {
        let mut lg = crate::stage::timed(&crate::stage::CHECK_CNN, || {
            #[cfg(target_arch = "wasm32")]
            // SAFETY: see `cnn::mm_fwd`.
            let lg = unsafe { self.forward_simd(x) };
            #[cfg(not(target_arch = "wasm32"))]
            let lg = self.forward(x, &mut PCache::default());
            lg
        });
        let mx = lg.iter().copied().fold(f32::MIN, f32::max);
        let mut s = 0f32;
        lg.iter_mut().for_each(|v| {
            *v = (*v - mx).exp();
            s += *v;
        });
        lg.iter_mut().for_each(|v| *v /= s);
        lg
    }
}

#[cfg(test)]
mod tests {
    /// In wasm32 the province CNN's inference (`forward_simd`: Winograd for
    /// the second convolution, fused multiply-adds) gives `forward`'s
    /// logits to float rounding, on the embedded model and on glyphs of
    /// every kind (random, blank, full, a bar at an edge, so that the
    /// zero padding of the 12 × 16 grid matters).
    #[cfg(target_arch = "wasm32")]
    #[test]
    fn simd_inference_is_the_forward_pass() {
        use super::S;
        let net = crate::province::province_model().expect("the embedded province CNN");
        let mut s = 7u32;
        let mut glyphs: Vec<Vec<f32>> = (0..6)
            .map(|_| {
                (0..S * S)
                    .map(|_| {
                        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (s >> 31) as f32
                    })
                    .collect()
            })
            .collect();
        glyphs.push(vec![0.0; S * S]);
        glyphs.push(vec![1.0; S * S]);
        glyphs.push(
            (0..S * S)
                .map(|i| f32::from(u8::from(i % S >= S - 3)))
                .collect(),
        );
        glyphs.push(
            (0..S * S)
                .map(|i| f32::from(u8::from(i / S >= S - 3)))
                .collect(),
        );
        for (k, g) in glyphs.iter().enumerate() {
            let want = net.forward(g, &mut super::PCache::default());
            // SAFETY: SIMD128 and relaxed SIMD are enabled for the tests'
            // build (scripts/test)
            let got = unsafe { net.forward_simd(g) };
            assert_eq!(got.len(), want.len());
            let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * scale,
                    "glyph {k}, logit {i}: {a} vs {b}"
                );
            }
        }
    }
}
