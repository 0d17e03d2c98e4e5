//! A small convolutional sequence reader (LPRNet-like, CTC): a rectified
//! plate crop, 32 × 128 grey, goes through four 3×3 convolutions and a
//! column-wise two-layer head that gives, for each of 32 columns, a
//! probability over blank + the plate characters. Greedy CTC decoding
//! (collapse repeats, drop blanks) reads the plate without segmenting it.
//! Double-row plates are read from a stitched image: top row (2 characters)
//! on the left, bottom row (5) on the right, both 32 px high.
//!
//! Training (`src/bin/train.rs`) uses the same forward pass plus the
//! backward pass and CTC loss of `train`.
//!
//! Model file (`model/reader.bin`, little endian): magic `PLC1`, u32 byte
//! length + UTF-8 class string (index 0 = blank), u32 number of tensors,
//! per tensor u32 length + f32 values, in the order conv1 w, b, … conv4 w, b,
//! fc1 w, b, fc2 w, b.

use crate::read::format;
use image::RgbImage;

/// Number of reads so far (for the timing tools).
pub static READS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub const IN_H: usize = 32;
pub const IN_W: usize = 128;
/// Output columns (time steps).
pub const T: usize = IN_W / 4;
/// Conv channel widths.
pub const CH: [usize; 5] = [1, 16, 32, 64, 64];
/// Feature height after the last pooling.
const FH: usize = 4;
pub const FC_H: usize = 128;

#[derive(Clone, Debug)]
pub struct Net {
    /// Class characters; index 0 is the CTC blank (stored as '_').
    pub classes: Vec<char>,
    /// Parameter tensors (see module docs for the order).
    pub p: Vec<Vec<f32>>,
}

/// Tensor shapes (rows, cols) for `n_classes`.
pub fn shapes(n_classes: usize) -> Vec<(usize, usize)> {
    let mut s = Vec::new();
    for i in 0..4 {
        s.push((CH[i + 1], CH[i] * 9));
        s.push((CH[i + 1], 1));
    }
    s.push((FC_H, CH[4] * FH));
    s.push((FC_H, 1));
    s.push((n_classes, FC_H));
    s.push((n_classes, 1));
    s
}

/// A model file: `magic`, u32 byte length + UTF-8 classes, u32 tensor
/// count, per tensor u32 length + little-endian f32 values.
pub fn model_to_bytes(magic: &[u8; 4], classes: &[char], p: &[Vec<f32>]) -> Vec<u8> {
    let mut out = magic.to_vec();
    let cls: String = classes.iter().collect();
    out.extend((cls.len() as u32).to_le_bytes());
    out.extend(cls.as_bytes());
    out.extend((p.len() as u32).to_le_bytes());
    for t in p {
        out.extend((t.len() as u32).to_le_bytes());
        for v in t {
            out.extend(v.to_le_bytes());
        }
    }
    out
}

/// Reads a file of [`model_to_bytes`], checking its tensors against
/// `shapes(number of classes)`.
pub fn model_from_bytes(
    magic: &[u8; 4],
    b: &[u8],
    shapes: impl Fn(usize) -> Vec<(usize, usize)>,
) -> Result<(Vec<char>, Vec<Vec<f32>>), String> {
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = b.get(pos..pos + n).ok_or("model file truncated")?;
        pos += n;
        Ok(s)
    };
    if take(4)? != magic {
        return Err("bad model magic".into());
    }
    let u32_ = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize;
    let n = u32_(take(4)?);
    let classes: Vec<char> = std::str::from_utf8(take(n)?)
        .map_err(|_| "bad class string")?
        .chars()
        .collect();
    let nt = u32_(take(4)?);
    let sh = shapes(classes.len());
    if nt != sh.len() {
        return Err("model has the wrong number of tensors".into());
    }
    let mut p = Vec::with_capacity(nt);
    for (r, c) in sh {
        let len = u32_(take(4)?);
        if len != r * c {
            return Err("model tensor has the wrong size".into());
        }
        let raw = take(len * 4)?;
        p.push(
            raw.chunks_exact(4)
                .map(|q| f32::from_le_bytes([q[0], q[1], q[2], q[3]]))
                .collect(),
        );
    }
    Ok((classes, p))
}

