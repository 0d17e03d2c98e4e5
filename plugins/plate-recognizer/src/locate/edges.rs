//! Candidates of any colour: strong vertical edges (Sobel x), closed and
//! opened, their plate-like components (white, black and washed-out plates
//! that no colour mask sees).

use super::mask::Mask;
use super::{Cand, LEAST_ASPECT, TAKE_N, pca_rect, plate_like};
use crate::debug_on;
use image::RgbImage;

/// Strong vertical edges (Sobel x above 3 × its image mean, at least 60).
#[inline(always)]
pub(crate) fn vertical_edges(img: &RgbImage) -> Mask {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return Mask {
            w,
            h,
            d: vec![0; w * h],
        };
    }
    let gray: Vec<i32> = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| (p[0] as i32 * 77 + p[1] as i32 * 150 + p[2] as i32 * 29) >> 8)
        .collect();
    // Sobel x, row by row: column sums (1, 2, 1), then their difference
    // two columns apart (whole-row loops, vectorised)
    let mut gx = vec![0i32; w * h];
    let mut sum = 0i64;
    let mut cs = vec![0i32; w];
    for y in 1..h - 1 {
        let (up, mid, dn) = (
            &gray[(y - 1) * w..y * w],
            &gray[y * w..(y + 1) * w],
            &gray[(y + 1) * w..(y + 2) * w],
        );
        for (c, ((&a, &b), &d)) in cs.iter_mut().zip(up.iter().zip(mid).zip(dn)) {
            *c = a + 2 * b + d;
        }
        let row = &mut gx[y * w + 1..(y + 1) * w - 1];
        let mut rs = 0i32;
        for (g, (&r, &l)) in row.iter_mut().zip(cs[2..].iter().zip(&cs[..w - 2])) {
            let v = (r - l).abs();
            *g = v;
            rs += v;
        }
        sum += rs as i64;
    }
    let mean = sum as f32 / (w * h).max(1) as f32;
    let thr = (mean * 3.0).max(60.0) as i32;
    Mask {
        w,
        h,
        d: gx.iter().map(|&v| (v > thr) as u8).collect(),
    }
}

/// Candidates from vertical-edge density (plates of any colour).
#[inline(always)]
pub(crate) fn edge_candidates(m: &Mask, out: &mut Vec<Cand>) {
    let w = m.w;
    if w < 8 || m.h < 8 {
        return;
    }
    let r = (w / 128).max(3);
    let m1 = m.close(r * 2, r / 3 + 1).open(r / 2 + 1, r / 3 + 1);
    let mut found: Vec<(Cand, usize)> = m1
        .components(200, 4000)
        .into_iter()
        .filter_map(|comp| {
            let c = pca_rect(&comp, w);
            if debug_on() && comp.len() > 200 {
                eprintln!(
                    "edge comp n={} {:?} fill={:.2}",
                    comp.len(),
                    c,
                    comp.len() as f32 / (c.w * c.h)
                );
            }
            (plate_like(&c, comp.len(), w, LEAST_ASPECT) && c.angle.abs() < 0.35)
                .then_some((c, comp.len()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.1));
    out.extend(found.into_iter().take(TAKE_N).map(|x| x.0));
}
