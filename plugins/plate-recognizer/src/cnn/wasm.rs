//! Inference kernels for wasm32 with explicit SIMD128.
//!
//! Shaped for Cranelift with the host's epoch interruption. The epoch check
//! at every loop back-edge has a call on its slow path, so vector values
//! live across a back-edge are kept in memory: each iteration must do a lot
//! of work (a whole input channel, 9 taps, per step of a convolution; 8 `k`
//! per step of a product). And LLVM emits an unrolled body one accumulator
//! after the other, so an operand used by several accumulators (a weight)
//! stays live across the whole body while the other operand (the input)
//! must be used by one accumulator only; the accumulators are anchored
//! ([`anchor`]) so that Cranelift computes them where they are written.
//!
//! Two kinds of results. [`conv3x3_relu`] and [`gemm`] compute every
//! output element with the same operations in the same order as
//! `gemm_tiled` after `im2col` (products summed from 0.0 in `k` order,
//! then added to the bias, then ReLU): bit for bit the plain version's.
//! The kernels with fused multiply-adds ([`gemm_packed`], [`gemv_packed`])
//! and the Winograd convolution ([`winograd_conv_relu`]) round otherwise:
//! their callers' outputs differ from the plain version's in the last bits
//! (each caller's wasm32 test compares them to float rounding).

use core::arch::wasm32::*;

/// `c + a·b`, fused (one rounding) where the host has FMA: the relaxed
/// SIMD instruction, which wasmtime enables by default and lowers to the
/// CPU's FMA when it has one (x86-64 with FMA3, aarch64), to a product and
/// a sum otherwise.
#[inline]
#[target_feature(enable = "simd128,relaxed-simd")]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    f32x4_relaxed_madd(a, b, c)
}

/// `max(v, 0)` as `f32::max` gives it (NaN and -0.0 become 0.0).
#[inline]
#[target_feature(enable = "simd128")]
fn relu4(v: v128) -> v128 {
    f32x4_pmax(f32x4_splat(0.0), v)
}

/// 4 floats at `p` (unaligned).
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn ld(p: *const f32) -> v128 {
    // SAFETY: the caller guarantees 4 readable floats at `p`.
    unsafe { v128_load(p as *const v128) }
}

/// Stores 4 floats at `p` (unaligned).
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn st(p: *mut f32, v: v128) {
    // SAFETY: the caller guarantees 4 writable floats at `p`.
    unsafe { v128_store(p as *mut v128, v) }
}

/// The float at `p` in all 4 lanes.
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn ld1(p: *const f32) -> v128 {
    // SAFETY: the caller guarantees a readable float at `p`.
    unsafe { v128_load32_splat(p as *const u32) }
}

/// Stores the accumulators (volatile: kept) so that Cranelift computes
/// them here rather than after all the loads of the loop body.
#[inline]
#[target_feature(enable = "simd128")]
fn anchor<const N: usize>(pin: &mut [v128; N], acc: [v128; N]) {
    for i in 0..N {
        // SAFETY: `pin[i]` is a valid v128.
        unsafe { core::ptr::write_volatile(&mut pin[i], acc[i]) };
    }
}

/// In-place ReLU.
#[inline]
#[target_feature(enable = "simd128")]
pub fn relu(x: &mut [f32]) {
    let mut it = x.chunks_exact_mut(16);
    for c in &mut it {
        let p = c.as_mut_ptr();
        // SAFETY: `c` holds 16 floats.
        unsafe {
            st(p, relu4(ld(p)));
            st(p.add(4), relu4(ld(p.add(4))));
            st(p.add(8), relu4(ld(p.add(8))));
            st(p.add(12), relu4(ld(p.add(12))));
        }
    }
    for v in it.into_remainder() {
        *v = v.max(0.0);
    }
}

/// A zero-padded copy ([c × (h+2) × (w+2)]) of `x` [c × h × w].
pub fn pad(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    pad_grid(x, c, h, w, h, w)
}

/// [`pad`] onto a larger grid: `x` [c × h × w] at the top left of `gh` ×
/// `gw` (at least h × w) zeros, with the border of 1: [c × (gh+2) ×
/// (gw+2)] (for kernels that take only some sizes).
pub fn pad_grid(x: &[f32], c: usize, h: usize, w: usize, gh: usize, gw: usize) -> Vec<f32> {
    regrid(x, c, [h, w], [h, w], [gh, gw], 1)
}

