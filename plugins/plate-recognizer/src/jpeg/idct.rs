//! The inverse DCT of a block (T.81, A.3.3), at full size or reduced: the
//! `nx` × `ny` lowest-frequency coefficients through an `nx`-point and an
//! `ny`-point IDCT (n = 8, 4, 2, 1) give the block's samples at 1/(8/n)
//! scale. The n-point transform evaluates the 8-point one's cosines at the
//! centre of each group of 8/n samples: cos((2x+1)uπ/16) with
//! x = (8/n)x' + (8/n − 1)/2 is cos((2x'+1)uπ/(2n)), so the same
//! normalisation holds (a flat block gives the same level at every
//! scale) and the frequencies above n/2 cycles per block, which the
//! smaller grid cannot hold, are left out.
//!
//! The reduced sizes: f32 arithmetic in a fixed order (no fused
//! multiply-add), the same samples natively and in wasm32. The full 8 × 8
//! transform: zune-jpeg's integer one ([`idct8`]), so that full-resolution
//! pixels are the `image` crate's, bit for bit.

use std::sync::OnceLock;

/// `T[n][x][u] = C(u)/2 · cos((2x+1)uπ/(2n))` for n = 1, 2, 4, 8 (index
/// by `log2 n`), C(0) = 1/√2, C(u) = 1 otherwise; 8 × 8 entries each.
fn tables() -> &'static [[f32; 64]; 4] {
    static T: OnceLock<[[f32; 64]; 4]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [[0f32; 64]; 4];
        for (l, tab) in t.iter_mut().enumerate() {
            let n = 1usize << l;
            for x in 0..n {
                for u in 0..n {
                    let c = if u == 0 {
                        std::f64::consts::FRAC_1_SQRT_2
                    } else {
                        1.0
                    };
                    let a = ((2 * x + 1) * u) as f64 * std::f64::consts::PI / (2 * n) as f64;
                    tab[x * 8 + u] = (c / 2.0 * a.cos()) as f32;
                }
            }
        }
        t
    })
}

fn log2(n: usize) -> usize {
    match n {
        1 => 0,
        2 => 1,
        4 => 2,
        _ => 3,
    }
}

/// One block's `nx` × `ny` samples (level shifted, rounded, clamped) into
/// `out` (row stride `stride`), from its quantised coefficients `coef`
/// (natural order) and the quantisation factors `q`.
#[inline(always)]
pub(crate) fn idct(
    coef: &[i16],
    q: &[u16; 64],
    nx: usize,
    ny: usize,
    out: &mut [u8],
    stride: usize,
) {
    match (nx, ny) {
        (8, 8) => idct8(coef, q, out, stride),
        (4, 4) => idct_n::<4, 4>(coef, q, out, stride),
        (2, 2) => idct_n::<2, 2>(coef, q, out, stride),
        (1, 1) => idct_n::<1, 1>(coef, q, out, stride),
        (8, 4) => idct_n::<8, 4>(coef, q, out, stride),
        (4, 8) => idct_n::<4, 8>(coef, q, out, stride),
        (4, 2) => idct_n::<4, 2>(coef, q, out, stride),
        (2, 4) => idct_n::<2, 4>(coef, q, out, stride),
        (2, 1) => idct_n::<2, 1>(coef, q, out, stride),
        (1, 2) => idct_n::<1, 2>(coef, q, out, stride),
        (8, 2) => idct_n::<8, 2>(coef, q, out, stride),
        (2, 8) => idct_n::<2, 8>(coef, q, out, stride),
        (4, 1) => idct_n::<4, 1>(coef, q, out, stride),
        (1, 4) => idct_n::<1, 4>(coef, q, out, stride),
        (8, 1) => idct_n::<8, 1>(coef, q, out, stride),
        _ => idct_n::<1, 8>(coef, q, out, stride),
    }
}

