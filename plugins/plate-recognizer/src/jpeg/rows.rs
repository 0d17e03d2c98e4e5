//! Row kernels for a JPEG's full-resolution pixels, with zune-jpeg's
//! arithmetic (so the pixels are the `image` crate's, bit for bit):
//! chroma upsampling by the triangle filter, `(3·near + far + 2) >> 2`
//! vertically then horizontally, and the 14-bit YCbCr → RGB conversion.
//!
//! Each kernel is a scalar loop (native builds, and every tail) and, in
//! wasm32, a SIMD128 loop doing the same integer operations 8 or 16 values
//! at a time: the pixels do not depend on the build (checked by
//! `plate-accuracy --pixel-hashes` natively and inside the component, and
//! by the component's reads in the host's tests).

/// `(3·near + far + 2) >> 2` of two samples.
#[inline(always)]
pub(crate) fn tri(near: u8, far: u8) -> u8 {
    ((3 * near as u16 + far as u16 + 2) >> 2) as u8
}

/// The rows `a` (nearer) and `b` (farther) blended into `out`
/// (a component at half the vertical resolution).
pub(crate) fn blend_rows(a: &[u8], b: &[u8], out: &mut [u8]) {
    let n = out.len();
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "wasm32")]
    // SAFETY: every slice holds `n` values (above), the SIMD loop reads and
    // writes whole runs of 16 within them
    let done = unsafe { simd::blend_rows(a, b, out) };
    #[cfg(not(target_arch = "wasm32"))]
    let done = 0;
    for i in done..n {
        out[i] = tri(a[i], b[i]);
    }
}

/// The samples `s[1..m + 1]` (with `s[0]` and `s[m + 1]` their left and
/// right neighbours) upsampled twice horizontally into `out` (up to `2m`
/// values): `out[2i]` leans left, `(3 s[i+1] + s[i] + 2) >> 2`, `out[2i+1]`
/// right, `(3 s[i+1] + s[i+2] + 2) >> 2`. `s` may be longer (the SIMD loop
/// reads up to 8 values beyond `s[m + 1]` when they are there).
pub(crate) fn double_row(s: &[u8], out: &mut [u8]) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the SIMD loop checks its reads against `s.len()` and its
    // writes against `out.len()`
    let done = unsafe { simd::double_row(s, out) };
    #[cfg(not(target_arch = "wasm32"))]
    let done = 0;
    for (k, o) in out.iter_mut().enumerate().skip(done) {
        let i = k / 2;
        let side = if k % 2 == 0 { s[i] } else { s[i + 2] };
        *o = tri(s[i + 1], side);
    }
}

/// YCbCr (JFIF) to RGB as zune-jpeg converts: R = Y + 1.402 Cr', G = Y −
/// 0.344136 Cb' − 0.714136 Cr', B = Y + 1.772 Cb' (Cb' = Cb − 128, Cr' =
/// Cr − 128) in 14-bit fixed point, `Y · 2^14 + 2^13 − 1` and the chroma
/// terms summed, then `>> 14` and clamped. `out`: 3 bytes per pixel.
pub(crate) fn ycc_to_rgb(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    let n = y.len().min(cb.len()).min(cr.len()).min(out.len() / 3);
    #[cfg(target_arch = "wasm32")]
    // SAFETY: `n` values in each input and `3n` bytes of `out` (above)
    let done = unsafe { simd::ycc_to_rgb(&y[..n], &cb[..n], &cr[..n], &mut out[..3 * n]) };
    #[cfg(not(target_arch = "wasm32"))]
    let done = 0;
    for i in done..n {
        let (cb, cr) = (cb[i] as i32 - 128, cr[i] as i32 - 128);
        let y0 = y[i] as i32 * 16384 + 8191;
        let r = (y0 + 22_970 * cr) >> 14;
        let g = (y0 - 11_700 * cr - 5_638 * cb) >> 14;
        let b = (y0 + 29_032 * cb) >> 14;
        out[3 * i] = r.clamp(0, 255) as u8;
        out[3 * i + 1] = g.clamp(0, 255) as u8;
        out[3 * i + 2] = b.clamp(0, 255) as u8;
    }
}

#[cfg(target_arch = "wasm32")]
mod simd {
    use core::arch::wasm32::*;

    /// 8 bytes at `p` widened to `u16`s.
    #[inline(always)]
    unsafe fn ld8(p: *const u8) -> v128 {
        // SAFETY: the caller guarantees 8 readable bytes at `p`
        unsafe { u16x8_load_extend_u8x8(p) }
    }

    /// `(3·near + far + 2) >> 2` of 8 `u16` lanes.
    #[inline(always)]
    fn tri(near: v128, far: v128) -> v128 {
        let three = u16x8_add(u16x8_add(near, near), near);
        u16x8_shr(u16x8_add(u16x8_add(three, far), u16x8_splat(2)), 2)
    }