/// The top left `h` × `w` of each plane of `x` [c × sh × sw] at the top
/// left of `gh` × `gw` zeros, with a border of `border` zeros: [c × (gh +
/// 2·border) × (gw + 2·border)]. Pads ([`pad_grid`]), or crops a kernel's
/// grid back to what it was computed for (`border` 0).
pub fn regrid(
    x: &[f32],
    c: usize,
    [sh, sw]: [usize; 2],
    [h, w]: [usize; 2],
    [gh, gw]: [usize; 2],
    border: usize,
) -> Vec<f32> {
    assert!(sh >= h && sw >= w && gh >= h && gw >= w && x.len() >= c * sh * sw);
    let wp = gw + 2 * border;
    let plane = (gh + 2 * border) * wp;
    let mut out = vec![0f32; c * plane];
    for ci in 0..c {
        for y in 0..h {
            let d = ci * plane + (y + border) * wp + border;
            let s = (ci * sh + y) * sw;
            out[d..d + w].copy_from_slice(&x[s..s + w]);
        }
    }
    out
}

/// A model's weights packed for these kernels, kept for it: the buffers
/// of its tensors and the values of its first one, and what was packed.
pub type Packed = std::sync::OnceLock<(Vec<usize>, Vec<f32>, Vec<Vec<f32>>)>;

/// `pack()` of the model `p`, computed once into the first of `cells`
/// still free (one cell per model the program loads: the province and
/// the letter-and-digit CNNs share a forward pass) and reused while `p`
/// is the model it was computed for (the same tensor buffers, and the same
/// first tensor: a freed buffer reused by another model does not match);
/// a model with no cell of its own gets its own, packed again each call.
pub fn packed_for(
    cells: &'static [Packed],
    p: &[Vec<f32>],
    pack: impl Fn() -> Vec<Vec<f32>>,
) -> std::borrow::Cow<'static, [Vec<f32>]> {
    let key: Vec<usize> = p.iter().map(|t| t.as_ptr() as usize).collect();
    for cell in cells {
        let cached = cell.get_or_init(|| (key.clone(), p[0].clone(), pack()));
        if cached.0 == key && cached.1 == p[0] {
            return std::borrow::Cow::Borrowed(&cached.2);
        }
    }
    std::borrow::Cow::Owned(pack())
}

/// `wt` [cout × k] regrouped for [`conv3x3_relu`]: per 4 output rows,
/// per k, the 4 rows' weights side by side.
pub fn pack4(wt: &[f32], cout: usize, k: usize) -> Vec<f32> {
    assert!(cout.is_multiple_of(4) && wt.len() >= cout * k);
    let mut out = vec![0f32; cout * k];
    for o in (0..cout).step_by(4) {
        for kk in 0..k {
            for r in 0..4 {
                out[o * k + kk * 4 + r] = wt[(o + r) * k + kk];
            }
        }
    }
    out
}

/// c += A·b for one column b (a fully connected layer): `apk` is A [m ×
/// k] by [`pack4`], `m` a multiple of 4. Per 4 rows, four running sums
/// over every fourth k (fused multiply-adds, one load of weights per 4
/// products, no shuffles), added at the end: other roundings than
/// [`gemm`]'s.
#[inline]
#[target_feature(enable = "simd128,relaxed-simd")]
pub fn gemv_packed(m: usize, k: usize, apk: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(m.is_multiple_of(4) && apk.len() >= m * k && b.len() >= k && c.len() >= m);
    // SAFETY: rows below m, kk below k: inside the slices checked above.
    unsafe {
        let bp = b.as_ptr();
        for o in (0..m).step_by(4) {
            let mut w = apk.as_ptr().add(o * k);
            let z = f32x4_splat(0.0);
            let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
            let mut kk = 0;
            while kk + 8 <= k {
                a0 = madd(ld(w), ld1(bp.add(kk)), a0);
                a1 = madd(ld(w.add(4)), ld1(bp.add(kk + 1)), a1);
                a2 = madd(ld(w.add(8)), ld1(bp.add(kk + 2)), a2);
                a3 = madd(ld(w.add(12)), ld1(bp.add(kk + 3)), a3);
                a0 = madd(ld(w.add(16)), ld1(bp.add(kk + 4)), a0);
                a1 = madd(ld(w.add(20)), ld1(bp.add(kk + 5)), a1);
                a2 = madd(ld(w.add(24)), ld1(bp.add(kk + 6)), a2);
                a3 = madd(ld(w.add(28)), ld1(bp.add(kk + 7)), a3);
                w = w.add(32);
                kk += 8;
            }
            while kk < k {
                a0 = madd(ld(w), ld1(bp.add(kk)), a0);
                w = w.add(4);
                kk += 1;
            }
            let d = c.as_mut_ptr().add(o);
            let sum = f32x4_add(f32x4_add(a0, a1), f32x4_add(a2, a3));
            st(d, f32x4_add(ld(d), sum));
        }
    }
}

