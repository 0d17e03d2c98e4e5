//! 3×3 convolutions (padding 1) by Winograd's minimal filtering F(4×4, 3×3)
//! (Lavin & Gray, 2015): each 4 × 4 block of outputs is computed from the
//! 6 × 6 input patch around it with 36 products per (input, output)
//! channel pair instead of 144. Per patch position ξ (36 of them) the sum
//! over input channels is a matrix product, `M[ξ] = U[ξ] · V[ξ]`, with
//! `U` the transformed weights (`G g Gᵀ`, computed once per model) and `V`
//! the transformed input patches (`Bᵀ d B`); the outputs are `Aᵀ m A`.
//!
//! Used inside the component (wasm32, whose SIMD is 128 bits wide: the
//! products are what costs there) for the sequence reader's three larger
//! convolutions, the province CNN's second and the learned detector's
//! last four, with the products done by `wasm::gemm_packed`. The same
//! network, computed with other roundings: the logits differ from the
//! direct convolution's in their last bits (tested below against it).
//!
//! The one-dimensional transforms [`bt`] and [`at`] are generic over the
//! value type: plain `f32` here (the reference, tested), four lanes of
//! SIMD128 in `wasm` (`winograd_input`, `winograd_output`, 4 tiles at a
//! time), so both do the same operations in the same order per value.

use core::ops::{Add, Mul, Sub};

/// Patch positions: the 6 × 6 transformed patch.
pub(crate) const XI: usize = 36;
/// Outputs per tile side.
pub(crate) const TILE: usize = 4;

/// What the transforms compute with: `f32`, or a SIMD vector of them.
pub(crate) trait Val:
    Copy + Add<Output = Self> + Sub<Output = Self> + Mul<f32, Output = Self>
{
}
impl<T: Copy + Add<Output = T> + Sub<Output = T> + Mul<f32, Output = T>> Val for T {}

/// `Bᵀ d` of 6 values (a row or a column of a patch).
#[inline(always)]
pub(crate) fn bt<T: Val>([d0, d1, d2, d3, d4, d5]: [T; 6]) -> [T; 6] {
    let a = d4 - d2 * 4.0;
    let b = d3 - d1 * 4.0;
    let c = d4 - d2;
    let e = (d3 - d1) * 2.0;
    [
        d0 * 4.0 - d2 * 5.0 + d4,
        a + b,
        a - b,
        c + e,
        c - e,
        d1 * 4.0 - d3 * 5.0 + d5,
    ]
}

/// `Aᵀ m` of 6 values: 4 outputs.
#[inline(always)]
pub(crate) fn at<T: Val>([m0, m1, m2, m3, m4, m5]: [T; 6]) -> [T; 4] {
    let a = m1 + m2;
    let b = m1 - m2;
    let c = m3 + m4;
    let d = m3 - m4;
    [m0 + a + c, b + d * 2.0, a + c * 4.0, b + d * 8.0 + m5]
}