#[inline(always)]
fn idct_n<const NX: usize, const NY: usize>(
    coef: &[i16],
    q: &[u16; 64],
    out: &mut [u8],
    stride: usize,
) {
    let t = tables();
    let (tx, ty) = (&t[log2(NX)], &t[log2(NY)]);
    let coef = &coef[..64];
    // dequantised low frequencies: f[v][u], v < NY, u < NX (arrays of
    // the block's reduced size: nothing else to clear)
    let mut f = [[0f32; NX]; NY];
    let mut col_ac = [false; NX]; // any non-zero beyond the DC of column u
    for (v, fv) in f.iter_mut().enumerate() {
        for (u, fvu) in fv.iter_mut().enumerate() {
            let c = coef[v * 8 + u];
            *fvu = (c as i32 * q[v * 8 + u] as i32) as f32;
            if v > 0 && c != 0 {
                col_ac[u] = true;
            }
        }
    }
    // columns: g[y][u] = Σ_v T[y][v] f[v][u]
    let mut g = [[0f32; NX]; NY];
    let mut row_ac = [false; NY];
    for u in 0..NX {
        if !col_ac[u] {
            let d = ty[0] * f[0][u];
            for gy in g.iter_mut() {
                gy[u] = d;
            }
        } else {
            for (y, gy) in g.iter_mut().enumerate() {
                let mut s = 0f32;
                for (v, fv) in f.iter().enumerate() {
                    s += ty[y * 8 + v] * fv[u];
                }
                gy[u] = s;
            }
        }
        if u > 0 {
            for (r, gy) in row_ac.iter_mut().zip(&g) {
                *r |= gy[u] != 0.0;
            }
        }
    }
    // rows: out[y][x] = Σ_u T[x][u] g[y][u] + 128
    for (y, gy) in g.iter().enumerate() {
        let o = &mut out[y * stride..y * stride + NX];
        if !row_ac[y] {
            let p = to_u8(tx[0] * gy[0]);
            o.fill(p);
            continue;
        }
        for (x, o) in o.iter_mut().enumerate() {
            let mut s = 0f32;
            for (u, gyu) in gy.iter().enumerate() {
                s += tx[x * 8 + u] * gyu;
            }
            *o = to_u8(s);
        }
    }
}

/// The full 8 × 8 IDCT in integers, the one zune-jpeg computes (its
/// `idct_int`, after stb_image and the IJG's "islow" transform): 12-bit
/// fixed-point factors, columns first (rounded, `>> 10`), then rows with
/// the level shift and rounding folded into one constant (`>> 17`), then
/// clamped. So a photo's full-resolution samples are the ones the
/// recogniser was tuned on (the `image` crate decodes with zune-jpeg), bit
/// for bit. A block with no AC coefficient is flat: `(dc + 4 + 1024) >> 3`,
/// which is what the two passes give for it (zune-jpeg's shortcut). The
/// sums are wrapping (as zune-jpeg's: hostile coefficients give some
/// samples, never a panic), so the order of the additions does not change
/// a bit; in wasm32 both passes run 4 columns (then 4 rows) per SIMD128
/// vector through the same [`pass`].
#[inline(always)]
fn idct8(coef: &[i16], q: &[u16; 64], out: &mut [u8], stride: usize) {
    let coef: &[i16; 64] = coef[..64].try_into().expect("64 coefficients");
    // (an OR over all 64, vectorised, minus the DC)
    let ac = coef.iter().fold(0i16, |a, &c| a | c) != 0 && coef[1..].iter().any(|&c| c != 0);
    if !ac {
        let dc = (coef[0] as i32).wrapping_mul(q[0] as i32);
        let p = (dc.wrapping_add(4 + 1024) >> 3).clamp(0, 255) as u8;
        for y in 0..8 {
            out[y * stride..y * stride + 8].fill(p);
        }
        return;
    }
    #[cfg(target_arch = "wasm32")]
    // SAFETY: `out` holds 8 rows of `stride` (>= 8) samples from its start,
    // which `idct8_simd` checks before writing
    unsafe {
        simd::idct8_simd(coef, q, out, stride)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut f = [[0i32; 8]; 8];
        for (i, (&c, &q)) in coef.iter().zip(q).enumerate() {
            f[i / 8][i % 8] = (c as i32).wrapping_mul(q as i32);
        }
        // columns: the 8 rows' values of column u through the pass
        let mut g = [[0i32; 8]; 8];
        for u in 0..8 {
            let col = pass(std::array::from_fn(|v| f[v][u]), COL_BIAS, COL_SHIFT);
            for (y, v) in col.into_iter().enumerate() {
                g[y][u] = v;
            }
        }
        // rows
        for (y, row) in g.iter().enumerate() {
            let px = pass(*row, ROW_BIAS, ROW_SHIFT);
            for (o, v) in out[y * stride..y * stride + 8].iter_mut().zip(px) {
                *o = v.clamp(0, 255) as u8;
            }
        }
    }
}

