//! The GA 36 single-row layout fitted to a read: where its characters'
//! CTC columns put the plate in the crop (least squares), and the box
//! fitted to the characters that a plate is read again from.

use crate::locate::Cand;
use crate::{cnn, debug_on};

/// Where a single-row read puts the plate in its crop: `u = a + b · mm`
/// (u in 0..1 across the crop, mm from the plate's left edge), fitted by
/// least squares to the CTC columns of the characters after the province
/// (the province is the one most often cut off or misread). `None` for a
/// scale no plate has (the read is not a plate's row of characters).
pub(crate) fn fit_layout(read: &cnn::Read) -> Option<(f32, f32, &'static [f32])> {
    fit_centres(&read.text, &read.centre).map(|(a, b, centres, _)| (a, b, centres))
}

/// After which character a single-row plate's dot (the wide gap) is: the
/// second, but the first on police plates (…警) and the fourth on embassy
/// plates (使…), as `synth::slots` renders them (GA 36-2018).
pub(crate) fn dot_after(text: &[char]) -> usize {
    match text {
        [_, _, _, _, _, _, '警'] => 0,
        ['使', _, _, _, _, _, _] => 3,
        _ => 1,
    }
}

/// The glyph centres of the layout a text is printed in.
pub(crate) fn centres_of(text: &[char]) -> Option<&'static [f32]> {
    match (text.len(), dot_after(text)) {
        (7, 0) => Some(&CENTRES_POLICE),
        (7, 3) => Some(&CENTRES_EMBASSY),
        (7, _) => Some(&CENTRES_7),
        (8, _) => Some(&CENTRES_8),
        _ => None,
    }
}

/// `fit_layout` on a text's characters' CTC centres, with the mean
/// squared residual of the fit (in crop widths).
pub(crate) fn fit_centres(
    text: &[char],
    centre: &[f32],
) -> Option<(f32, f32, &'static [f32], f32)> {
    let centres = centres_of(text).filter(|c| c.len() == centre.len())?;
    let pts: Vec<(f32, f32)> = (1..centre.len())
        .map(|i| (centres[i], (centre[i] + 0.5) / cnn::T as f32))
        .collect();
    let (a, b, res) = line_fit(&pts);
    if !(0.0005..0.004).contains(&b) {
        if debug_on() {
            eprintln!("  layout: slope {b} out of range");
        }
        return None;
    }
    Some((a, b, centres, res))
}

/// The least-squares line `y = a + b x` through the points `(x, y)`: (`a`,
/// `b`, the mean squared residual).
pub(crate) fn line_fit(pts: &[(f32, f32)]) -> (f32, f32, f32) {
    let n = pts.len().max(1) as f32;
    let (sx, sy) = pts.iter().fold((0f32, 0f32), |a, p| (a.0 + p.0, a.1 + p.1));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f32 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f32 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = sxy / sxx.max(1e-6);
    let a = my - b * mx;
    let res = pts.iter().map(|p| (a + b * p.0 - p.1).powi(2)).sum::<f32>() / n;
    (a, b, res)
}

/// The candidate box moved and resized onto the plate that a single-row
/// read found in the crop `c` × (`ew`, `eh`): the plate's width (440 mm,
/// 480 mm for 8 characters) from the fitted layout, centred on it. Used to
/// read again when the located box cut a plate's edge off (usually the
/// province character) or held much more than the plate.
pub(crate) fn align(c: &Cand, ew: f32, read: &cnn::Read) -> Option<Cand> {
    let (a, b, centres) = fit_layout(read)?;
    let plate_mm = if centres.len() == 8 { 480.0 } else { 440.0 };
    if c.keystone != 0.0 {
        let s0 = (a - 0.5) * ew;
        return Some(c.part(s0, s0 + b * plate_mm * ew));
    }
    let rw = c.w * ew;
    let du = (a + b * plate_mm / 2.0 - 0.5) * rw;
    let (ca, sa) = (c.angle.cos(), c.angle.sin());
    let mut out = c.clone();
    out.cx = c.cx + du * ca;
    out.cy = c.cy + du * sa;
    out.w = b * plate_mm * rw;
    Some(out)
}

/// Glyph centres (mm from the plate's left edge) of single-row layouts.
pub(crate) const CENTRES_7: [f32; 7] = [38.0, 95.0, 174.5, 231.5, 288.5, 345.5, 402.5];

/// Police plates: the dot after the province.
pub(crate) const CENTRES_POLICE: [f32; 7] = [38.0, 117.5, 174.5, 231.5, 288.5, 345.5, 402.5];

/// Embassy plates (使 and six digits): the dot after the fourth.
pub(crate) const CENTRES_EMBASSY: [f32; 7] = [38.0, 95.0, 152.0, 209.0, 288.5, 345.5, 402.5];

pub(crate) const CENTRES_8: [f32; 8] = [38.0, 91.0, 183.0, 235.0, 287.0, 339.0, 391.0, 443.0];