impl Net {
    pub fn to_bytes(&self) -> Vec<u8> {
        model_to_bytes(b"PLC1", &self.classes, &self.p)
    }

    pub fn from_bytes(b: &[u8]) -> Result<Net, String> {
        let (classes, p) = model_from_bytes(b"PLC1", b, shapes)?;
        Ok(Net { classes, p })
    }

    /// The forward pass for reading in wasm32: explicit SIMD128 kernels
    /// (see [`wasm`]), no cache for a backward pass. The first convolution
    /// is direct, in the order of operations of `forward` with
    /// `gemm_tiled`; the three larger ones are computed by Winograd's
    /// F(4×4, 3×3) ([`winograd`]: 36 products per 4 × 4 outputs and channel
    /// pair instead of 144) with fused multiply-adds, so the logits differ
    /// from `forward`'s in their last bits.
    #[cfg(target_arch = "wasm32")]
    #[target_feature(enable = "simd128,relaxed-simd")]
    unsafe fn infer_simd(&self, x: &[f32]) -> Vec<f32> {
        assert_eq!(x.len(), IN_H * IN_W);
        let nc = self.classes.len();
        // the convolution weights packed for the kernels (the first layer's
        // for `conv3x3_relu`, the others' transformed for Winograd, each
        // ξ's matrix packed for `gemm_packed`), kept for the loaded model
        // (recognised by its buffers and first tensor)
        static PACKED: wasm::Packed = std::sync::OnceLock::new();
        let pack = || -> Vec<Vec<f32>> {
            (0..5)
                .map(|i| {
                    if i == 4 {
                        // the fully connected layers, the last one padded
                        // with zero rows to a multiple of 4
                        let mut fc = wasm::pack4(&self.p[8], FC_H, CH[4] * FH);
                        let mut w2 = self.p[10].clone();
                        w2.resize(nc.next_multiple_of(4) * FC_H, 0.0);
                        fc.extend(wasm::pack4(&w2, nc.next_multiple_of(4), FC_H));
                        return fc;
                    }
                    let (cin, cout) = (CH[i], CH[i + 1]);
                    if i == 0 {
                        return wasm::pack4(&self.p[0], cout, cin * 9);
                    }
                    wasm::winograd_pack(&self.p[2 * i], cout, cin)
                })
                .collect()
        };
        let packed = wasm::packed_for(std::slice::from_ref(&PACKED), &self.p, pack);
        let (mut h, mut w) = (IN_H, IN_W);
        let mut xp = wasm::pad(x, 1, h, w);
        let mut feat = Vec::new();
        for i in 0..4 {
            let (cin, cout) = (CH[i], CH[i + 1]);
            let mut z = vec![0f32; cout * h * w];
            if i == 0 {
                wasm::conv3x3_relu(&xp, cin, h, w, &packed[0], &self.p[1], cout, &mut z);
            } else {
                wasm::winograd_conv_relu(
                    &xp,
                    cin,
                    h,
                    w,
                    &packed[i],
                    &self.p[2 * i + 1],
                    cout,
                    &mut z,
                );
            }
            match i {
                0 | 1 => {
                    xp = wasm::pool2x2(&z, cout, h, w, true);
                    h /= 2;
                    w /= 2;
                }
                2 => xp = wasm::pad(&z, cout, h, w),
                _ => {
                    feat = wasm::pool2x1(&z, cout, h, w);
                    h /= 2;
                }
            }
        }
        debug_assert_eq!((h, w), (FH, T));
        let mut h1 = vec![0f32; FC_H * T];
        for o in 0..FC_H {
            h1[o * T..(o + 1) * T].fill(self.p[9][o]);
        }
        let (fc1, fc2) = packed[4].split_at(FC_H * CH[4] * FH);
        wasm::gemm_packed(FC_H, CH[4] * FH, T, fc1, &feat, &mut h1);
        wasm::relu(&mut h1);
        let mut lg = vec![0f32; nc.next_multiple_of(4) * T];
        for o in 0..nc {
            lg[o * T..(o + 1) * T].fill(self.p[11][o]);
        }
        wasm::gemm_packed(nc.next_multiple_of(4), FC_H, T, fc2, &h1, &mut lg);
        lg.truncate(nc * T);
        lg
    }

