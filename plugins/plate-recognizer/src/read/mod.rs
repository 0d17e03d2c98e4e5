//! Reading a candidate: the sequence reader (loaded once from
//! `model/reader.bin`) on the rectified crop (single row, and double row
//! for yellow and white plates that may be one), the format mended
//! (`format`), the province checked (`crate::province`) and the letters
//! and digits the reader is unsure of (`crate::glyphs`), the read's
//! confidence and its per-position character distributions for the vote.

pub(crate) mod format;

use crate::colour::{light_ink, plate_color, serial_green};
use crate::glyphs::{self, ALNUM_CNN_WEIGHT};
use crate::layout::align;
use crate::locate::Cand;
use crate::photo::Photo;
use crate::province::{
    DOUBLE_ROW_PROVINCE_CNN_WEIGHT, PROVINCE_CNN_WEIGHT, reader_share, refine_double_province,
    refine_province,
};
use crate::rectify::{Source, rectify};
use crate::segment::glyph_patches;
use crate::{Color, Recognition, cnn, debug_on};
use format::{colour_of, fits, fix_format, province_checked, valid_plate, valid_with};
use image::RgbImage;
use std::sync::OnceLock;

/// The plate reader, loaded once.
pub fn model() -> Result<&'static cnn::Net, String> {
    static MODEL: OnceLock<Result<cnn::Net, String>> = OnceLock::new();
    crate::load_once(&MODEL, || {
        cnn::Net::from_bytes(include_bytes!("../../model/reader.bin"))
    })
}

/// The embedded check reader (`model/reader-check.bin`), loaded on the
/// first call: the reader fine-tuned with crops of what is not a plate
/// read as no characters (`train`'s `NEGATIVES`). It reads fewer plates
/// right than the reader and is used only to check unsure answers
/// (`search::the_check_reader_reads_a_plate`).
pub fn check_model() -> Result<&'static cnn::Net, String> {
    static MODEL: OnceLock<Result<cnn::Net, String>> = OnceLock::new();
    crate::load_once(&MODEL, || {
        cnn::Net::from_bytes(include_bytes!("../../model/reader-check.bin"))
    })
}

/// How much a candidate's box is widened and heightened for its first
/// read (`rectify`'s `exp_w`, `exp_h`).
pub(crate) const FIRST_MARGINS: (f32, f32) = (1.08, 1.2);

/// How much a candidate's box is widened and heightened for its
/// double-row read.
pub(crate) const DOUBLE_ROW_MARGINS: (f32, f32) = (1.06, 1.1);

/// Boxes less wide than this for their height (width / height) may be
/// double-row plates.
pub(crate) const DOUBLE_ROW_ASPECT: f32 = 2.6;

/// Reads of one candidate: single row, and for plates that may be double
/// row (yellow or white, aspect below [`DOUBLE_ROW_ASPECT`]) the two-row
/// reading too.
pub(crate) fn read_candidate(
    full: &Photo,
    c: &Cand,
    net: &cnn::Net,
    pass: usize,
    grey: bool,
    promise: &mut usize,
) -> Vec<Reading> {
    let mut out = Vec::new();
    let aspect = c.w / c.h.max(1.0);
    // crops to read: (candidate, width factor, height factor)
    let mut variants: Vec<(Cand, f32, f32)> = Vec::new();
    if pass == 0 {
        variants.push((c.clone(), FIRST_MARGINS.0, FIRST_MARGINS.1));
    } else {
        variants.push((c.clone(), 1.3, 1.45));
        variants.push((c.clone(), 1.6, 1.3));
        if c.angle.abs() > 0.1 {
            // tilted by perspective: shear instead of rotating; the box
            // height along the vertical is h / cos(angle)
            let mut sh = c.clone();
            sh.shear = true;
            sh.h = c.h / c.angle.cos().abs().max(0.3);
            variants.push((sh, 1.1, 1.25));
        }
        if aspect < DOUBLE_ROW_ASPECT {
            // too short for a single-row plate: widen to the plate's aspect
            let mut w = c.clone();
            w.w = c.h * 3.2;
            variants.push((w, 1.1, 1.25));
        }
    }
    for (c, ew, eh) in &variants {
        let crop = rectify(full, c, *ew, *eh, cnn::IN_W as u32, cnn::IN_H as u32);
        let seen = crop_color(c, &crop, grey);
        let src = Source {
            full,
            c,
            ew: *ew,
            eh: *eh,
        };
        if let Some(r) = read_prepared(net, &cnn::prepare(&crop, false), seen, src, true, promise) {
            out.push(r);
        }
        if pass == 0
            && aspect < DOUBLE_ROW_ASPECT
            && matches!(seen.color, Color::Yellow | Color::White)
        {
            let (ew, eh) = DOUBLE_ROW_MARGINS;
            let crop2 = rectify(full, c, ew, eh, cnn::IN_W as u32, 64);
            let src = Source { ew, eh, ..src };
            let x = cnn::prepare(&crop2, true);
            if let Some(r) = read_prepared(net, &x, seen, src, false, promise) {
                out.push(r);
            }
        }
    }
    out
}

/// The colour to read a crop of candidate `c` as: the candidate's (from
/// the colour mask that found it) or else the crop's; green when it is
/// yellow only at its left (a large car's new-energy plate). In a
/// colourless photo (`grey`: a monochrome or infrared camera) only which
/// way round its characters are: light on dark is read as blue, dark on
/// light as yellow, the likelier plate of each (`Seen`).
pub(crate) fn crop_color(c: &Cand, crop: &RgbImage, grey: bool) -> Seen {
    let color = c.color.unwrap_or_else(|| plate_color(crop));
    let color = if grey {
        if light_ink(color) {
            Color::Blue
        } else {
            Color::Yellow
        }
    } else if color == Color::Yellow && serial_green(crop) {
        Color::Green
    } else {
        color
    };
    Seen { color, grey }
}