/// 3×3 convolution, padding 1, + bias + ReLU. `xp`: zero-padded input
/// [cin × (h+2) × (w+2)]; `wp4`: the weights [cout × cin·9] by
/// [`pack4`]; out [cout × h × w]; `cout` a multiple of 4, `w` of 8.
/// Tiles of 4 output rows × 8 columns.
#[inline]
#[target_feature(enable = "simd128")]
#[allow(clippy::too_many_arguments)]
pub fn conv3x3_relu(
    xp: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    wp4: &[f32],
    bias: &[f32],
    cout: usize,
    out: &mut [f32],
) {
    let wp = w + 2;
    let plane = (h + 2) * wp;
    let k = cin * 9;
    let n = h * w;
    assert!(w.is_multiple_of(8) && cout.is_multiple_of(4) && cin > 0);
    assert!(xp.len() >= cin * plane && wp4.len() >= cout * k);
    assert!(bias.len() >= cout && out.len() >= cout * n);
    // SAFETY: every pointer below stays inside the slices checked above:
    // input reads at y·wp + x + tap (+ 8 lanes) ≤ (h+1)·wp + w + 1 within
    // a plane, weights below cout·k, outputs below cout·n.
    unsafe {
        let xb = xp.as_ptr();
        for o in (0..cout).step_by(4) {
            let a = wp4.as_ptr().add(o * k);
            let bs = [
                f32x4_splat(bias[o]),
                f32x4_splat(bias[o + 1]),
                f32x4_splat(bias[o + 2]),
                f32x4_splat(bias[o + 3]),
            ];
            for y in 0..h {
                for x in (0..w).step_by(8) {
                    let z = f32x4_splat(0.0);
                    let (mut c00, mut c01, mut c10, mut c11) = (z, z, z, z);
                    let (mut c20, mut c21, mut c30, mut c31) = (z, z, z, z);
                    let mut pin = [z; 8];
                    let mut p = xb.add(y * wp + x);
                    let mut wk = a;
                    // one input channel (9 taps) per iteration
                    for _ in 0..cin {
                        macro_rules! tap {
                            ($off:expr, $t:expr) => {
                                let q = p.add($off);
                                let (b0, b1) = (ld(q), ld(q.add(4)));
                                let wv = ld(wk.add(4 * $t));
                                let s = i32x4_shuffle::<0, 0, 0, 0>(wv, wv);
                                c00 = f32x4_add(c00, f32x4_mul(s, b0));
                                c01 = f32x4_add(c01, f32x4_mul(s, b1));
                                let s = i32x4_shuffle::<1, 1, 1, 1>(wv, wv);
                                c10 = f32x4_add(c10, f32x4_mul(s, b0));
                                c11 = f32x4_add(c11, f32x4_mul(s, b1));
                                let s = i32x4_shuffle::<2, 2, 2, 2>(wv, wv);
                                c20 = f32x4_add(c20, f32x4_mul(s, b0));
                                c21 = f32x4_add(c21, f32x4_mul(s, b1));
                                let s = i32x4_shuffle::<3, 3, 3, 3>(wv, wv);
                                c30 = f32x4_add(c30, f32x4_mul(s, b0));
                                c31 = f32x4_add(c31, f32x4_mul(s, b1));
                                anchor(&mut pin, [c00, c01, c10, c11, c20, c21, c30, c31]);
                            };
                        }
                        tap!(0, 0);
                        tap!(1, 1);
                        tap!(2, 2);
                        tap!(wp, 3);
                        tap!(wp + 1, 4);
                        tap!(wp + 2, 5);
                        tap!(2 * wp, 6);
                        tap!(2 * wp + 1, 7);
                        tap!(2 * wp + 2, 8);
                        p = p.add(plane);
                        wk = wk.add(36);
                    }
                    let d = out.as_mut_ptr().add(o * n + y * w + x);
                    let put = |d: *mut f32, b: v128, lo: v128, hi: v128| {
                        st(d, relu4(f32x4_add(b, lo)));
                        st(d.add(4), relu4(f32x4_add(b, hi)));
                    };
                    put(d, bs[0], c00, c01);
                    put(d.add(n), bs[1], c10, c11);
                    put(d.add(2 * n), bs[2], c20, c21);
                    put(d.add(3 * n), bs[3], c30, c31);
                }
            }
        }
    }
}