    /// Forward pass: logits [classes × T].
    #[inline(always)]
    pub fn forward(&self, x: &[f32], cache: &mut Cache) -> Vec<f32> {
        assert_eq!(x.len(), IN_H * IN_W);
        let nc = self.classes.len();
        let (mut h, mut w) = (IN_H, IN_W);
        cache.x = x.to_vec();
        let mut cur = x.to_vec();
        for i in 0..4 {
            let (cin, cout) = (CH[i], CH[i + 1]);
            cache.a[i] = conv_relu(
                &cur,
                (cin, cout, h, w),
                &self.p[2 * i],
                &self.p[2 * i + 1],
                &mut cache.col[i],
            );
            let (ph, pw) = match i {
                0 | 1 => (2, 2),
                3 => (2, 1),
                _ => (1, 1),
            };
            if ph * pw > 1 {
                let (out, idx) = pool(&cache.a[i], cout, h, w, ph, pw);
                cache.idx[i] = idx;
                cur = out;
                h /= ph;
                w /= pw;
            } else {
                cache.idx[i].clear();
                cur = cache.a[i].clone();
            }
        }
        debug_assert_eq!((h, w), (FH, T));
        // cur: [CH4*FH × T] = feature matrix
        let mut h1 = vec![0f32; FC_H * T];
        for o in 0..FC_H {
            h1[o * T..(o + 1) * T].fill(self.p[9][o]);
        }
        mm_fwd(FC_H, CH[4] * FH, T, &self.p[8], &cur, &mut h1);
        for v in h1.iter_mut() {
            *v = v.max(0.0);
        }
        let mut lg = vec![0f32; nc * T];
        for o in 0..nc {
            lg[o * T..(o + 1) * T].fill(self.p[11][o]);
        }
        mm_fwd(nc, FC_H, T, &self.p[10], &h1, &mut lg);
        cache.feat = cur;
        cache.h1 = h1;
        lg
    }

    /// Reads a prepared input: (text, per-character probabilities).
    pub fn read(&self, x: &[f32]) -> (Vec<char>, Vec<f32>) {
        let r = self.read_aligned(x);
        (r.text, r.conf)
    }

    /// Reads a prepared input, with each character's peak column and the
    /// column-wise class probabilities.
    pub fn read_aligned(&self, x: &[f32]) -> Read {
        READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let lg = crate::stage::timed(&crate::stage::READER, || {
            #[cfg(target_arch = "wasm32")]
            // SAFETY: see `mm_fwd`.
            let lg = unsafe { self.infer_simd(x) };
            #[cfg(not(target_arch = "wasm32"))]
            let lg = self.forward(x, &mut Cache::default());
            lg
        });
        let read = greedy(softmax_cols(&lg, self.classes.len()), &self.classes);
        if format::uses_in_place(&read.text) {
            return read;
        }
        // a use's character inside a read (a blurred 1 read as 警) is
        // another character: read again without them
        let mut probs = read.probs;
        for (k, &c) in self.classes.iter().enumerate() {
            if format::is_use_char(c) {
                probs[k * T..(k + 1) * T].fill(0.0);
            }
        }
        greedy(probs, &self.classes)
    }
}