/// A crop's colour as seen: the plate's colour, or in a colourless photo
/// (`grey`) the likelier colour of its polarity (`crop_color`), which the
/// text read may overrule: a plate for a use, a green plate's 8
/// characters, an embassy plate have their own colour.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    pub(crate) color: Color,
    pub(crate) grey: bool,
}

impl Seen {
    /// Whether a plate seen so can have this text: a valid one whose own
    /// colour (if its text has one) is the colour seen or, in a colourless
    /// photo, has the same polarity.
    pub(crate) fn fits(&self, text: &[char]) -> bool {
        if self.grey {
            valid_plate(text)
                && colour_of(text).is_none_or(|c| light_ink(c) == light_ink(self.color))
        } else {
            fits(text, self.color)
        }
    }
}

/// A valid read of the prepared crop `x` cut out as `src` says
/// (single-row reads are also aligned and get the province check).
pub(crate) fn read_prepared(
    net: &cnn::Net,
    x: &[f32],
    seen: Seen,
    src: Source,
    single_row: bool,
    promise: &mut usize,
) -> Option<Reading> {
    let color = seen.color;
    let mut read = net.read_aligned(x);
    *promise = (*promise).max(read.conf.iter().filter(|&&p| p >= 0.5).count());
    if !seen.fits(&read.text) {
        let len = if color == Color::Green { 8 } else { 7 };
        if let Some(r) = fix_format(&read, &net.classes, len) {
            if debug_on() {
                eprintln!(
                    "  format: {} -> {}",
                    read.text.iter().collect::<String>(),
                    r.text.iter().collect::<String>()
                );
            }
            read = r;
        }
    }
    let (mut text, mut probs) = (read.text.clone(), read.conf.clone());
    if debug_on() {
        eprintln!(
            "  raw read {} {:?} {:?}",
            text.iter().collect::<String>(),
            color,
            probs
        );
    }
    if !seen.fits(&text) {
        return None;
    }
    let conf = |p: &[f32]| {
        let mean = p.iter().sum::<f32>() / p.len() as f32;
        let min = p.iter().copied().fold(1f32, f32::min);
        0.7 * mean + 0.3 * min
    };
    let reader_conf = conf(&probs);
    // per position: the reader's distribution at the character's column
    let nc = net.classes.len();
    let mut dists: Vec<Dist> = (0..text.len())
        .map(|i| {
            (1..nc)
                .map(|k| (net.classes[k], read.probs[k * cnn::T + read.cols[i]]))
                .filter(|&(ch, p)| p > 0.005 && valid_with(&text, i, ch))
                .collect()
        })
        .collect();
    let mut aligned = None;
    // whether the province was checked by the province CNN
    let mut checked_province = false;
    if single_row {
        aligned = align(src.c, src.ew, &read);
        // the province and the letters and digits the reader is unsure of,
        // checked on the segmenter's glyphs (cut once for both)
        crate::stage::timed(&crate::stage::CHECKS, || {
            let unsure = glyphs::unsure(&text, &dists);
            let seg = (text.len() == 7 && (province_checked(&text) || !unsure.is_empty()))
                .then(|| glyph_patches(&src, color, &text))
                .flatten();
            if let Some(d) =
                refine_province(src, &read, color, net, PROVINCE_CNN_WEIGHT, seg.as_deref())
            {
                (text[0], probs[0]) = argmax(&d);
                dists[0] = d;
                checked_province = true;
            }
            let checked = seg.as_deref().map_or(vec![], |seg| {
                glyphs::refine_chars(&text, &dists, &unsure, seg, ALNUM_CNN_WEIGHT)
            });
            for (i, d) in checked {
                (text[i], probs[i]) = argmax(&d);
                dists[i] = d;
            }
        });
    }
    // a double-row read's province, checked on the top row's glyph
    if !single_row
        && let Some(d) = crate::stage::timed(&crate::stage::CHECKS, || {
            refine_double_province(src, &read, color, net, DOUBLE_ROW_PROVINCE_CNN_WEIGHT)
        })
    {
        (text[0], probs[0]) = argmax(&d);
        dists[0] = d;
        checked_province = true;
    }
    if !checked_province && let Some(d) = reader_share(net, &read, PROVINCE_CNN_WEIGHT) {
        // no glyph for the province CNN: in the vote this read's province
        // counts with the reader's share only, as where the CNN has a view
        dists[0] = d;
    }
    let color = colour_of(&text).unwrap_or(color);
    let at = aligned.clone().unwrap_or_else(|| src.c.clone());
    Some(Reading {
        rec: Recognition {
            plate: text.into_iter().collect(),
            color,
            confidence: conf(&probs),
            corners: at.corners(),
        },
        reader_conf,
        at,
        aligned,
        dists,
    })
}

/// One valid read of a crop.
pub(crate) struct Reading {
    pub(crate) rec: Recognition,
    /// The reader's own confidence (before the province vote).
    pub(crate) reader_conf: f32,
    /// Single-row reads: the box fitted to the characters read (`align`).
    pub(crate) aligned: Option<Cand>,
    /// Where the plate read is in the photo: the fitted box, or the
    /// candidate the crop was cut from.
    pub(crate) at: Cand,
    /// Per position: the probability of each character there.
    pub(crate) dists: Vec<Dist>,
}

/// A probability distribution over characters (those with p > 0).
pub(crate) type Dist = Vec<(char, f32)>;

/// The most probable character of a distribution.
pub(crate) fn argmax(d: &[(char, f32)]) -> (char, f32) {
    d.iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or(('?', 0.0))
}