/// The column pass's rounding, and its shift.
const COL_BIAS: i32 = 512;
const COL_SHIFT: u32 = 10;
/// The row pass's: rounding (`1 << 16`), the column pass's remainder
/// (512) and the level shift (`128 << 17`).
const ROW_BIAS: i32 = 512 + 65536 + (128 << 17);
const ROW_SHIFT: u32 = 17;

/// What [`pass`] computes with: `i32` (wrapping), or 4 of them in a
/// SIMD128 vector.
trait Lanes: Copy {
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, c: i32) -> Self;
    fn shl12(self) -> Self;
    fn shr(self, n: u32) -> Self;
    fn splat(c: i32) -> Self;
}

impl Lanes for i32 {
    #[inline(always)]
    fn add(self, o: i32) -> i32 {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn sub(self, o: i32) -> i32 {
        self.wrapping_sub(o)
    }
    #[inline(always)]
    fn mul(self, c: i32) -> i32 {
        self.wrapping_mul(c)
    }
    #[inline(always)]
    fn shl12(self) -> i32 {
        self.wrapping_shl(12)
    }
    #[inline(always)]
    fn shr(self, n: u32) -> i32 {
        self >> n
    }
    #[inline(always)]
    fn splat(c: i32) -> i32 {
        c
    }
}

/// One 8-point pass of [`idct8`] over `v` (the 8 frequencies of a column
/// or a row, lowest first): the even part (0, 2, 4, 6) with `bias` added,
/// the odd part (1, 3, 5, 7), then sample x and 7 − x as their sum and
/// difference, `>> shift`.
#[inline(always)]
fn pass<T: Lanes>(v: [T; 8], bias: i32, shift: u32) -> [T; 8] {
    // even part
    let p1 = v[2].add(v[6]).mul(2217);
    let t2 = p1.add(v[6].mul(-7567));
    let t3 = p1.add(v[2].mul(3135));
    let t0 = v[0].add(v[4]).shl12();
    let t1 = v[0].sub(v[4]).shl12();
    let b = T::splat(bias);
    let x0 = t0.add(t3).add(b);
    let x3 = t0.sub(t3).add(b);
    let x1 = t1.add(t2).add(b);
    let x2 = t1.sub(t2).add(b);
    // odd part
    let (o7, o5, o3, o1) = (v[7], v[5], v[3], v[1]);
    let p3 = o7.add(o3);
    let p4 = o5.add(o1);
    let p5 = p3.add(p4).mul(4816);
    let p1 = p5.add(o7.add(o1).mul(-3685));
    let p2 = p5.add(o5.add(o3).mul(-10497));
    let p3 = p3.mul(-8034);
    let p4 = p4.mul(-1597);
    let t3 = o1.mul(6149).add(p1).add(p4);
    let t2 = o3.mul(12586).add(p2).add(p3);
    let t1 = o5.mul(8410).add(p2).add(p4);
    let t0 = o7.mul(1223).add(p1).add(p3);
    [
        x0.add(t3).shr(shift),
        x1.add(t2).shr(shift),
        x2.add(t1).shr(shift),
        x3.add(t0).shr(shift),
        x3.sub(t0).shr(shift),
        x2.sub(t1).shr(shift),
        x1.sub(t2).shr(shift),
        x0.sub(t3).shr(shift),
    ]
}

/// [`idct8`] with SIMD128: the column pass on columns 0–3 and 4–7 (a
/// vector per row), the 8 × 8 values transposed as four 4 × 4 tiles, the
/// row pass on rows 0–3 and 4–7 (a vector per column), transposed back,
/// narrowed with saturation (the clamp to 0..=255).
#[cfg(target_arch = "wasm32")]
mod simd {
    use super::{COL_BIAS, COL_SHIFT, Lanes, ROW_BIAS, ROW_SHIFT, pass};
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    struct I4(v128);

    impl Lanes for I4 {
        #[inline(always)]
        fn add(self, o: I4) -> I4 {
            I4(i32x4_add(self.0, o.0))
        }
        #[inline(always)]
        fn sub(self, o: I4) -> I4 {
            I4(i32x4_sub(self.0, o.0))
        }
        #[inline(always)]
        fn mul(self, c: i32) -> I4 {
            I4(i32x4_mul(self.0, i32x4_splat(c)))
        }
        #[inline(always)]
        fn shl12(self) -> I4 {
            I4(i32x4_shl(self.0, 12))
        }
        #[inline(always)]
        fn shr(self, n: u32) -> I4 {
            I4(i32x4_shr(self.0, n))
        }
        #[inline(always)]
        fn splat(c: i32) -> I4 {
            I4(i32x4_splat(c))
        }
    }

