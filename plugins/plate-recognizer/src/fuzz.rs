//! The photo decoder as a fuzz target (feature `fuzzing`; `scripts/fuzz
//! jpeg` runs it coverage-guided, the decoder's tests on mutated photos).
//! A photo comes from the network: whatever its bytes, decoding it and
//! reading its pixels every way the recogniser does must not panic, loop
//! or allocate beyond [`MAX_ALLOC`].

use crate::jpeg::encode::{LAYOUTS, encode, scene};
use crate::photo::{Photo, decode_whole};

/// The most bytes live at once while [`exercise`] runs on one input,
/// whatever it claims: the decoders' own budget (`jpeg::MAX_ALLOC`, the
/// `image` crate's limit too) and one copy of the photo's pixels.
pub const MAX_ALLOC: usize = 2 * crate::jpeg::MAX_ALLOC;

/// Decodes `bytes` as the recogniser does (our decoder for every
/// baseline JPEG it takes, the `image` crate for the rest) and whole, and
/// makes pixels at every scale: the working copies a locator uses, and
/// regions at full resolution and reduced scales as crops cut them
/// (chosen from the input, so an input always runs the same way).
/// Errors are fine; panics are not.
pub fn exercise(bytes: &[u8]) {
    let _ = decode_whole(bytes);
    let Ok(photo) = Photo::decode_lazy_from(bytes, 0) else {
        return;
    };
    let (w, h) = photo.dimensions();
    let _ = photo.working_copy(w.div_ceil(4).max(1), h.div_ceil(4).max(1));
    let _ = photo.working_copy(w.div_ceil(3).max(1), h.div_ceil(5).max(1));
    // regions from the input's last bytes
    let tail: Vec<u32> = bytes.iter().rev().take(16).map(|&b| u32::from(b)).collect();
    for (i, c) in tail.chunks_exact(4).enumerate() {
        let (x0, y0) = (c[0] * w / 256, c[1] * h / 256);
        let region = [x0, y0, x0 + 1 + c[2] * w / 256, y0 + 1 + c[3] * h / 256];
        let _ = photo.pixels_at([1, 2, 4, 8][i], region);
        if i == 0 {
            let (cw, ch) = (
                (region[2].min(w) - x0).max(1),
                (region[3].min(h) - y0).max(1),
            );
            if x0 + cw <= w && y0 + ch <= h {
                let _ = photo.crop(x0, y0, cw, ch);
            }
        }
    }
    let _ = photo.to_rgb();
}

/// Valid photos to start from: every sampling layout our decoder takes,
/// with and without restart intervals, sizes not whole MCUs, grey, and a
/// photo of the `image` crate's encoder (its own Huffman tables).
pub fn seeds() -> Vec<Vec<u8>> {
    let img = scene(67, 35);
    let mut out: Vec<Vec<u8>> = LAYOUTS
        .iter()
        .enumerate()
        .map(|(i, samp)| encode(&img, samp, 2 + i as u16, [0, 1, 3][i % 3]))
        .collect();
    out.push(crate::synth::jpeg(&scene(96, 40), 80));
    out
}
