//! Unit tests that need no external data (the data-dependent checks live in
//! the `plate-accuracy` tool).

use image::{Rgb, RgbImage};
use plate_recognizer::{Color, mlp, models, recognize};

fn encode(img: &RgbImage, fmt: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, fmt).unwrap();
    out.into_inner()
}

/// A car-ish synthetic scene: grey background, a blue plate with white bars.
fn synthetic_scene(w: u32, h: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(w, h, Rgb([120, 120, 118]));
    let (px, py, pw, ph) = (w / 3, h / 2, w / 4, w / 16);
    for y in py..py + ph {
        for x in px..px + pw {
            img.put_pixel(x, y, Rgb([20, 60, 190]));
        }
    }
    for k in 0..7 {
        let cx = px + pw / 14 + k * pw / 7;
        for y in py + ph / 6..py + ph * 5 / 6 {
            for x in cx..cx + (pw / 40).max(1) {
                img.put_pixel(x, y, Rgb([240, 240, 240]));
            }
        }
    }
    img
}

#[test]
fn color_names() {
    assert_eq!(Color::Blue.as_str(), "blue");
    assert_eq!(Color::Yellow.as_str(), "yellow");
    assert_eq!(Color::Green.as_str(), "green");
    assert_eq!(Color::White.as_str(), "white");
    assert_eq!(Color::Black.as_str(), "black");
}

#[test]
fn model_loads() {
    let m = models().expect("model loads");
    assert!(m.len() >= 2);
    assert_eq!(m[0].classes.len(), 34);
    assert_eq!(m[1].classes.len(), 31);
    assert_eq!(m[0].l1.n_in, mlp::N_IN);
}

#[test]
fn garbage_is_err() {
    assert!(recognize(&[]).is_err());
    assert!(recognize(b"not an image at all").is_err());
    assert!(recognize(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).is_err());
    assert!(recognize(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]).is_err());
}

#[test]
fn synthetic_png_and_jpeg_decode() {
    let img = synthetic_scene(640, 480);
    for fmt in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
        let bytes = encode(&img, fmt);
        let r = recognize(&bytes);
        assert!(r.is_ok(), "{fmt:?}: {r:?}");
        if let Ok(Some(rec)) = r {
            assert!(rec.confidence >= 0.0 && rec.confidence <= 1.0);
        }
    }
}

#[test]
fn uniform_and_tiny_images_do_not_panic() {
    for (w, h) in [
        (1, 1),
        (16, 8),
        (17, 9),
        (100, 3),
        (3, 100),
        (2000, 40),
        (64, 64),
    ] {
        let img = RgbImage::from_pixel(w, h, Rgb([0, 0, 255]));
        let _ = recognize(&encode(&img, image::ImageFormat::Png));
    }
}

#[test]
fn fuzz_truncated_and_corrupted_jpeg() {
    let img = synthetic_scene(320, 240);
    let jpg = encode(&img, image::ImageFormat::Jpeg);
    // truncations
    for cut in (0..jpg.len()).step_by(jpg.len() / 40 + 1) {
        let _ = recognize(&jpg[..cut]);
    }
    // byte flips (deterministic pseudo-random)
    let mut s: u64 = 0x1234_5678_9abc_def1;
    for _ in 0..40 {
        let mut b = jpg.clone();
        for _ in 0..8 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let i = (s as usize) % b.len();
            b[i] = (s >> 32) as u8;
        }
        let _ = recognize(&b);
    }
    // random bytes with a JPEG header
    for n in [10usize, 100, 1000, 5000] {
        let mut b = vec![0xFF, 0xD8, 0xFF];
        for _ in 0..n {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            b.push(s as u8);
        }
        let _ = recognize(&b);
    }
}

/// Draw simple glyph shapes on a 20×40 canvas and check the classifier.
#[test]
fn simple_glyphs_classify() {
    let m = models().unwrap();
    let an = &m[0];
    let (w, h) = (24usize, 44usize);
    let draw = |f: &dyn Fn(usize, usize) -> bool| -> Vec<u8> {
        let mut v = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                if f(x, y) {
                    v[y * w + x] = 255;
                }
            }
        }
        v
    };
    // '1': a vertical bar
    let one = draw(&|x, y| (10..15).contains(&x) && (2..42).contains(&y));
    assert_eq!(an.classify(&mlp::char_features(&one, w, h)).0, '1');
    // 'L': vertical bar on the left plus a bottom bar
    let l = draw(&|x, y| {
        ((2..7).contains(&x) && (2..42).contains(&y))
            || ((2..22).contains(&x) && (37..42).contains(&y))
    });
    assert_eq!(an.classify(&mlp::char_features(&l, w, h)).0, 'L');
    // 'T': top bar plus a central vertical bar
    let t = draw(&|x, y| {
        ((2..22).contains(&x) && (2..7).contains(&y))
            || ((10..15).contains(&x) && (2..42).contains(&y))
    });
    assert_eq!(an.classify(&mlp::char_features(&t, w, h)).0, 'T');
}