    /// The 4 × 4 tile `[a, b, c, d]` (a vector per row) transposed.
    #[inline(always)]
    fn transpose4([a, b, c, d]: [v128; 4]) -> [v128; 4] {
        let ab_lo = i32x4_shuffle::<0, 4, 1, 5>(a, b);
        let ab_hi = i32x4_shuffle::<2, 6, 3, 7>(a, b);
        let cd_lo = i32x4_shuffle::<0, 4, 1, 5>(c, d);
        let cd_hi = i32x4_shuffle::<2, 6, 3, 7>(c, d);
        [
            i64x2_shuffle::<0, 2>(ab_lo, cd_lo),
            i64x2_shuffle::<1, 3>(ab_lo, cd_lo),
            i64x2_shuffle::<0, 2>(ab_hi, cd_hi),
            i64x2_shuffle::<1, 3>(ab_hi, cd_hi),
        ]
    }

    /// `m[half][k]`: the vector of lanes 4·half.. of line k, transposed
    /// (lines become lanes).
    #[inline(always)]
    fn transpose8(m: [[v128; 8]; 2]) -> [[v128; 8]; 2] {
        let t = |half: usize, k0: usize| {
            transpose4([
                m[half][k0],
                m[half][k0 + 1],
                m[half][k0 + 2],
                m[half][k0 + 3],
            ])
        };
        let (a, b, c, d) = (t(0, 0), t(1, 0), t(0, 4), t(1, 4));
        [
            [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]],
            [c[0], c[1], c[2], c[3], d[0], d[1], d[2], d[3]],
        ]
    }

    /// # Safety
    /// `out` must hold `7 * stride + 8` samples (checked: a shorter one
    /// panics).
    #[inline]
    #[target_feature(enable = "simd128")]
    pub(super) unsafe fn idct8_simd(
        coef: &[i16; 64],
        q: &[u16; 64],
        out: &mut [u8],
        stride: usize,
    ) {
        assert!(stride >= 8 && out.len() >= 7 * stride + 8);
        // SAFETY: 8 i16 at row * 8 of a 64-element array
        let ld = |row: usize| unsafe { v128_load(coef.as_ptr().add(row * 8) as *const v128) };
        // all the non-zero coefficients in the top-left 4 × 4 (most blocks
        // of chroma, many of luma)? then half the work is on zeros
        let low_rows = v128_or(v128_or(ld(0), ld(1)), v128_or(ld(2), ld(3)));
        let high_rows = v128_or(v128_or(ld(4), ld(5)), v128_or(ld(6), ld(7)));
        let outside = v128_or(high_rows, i64x2_shuffle::<1, 1>(low_rows, low_rows));
        // SAFETY: as this function's (same arguments)
        unsafe {
            if v128_any_true(outside) {
                transform::<false>(coef, q, out, stride)
            } else {
                transform::<true>(coef, q, out, stride)
            }
        }
    }

