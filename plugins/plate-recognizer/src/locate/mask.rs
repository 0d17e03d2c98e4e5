//! Binary masks: box morphology (dilation, erosion, closing, opening;
//! whole shifted rows at a time, SIMD128 windows in wasm32) and
//! 8-connected components.

pub(crate) struct Mask {
    pub(crate) w: usize,
    pub(crate) h: usize,
    pub(crate) d: Vec<u8>, // 0/1
}

impl Mask {
    /// Dilation (any pixel set) or erosion (all set) over a (2rx+1) ×
    /// (2ry+1) box, clipped at the borders (values 0 or 1). Separable: OR /
    /// AND of shifted rows, whole rows at a time (vectorised; few loop
    /// iterations, which matters in a component with epoch checks).
    #[inline(always)]
    pub(crate) fn box_op(&self, rx: usize, ry: usize, dilate: bool) -> Mask {
        let (w, h) = (self.w, self.h);
        let mut tmp = vec![0u8; w * h];
        // a row with `rx` pixels of the neutral value on either side
        let mut buf = vec![(!dilate) as u8; w + 2 * rx];
        for y in 0..h {
            buf[rx..rx + w].copy_from_slice(&self.d[y * w..(y + 1) * w]);
            let dst = &mut tmp[y * w..(y + 1) * w];
            #[cfg(target_arch = "wasm32")]
            if mask_window(dst, &buf, 1, rx, dilate) {
                continue;
            }
            mask_combine(dst, &buf[..w], &buf[2 * rx..2 * rx + w], dilate);
            for dx in 1..2 * rx {
                mask_combine_into(dst, &buf[dx..dx + w], dilate);
            }
        }
        if ry == 0 {
            return Mask { w, h, d: tmp };
        }
        let mut out = vec![0u8; w * h];
        for y in 0..h {
            let (y0, y1) = (y.saturating_sub(ry), (y + ry).min(h - 1));
            let dst = &mut out[y * w..(y + 1) * w];
            #[cfg(target_arch = "wasm32")]
            if y0 + 2 * ry == y1 && mask_window(dst, &tmp[y0 * w..(y1 + 1) * w], w, ry, dilate) {
                continue;
            }
            let row = |k: usize| &tmp[k * w..(k + 1) * w];
            if y1 == y0 {
                dst.copy_from_slice(row(y0));
                continue;
            }
            mask_combine(dst, row(y0), row(y1), dilate);
            for k in y0 + 1..y1 {
                mask_combine_into(dst, row(k), dilate);
            }
        }
        Mask { w, h, d: out }
    }
    #[inline(always)]
    pub(crate) fn close(&self, rx: usize, ry: usize) -> Mask {
        self.box_op(rx, ry, true).box_op(rx, ry, false)
    }
    #[inline(always)]
    pub(crate) fn open(&self, rx: usize, ry: usize) -> Mask {
        self.box_op(rx, ry, false).box_op(rx, ry, true)
    }

    /// 8-connected components: pixel index lists (in the order of a
    /// depth-first search from each component's first pixel in row-major
    /// order). The mask is copied with a border of zeros, so neighbours
    /// need no bounds checks, and runs of 8 empty pixels are skipped at once.
    pub(crate) fn components(&self, min_px: usize, max_comps: usize) -> Vec<Vec<u32>> {
        let (w, h) = (self.w, self.h);
        let wp = w + 2;
        // 1 = set and not yet visited
        let mut a = vec![0u8; wp * (h + 2)];
        for y in 0..h {
            a[(y + 1) * wp + 1..(y + 1) * wp + 1 + w]
                .iter_mut()
                .zip(&self.d[y * w..(y + 1) * w])
                .for_each(|(o, &v)| *o = (v != 0) as u8);
        }
        // neighbours in the order of the plain search (dy, then dx), as
        // offsets in the bordered copy and in the mask (no divisions)
        let nb = |s: usize| {
            [
                0usize.wrapping_sub(s + 1),
                0usize.wrapping_sub(s),
                0usize.wrapping_sub(s - 1),
                0usize.wrapping_sub(1),
                1,
                s - 1,
                s,
                s + 1,
            ]
        };
        let (nbp, nbo) = (nb(wp), nb(w));
        let mut out = Vec::new();
        let mut stack: Vec<(usize, usize)> = Vec::new();
        'rows: for y in 0..h {
            let r0 = (y + 1) * wp + 1;
            let mut x = 0;
            while x < w {
                if x + 8 <= w {
                    let v = u64::from_le_bytes(a[r0 + x..r0 + x + 8].try_into().expect("8 bytes"));
                    if v == 0 {
                        x += 8;
                        continue;
                    }
                }
                let start = r0 + x;
                x += 1;
                if a[start] == 0 {
                    continue;
                }
                a[start] = 0;
                stack.push((start, y * w + x - 1));
                let mut comp = Vec::new();
                while let Some((i, io)) = stack.pop() {
                    comp.push(io as u32);
                    for (&o, &oo) in nbp.iter().zip(&nbo) {
                        let j = i.wrapping_add(o);
                        if a[j] != 0 {
                            a[j] = 0;
                            stack.push((j, io.wrapping_add(oo)));
                        }
                    }
                }
                if comp.len() >= min_px {
                    out.push(comp);
                    if out.len() >= max_comps {
                        break 'rows;
                    }
                }
            }
        }
        out
    }
}

