//! The plate format (GA 36) and mending a read that breaks it by one
//! character.
//!
//! * Ordinary plates: province, letter, then 5 letters or digits (6 on a
//!   green new-energy plate).
//! * The letter O only second (the issuing authority's letter: 粤O and
//!   other police-style plates); the serial never has an O (GA 36 leaves it
//!   out, as it leaves out I, so as not to be read as 0). So 0 and O are
//!   told apart by position: second is always a letter (a 0 read there is
//!   mended to the most probable letter, usually O), from the third on an
//!   O is not allowed (mended to the most probable digit or letter,
//!   usually 0).
//! * A plate for a use (7 characters) ends in its character instead of
//!   the last letter or digit, on a plate of one colour: 学 learner and 挂
//!   trailer (yellow; 挂 single or double row), 警 police (white), 领
//!   consulate (black), 港 and 澳 Hong Kong and Macau (black, and only
//!   粤Z: Guangdong issues them; and a 粤Z plate of 7 is always one of
//!   them, Z being Guangdong's letter for those cars alone).
//! * Embassy plates (black): 使, then 6 digits (the country's number and
//!   the car's), no province.
//!
//! A read must also suit the plate's colour (`fits`): 8 characters only
//! on a green plate, a plate for a use only on its colour.

use crate::layout::fit_centres;
use crate::{Color, PROVINCES, cnn};

/// The characters a plate for a use ends in, and that plate's colour.
const ENDINGS: [(char, Color); 6] = [
    ('学', Color::Yellow),
    ('挂', Color::Yellow),
    ('警', Color::White),
    ('领', Color::Black),
    ('港', Color::Black),
    ('澳', Color::Black),
];

/// The first character of an embassy plate.
const EMBASSY: char = '使';

/// Plate text of a valid format (see the module's documentation).
pub fn valid_plate(t: &[char]) -> bool {
    (t.len() == 7 || t.len() == 8) && t.iter().enumerate().all(|(i, &c)| valid_at(t, i, c))
}

/// The colour a plate with this (valid) text must have, if its text says:
/// green for 8 characters, the colour of a plate for a use.
pub(crate) fn colour_of(t: &[char]) -> Option<Color> {
    if t.len() == 8 {
        return Some(Color::Green);
    }
    if t.first() == Some(&EMBASSY) {
        return Some(Color::Black);
    }
    let last = t.last()?;
    ENDINGS.iter().find(|e| e.0 == *last).map(|e| e.1)
}

/// A read a plate of this colour can have: a valid text, of this colour
/// if its text says (`colour_of`), and of 8 characters on a green plate
/// (every green plate is a new-energy plate: a read of 7 dropped one, or
/// was not of this plate). A black plate may have been seen as
/// blue: a dark plate with light characters is black only when colourless
/// (`colour::plate_color`), and the red 使 or 领 of a black plate gives it
/// colour. A green plate may have been seen as white: its pale green,
/// fading to white at the top, washes out in bright light or an
/// overexposed photo.
pub(crate) fn fits(text: &[char], color: Color) -> bool {
    valid_plate(text)
        && match colour_of(text) {
            // a text without a colour of its own: not a green plate's,
            // whose 8 characters give it one
            None => color != Color::Green,
            Some(c) => {
                c == color
                    || (c == Color::Black && color == Color::Blue)
                    || (c == Color::Green && color == Color::White)
            }
        }
}

/// Whether `c` is the character of a plate's use (an ending or 使).
pub(crate) fn is_use_char(c: char) -> bool {
    c == EMBASSY || ENDINGS.iter().any(|e| e.0 == c)
}

/// Whether the characters of a plate's use in a read stand where a plate
/// has them: an ending last, 使 first. The reader reads them only there
/// (`cnn::Net::read_aligned`).
pub(crate) fn uses_in_place(t: &[char]) -> bool {
    t.iter().enumerate().all(|(i, &c)| match c {
        EMBASSY => i == 0,
        _ if is_use_char(c) => i + 1 == t.len(),
        _ => true,
    })
}

/// Whether the plate's first character is a province the province check
/// may change: not on embassy plates (使) nor on 港/澳 plates (粤 only).
pub(crate) fn province_checked(t: &[char]) -> bool {
    t.first().is_some_and(|&c| PROVINCES.contains(c))
        && !t.last().is_some_and(|&c| c == '港' || c == '澳')
}