    /// [`idct8_simd`]'s transform; `LOW`: only the top-left 4 × 4
    /// coefficients are not zero (the others are not read, and the
    /// operations on them, zero constants, fold away). The same values
    /// either way: a column of zeros gives zeros from the column pass
    /// (`512 >> 10`).
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // (rows index two halves and a pointer)
    unsafe fn transform<const LOW: bool>(
        coef: &[i16; 64],
        q: &[u16; 64],
        out: &mut [u8],
        stride: usize,
    ) {
        // dequantised rows, columns 0–3 and 4–7: m[half][row]
        let mut m = [[i32x4_splat(0); 8]; 2];
        for row in 0..if LOW { 4 } else { 8 } {
            // SAFETY: 8 i16 and 8 u16 at row * 8 of 64-element arrays
            let (c, k) = unsafe {
                (
                    v128_load(coef.as_ptr().add(row * 8) as *const v128),
                    v128_load(q.as_ptr().add(row * 8) as *const v128),
                )
            };
            m[0][row] = i32x4_mul(i32x4_extend_low_i16x8(c), u32x4_extend_low_u16x8(k));
            if !LOW {
                m[1][row] = i32x4_mul(i32x4_extend_high_i16x8(c), u32x4_extend_high_u16x8(k));
            }
        }
        // columns (a vector holds 4 columns of one row)
        for half in m.iter_mut().take(if LOW { 1 } else { 2 }) {
            let r = pass(half.map(I4), COL_BIAS, COL_SHIFT);
            *half = r.map(|v| v.0);
        }
        // rows: transposed, a vector holds 4 rows of one column
        let mut t = transpose8(m);
        for half in t.iter_mut() {
            let r = pass(half.map(I4), ROW_BIAS, ROW_SHIFT);
            *half = r.map(|v| v.0);
        }
        // back to a vector per row (4 columns), narrowed to u8
        let m = transpose8(t);
        for row in 0..8 {
            let w = i16x8_narrow_i32x4(m[0][row], m[1][row]);
            let b = u8x16_narrow_i16x8(w, w);
            // SAFETY: checked by the caller: 8 bytes at row * stride
            unsafe { v128_store64_lane::<0>(b, out.as_mut_ptr().add(row * stride) as *mut u64) };
        }
    }
}

/// A level-shifted sample, rounded (halves up) and clamped to 0..=255.
#[inline(always)]
fn to_u8(v: f32) -> u8 {
    // (comparisons that also send NaN to 0, so that the conversion is a
    // plain truncation, vectorised)
    let v = v + 128.5;
    let v = if v >= 0.0 { v } else { 0.0 };
    let v = if v <= 255.5 { v } else { 255.5 };
    // SAFETY: 0 <= v <= 255.5, not NaN
    unsafe { v.to_int_unchecked::<i32>() as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The separable transform against T.81's formula written out.
    #[test]
    fn idct_matches_the_formula() {
        let mut coef = [0i16; 64];
        let mut s = 12345u32;
        for (i, c) in coef.iter_mut().enumerate() {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if i < 20 {
                *c = ((s >> 16) % 61) as i16 - 30;
            }
        }
        let q = [2u16; 64];
        let mut out = [0u8; 64];
        idct(&coef, &q, 8, 8, &mut out, 8);
        for y in 0..8 {
            for x in 0..8 {
                let mut sum = 0f64;
                for v in 0..8 {
                    for u in 0..8 {
                        let cu = if u == 0 { 0.5f64.sqrt() } else { 1.0 };
                        let cv = if v == 0 { 0.5f64.sqrt() } else { 1.0 };
                        sum += cu
                            * cv
                            * (coef[v * 8 + u] as f64 * 2.0)
                            * (((2 * x + 1) * u) as f64 * std::f64::consts::PI / 16.0).cos()
                            * (((2 * y + 1) * v) as f64 * std::f64::consts::PI / 16.0).cos();
                    }
                }
                let want = (sum / 4.0 + 128.0).round().clamp(0.0, 255.0);
                assert!(
                    (out[y * 8 + x] as f64 - want).abs() <= 1.0,
                    "{x},{y}: {} vs {want}",
                    out[y * 8 + x]
                );
            }
        }
        // the integer transform's flat-block shortcut is what its two
        // passes give for a block with only a DC coefficient
        for dc in -2100..2100 {
            let col = pass(
                std::array::from_fn(|v| if v == 0 { dc } else { 0 }),
                COL_BIAS,
                COL_SHIFT,
            );
            let row = pass(
                std::array::from_fn(|u| if u == 0 { col[0] } else { 0 }),
                ROW_BIAS,
                ROW_SHIFT,
            );
            let mut o = [0u8; 64];
            let mut c = [0i16; 64];
            c[0] = dc as i16;
            idct(&c, &[1; 64], 8, 8, &mut o, 8);
            assert!(
                o.iter().all(|&p| p as i32 == row[0].clamp(0, 255)),
                "dc {dc}"
            );
        }
        // a flat block gives the same level at every scale
        let mut flat = [0i16; 64];
        flat[0] = 40; // 40 · 2 / 8 = +10
        for n in [8, 4, 2, 1] {
            let mut o = [0u8; 64];
            idct(&flat, &q, n, n, &mut o, 8);
            assert_eq!(o[0], 138);
            assert_eq!(o[(n - 1) * 8 + n - 1], 138);
        }
    }
}