/// 2×2 max pooling of [c × h × w] (w a multiple of 8) into the interior
/// of a zero-padded [c × (h/2+2) × (w/2+2)] buffer (the next layer's
/// input), or unpadded if `padded` is false.
#[inline]
#[target_feature(enable = "simd128")]
pub fn pool2x2(x: &[f32], c: usize, h: usize, w: usize, padded: bool) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let (ph, pw, e) = if padded {
        (oh + 2, ow + 2, 1)
    } else {
        (oh, ow, 0)
    };
    assert!(w.is_multiple_of(8) && x.len() >= c * h * w);
    let mut out = vec![0f32; c * ph * pw];
    // SAFETY: reads below c·h·w, writes inside the interior of `out`.
    unsafe {
        for ci in 0..c {
            for oy in 0..oh {
                let r0 = x.as_ptr().add((ci * h + 2 * oy) * w);
                let r1 = r0.add(w);
                let d = out.as_mut_ptr().add((ci * ph + oy + e) * pw + e);
                for q in 0..w / 8 {
                    let v0 = f32x4_pmax(ld(r0.add(8 * q)), ld(r1.add(8 * q)));
                    let v1 = f32x4_pmax(ld(r0.add(8 * q + 4)), ld(r1.add(8 * q + 4)));
                    let ev = i32x4_shuffle::<0, 2, 4, 6>(v0, v1);
                    let od = i32x4_shuffle::<1, 3, 5, 7>(v0, v1);
                    st(d.add(4 * q), f32x4_pmax(ev, od));
                }
            }
        }
    }
    out
}

/// 2×1 max pooling (pairs of rows) of [c × h × w], w a multiple of 4.
#[inline]
#[target_feature(enable = "simd128")]
pub fn pool2x1(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let oh = h / 2;
    assert!(w.is_multiple_of(4) && x.len() >= c * h * w);
    let mut out = vec![0f32; c * oh * w];
    // SAFETY: reads below c·h·w, writes below c·oh·w.
    unsafe {
        for ci in 0..c {
            for oy in 0..oh {
                let r0 = x.as_ptr().add((ci * h + 2 * oy) * w);
                let r1 = r0.add(w);
                let d = out.as_mut_ptr().add((ci * oh + oy) * w);
                for q in 0..w / 4 {
                    st(
                        d.add(4 * q),
                        f32x4_pmax(ld(r0.add(4 * q)), ld(r1.add(4 * q))),
                    );
                }
            }
        }
    }
    out
}