/// Is `t` with `ch` in place of its `i`-th character a valid plate? (The
/// characters a position may have depend on the others: on a 港/澳 plate
/// the first two are 粤Z, on an embassy plate the rest are digits.)
pub(crate) fn valid_with(t: &[char], i: usize, ch: char) -> bool {
    let mut t = t.to_vec();
    t[i] = ch;
    valid_plate(&t)
}

/// Can `ch` be the `i`-th character of the plate `t` (its other characters
/// as they are)? Not the whole rule: 港/澳 need 粤Z and 粤Z needs 港/澳
/// (`valid_plate`).
fn valid_at(t: &[char], i: usize, ch: char) -> bool {
    let serial = |c: char| c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'O');
    if i == 0 {
        return PROVINCES.contains(ch) || (ch == EMBASSY && t.len() == 7);
    }
    if t[0] == EMBASSY {
        return ch.is_ascii_digit();
    }
    // 粤Z is Guangdong's letter for Hong Kong and Macau cars alone: a 粤Z
    // plate of 7 ends in 港 or 澳, and only it does
    let hkmo = t.len() == 7 && t[0] == '粤' && t[1] == 'Z';
    match ch {
        _ if i == 1 => ch.is_ascii_uppercase(),
        '港' | '澳' => i == 6 && hkmo,
        _ if i == 6 && hkmo => false,
        _ if i == 6 && t.len() == 7 && ENDINGS.iter().any(|e| e.0 == ch) => true,
        _ => serial(ch),
    }
}

/// A read that breaks the plate's format by one character, mended:
/// * the right length, one character not allowed where it is (a digit
///   where the letter goes, a 使 read for a province): of the single
///   characters that make the text valid in place of one read, and that
///   the reader gave at least FORMAT_FLOOR at its column, the one whose
///   probability is the highest against that of the character it
///   replaces (the most probable text: an unsure province goes before a
///   sure ending); failing that, six sure digits after an unsure first
///   character are an embassy plate's (`embassy_by_layout`);
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
        if valid_plate(&read.text) {
            return None;
        }
        // the replacement that leaves the most probable text: its
        // probability against that of the character it replaces
        let gain = |m: &(usize, char, f32)| m.2 / read.conf[m.0].max(1e-6);
        let best = (0..n)
            .flat_map(|i| (1..classes.len()).map(move |k| (i, k)))
            .filter(|&(i, k)| valid_with(&read.text, i, classes[k]))
            .map(|(i, k)| (i, classes[k], read.probs[k * cnn::T + read.cols[i]]))
            .filter(|m| m.2 >= FORMAT_FLOOR)
            .max_by(|a, b| gain(a).total_cmp(&gain(b)))
            .or_else(|| embassy_by_layout(read, classes));
        let (i, ch, p) = best?;
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
        .filter_map(|r| Some((fit_centres(&r.text, &r.centre)?.3, r)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, r)| r)
}

/// An embassy plate whose 使 the reader did not see (a small plate: its
/// red glyph a blur the reader takes for some province, unsure): six
/// digits the reader is sure of after a first character it is not sure
/// of. Only an embassy plate has a digit second, so the first is 使, at
/// the probability the reader gave it there, however small. Given as
/// `fix_format`'s one replacement: (position, character, probability).
fn embassy_by_layout(read: &cnn::Read, classes: &[char]) -> Option<(usize, char, f32)> {
    let sure = crate::glyphs::ALNUM_CHECK_BELOW;
    let digits = read.text.len() == 7
        && read.text[1..]
            .iter()
            .zip(&read.conf[1..])
            .all(|(c, &p)| c.is_ascii_digit() && p >= sure);
    if !digits || read.conf[0] >= EMBASSY_UNSURE_FIRST {
        return None;
    }
    let k = classes.iter().position(|&c| c == EMBASSY)?;
    Some((0, EMBASSY, read.probs[k * cnn::T + read.cols[0]]))
}

/// A first character read with less probability than this, before six
/// sure digits, is taken for an embassy plate's 使 (`embassy_by_layout`).
const EMBASSY_UNSURE_FIRST: f32 = 0.5;

/// The least probability the reader must have given the character a
/// format fix puts in place of one that was not allowed there.
pub(crate) const FORMAT_FLOOR: f32 = 0.05;