/// A greedy CTC reading with its alignment.
pub struct Read {
    pub text: Vec<char>,
    /// Per character: its highest probability over its columns.
    pub conf: Vec<f32>,
    /// Per character: the column (0..T) of that highest probability.
    pub cols: Vec<usize>,
    /// Per character: probability-weighted mean column of its run.
    pub centre: Vec<f32>,
    /// Class probabilities, [classes × T].
    pub probs: Vec<f32>,
}

/// Intermediate values of one forward pass.
#[derive(Default, Clone)]
pub struct Cache {
    x: Vec<f32>,
    col: [Vec<f32>; 4],
    a: [Vec<f32>; 4],
    idx: [Vec<u32>; 4],
    feat: Vec<f32>,
    h1: Vec<f32>,
}

/// C += A·B, all row-major (A m×k, B k×n). Natively `matrixmultiply`; in
/// wasm32 [`wasm::gemm`], a register-tiled kernel with SIMD128 enabled for
/// it only (no global target-feature flag needed; wasmtime supports SIMD by
/// default), in the order of operations of `gemm_tiled`.
#[inline(always)]
pub(crate) fn mm_fwd(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    #[cfg(target_arch = "wasm32")]
    // (safe to call: a wasm module using SIMD128 either validates --
    // wasmtime: on by default -- or fails to load)
    wasm::gemm(m, k, n, a, b, c);
    #[cfg(not(target_arch = "wasm32"))]
    mm(m, k, n, a, false, b, false, c, 1.0)
}

/// One 3×3 convolution (padding 1) with its bias and ReLU over `x`
/// (`cin` planes of `h` × `w`): `cout` planes of the same size. Its
/// im2col input is left in `col` (for a backward pass).
#[inline(always)]
pub(crate) fn conv_relu(
    x: &[f32],
    (cin, cout, h, w): (usize, usize, usize, usize),
    weights: &[f32],
    bias: &[f32],
    col: &mut Vec<f32>,
) -> Vec<f32> {
    im2col(x, cin, h, w, col);
    let n = h * w;
    let mut z = vec![0f32; cout * n];
    for o in 0..cout {
        z[o * n..(o + 1) * n].fill(bias[o]);
    }
    mm_fwd(cout, cin * 9, n, weights, col, &mut z);
    relu(&mut z);
    z
}