/// `dst = a | b` (dilate) or `a & b` (erode), bytewise.
#[inline(always)]
pub(crate) fn mask_combine(dst: &mut [u8], a: &[u8], b: &[u8], dilate: bool) {
    let it = dst.iter_mut().zip(a.iter().zip(b));
    if dilate {
        it.for_each(|(o, (&x, &y))| *o = x | y);
    } else {
        it.for_each(|(o, (&x, &y))| *o = x & y);
    }
}

/// `dst |= a` (dilate) or `dst &= a` (erode), bytewise.
#[inline(always)]
pub(crate) fn mask_combine_into(dst: &mut [u8], a: &[u8], dilate: bool) {
    let it = dst.iter_mut().zip(a);
    if dilate {
        it.for_each(|(o, &x)| *o |= x);
    } else {
        it.for_each(|(o, &x)| *o &= x);
    }
}

/// wasm32: `dst[x]` = OR (dilate) or AND of `src[x + k·step]` for k in
/// 0..=2r, for radii 1 to 10, with SIMD128 and the window unrolled: one loop
/// iteration per 16 pixels (a row pass per shift costs an epoch check per
/// 16 pixels and shift). Returns false (nothing done) for other radii.
/// `src.len() ≥ dst.len() + 2r·step`.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
pub(crate) fn mask_window(dst: &mut [u8], src: &[u8], step: usize, r: usize, dilate: bool) -> bool {
    macro_rules! radii {
        ($($r:literal)*) => {
            match (r, dilate) {
                $(
                    ($r, true) => mask_window_n::<$r, true>(dst, src, step),
                    ($r, false) => mask_window_n::<$r, false>(dst, src, step),
                )*
                _ => return false,
            }
        };
    }
    radii!(1 2 3 4 5 6 7 8 9 10);
    true
}

#[cfg(target_arch = "wasm32")]
#[inline]
#[target_feature(enable = "simd128")]
pub(crate) fn mask_window_n<const R: usize, const DILATE: bool>(
    dst: &mut [u8],
    src: &[u8],
    step: usize,
) {
    use core::arch::wasm32::*;
    let w = dst.len();
    assert!(src.len() >= w + 2 * R * step);
    let mut x = 0;
    // SAFETY: reads at x + k·step + 16 ≤ w + 2R·step ≤ src.len(), writes
    // at x + 16 ≤ w.
    unsafe {
        let (sp, dp) = (src.as_ptr(), dst.as_mut_ptr());
        while x + 16 <= w {
            let mut acc = v128_load(sp.add(x) as *const v128);
            let mut k = 1;
            while k <= 2 * R {
                let v = v128_load(sp.add(x + k * step) as *const v128);
                acc = if DILATE {
                    v128_or(acc, v)
                } else {
                    v128_and(acc, v)
                };
                k += 1;
            }
            v128_store(dp.add(x) as *mut v128, acc);
            x += 16;
        }
    }
    for x in x..w {
        let mut a = src[x];
        for k in 1..=2 * R {
            a = if DILATE {
                a | src[x + k * step]
            } else {
                a & src[x + k * step]
            };
        }
        dst[x] = a;
    }
}
