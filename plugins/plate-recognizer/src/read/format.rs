//! The plate format (province, letter, then 5 letters or digits, or 6 on a
//! green new-energy plate) and mending a read that breaks it by one
//! character.

use crate::layout::fit_centres;
use crate::{Color, PROVINCES, cnn};

/// Plate text of a valid format: province, letter, 5 (or 6 for new-energy
/// plates) letters or digits.
pub fn valid_plate(t: &[char]) -> bool {
    (t.len() == 7 || t.len() == 8)
        && PROVINCES.contains(t[0])
        && t[1].is_ascii_uppercase()
        && t[2..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// A read a plate of this colour can have: a valid text, and 8 characters
/// only on (green) new-energy plates.
pub(crate) fn fits(text: &[char], color: Color) -> bool {
    valid_plate(text) && (text.len() == 7 || color == Color::Green)
}

/// Can `ch` be the `i`-th character of a plate (see `valid_plate`)?
pub(crate) fn valid_at(i: usize, ch: char) -> bool {
    match i {
        0 => PROVINCES.contains(ch),
        1 => ch.is_ascii_uppercase(),
        _ => ch.is_ascii_uppercase() || ch.is_ascii_digit(),
    }
}

/// A read that breaks the plate's format by one character, mended:
/// * the right length, one character not allowed where it is (a digit
///   where the letter goes): the allowed class the reader found most
///   probable at that column, if it gave it at least FORMAT_FLOOR;
/// * one character too many (a province glyph read as two, the frame's
///   edge read as a trailing 1 or L): the one whose removal leaves a valid
///   text whose columns fit the GA 36 layout best.
pub(crate) fn fix_format(read: &cnn::Read, classes: &[char], len: usize) -> Option<cnn::Read> {
    let n = read.text.len();
    fn without<T: Copy>(v: &[T], skip: usize) -> Vec<T> {
        v.iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .map(|(_, &x)| x)
            .collect()
    }
    let keep = |skip: usize| cnn::Read {
        text: without(&read.text, skip),
        conf: without(&read.conf, skip),
        cols: without(&read.cols, skip),
        centre: without(&read.centre, skip),
        probs: read.probs.clone(),
    };
    if n == len {
        let bad: Vec<usize> = (0..n).filter(|&i| !valid_at(i, read.text[i])).collect();
        let [i] = bad[..] else { return None };
        let (ch, p) = (1..classes.len())
            .filter(|&k| valid_at(i, classes[k]))
            .map(|k| (classes[k], read.probs[k * cnn::T + read.cols[i]]))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        if p < FORMAT_FLOOR {
            return None;
        }
        let mut r = keep(n);
        (r.text[i], r.conf[i]) = (ch, p);
        return Some(r);
    }
    if n != len + 1 {
        return None;
    }
    (0..n)
        .map(keep)
        .filter(|r| valid_plate(&r.text))
        .filter_map(|r| Some((fit_centres(&r.centre)?.3, r)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, r)| r)
}

/// The least probability the reader must have given the character a
/// format fix puts in place of one that was not allowed there.
pub(crate) const FORMAT_FLOOR: f32 = 0.05;