/// C += A·B for A [m × k] packed by [`pack4`] (m a multiple of 4), B
/// [k × n] row-major (n a multiple of 4), C [m × n]; products fused
/// ([`madd`]), summed in `k` order from 0.0, then added to C. Tiles of 4
/// rows × 8 columns (and 4 × 4 for the last 4 columns when n is not a
/// multiple of 8), 8 `k` per loop iteration (the accumulators go through
/// memory at each back-edge: 8 `k` per iteration read the forward pass in
/// 0.74 ms instead of 0.83 with 4; 16 gain nothing more), the
/// accumulators anchored after each `k` (see the module docs; anchoring
/// after every other `k` was slower).
#[inline(never)]
#[target_feature(enable = "simd128,relaxed-simd")]
pub fn gemm_packed(m: usize, k: usize, n: usize, apk: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(m.is_multiple_of(4) && n.is_multiple_of(4) && k > 0);
    assert!(apk.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let n8 = n - n % 8;
    // SAFETY: rows below m, columns below n, kk below k: inside the
    // slices checked above.
    unsafe {
        for o in (0..m).step_by(4) {
            let a = apk.as_ptr().add(o * k);
            for j in (0..n8).step_by(8) {
                let z = f32x4_splat(0.0);
                let (mut c00, mut c01, mut c10, mut c11) = (z, z, z, z);
                let (mut c20, mut c21, mut c30, mut c31) = (z, z, z, z);
                let mut pin = [z; 8];
                let mut q = b.as_ptr().add(j);
                let mut wk = a;
                macro_rules! step {
                    () => {
                        let (b0, b1) = (ld(q), ld(q.add(4)));
                        let wv = ld(wk);
                        let s = i32x4_shuffle::<0, 0, 0, 0>(wv, wv);
                        c00 = madd(s, b0, c00);
                        c01 = madd(s, b1, c01);
                        let s = i32x4_shuffle::<1, 1, 1, 1>(wv, wv);
                        c10 = madd(s, b0, c10);
                        c11 = madd(s, b1, c11);
                        let s = i32x4_shuffle::<2, 2, 2, 2>(wv, wv);
                        c20 = madd(s, b0, c20);
                        c21 = madd(s, b1, c21);
                        let s = i32x4_shuffle::<3, 3, 3, 3>(wv, wv);
                        c30 = madd(s, b0, c30);
                        c31 = madd(s, b1, c31);
                        anchor(&mut pin, [c00, c01, c10, c11, c20, c21, c30, c31]);
                        q = q.add(n);
                        wk = wk.add(4);
                    };
                }
                let mut kk = 0;
                while kk + 8 <= k {
                    step!();
                    step!();
                    step!();
                    step!();
                    step!();
                    step!();
                    step!();
                    step!();
                    kk += 8;
                }
                while kk < k {
                    step!();
                    kk += 1;
                }
                let d = c.as_mut_ptr().add(o * n + j);
                let add = |d: *mut f32, v: v128| st(d, f32x4_add(ld(d), v));
                add(d, c00);
                add(d.add(4), c01);
                add(d.add(n), c10);
                add(d.add(n + 4), c11);
                add(d.add(2 * n), c20);
                add(d.add(2 * n + 4), c21);
                add(d.add(3 * n), c30);
                add(d.add(3 * n + 4), c31);
            }
            if n8 < n {
                // the last 4 columns
                let z = f32x4_splat(0.0);
                let (mut c0, mut c1, mut c2, mut c3) = (z, z, z, z);
                let mut pin = [z; 4];
                let mut q = b.as_ptr().add(n8);
                let mut wk = a;
                for _ in 0..k {
                    let b0 = ld(q);
                    let wv = ld(wk);
                    c0 = madd(i32x4_shuffle::<0, 0, 0, 0>(wv, wv), b0, c0);
                    c1 = madd(i32x4_shuffle::<1, 1, 1, 1>(wv, wv), b0, c1);
                    c2 = madd(i32x4_shuffle::<2, 2, 2, 2>(wv, wv), b0, c2);
                    c3 = madd(i32x4_shuffle::<3, 3, 3, 3>(wv, wv), b0, c3);
                    anchor(&mut pin, [c0, c1, c2, c3]);
                    q = q.add(n);
                    wk = wk.add(4);
                }
                let d = c.as_mut_ptr().add(o * n + n8);
                for (r, v) in [c0, c1, c2, c3].into_iter().enumerate() {
                    st(d.add(r * n), f32x4_add(ld(d.add(r * n)), v));
                }
            }
        }
    }
}

/// Four lanes as a value of the Winograd transforms ([`winograd::Val`]),
/// so that the SIMD128 transforms are the reference ones, 4 tiles at a
/// time. (The components are built with SIMD128 enabled globally, as
/// `scripts/build-plugins` does, so these inline into their callers.)
#[derive(Clone, Copy)]
struct F4(v128);

impl core::ops::Add for F4 {
    type Output = F4;
    #[inline(always)]
    fn add(self, o: F4) -> F4 {
        #[allow(unused_unsafe)]
        // SAFETY: SIMD128 is enabled for the whole build (see above).
        F4(unsafe { f32x4_add(self.0, o.0) })
    }
}

impl core::ops::Sub for F4 {
    type Output = F4;
    #[inline(always)]
    fn sub(self, o: F4) -> F4 {
        #[allow(unused_unsafe)]
        // SAFETY: as for `add`.
        F4(unsafe { f32x4_sub(self.0, o.0) })
    }
}

impl core::ops::Mul<f32> for F4 {
    type Output = F4;
    #[inline(always)]
    fn mul(self, k: f32) -> F4 {
        #[allow(unused_unsafe)]
        // SAFETY: as for `add`.
        F4(unsafe { f32x4_mul(self.0, f32x4_splat(k)) })
    }
}

/// The 4 × 4 transpose: lane `t` of result `j` is lane `j` of input `t`.
#[inline]
#[target_feature(enable = "simd128")]
fn transpose4([p0, p1, p2, p3]: [v128; 4]) -> [v128; 4] {
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(p0, p1);
    let t1 = i32x4_shuffle::<0, 4, 1, 5>(p2, p3);
    let t2 = i32x4_shuffle::<2, 6, 3, 7>(p0, p1);
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(p2, p3);
    [
        i32x4_shuffle::<0, 1, 4, 5>(t0, t1),
        i32x4_shuffle::<2, 3, 6, 7>(t0, t1),
        i32x4_shuffle::<0, 1, 4, 5>(t2, t3),
        i32x4_shuffle::<2, 3, 6, 7>(t2, t3),
    ]
}

/// The transformed weights of a 3×3 convolution (`winograd::weights` of
/// `w` [cout × cin·9]), each patch position's [cout × cin] matrix packed
/// by [`pack4`] for [`winograd_conv_relu`].
pub fn winograd_pack(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    super::winograd::weights(w, cout, cin)
        .chunks_exact(cout * cin)
        .flat_map(|m| pack4(m, cout, cin))
        .collect()
}

/// A 3×3 convolution (padding 1) + bias + ReLU by Winograd's F(4×4, 3×3):
/// the transformed input patches ([`winograd_input`]), per patch position
/// a product by [`gemm_packed`] with the weights of [`winograd_pack`]
/// (`u`), the outputs ([`winograd_output`]). `xp`: zero-padded input [cin
/// × (h+2) × (w+2)], `h` a multiple of 4, `w` of 16; out [cout × h × w],
/// `cout` a multiple of 4. Done by bands of tile rows whose transformed
/// patches and products together stay within [`WINOGRAD_BAND`] floats
/// (at least one tile row), so that what one band writes is still in the
/// cache when it is read: the same operations per value whatever the band.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "simd128,relaxed-simd")]
pub fn winograd_conv_relu(
    xp: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    u: &[f32],
    bias: &[f32],
    cout: usize,
    out: &mut [f32],
) {
    use super::winograd::{TILE, XI};
    let (th, tw) = (h / TILE, w / TILE);
    let per_row = XI * (cin + cout) * tw;
    let band = (WINOGRAD_BAND / per_row).clamp(1, th.max(1));
    let mut v = vec![0f32; XI * cin * tw * band];
    let mut m = vec![0f32; XI * cout * tw * band];
    let mut ty0 = 0;
    while ty0 < th {
        let rows = band.min(th - ty0);
        let tiles = rows * tw;
        winograd_input(xp, cin, h, w, ty0..ty0 + rows, &mut v);
        let (uk, vk, mk) = (cout * cin, cin * tiles, cout * tiles);
        if ty0 > 0 {
            // (`gemm_packed` adds to what is there)
            m[..XI * mk].fill(0.0);
        }
        for xi in 0..XI {
            gemm_packed(
                cout,
                cin,
                tiles,
                &u[xi * uk..(xi + 1) * uk],
                &v[xi * vk..(xi + 1) * vk],
                &mut m[xi * mk..(xi + 1) * mk],
            );
        }
        winograd_output(&m, bias, cout, h, w, ty0..ty0 + rows, out);
        ty0 += rows;
    }
}

/// The floats [`winograd_conv_relu`] gives the transformed patches and
/// products of one band of tile rows (512 KiB; the reader's convolutions
/// fit in one band).
pub const WINOGRAD_BAND: usize = 128 * 1024;

/// `winograd::input` with SIMD128, 4 tiles at a time (the same
/// operations per value): the transformed input patches `V[ξ]` [36 × cin
/// × tiles] of the tile rows `band` (tiles numbered from its first) of a
/// zero-padded input `xp` [cin × (h+2) × (w+2)]; `h` a multiple of 4, `w`
/// of 16.
#[inline(never)]
#[target_feature(enable = "simd128")]
pub fn winograd_input(
    xp: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    band: core::ops::Range<usize>,
    v: &mut [f32],
) {
    use super::winograd::{TILE, XI, bt};
    let (wp, tw) = (w + 2, w / TILE);
    let tiles = band.len() * tw;
    let plane = (h + 2) * wp;
    assert!(h.is_multiple_of(TILE) && w.is_multiple_of(16) && band.end * TILE <= h);
    assert!(xp.len() >= cin * plane && v.len() >= XI * cin * tiles);
    let stride = cin * tiles;
    // Bᵀ d of a row of patches: 6 rows of wp columns (+ 2 read past the
    // last patch by the column step below, never used, zero)
    let ew = w + 8;
    let mut e = vec![0f32; 6 * ew];
    // SAFETY: input rows 4·ty + r < h + 2 of plane ci, columns below wp;
    // `e` reads below 16·(tw/4 − 1) + 20 = w + 4 ≤ ew within a row; V at
    // ξ·stride + ci·tiles + t + 3 with t + 3 < tiles.
    unsafe {
        let eb = e.as_mut_ptr();
        for ci in 0..cin {
            let x = xp.as_ptr().add(ci * plane);
            for ty in band.clone() {
                let r: [*const f32; 6] = core::array::from_fn(|k| x.add((TILE * ty + k) * wp));
                let mut c = 0;
                while c + 4 <= wp {
                    let rows = bt(core::array::from_fn(|k| F4(ld(r[k].add(c)))));
                    for (i, row) in rows.iter().enumerate() {
                        st(eb.add(i * ew + c), row.0);
                    }
                    c += 4;
                }
                while c < wp {
                    let rows = bt(core::array::from_fn(|k| *r[k].add(c)));
                    for (i, &row) in rows.iter().enumerate() {
                        *eb.add(i * ew + c) = row;
                    }
                    c += 1;
                }
                let base = ci * tiles + (ty - band.start) * tw;
                for i in 0..6 {
                    let dst = v.as_mut_ptr().add(i * 6 * stride + base);
                    for g in (0..tw).step_by(4) {
                        // columns 4·g .. 4·g + 19 of the row: lane t of
                        // column j is tile g + t's column j
                        let p = eb.add(i * ew + TILE * g);
                        let [c0, c1, c2, c3] =
                            transpose4([ld(p), ld(p.add(4)), ld(p.add(8)), ld(p.add(12))]);
                        let p4 = ld(p.add(16));
                        let c4 = i32x4_shuffle::<1, 2, 3, 4>(c0, p4);
                        let c5 = i32x4_shuffle::<1, 2, 3, 5>(c1, p4);
                        let cols = bt([c0, c1, c2, c3, c4, c5].map(F4));
                        for (j, col) in cols.iter().enumerate() {
                            st(dst.add(j * stride + g), col.0);
                        }
                    }
                }
            }
        }
    }
}

/// `winograd::output` with SIMD128, 4 tiles at a time (the same
/// operations per value): the outputs `Aᵀ m A` of the products `m` [36 ×
/// cout × tiles] of the tile rows `band` (numbered from its first) plus
/// the bias, then ReLU, into their rows of `out` [cout × h × w]; `h` a
/// multiple of 4, `w` of 16.
#[inline(never)]
#[target_feature(enable = "simd128")]
pub fn winograd_output(
    m: &[f32],
    bias: &[f32],
    cout: usize,
    h: usize,
    w: usize,
    band: core::ops::Range<usize>,
    out: &mut [f32],
) {
    use super::winograd::{TILE, XI, at};
    let tw = w / TILE;
    let tiles = band.len() * tw;
    let stride = cout * tiles;
    assert!(h.is_multiple_of(TILE) && w.is_multiple_of(16) && band.end * TILE <= h);
    assert!(m.len() >= XI * stride && out.len() >= cout * h * w && bias.len() >= cout);
    // SAFETY: tile t + 3 < (o + 1)·tiles ≤ stride, ξ < 36: inside `m`;
    // outputs inside plane o of `out`.
    unsafe {
        for (o, &bo) in bias.iter().enumerate().take(cout) {
            let b = f32x4_splat(bo);
            for ty in band.clone() {
                for g in (0..tw).step_by(4) {
                    let p = m.as_ptr().add(o * tiles + (ty - band.start) * tw + g);
                    // Aᵀ m over the rows, per column j
                    let s: [[F4; 4]; 6] = core::array::from_fn(|j| {
                        at(core::array::from_fn(|i| {
                            F4(ld(p.add((i * 6 + j) * stride)))
                        }))
                    });
                    // then over the columns, per output row a
                    #[allow(clippy::needless_range_loop)]
                    for a in 0..TILE {
                        let y = at(core::array::from_fn(|j| s[j][a]));
                        let y = y.map(|y| relu4(f32x4_add(b, y.0)));
                        let d = out
                            .as_mut_ptr()
                            .add(o * h * w + (TILE * ty + a) * w + TILE * g);
                        for (t, q) in transpose4(y).into_iter().enumerate() {
                            st(d.add(TILE * t), q);
                        }
                    }
                }
            }
        }
    }
}

/// C += A·B (A m×k, B k×n, row-major), with `gemm_tiled`'s order of
/// operations: the rows of its 4-row tiles (all but the last m % 4
/// rows) sum their products from 0.0 and add the sum to C; the last
/// m % 4 rows accumulate into C directly.
#[inline]
#[target_feature(enable = "simd128")]
pub fn gemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let m4 = m - m % 4;
    if n == 1 {
        gemv(m4, k, a, b, c);
    }
    // SAFETY: row r < m, column < n, kk < k: inside the checked slices.
    unsafe {
        let (bp, cp) = (b.as_ptr(), c.as_mut_ptr());
        for r in 0..m {
            let ar = a.as_ptr().add(r * k);
            let cr = cp.add(r * n);
            if r >= m4 {
                // accumulate into C, k by k
                for kk in 0..k {
                    let av = *ar.add(kk);
                    let s = f32x4_splat(av);
                    let br = bp.add(kk * n);
                    let mut j = 0;
                    while j + 4 <= n {
                        st(
                            cr.add(j),
                            f32x4_add(ld(cr.add(j)), f32x4_mul(s, ld(br.add(j)))),
                        );
                        j += 4;
                    }
                    while j < n {
                        *cr.add(j) += av * *br.add(j);
                        j += 1;
                    }
                }
                continue;
            }
            if n == 1 {
                continue;
            }
            let mut j = 0;
            while j + 16 <= n {
                let z = f32x4_splat(0.0);
                let (mut c0, mut c1, mut c2, mut c3) = (z, z, z, z);
                let mut pin = [z; 4];
                let mut kk = 0;
                macro_rules! step {
                    () => {
                        let q = bp.add(kk * n + j);
                        let s = ld1(ar.add(kk));
                        c0 = f32x4_add(c0, f32x4_mul(s, ld(q)));
                        c1 = f32x4_add(c1, f32x4_mul(s, ld(q.add(4))));
                        c2 = f32x4_add(c2, f32x4_mul(s, ld(q.add(8))));
                        c3 = f32x4_add(c3, f32x4_mul(s, ld(q.add(12))));
                        anchor(&mut pin, [c0, c1, c2, c3]);
                        kk += 1;
                    };
                }
                while kk + 8 <= k {
                    step!();
                    step!();
                    step!();
                    step!();
                    step!();
                    step!();
                    step!();
                    step!();
                }
                while kk < k {
                    step!();
                }
                let d = cr.add(j);
                st(d, f32x4_add(ld(d), c0));
                st(d.add(4), f32x4_add(ld(d.add(4)), c1));
                st(d.add(8), f32x4_add(ld(d.add(8)), c2));
                st(d.add(12), f32x4_add(ld(d.add(12)), c3));
                j += 16;
            }
            while j + 4 <= n {
                let mut c0 = f32x4_splat(0.0);
                for kk in 0..k {
                    c0 = f32x4_add(c0, f32x4_mul(ld1(ar.add(kk)), ld(bp.add(kk * n + j))));
                }
                st(cr.add(j), f32x4_add(ld(cr.add(j)), c0));
                j += 4;
            }
            while j < n {
                let mut s = 0f32;
                for kk in 0..k {
                    s += *ar.add(kk) * *bp.add(kk * n + j);
                }
                *cr.add(j) += s;
                j += 1;
            }
        }
    }
}

