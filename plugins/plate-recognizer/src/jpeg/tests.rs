//! Our JPEG decoder against the `image` crate's (zune-jpeg), reduced
//! scales against a box-filtered full decode, regions against the full
//! decode, hostile input.

use super::encode::{LAYOUTS, encode, scene};
use super::{luma_sampled_finest, parse};
use crate::fuzz::exercise as survives;
use crate::photo::{Photo, decode_image, decode_whole};
use crate::tests::fixture;
use image::RgbImage;

/// Mean and largest absolute difference per channel value.
fn diff(a: &RgbImage, b: &RgbImage) -> (f64, u8) {
    assert_eq!(a.dimensions(), b.dimensions());
    let (mut sum, mut max) = (0u64, 0u8);
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        sum += d as u64;
        max = max.max(d);
    }
    (sum as f64 / a.as_raw().len() as f64, max)
}

/// Development aid: `JPEG_DIR=... cargo test --release -p plate-recognizer
/// -- --ignored compare_dir --nocapture` compares every baseline JPEG of a
/// directory with the `image` crate's decode (and says whether
/// `decode_whole` takes it and gives the same pixels).
#[test]
#[ignore]
fn compare_dir() {
    let dir = std::env::var("JPEG_DIR").expect("JPEG_DIR");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let bytes = std::fs::read(&p).unwrap();
        let Ok(Some(_)) = parse(&bytes) else {
            println!("{}: not ours", p.display());
            continue;
        };
        let ours = Photo::decode_lazy_from(&bytes, 0).unwrap().to_rgb();
        let theirs = decode_image(&bytes).unwrap();
        let (mean, max) = diff(&ours, &theirs);
        let w = ours.width() as usize;
        let at = ours
            .as_raw()
            .iter()
            .zip(theirs.as_raw())
            .position(|(a, b)| a.abs_diff(*b) == max)
            .unwrap_or(0)
            / 3;
        let big = ours
            .as_raw()
            .iter()
            .zip(theirs.as_raw())
            .filter(|(a, b)| a.abs_diff(**b) > 8)
            .count();
        let whole = match decode_whole(&bytes) {
            None => "not taken",
            Some(img) if img == theirs => "same",
            Some(_) => "DIFFERS",
        };
        println!(
            "{}: mean {mean:.3} max {max} at {},{} of {:?}, {big} over 8; whole: {whole}",
            p.display(),
            at % w,
            at / w,
            ours.dimensions()
        );
    }
}

/// Our full decode against the `image` crate's of the same file: the
/// same pixels, bit for bit (the same IDCT, upsampling and colour
/// conversion as zune-jpeg's).
fn same_as_image_crate(bytes: &[u8], what: &str) {
    assert!(matches!(parse(bytes), Ok(Some(_))), "{what}: our decoder's");
    let photo = Photo::decode_lazy_from(bytes, 0).unwrap();
    assert!(photo.is_lazy(), "{what}");
    let ours = photo.to_rgb();
    let theirs = decode_image(bytes).unwrap();
    let (mean, max) = diff(&ours, &theirs);
    assert!(ours == theirs, "{what}: mean {mean} max {max}");
    // the whole photo at once (what the component decodes smaller photos
    // with instead of the `image` crate)
    let whole = decode_whole(bytes).expect(what);
    assert!(whole == theirs, "{what}: decoded whole");
}

#[test]
fn fixtures_decode_as_the_image_crate_does() {
    // (the fixtures are the `image` crate encoder's: 4:4:4)
    for name in ["blue-京N62847.jpg", "yellow2-苏E45Q82.jpg", "multi.jpg"] {
        same_as_image_crate(&fixture(name), name);
    }
}

#[test]
fn every_sampling_layout_and_restarts_decode_as_the_image_crate_does() {
    let img = scene(203, 121); // not whole MCUs
    for samp in LAYOUTS {
        for ri in [0, 1, 5] {
            let bytes = encode(&img, samp, 3, ri);
            same_as_image_crate(&bytes, &format!("{samp:?} restart {ri}"));
        }
    }
    // a sampling ratio of 4 (4:1:1) is ours to decode, but not whole in
    // place of the `image` crate (zune-jpeg repeats samples there; not
    // compared): its decoding stops at the first row of MCUs
    let b411 = encode(&img, &[(4, 1), (1, 1), (1, 1)], 3, 0);
    assert!(matches!(parse(&b411), Ok(Some(_))));
    assert!(decode_whole(&b411).is_none());
    // the restart markers are there and decoding resynchronises on them:
    // a corrupted interval spoils its own MCUs, not the rest
    let bytes = encode(&img, &[(2, 2), (1, 1), (1, 1)], 3, 4);
    let rst = (0..bytes.len() - 1)
        .filter(|&i| bytes[i] == 0xFF && (0xD0..=0xD7).contains(&bytes[i + 1]))
        .count();
    assert_eq!(rst, 13 * 8 / 4 - 1);
}

