//! Candidates of a plate colour: the colour class mask (plain or pale
//! blue, yellow, green; or *textured*: the colour next to a strong vertical
//! edge), closed at two scales, its plate-like components.

use super::mask::Mask;
use super::{Cand, LEAST_ASPECT, LEAST_ASPECT_YELLOW, TAKE_N, pca_rect, plate_like};
use crate::colour::color_bit;
use crate::{Color, debug_on};
use image::RgbImage;

#[inline(always)]
pub(crate) fn color_candidates(
    img: &RgbImage,
    classes: &[u8],
    color: Color,
    pale: bool,
    out: &mut Vec<Cand>,
) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let bit = color_bit(color, pale);
    let m = Mask {
        w,
        h,
        d: classes.iter().map(|&c| (c & bit != 0) as u8).collect(),
    };
    let least = if color == Color::Yellow {
        LEAST_ASPECT_YELLOW
    } else {
        LEAST_ASPECT
    };
    mask_candidates(m, color, least, out);
}

/// Textured colour: pixels of a plate colour next to a strong vertical
/// edge. A plate on a car of its own colour (a blue taxi, a yellow bus)
/// merges with the body in the colour mask; the body has no characters.
/// `near_edge`: the vertical edges dilated by 2 px across, 1 px down.
#[inline(always)]
pub(crate) fn textured_candidates(
    near_edge: &Mask,
    classes: &[u8],
    color: Color,
    out: &mut Vec<Cand>,
) {
    let bit = color_bit(color, false);
    let m = Mask {
        w: near_edge.w,
        h: near_edge.h,
        d: classes
            .iter()
            .zip(&near_edge.d)
            .map(|(&c, &e)| (c & bit != 0 && e != 0) as u8)
            .collect(),
    };
    mask_candidates(m, color, LEAST_ASPECT, out);
}

/// Plate-like components of a colour mask (closed at two scales), at
/// least `least` times as wide as tall.
#[inline(always)]
pub(crate) fn mask_candidates(m: Mask, color: Color, least: f32, out: &mut Vec<Cand>) {
    let w = m.w;
    // too few pixels of this colour for any plate-sized component
    if m.d.iter().map(|&v| v as usize).sum::<usize>() < 60 {
        return;
    }
    let r = (w / 256).max(1);
    let m1 = m.close(r + 1, r).open(1, 1);
    let m2 = m.close(r * 3 + 1, r).open(1, 1);
    let mut found: Vec<(Cand, usize)> = m1
        .components(150, 4000)
        .into_iter()
        .chain(m2.components(150, 4000))
        .filter_map(|comp| {
            let mut c = pca_rect(&comp, w);
            c.color = Some(color);
            if debug_on() && comp.len() > 300 {
                eprintln!(
                    "{:?} comp n={} {:?} fill={:.2}",
                    color,
                    comp.len(),
                    c,
                    comp.len() as f32 / (c.w * c.h)
                );
            }
            plate_like(&c, comp.len(), w, least).then_some((c, comp.len()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.1));
    out.extend(found.into_iter().take(TAKE_N).map(|x| x.0));
}