/// The first `m4` rows (a multiple of 4) of C += A·b for a vector b:
/// four rows at a time, one per lane (each row's products summed from
/// 0.0 in `k` order, then added to C).
#[inline]
#[target_feature(enable = "simd128")]
fn gemv(m4: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(m4.is_multiple_of(4) && a.len() >= m4 * k && b.len() >= k && c.len() >= m4);
    // SAFETY: rows below m4, kk below k.
    unsafe {
        for i in (0..m4).step_by(4) {
            let a0 = a.as_ptr().add(i * k);
            let (a1, a2, a3) = (a0.add(k), a0.add(2 * k), a0.add(3 * k));
            let mut acc = f32x4_splat(0.0);
            let mut kk = 0;
            while kk + 4 <= k {
                // 4 k of 4 rows, transposed to 4 k-vectors over the rows
                let (r0, r1) = (ld(a0.add(kk)), ld(a1.add(kk)));
                let (r2, r3) = (ld(a2.add(kk)), ld(a3.add(kk)));
                let t0 = i32x4_shuffle::<0, 4, 1, 5>(r0, r1);
                let t1 = i32x4_shuffle::<0, 4, 1, 5>(r2, r3);
                let t2 = i32x4_shuffle::<2, 6, 3, 7>(r0, r1);
                let t3 = i32x4_shuffle::<2, 6, 3, 7>(r2, r3);
                let k0 = i32x4_shuffle::<0, 1, 4, 5>(t0, t1);
                let k1 = i32x4_shuffle::<2, 3, 6, 7>(t0, t1);
                let k2 = i32x4_shuffle::<0, 1, 4, 5>(t2, t3);
                let k3 = i32x4_shuffle::<2, 3, 6, 7>(t2, t3);
                let bv = b.as_ptr().add(kk);
                acc = f32x4_add(acc, f32x4_mul(k0, ld1(bv)));
                acc = f32x4_add(acc, f32x4_mul(k1, ld1(bv.add(1))));
                acc = f32x4_add(acc, f32x4_mul(k2, ld1(bv.add(2))));
                acc = f32x4_add(acc, f32x4_mul(k3, ld1(bv.add(3))));
                kk += 4;
            }
            while kk < k {
                let col = f32x4(*a0.add(kk), *a1.add(kk), *a2.add(kk), *a3.add(kk));
                acc = f32x4_add(acc, f32x4_mul(col, ld1(b.as_ptr().add(kk))));
                kk += 1;
            }
            let d = c.as_mut_ptr().add(i);
            st(d, f32x4_add(ld(d), acc));
        }
    }
}