/// In-place ReLU (`max(v, 0)`); SIMD128 in wasm32, where `f32::max` is a
/// call to `fmaxf`.
#[inline(always)]
pub(crate) fn relu(x: &mut [f32]) {
    #[cfg(target_arch = "wasm32")]
    wasm::relu(x);
    #[cfg(not(target_arch = "wasm32"))]
    x.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// Plain Rust, the order of operations `wasm::gemm` follows (tested
/// against `matrixmultiply`).
#[inline(always)]
#[allow(dead_code)]
fn gemm_tiled(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let mut i = 0;
    while i + 4 <= m {
        let mut j = 0;
        while j + 8 <= n {
            let mut acc = [[0f32; 8]; 4];
            for kk in 0..k {
                let bv: &[f32; 8] = b[kk * n + j..kk * n + j + 8].try_into().unwrap();
                for r in 0..4 {
                    let av = a[(i + r) * k + kk];
                    for l in 0..8 {
                        acc[r][l] += av * bv[l];
                    }
                }
            }
            for r in 0..4 {
                let row = &mut c[(i + r) * n + j..(i + r) * n + j + 8];
                for l in 0..8 {
                    row[l] += acc[r][l];
                }
            }
            j += 8;
        }
        for jj in j..n {
            for r in 0..4 {
                let mut s = 0f32;
                for kk in 0..k {
                    s += a[(i + r) * k + kk] * b[kk * n + jj];
                }
                c[(i + r) * n + jj] += s;
            }
        }
        i += 4;
    }
    for r in i..m {
        for kk in 0..k {
            let av = a[r * k + kk];
            let brow = &b[kk * n..kk * n + n];
            let crow = &mut c[r * n..r * n + n];
            for (cv, bv) in crow.iter_mut().zip(brow) {
                *cv += av * bv;
            }
        }
    }
}

/// C = A·B + beta·C with optional transposes (A is m×k, B is k×n logically).
#[allow(clippy::too_many_arguments)]
pub(crate) fn mm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    at: bool,
    b: &[f32],
    bt: bool,
    c: &mut [f32],
    beta: f32,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let (rsa, csa) = if at { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if bt { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the asserts above bound every access by the strides given.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// 3×3, padding 1: col [(c·9) × (h·w)].
#[inline(always)]
pub(crate) fn im2col(x: &[f32], c: usize, h: usize, w: usize, col: &mut Vec<f32>) {
    let n = h * w;
    col.clear();
    col.resize(c * 9 * n, 0.0);
    for ci in 0..c {
        let src = &x[ci * n..(ci + 1) * n];
        for ky in 0..3 {
            for kx in 0..3 {
                let row = &mut col[((ci * 9) + ky * 3 + kx) * n..((ci * 9) + ky * 3 + kx + 1) * n];
                for y in 0..h {
                    let sy = y as isize + ky as isize - 1;
                    if sy < 0 || sy >= h as isize {
                        continue;
                    }
                    let srow = &src[sy as usize * w..(sy as usize + 1) * w];
                    let drow = &mut row[y * w..(y + 1) * w];
                    match kx {
                        0 => drow[1..].copy_from_slice(&srow[..w - 1]),
                        1 => drow.copy_from_slice(srow),
                        _ => drow[..w - 1].copy_from_slice(&srow[1..]),
                    }
                }
            }
        }
    }
}

/// Max pooling (ph × pw), returns output and argmax indices into the input.
#[inline(always)]
pub(crate) fn pool(
    x: &[f32],
    c: usize,
    h: usize,
    w: usize,
    ph: usize,
    pw: usize,
) -> (Vec<f32>, Vec<u32>) {
    let (oh, ow) = (h / ph, w / pw);
    let mut out = vec![0f32; c * oh * ow];
    let mut idx = vec![0u32; c * oh * ow];
    for ci in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = f32::MIN;
                let mut bi = 0usize;
                for dy in 0..ph {
                    for dx in 0..pw {
                        let j = ci * h * w + (oy * ph + dy) * w + ox * pw + dx;
                        if x[j] > best {
                            best = x[j];
                            bi = j;
                        }
                    }
                }
                let o = ci * oh * ow + oy * ow + ox;
                out[o] = best;
                idx[o] = bi as u32;
            }
        }
    }
    (out, idx)
}

/// Column-wise softmax of [nc × T] logits.
pub fn softmax_cols(lg: &[f32], nc: usize) -> Vec<f32> {
    let mut p = vec![0f32; nc * T];
    for t in 0..T {
        // (not `f32::max`: a call to `fmaxf` in wasm32; the same value
        // for these non-NaN logits)
        let mx = (0..nc)
            .map(|k| lg[k * T + t])
            .fold(f32::MIN, crate::colour::fmax);
        let mut s = 0f32;
        for k in 0..nc {
            let e = (lg[k * T + t] - mx).exp();
            p[k * T + t] = e;
            s += e;
        }
        for k in 0..nc {
            p[k * T + t] /= s;
        }
    }
    p
}

