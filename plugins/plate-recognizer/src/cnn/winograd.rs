//! 3×3 convolutions (padding 1) by Winograd's minimal filtering F(2×2, 3×3)
//! (Lavin & Gray, 2015): each 2 × 2 block of outputs is computed from the
//! 4 × 4 input patch around it with 16 products per (input, output)
//! channel pair instead of 36. Per patch position ξ (16 of them) the sum
//! over input channels is a matrix product, `M[ξ] = U[ξ] · V[ξ]`, with
//! `U` the transformed weights (`G g Gᵀ`, computed once per model) and `V`
//! the transformed input patches (`Bᵀ d B`); the outputs are `Aᵀ m A`.
//!
//! Used for the sequence reader's three larger convolutions inside the
//! component (wasm32, whose SIMD is 128 bits wide: the products are what
//! costs there), with the products done by `wasm::gemm_packed`. The same
//! network, computed with other roundings: the logits differ from the
//! direct convolution's in their last bits (tested below against it).
//! The transforms here are plain Rust, the reference (tested) for the
//! SIMD128 ones of `wasm` (`winograd_input`, `winograd_output`), which
//! do the same operations on 4 tiles at a time.

/// Patch positions: the 4 × 4 transformed patch.
pub(crate) const XI: usize = 16;

/// The transformed weights `U[ξ]` ([16 × cout × cin]) of 3×3 weights `w`
/// [cout × cin·9] (row `ci·9 + ky·3 + kx`, as `im2col` orders them).
pub(crate) fn weights(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    assert!(w.len() >= cout * cin * 9);
    let mut u = vec![0f32; XI * cout * cin];
    for o in 0..cout {
        for ci in 0..cin {
            let g = &w[(o * cin + ci) * 9..(o * cin + ci + 1) * 9];
            // q = G g (4 × 3), then U = q Gᵀ (4 × 4)
            let mut q = [[0f32; 3]; 4];
            for c in 0..3 {
                q[0][c] = g[c];
                q[1][c] = 0.5 * (g[c] + g[3 + c] + g[6 + c]);
                q[2][c] = 0.5 * (g[c] - g[3 + c] + g[6 + c]);
                q[3][c] = g[6 + c];
            }
            for (i, q) in q.iter().enumerate() {
                let r = [
                    q[0],
                    0.5 * (q[0] + q[1] + q[2]),
                    0.5 * (q[0] - q[1] + q[2]),
                    q[2],
                ];
                for (j, v) in r.into_iter().enumerate() {
                    u[((i * 4 + j) * cout + o) * cin + ci] = v;
                }
            }
        }
    }
    u
}

/// The transformed input patches `V[ξ]` ([16 × cin × tiles], tiles of
/// 2 × 2 outputs row by row) of a zero-padded input `xp` [cin × (h+2) ×
/// (w+2)]; `h` and `w` even.
#[cfg(test)]
pub(crate) fn input(xp: &[f32], cin: usize, h: usize, w: usize, v: &mut [f32]) {
    let (wp, tw) = (w + 2, w / 2);
    let tiles = (h / 2) * tw;
    let plane = (h + 2) * wp;
    assert!(h.is_multiple_of(2) && w.is_multiple_of(2) && xp.len() >= cin * plane);
    assert!(v.len() >= XI * cin * tiles);
    let stride = cin * tiles;
    for ci in 0..cin {
        let x = &xp[ci * plane..(ci + 1) * plane];
        for ty in 0..h / 2 {
            let rows: [&[f32]; 4] =
                std::array::from_fn(|r| &x[(2 * ty + r) * wp..(2 * ty + r + 1) * wp]);
            // Bᵀ d over the rows, whole rows at once
            let mut e = [[0f32; 66]; 4];
            assert!(wp <= 66, "row too wide for the transform buffer");
            for c in 0..wp {
                let (d0, d1, d2, d3) = (rows[0][c], rows[1][c], rows[2][c], rows[3][c]);
                e[0][c] = d0 - d2;
                e[1][c] = d1 + d2;
                e[2][c] = d2 - d1;
                e[3][c] = d1 - d3;
            }
            let base = ci * tiles + ty * tw;
            for (i, e) in e.iter().enumerate() {
                // (Bᵀ d) B over the columns, one tile after the other
                for tx in 0..tw {
                    let c = 2 * tx;
                    let t = base + tx;
                    v[(i * 4) * stride + t] = e[c] - e[c + 2];
                    v[(i * 4 + 1) * stride + t] = e[c + 1] + e[c + 2];
                    v[(i * 4 + 2) * stride + t] = e[c + 2] - e[c + 1];
                    v[(i * 4 + 3) * stride + t] = e[c + 1] - e[c + 3];
                }
            }
        }
    }
}

/// The outputs `Aᵀ m A` of the products `m` ([16 × cout × tiles]), plus
/// the bias, then ReLU, into `out` [cout × h × w].
#[cfg(test)]
pub(crate) fn output(m: &[f32], bias: &[f32], cout: usize, h: usize, w: usize, out: &mut [f32]) {
    let tw = w / 2;
    let tiles = (h / 2) * tw;
    let stride = cout * tiles;
    assert!(m.len() >= XI * stride && out.len() >= cout * h * w && bias.len() >= cout);
    for (o, &b) in bias.iter().enumerate().take(cout) {
        for ty in 0..h / 2 {
            for tx in 0..tw {
                let t = o * tiles + ty * tw + tx;
                let mm = |i: usize, j: usize| m[(i * 4 + j) * stride + t];
                let s0: [f32; 4] = std::array::from_fn(|j| mm(0, j) + mm(1, j) + mm(2, j));
                let s1: [f32; 4] = std::array::from_fn(|j| mm(1, j) - mm(2, j) - mm(3, j));
                let y = |s: &[f32; 4]| [s[0] + s[1] + s[2], s[1] - s[2] - s[3]];
                let relu = |v: f32| if v > 0.0 { v } else { 0.0 };
                for (a, s) in [s0, s1].iter().enumerate() {
                    let [y0, y1] = y(s);
                    let d = o * h * w + (2 * ty + a) * w + 2 * tx;
                    out[d] = relu(b + y0);
                    out[d + 1] = relu(b + y1);
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
            (3, 4, 2, 2),
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
            let tiles = h * w / 4;
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