/// Reduced-scale copies (1/2, 1/4, 1/8 by the reduced IDCT) against the
/// full decode box-filtered to the same size.
#[test]
fn reduced_scales_are_close_to_a_box_filtered_full_decode() {
    for (bytes, what) in [
        (fixture("blue-京N62847.jpg"), "4:4:4 fixture"),
        (
            encode(&scene(640, 360), &[(2, 2), (1, 1), (1, 1)], 2, 0),
            "4:2:0",
        ),
        (
            encode(&scene(640, 360), &[(2, 1), (1, 1), (1, 1)], 2, 0),
            "4:2:2",
        ),
    ] {
        let photo = Photo::decode_lazy_from(&bytes, 0).unwrap();
        let full = photo.to_rgb();
        let (w, h) = full.dimensions();
        for r in [2, 4, 8] {
            let (rw, rh) = (w.div_ceil(r), h.div_ceil(r));
            let small = photo.working_copy(rw, rh);
            let boxed = crate::resize_box(&full, rw, rh);
            let (mean, _) = diff(&small, &boxed);
            assert!(mean < 3.0, "{what} 1/{r}: mean {mean}");
            // and a size between scales: reduced, then box-filtered
            let (mw, mh) = (rw * 3 / 4, rh * 3 / 4);
            let (mean, _) = diff(
                &photo.working_copy(mw, mh),
                &crate::resize_box(&full, mw, mh),
            );
            assert!(mean < 3.0, "{what} 1/{r} · 3/4: mean {mean}");
        }
    }
}

/// 12 non-empty regions [x0, y0, x1, y1] of a `w` × `h` photo, at
/// random (a fixed sequence per `seed`).
fn random_regions(w: usize, h: usize, seed: u32) -> Vec<[usize; 4]> {
    let mut s = seed;
    let mut next = |n: usize| {
        s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
        (s >> 8) as usize % n
    };
    (0..12)
        .map(|_| {
            let (x0, y0) = (next(w), next(h));
            [x0, y0, x0 + 1 + next(w - x0), y0 + 1 + next(h - y0)]
        })
        .collect()
}

/// Pixels made region by region (in any order) are the full decode's.
#[test]
fn regions_are_the_full_decode() {
    for bytes in [
        fixture("multi.jpg"),
        encode(&scene(203, 121), &[(2, 2), (1, 1), (1, 1)], 3, 2),
        encode(&scene(203, 121), &[(1, 2), (1, 1), (1, 1)], 3, 0),
    ] {
        let full = Photo::decode_lazy_from(&bytes, 0).unwrap().to_rgb();
        let photo = Photo::decode_lazy_from(&bytes, 0).unwrap();
        let (w, h) = photo.dimensions();
        for [x0, y0, x1, y1] in random_regions(w as usize, h as usize, 7) {
            let [x0, y0, x1, y1] = [x0, y0, x1, y1].map(|v| v as u32);
            let (rw, rh) = (x1 - x0, y1 - y0);
            let crop = photo.crop(x0, y0, rw, rh);
            let want = image::imageops::crop_imm(&full, x0, y0, rw, rh).to_image();
            assert_eq!(crop, want, "region {x0},{y0} {rw}x{rh}");
        }
        assert_eq!(photo.to_rgb(), full);
    }
}

