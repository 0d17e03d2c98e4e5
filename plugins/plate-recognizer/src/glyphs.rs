//! The letters and digits of a single-row read that the reader is unsure
//! of, checked as the province is (`province.rs`): the segmenter's glyph
//! at each such position classified by the letter-and-digit CNN
//! (`model/alnum-cnn.bin`: the province CNN's architecture, `pcnn.rs`,
//! trained on EasyPR's letter and digit crops and drawn GA 36 glyphs by
//! `train-province` with `SET=alnum`), its probabilities voted with the
//! reader's.

use crate::read::format::valid_with;
use crate::read::{Dist, argmax};
use crate::segment::Patch;
use crate::{mlp, pcnn};
use std::sync::OnceLock;

/// The letter-and-digit classifier, loaded once.
pub fn alnum_model() -> Result<&'static pcnn::PNet, String> {
    static ALNUM: OnceLock<Result<pcnn::PNet, String>> = OnceLock::new();
    crate::load_once(&ALNUM, || {
        pcnn::PNet::from_bytes(include_bytes!("../model/alnum-cnn.bin"))
    })
}

/// A letter or digit is checked when the reader gives its most probable
/// character less than this (chosen on the tuning part, README).
pub const ALNUM_CHECK_BELOW: f32 = 0.9;

/// Weight of the letter-and-digit CNN against the reader in the vote
/// (chosen on the tuning part over three training seeds, README).
pub const ALNUM_CNN_WEIGHT: f32 = 0.7;

/// The positions of a 7-character read to check: not the province, and
/// where the reader's most probable character is a letter or digit below
/// [`ALNUM_CHECK_BELOW`].
pub(crate) fn unsure(text: &[char], dists: &[Dist]) -> Vec<usize> {
    if text.len() != 7 {
        return vec![];
    }
    (1..7)
        .filter(|&i| {
            let (ch, p) = argmax(&dists[i]);
            p < ALNUM_CHECK_BELOW && crate::ALNUM.contains(ch)
        })
        .collect()
}

/// For each position of `at` (from [`unsure`]): the vote of the reader's
/// distribution there and the letter-and-digit CNN's for the segmenter's
/// glyph (`seg`, one per character of the 7-character grid), over the
/// characters that keep the text valid. Characters the CNN does not know
/// (the letter O) keep the reader's share of their probability.
pub(crate) fn refine_chars(
    text: &[char],
    dists: &[Dist],
    at: &[usize],
    seg: &[Patch],
    w_cnn: f32,
) -> Vec<(usize, Dist)> {
    let Ok(net) = alnum_model() else {
        return vec![];
    };
    if seg.len() != 7 {
        return vec![];
    }
    at.iter()
        .map(|&i| {
            let (pw, ph, px) = &seg[i];
            let pm = net.predict(&mlp::char_features(px, *pw, *ph)[..pcnn::S * pcnn::S]);
            let reader = |ch: char| dists[i].iter().find(|e| e.0 == ch).map_or(0.0, |e| e.1);
            let mut d: Dist = net
                .classes
                .iter()
                .zip(&pm)
                .filter(|&(&ch, _)| valid_with(text, i, ch))
                .map(|(&ch, &p)| (ch, w_cnn * p + (1.0 - w_cnn) * reader(ch)))
                .collect();
            d.extend(
                dists[i]
                    .iter()
                    .filter(|e| !net.classes.contains(&e.0))
                    .map(|&(ch, p)| (ch, (1.0 - w_cnn) * p)),
            );
            if crate::debug_on() {
                eprintln!(
                    "  character {i}: reader {:?}, checked {:?}",
                    argmax(&dists[i]),
                    argmax(&d)
                );
            }
            (i, d)
        })
        .collect()
}