/// Greedy CTC decoding of column-wise class probabilities ([classes × T]):
/// the characters with their alignment.
pub fn greedy(probs: Vec<f32>, classes: &[char]) -> Read {
    let nc = classes.len();
    let (mut text, mut conf, mut cols) = (Vec::new(), Vec::new(), Vec::new());
    let mut centre: Vec<(f32, f32)> = Vec::new();
    let mut prev = 0usize;
    for t in 0..T {
        let (mut bk, mut bp) = (0usize, -1f32);
        for k in 0..nc {
            if probs[k * T + t] > bp {
                bp = probs[k * T + t];
                bk = k;
            }
        }
        if bk != 0 {
            if bk != prev {
                text.push(classes[bk]);
                conf.push(bp);
                cols.push(t);
                centre.push((0.0, 0.0));
            } else if let (Some(c), Some(col)) = (conf.last_mut(), cols.last_mut())
                && bp > *c
            {
                *c = bp;
                *col = t;
            }
            if let Some(m) = centre.last_mut() {
                m.0 += bp * t as f32;
                m.1 += bp;
            }
        }
        prev = bk;
    }
    let centre = centre.iter().map(|m| m.0 / m.1.max(1e-6)).collect();
    Read {
        text,
        conf,
        cols,
        centre,
        probs,
    }
}

/// Net input from a rectified crop: grey, resized to 32 × 128 (double-row
/// plates: the top row's band on the left, the bottom row's on the right),
/// normalised to zero mean and unit variance.
pub fn prepare(crop: &RgbImage, double: bool) -> Vec<f32> {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    let raw = crop.as_raw();
    let grey: Vec<f32> = raw
        .chunks_exact(3)
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    let mut out = vec![0f32; IN_H * IN_W];
    let mut put = |x0: f32, x1: f32, y0: f32, y1: f32, ox: usize, ow: usize| {
        for oy in 0..IN_H {
            let sy = (y0 + (oy as f32 + 0.5) / IN_H as f32 * (y1 - y0) - 0.5)
                .clamp(0.0, h as f32 - 1.001);
            let (yi, ay) = (sy as usize, sy.fract());
            let yj = (yi + 1).min(h - 1);
            for ox2 in 0..ow {
                let sx = (x0 + (ox2 as f32 + 0.5) / ow as f32 * (x1 - x0) - 0.5)
                    .clamp(0.0, w as f32 - 1.001);
                let (xi, ax) = (sx as usize, sx.fract());
                let xj = (xi + 1).min(w - 1);
                let v = grey[yi * w + xi] * (1.0 - ax) * (1.0 - ay)
                    + grey[yi * w + xj] * ax * (1.0 - ay)
                    + grey[yj * w + xi] * (1.0 - ax) * ay
                    + grey[yj * w + xj] * ax * ay;
                out[oy * IN_W + ox + ox2] = v;
            }
        }
    };
    let (wf, hf) = (w as f32, h as f32);
    if double {
        put(0.15 * wf, 0.85 * wf, 0.0, 0.40 * hf, 0, 44);
        put(0.0, wf, 0.36 * hf, hf, 44, IN_W - 44);
    } else {
        put(0.0, wf, 0.0, hf, 0, IN_W);
    }
    let n = out.len() as f32;
    let mean = out.iter().sum::<f32>() / n;
    let var = out.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let sd = var.sqrt().max(8.0);
    for v in out.iter_mut() {
        *v = (*v - mean) / sd;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiled kernel used in wasm32 agrees with matrixmultiply.
    #[test]
    fn tiled_gemm_matches() {
        let mut s = 1u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        for &(m, k, n) in &[
            (16, 9, 4096),
            (5, 7, 13),
            (66, 128, 32),
            (3, 1, 9),
            (64, 576, 256),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
            let init: Vec<f32> = (0..m * n).map(|_| rnd()).collect();
            let mut c1 = init.clone();
            let mut c2 = init.clone();
            gemm_tiled(m, k, n, &a, &b, &mut c1);
            mm(m, k, n, &a, false, &b, false, &mut c2, 1.0);
            for (x, y) in c1.iter().zip(&c2) {
                assert!((x - y).abs() < 1e-3, "{m}x{k}x{n}: {x} vs {y}");
            }
        }
    }
}

mod train;
#[cfg(target_arch = "wasm32")]
pub(crate) mod wasm;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) mod winograd;

pub(crate) use train::{ConvStack, col2im, convs_backward};
pub use train::{ctc_loss, he_init};
