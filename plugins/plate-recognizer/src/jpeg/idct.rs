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
//! f32 arithmetic in a fixed order (no fused multiply-add): the same
//! samples natively and in wasm32.

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

/// The full 8 × 8 IDCT: the same sums as [`idct_n`] (`T[8]`), each
/// 1-D pass split into its even and odd frequencies (`T[7 − x][u] =
/// (−1)^u T[x][u]`: the samples x and 7 − x are the even part plus and
/// minus the odd part), on whole rows of 8 at a time (vectorised, also by
/// SIMD128 in wasm32).
#[inline(always)]
fn idct8(coef: &[i16], q: &[u16; 64], out: &mut [u8], stride: usize) {
    let coef: &[i16; 64] = coef[..64].try_into().expect("64 coefficients");
    let mut flat = [0f32; 64];
    for i in 0..64 {
        // (exact: |c · q| < 2^24 for 8-bit data; otherwise rounded once,
        // as the product of the exact floats)
        flat[i] = coef[i] as f32 * q[i] as f32;
    }
    let mut f = [[0f32; 8]; 8];
    for (fr, fl) in f.iter_mut().zip(flat.chunks_exact(8)) {
        fr.copy_from_slice(fl);
    }
    // (an OR over all 64, vectorised, minus the DC)
    let ac = coef.iter().fold(0i16, |a, &c| a | c) != 0 && coef[1..].iter().any(|&c| c != 0);
    if !ac {
        // a flat block
        let p = to_u8(tables()[3][0] * tables()[3][0] * f[0][0]);
        for y in 0..8 {
            out[y * stride..y * stride + 8].fill(p);
        }
        return;
    }
    let t = &tables()[3];
    // columns: g[y][·] = Σ_v T[y][v] f[v][·], then transposed
    let g = transpose(&half_pass(&f, t));
    // rows: h[x][·] = Σ_u T[x][u] g^T[u][·] = out[·][x]
    let h = half_pass(&g, t);
    for y in 0..8 {
        let o = &mut out[y * stride..y * stride + 8];
        for x in 0..8 {
            o[x] = to_u8(h[x][y]);
        }
    }
}

/// `g[y] = Σ_v T[y][v] f[v]` for rows `f[v]` of 8, by even and odd v.
#[inline(always)]
fn half_pass(f: &[[f32; 8]; 8], t: &[f32; 64]) -> [[f32; 8]; 8] {
    let mut g = [[0f32; 8]; 8];
    for y in 0..4 {
        let (mut e, mut o) = ([0f32; 8], [0f32; 8]);
        for v in [0, 2, 4, 6] {
            let c = t[y * 8 + v];
            for u in 0..8 {
                e[u] += c * f[v][u];
            }
        }
        for v in [1, 3, 5, 7] {
            let c = t[y * 8 + v];
            for u in 0..8 {
                o[u] += c * f[v][u];
            }
        }
        for u in 0..8 {
            g[y][u] = e[u] + o[u];
            g[7 - y][u] = e[u] - o[u];
        }
    }
    g
}

#[inline(always)]
fn transpose(a: &[[f32; 8]; 8]) -> [[f32; 8]; 8] {
    let mut t = [[0f32; 8]; 8];
    for (y, row) in a.iter().enumerate() {
        for (x, &v) in row.iter().enumerate() {
            t[x][y] = v;
        }
    }
    t
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