/// At every reduced scale, too, regions made one by one are the same
/// pixels as the whole photo made at that scale at once.
#[test]
fn reduced_regions_are_the_whole_reduced_copy() {
    for bytes in [
        fixture("multi.jpg"),
        encode(&scene(203, 121), &[(2, 2), (1, 1), (1, 1)], 3, 2),
        encode(&scene(203, 121), &[(2, 1), (1, 1), (1, 1)], 3, 0),
        encode(&scene(203, 121), &[(1, 2), (1, 1), (1, 1)], 3, 0),
        encode(&scene(203, 121), &[(1, 1)], 3, 0),
    ] {
        for r in [2usize, 4, 8] {
            let all = [0, 0, u32::MAX, u32::MAX];
            let whole = Photo::decode_lazy_from(&bytes, 0).unwrap();
            assert!(whole.pixels_at(0, all).is_none() && whole.pixels_at(3, all).is_none());
            let (want, w, h) = whole.pixels_at(r, all).unwrap();
            assert_eq!(want.len(), w * h * 3);
            let photo = Photo::decode_lazy_from(&bytes, 0).unwrap();
            for [x0, y0, x1, y1] in random_regions(w, h, 11) {
                let region = [x0, y0, x1, y1].map(|v| v as u32);
                let (got, gw, gh) = photo.pixels_at(r, region).unwrap();
                assert_eq!((gw, gh), (w, h));
                for y in y0..y1 {
                    let row = y * w * 3 + x0 * 3..y * w * 3 + x1 * 3;
                    assert_eq!(got[row.clone()], want[row], "1/{r}: row {y} of {region:?}");
                }
            }
        }
    }
}

/// The fuzz target's seeds are photos of our decoder, and pass.
#[test]
fn fuzz_seeds_are_ours_and_pass() {
    let seeds = crate::fuzz::seeds();
    assert_eq!(seeds.len(), 7);
    for (i, seed) in seeds.iter().enumerate() {
        assert!(matches!(parse(seed), Ok(Some(_))), "seed {i}");
        survives(seed);
    }
}

#[test]
fn truncated_and_corrupted_input_fails_cleanly() {
    let bytes = encode(&scene(64, 48), &[(2, 2), (1, 1), (1, 1)], 4, 3);
    for n in 0..bytes.len() {
        survives(&bytes[..n]);
    }
    // a photo cut inside its entropy-coded data decodes (the rest grey)
    let cut = &bytes[..bytes.len() * 3 / 4];
    assert!(matches!(parse(cut), Ok(Some(_))));
    // ... but is not decoded whole in place of the `image` crate, whose
    // decoder makes something else of the missing part
    assert!(parse(&bytes).unwrap().unwrap().complete);
    assert!(!parse(cut).unwrap().unwrap().complete);
    assert!(decode_whole(&bytes).is_some() && decode_whole(cut).is_none());
    let mut s = 99u32;
    let mut rand = || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        s
    };
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rand() % 4 {
            let i = rand() as usize % b.len();
            b[i] = (rand() >> 24) as u8;
        }
        survives(&b);
    }
    let big = fixture("blue-京N62847.jpg");
    for _ in 0..200 {
        let mut b = big.clone();
        let i = rand() as usize % b.len();
        b[i] ^= 1 << (rand() % 8);
        survives(&b);
    }
}