/// The transformed weights `U[ξ]` ([36 × cout × cin]) of 3×3 weights `w`
/// [cout × cin·9] (row `ci·9 + ky·3 + kx`, as `im2col` orders them),
/// computed in f64 and rounded once.
pub(crate) fn weights(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    const G: [[f64; 3]; 6] = [
        [0.25, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
    assert!(w.len() >= cout * cin * 9);
    let mut u = vec![0f32; XI * cout * cin];
    for o in 0..cout {
        for ci in 0..cin {
            let g = &w[(o * cin + ci) * 9..(o * cin + ci + 1) * 9];
            // q = G g (6 × 3), then U = q Gᵀ (6 × 6)
            let q: [[f64; 3]; 6] = std::array::from_fn(|i| {
                std::array::from_fn(|c| (0..3).map(|k| G[i][k] * g[k * 3 + c] as f64).sum())
            });
            for i in 0..6 {
                for j in 0..6 {
                    let v: f64 = (0..3).map(|k| q[i][k] * G[j][k]).sum();
                    u[((i * 6 + j) * cout + o) * cin + ci] = v as f32;
                }
            }
        }
    }
    u
}

/// The transformed input patches `V[ξ]` ([36 × cin × tiles], tiles of
/// 4 × 4 outputs row by row) of a zero-padded input `xp` [cin × (h+2) ×
/// (w+2)]; `h` and `w` multiples of 4.
#[cfg(test)]
pub(crate) fn input(xp: &[f32], cin: usize, h: usize, w: usize, v: &mut [f32]) {
    let (wp, tw) = (w + 2, w / TILE);
    let tiles = (h / TILE) * tw;
    let plane = (h + 2) * wp;
    assert!(h.is_multiple_of(TILE) && w.is_multiple_of(TILE) && xp.len() >= cin * plane);
    assert!(v.len() >= XI * cin * tiles);
    let stride = cin * tiles;
    for ci in 0..cin {
        let x = &xp[ci * plane..(ci + 1) * plane];
        for ty in 0..h / TILE {
            // Bᵀ d over the rows, whole rows at once
            let e: Vec<[f32; 6]> = (0..wp)
                .map(|c| bt(std::array::from_fn(|r| x[(TILE * ty + r) * wp + c])))
                .collect();
            for tx in 0..tw {
                // (Bᵀ d) B over the columns
                let t = ci * tiles + ty * tw + tx;
                for i in 0..6 {
                    let row = bt(std::array::from_fn(|j| e[TILE * tx + j][i]));
                    for (j, val) in row.into_iter().enumerate() {
                        v[(i * 6 + j) * stride + t] = val;
                    }
                }
            }
        }
    }
}

/// The outputs `Aᵀ m A` of the products `m` ([36 × cout × tiles]), plus
/// the bias, then ReLU, into `out` [cout × h × w].
#[cfg(test)]
pub(crate) fn output(m: &[f32], bias: &[f32], cout: usize, h: usize, w: usize, out: &mut [f32]) {
    let tw = w / TILE;
    let tiles = (h / TILE) * tw;
    let stride = cout * tiles;
    assert!(m.len() >= XI * stride && out.len() >= cout * h * w && bias.len() >= cout);
    for (o, &b) in bias.iter().enumerate().take(cout) {
        for ty in 0..h / TILE {
            for tx in 0..tw {
                let t = o * tiles + ty * tw + tx;
                // Aᵀ m over the rows (per column j), then over the columns
                let s: [[f32; 4]; 6] = std::array::from_fn(|j| {
                    at(std::array::from_fn(|i| m[(i * 6 + j) * stride + t]))
                });
                #[allow(clippy::needless_range_loop)]
                for a in 0..TILE {
                    let y = at(std::array::from_fn(|j| s[j][a]));
                    for (c, y) in y.into_iter().enumerate() {
                        let d = o * h * w + (TILE * ty + a) * w + TILE * tx + c;
                        out[d] = if b + y > 0.0 { b + y } else { 0.0 };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::{im2col, mm};

    /// The Winograd convolution agrees with the direct one (`im2col` and
    /// a matrix product), to float rounding.
    #[test]
    fn winograd_matches_direct_convolution() {
        let mut s = 7u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        for &(cin, cout, h, w) in &[
            (16, 32, 16, 64),
            (32, 64, 8, 32),
            (64, 64, 8, 32),
            (3, 4, 4, 4),
            (2, 8, 4, 16),
        ] {
            let x: Vec<f32> = (0..cin * h * w).map(|_| 4.0 * rnd()).collect();
            let wt: Vec<f32> = (0..cout * cin * 9).map(|_| rnd()).collect();
            let bias: Vec<f32> = (0..cout).map(|_| 0.1 * rnd()).collect();
            // direct
            let mut col = Vec::new();
            im2col(&x, cin, h, w, &mut col);
            let mut z = vec![0f32; cout * h * w];
            for o in 0..cout {
                z[o * h * w..(o + 1) * h * w].fill(bias[o]);
            }
            mm(cout, cin * 9, h * w, &wt, false, &col, false, &mut z, 1.0);
            z.iter_mut().for_each(|v| *v = v.max(0.0));
            // Winograd
            let (wp, plane) = (w + 2, (h + 2) * (w + 2));
            let mut xp = vec![0f32; cin * plane];
            for ci in 0..cin {
                for y in 0..h {
                    let d = ci * plane + (y + 1) * wp + 1;
                    xp[d..d + w].copy_from_slice(&x[(ci * h + y) * w..(ci * h + y + 1) * w]);
                }
            }
            let tiles = h * w / (TILE * TILE);
            let u = weights(&wt, cout, cin);
            let mut v = vec![0f32; XI * cin * tiles];
            input(&xp, cin, h, w, &mut v);
            let mut m = vec![0f32; XI * cout * tiles];
            for xi in 0..XI {
                mm(
                    cout,
                    cin,
                    tiles,
                    &u[xi * cout * cin..],
                    false,
                    &v[xi * cin * tiles..],
                    false,
                    &mut m[xi * cout * tiles..],
                    0.0,
                );
            }
            let mut y = vec![0f32; cout * h * w];
            output(&m, &bias, cout, h, w, &mut y);
            let scale = z.iter().fold(1f32, |a, v| a.max(v.abs()));
            for (i, (a, b)) in z.iter().zip(&y).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4 * scale,
                    "{cin}->{cout} {h}x{w} at {i}: direct {a}, Winograd {b}"
                );
            }
        }
    }
}