    /// [`super::blend_rows`] for whole runs of 16; returns how many values
    /// were done.
    #[target_feature(enable = "simd128")]
    pub(super) unsafe fn blend_rows(a: &[u8], b: &[u8], out: &mut [u8]) -> usize {
        let n = out.len().min(a.len()).min(b.len()) / 16 * 16;
        let (pa, pb, po) = (a.as_ptr(), b.as_ptr(), out.as_mut_ptr());
        for i in (0..n).step_by(16) {
            // SAFETY: i + 16 <= n, within every slice
            unsafe {
                let lo = tri(ld8(pa.add(i)), ld8(pb.add(i)));
                let hi = tri(ld8(pa.add(i + 8)), ld8(pb.add(i + 8)));
                v128_store(po.add(i) as *mut v128, u8x16_narrow_i16x8(lo, hi));
            }
        }
        n
    }

    /// [`super::double_row`] for runs of 8 samples (16 values) while the
    /// reads (10 samples from `s[i]`) and the writes fit; returns how many
    /// values were done.
    #[target_feature(enable = "simd128")]
    pub(super) unsafe fn double_row(s: &[u8], out: &mut [u8]) -> usize {
        let (ps, po) = (s.as_ptr(), out.as_mut_ptr());
        let mut i = 0;
        while 2 * i + 16 <= out.len() && i + 10 <= s.len() {
            // SAFETY: s[i .. i + 10] and out[2i .. 2i + 16] are in bounds
            unsafe {
                let (l, c, r) = (ld8(ps.add(i)), ld8(ps.add(i + 1)), ld8(ps.add(i + 2)));
                let even_odd = u8x16_narrow_i16x8(tri(c, l), tri(c, r));
                let mixed = i8x16_shuffle::<0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15>(
                    even_odd, even_odd,
                );
                v128_store(po.add(2 * i) as *mut v128, mixed);
            }
            i += 8;
        }
        2 * i
    }

    /// 4 lanes of [`super::ycc_to_rgb`]'s arithmetic (before the clamp).
    #[inline(always)]
    fn rgb4(y: v128, cb: v128, cr: v128) -> [v128; 3] {
        let bias = i32x4_splat(128);
        let (cb, cr) = (i32x4_sub(cb, bias), i32x4_sub(cr, bias));
        let y0 = i32x4_add(i32x4_shl(y, 14), i32x4_splat(8191));
        let mul = |v: v128, c: i32| i32x4_mul(v, i32x4_splat(c));
        [
            i32x4_shr(i32x4_add(y0, mul(cr, 22_970)), 14),
            i32x4_shr(
                i32x4_add(y0, i32x4_add(mul(cr, -11_700), mul(cb, -5_638))),
                14,
            ),
            i32x4_shr(i32x4_add(y0, mul(cb, 29_032)), 14),
        ]
    }

    /// The 16 `u8` lanes of `v` as four vectors of 4 `i32`.
    #[inline(always)]
    fn widen(v: v128) -> [v128; 4] {
        let (lo, hi) = (u16x8_extend_low_u8x16(v), u16x8_extend_high_u8x16(v));
        [
            u32x4_extend_low_u16x8(lo),
            u32x4_extend_high_u16x8(lo),
            u32x4_extend_low_u16x8(hi),
            u32x4_extend_high_u16x8(hi),
        ]
    }

    /// [`super::ycc_to_rgb`] for whole runs of 16 pixels; returns how many
    /// pixels were done.
    #[target_feature(enable = "simd128")]
    pub(super) unsafe fn ycc_to_rgb(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) -> usize {
        let n = y.len().min(cb.len()).min(cr.len()).min(out.len() / 3) / 16 * 16;
        let po = out.as_mut_ptr();
        for i in (0..n).step_by(16) {
            // SAFETY: i + 16 <= n: 16 values of each input at i, 48 bytes of
            // `out` at 3i
            unsafe {
                let ld = |s: &[u8]| widen(v128_load(s.as_ptr().add(i) as *const v128));
                let (yy, bb, rr) = (ld(y), ld(cb), ld(cr));
                let q: [[v128; 3]; 4] = std::array::from_fn(|k| rgb4(yy[k], bb[k], rr[k]));
                // clamped to 0..=255 by the saturating narrowings
                let pack = |c: usize| {
                    u8x16_narrow_i16x8(
                        i16x8_narrow_i32x4(q[0][c], q[1][c]),
                        i16x8_narrow_i32x4(q[2][c], q[3][c]),
                    )
                };
                let (r, g, b) = (pack(0), pack(1), pack(2));
                // interleaved: r g b r g b ... (48 bytes), each vector of
                // output from r and g first, then b into its places
                let rg0 =
                    i8x16_shuffle::<0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5>(r, g);
                let o0 = i8x16_shuffle::<0, 1, 16, 3, 4, 17, 6, 7, 18, 9, 10, 19, 12, 13, 20, 15>(
                    rg0, b,
                );
                let rg1 =
                    i8x16_shuffle::<21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26>(r, g);
                let o1 = i8x16_shuffle::<0, 21, 2, 3, 22, 5, 6, 23, 8, 9, 24, 11, 12, 25, 14, 15>(
                    rg1, b,
                );
                let rg2 =
                    i8x16_shuffle::<0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0>(r, g);
                let o2 = i8x16_shuffle::<26, 1, 2, 27, 4, 5, 28, 7, 8, 29, 10, 11, 30, 13, 14, 31>(
                    rg2, b,
                );
                v128_store(po.add(3 * i) as *mut v128, o0);
                v128_store(po.add(3 * i + 16) as *mut v128, o1);
                v128_store(po.add(3 * i + 32) as *mut v128, o2);
            }
        }
        n
    }
}