/// A frame header claiming a huge photo: over 10,000 px is an error, over
/// the allocation budget goes to the `image` path (which has the same
/// limits), before anything is allocated for it here.
#[test]
fn huge_headers_are_refused_before_allocating() {
    let bytes = encode(&scene(32, 16), &[(1, 1), (1, 1), (1, 1)], 4, 0);
    let sof = (0..bytes.len() - 1)
        .find(|&i| bytes[i] == 0xFF && bytes[i + 1] == 0xC0)
        .unwrap();
    let with_size = |w: u16, h: u16| {
        let mut b = bytes.clone();
        b[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        b[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        b
    };
    assert!(parse(&with_size(10_001, 100)).is_err());
    // 4:4:4 9,000 × 9,000: coefficients, planes and pixels over 400 MiB
    assert!(matches!(parse(&with_size(9_000, 9_000)), Ok(None)));
    // within the budget: decoded (the data ends early: grey)
    let b = with_size(3_000, 2_000);
    let p = Photo::decode_lazy_from(&b, 0).unwrap();
    assert!(p.is_lazy());
}

/// What our decoder does not handle goes to the `image` crate: PNG,
/// progressive (SOF2), several scans.
#[test]
fn other_formats_fall_back() {
    let img = scene(64, 32);
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    assert!(matches!(parse(&png), Ok(None)));
    let p = Photo::decode_lazy_from(&png, 0).unwrap();
    assert!(!p.is_lazy());
    assert_eq!(p.to_rgb(), img);
    // a progressive frame header: not ours
    let mut prog = encode(&img, &[(2, 2), (1, 1), (1, 1)], 4, 0);
    let sof = (0..prog.len() - 1)
        .find(|&i| prog[i] == 0xFF && prog[i + 1] == 0xC0)
        .unwrap();
    prog[sof + 1] = 0xC2;
    assert!(matches!(parse(&prog), Ok(None)));
    assert!(Photo::decode_lazy_from(&prog, 0).map_or(true, |p| !p.is_lazy()));
    // 12-bit samples: not ours
    let mut twelve = encode(&img, &[(1, 1)], 4, 0);
    twelve[sof + 4] = 12;
    assert!(matches!(parse(&twelve), Ok(None)));
}

#[test]
fn photos_are_send() {
    fn send<T: Send>() {}
    send::<Photo<'static>>();
}

/// `f` run `n` times: the mean and the fastest run, in ms.
fn runs_ms(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    let (mut sum, mut min) = (0.0, f64::MAX);
    for _ in 0..n {
        let t = std::time::Instant::now();
        f();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        (sum, min) = (sum + ms, min.min(ms));
    }
    (sum / n as f64, min)
}

/// Development aid: `JPEG_FILE=... cargo test --release -p plate-recognizer
/// -- --ignored time_stages --nocapture`; inside a component,
/// `wasm-run <the lib's test .wasm> DIR --ignored time_stages --nocapture`
/// times `DIR/photo.jpg` (`wasm-run` preopens DIR as `/data`). Means over
/// 30 runs, and the fastest run of the entropy decoding (whole, and row by
/// row as `decode_whole` does it) and of `decode_whole`.
#[test]
#[ignore]
fn time_stages() {
    let path = std::env::var("JPEG_FILE").unwrap_or_else(|_| "/data/photo.jpg".into());
    let bytes = std::fs::read(path).unwrap();
    let img = decode_image(&bytes).unwrap();
    let enc = crate::synth::jpeg(&img, 90);
    for (what, b) in [("original", &bytes), ("re-encoded q90 4:4:4", &enc)] {
        let n = 30;
        let (parse_ms, parse_min) = runs_ms(n, || {
            parse(b).unwrap().unwrap();
        });
        let p = Photo::decode_lazy_from(b, 0).unwrap();
        let (w, h) = p.dimensions();
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = p.working_copy(640.min(w), (h * 640.min(w)) / w);
        }
        let wc_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let p = Photo::decode_lazy_from(b, 0).unwrap();
            let _ = p.pixels(w / 4, h / 3, w / 2, h / 2);
        }
        let region_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64 - parse_ms;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = Photo::decode_lazy_from(b, 0).unwrap().to_rgb();
        }
        let full_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64 - parse_ms;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let _ = decode_image(b).unwrap();
        }
        let zune_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
        let (_, whole_min) = runs_ms(n, || assert!(decode_whole(b).is_some()));
        let (_, sink_min) = runs_ms(n, || {
            let mut sink = |_: &super::Jpeg, _: usize| true;
            assert!(matches!(super::parse_with(b, Some(&mut sink)), Ok(Some(_))));
        });
        println!(
            "{what} {w}x{h}: entropy {parse_ms:.2} ms, working copy {wc_ms:.2}, 1/16 region {region_ms:.2}, all pixels {full_ms:.2}; image crate {zune_ms:.2}; fastest: entropy {parse_min:.2}, row by row {sink_min:.2}, decode_whole {whole_min:.2}"
        );
    }
}

/// Found by `scripts/fuzz jpeg` (CI, thirty-seventh session): a photo
/// whose third component is sampled 2 × 4 against its luma's 1 × 1 and
/// whose entropy-coded data our decoder finds malformed, so it went to
/// the `image` crate, where zune-jpeg 0.5.15's AVX2 IDCT panicked (a
/// store past its output: `idct/avx2.rs:246`).
#[test]
fn chroma_sampled_above_luma_fails_cleanly() {
    let bytes = include_bytes!("../../tests/fixtures/fuzz/chroma-sampled-above-luma.jpg");
    assert!(!luma_sampled_finest(bytes));
    survives(bytes);
    assert!(Photo::decode(bytes).is_err());
    // a whole photo so sampled (chroma 2 × 2 against a luma of 1 × 2),
    // below the size our decoder takes lazily, is decoded by ours
    let img = scene(64, 48);
    let bytes = encode(&img, &[(1, 2), (2, 2), (1, 1)], 2, 0);
    assert!(!luma_sampled_finest(&bytes));
    let photo = Photo::decode(&bytes).expect("decoded by ours");
    assert_eq!(photo.dimensions(), (64, 48));
    // every seed (luma first and finest) goes where it went
    for seed in crate::fuzz::seeds() {
        assert!(luma_sampled_finest(&seed));
    }
}
