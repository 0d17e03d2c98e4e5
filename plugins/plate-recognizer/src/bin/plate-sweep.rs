//! Reads rendered plates of every kind (`synth`, the GA 36 glyphs: 13
//! kinds, 4 random plates of each, seed 77) set into the plain street
//! scene in ways the EasyPR photos seldom show them: at the photo's edges,
//! rotated, seen from one side or from above (`synth::oblique`), darkened
//! and washed out, grey, soft, small, in a 1920 × 1080 photo. Prints, per way, the plates read exactly of 52, those not
//! answered, and the first misreads (plate, read, colour, confidence). How the thirtieth
//! session found overexposed green plates read as white ones of 7
//! characters (the crate README, "The plate's colour").
//!
//! ```sh
//! cargo run --release -p plate-recognizer --bin plate-sweep -- \
//!     /work/shared/data/plates/glyphs [WAY [OUT_DIR]]
//! ```
//!
//! WAY: only the ways whose name holds it (`""` for all); OUT_DIR: the
//! photos not read exactly are written there as JPEGs (`WAY-TEXT.jpg`,
//! the bytes the recogniser read), for `plate-debug`.

use image::{Rgb, RgbImage};
use plate_recognizer::synth::{self, Glyphs, Kind, Rng};
use std::path::Path;

/// The photo turned by `deg` degrees about (`cx`, `cy`), grey outside.
fn rotate(img: &RgbImage, deg: f32, cx: f32, cy: f32) -> RgbImage {
    let (s, c) = deg.to_radians().sin_cos();
    let (w, h) = (img.width() as f32 - 1.0, img.height() as f32 - 1.0);
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let (sx, sy) = (c * dx + s * dy + cx, -s * dx + c * dy + cy);
        if !(0.0..w).contains(&sx) || !(0.0..h).contains(&sy) {
            return Rgb([100, 100, 100]);
        }
        Rgb(synth::bilinear(img, sx, sy).map(|v| v as u8))
    })
}

/// Every level mapped by `f`.
fn levels(mut img: RgbImage, f: impl Fn(f32) -> f32) -> RgbImage {
    for v in img.iter_mut() {
        *v = f(*v as f32).clamp(0.0, 255.0) as u8;
    }
    img
}

/// The plate `w` px wide (double-row plates 13 % narrower) at (`x`, `y`)
/// of an 800 × 450 scene.
fn place(p: &RgbImage, k: Kind, x: u32, y: u32, w: u32, r: &mut Rng) -> RgbImage {
    let w = if k.double() { w * 200 / 230 } else { w };
    synth::scene(800, 450, &[(p, x, y, w)], r)
}

/// The plate as rendered, 230 px wide at (290, 250): what most ways
/// change.
fn centred(p: &RgbImage, k: Kind, r: &mut Rng) -> RgbImage {
    place(p, k, 290, 250, 230, r)
}

type Way = Box<dyn Fn(&RgbImage, Kind, &mut Rng) -> RgbImage>;

fn ways() -> Vec<(&'static str, Way)> {
    // the plate's centre in the scene of `centred`
    let (cx, cy) = (405.0, 287.0);
    let turned =
        move |deg: f32| -> Way { Box::new(move |p, k, r| rotate(&centred(p, k, r), deg, cx, cy)) };
    let seen = move |deg: f32, yaw: bool| -> Way {
        Box::new(move |p, k, r| synth::oblique(&centred(p, k, r), deg, yaw, cx, cy))
    };
    let sized = |w: u32| -> Way { Box::new(move |p, k, r| place(p, k, 290, 250, w, r)) };
    vec![
        ("as rendered", Box::new(centred)),
        ("left edge", Box::new(|p, k, r| place(p, k, 0, 250, 230, r))),
        (
            "right edge",
            Box::new(|p, k, r| place(p, k, 570, 250, 230, r)),
        ),
        ("top edge", Box::new(|p, k, r| place(p, k, 290, 0, 230, r))),
        (
            "bottom edge",
            Box::new(|p, k, r| {
                let h = if k.double() { 116 } else { 74 };
                place(p, k, 290, 450 - h, 230, r)
            }),
        ),
        ("turned +8", turned(8.0)),
        ("turned -8", turned(-8.0)),
        ("turned +15", turned(15.0)),
        ("turned -15", turned(-15.0)),
        ("from the side +35", seen(35.0, true)),
        ("from the side -35", seen(-35.0, true)),
        ("from the side +50", seen(50.0, true)),
        ("from the side -50", seen(-50.0, true)),
        ("from above 30", seen(30.0, false)),
        (
            "dark x 0.35",
            Box::new(|p, k, r| levels(centred(p, k, r), |v| v * 0.35)),
        ),
        (
            "washed out x 0.5 + 127",
            Box::new(|p, k, r| levels(centred(p, k, r), |v| v * 0.5 + 127.0)),
        ),
        ("grey", Box::new(|p, k, r| synth::grey(centred(p, k, r)))),
        (
            "grey, 90 px wide",
            Box::new(|p, k, r| synth::grey(place(p, k, 290, 250, 90, r))),
        ),
        (
            "soft (blur sigma 1.5)",
            Box::new(|p, k, r| image::imageops::blur(&centred(p, k, r), 1.5)),
        ),
        ("120 px wide", sized(120)),
        ("90 px wide", sized(90)),
        ("70 px wide", sized(70)),
        (
            "1920 x 1080, 150 px wide",
            Box::new(|p, _, r| synth::scene(1920, 1080, &[(p, 800, 600, 150)], r)),
        ),
    ]
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or("usage: plate-sweep GLYPH_DIR [WAY [OUT_DIR]]")?;
    let g = Glyphs::load(Path::new(dir))?;
    let only = args.get(2).map(String::as_str).unwrap_or("");
    let out = args.get(3).map(Path::new);
    if let Some(out) = out {
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let mut rng = Rng::new(77);
    let mut plates = Vec::new();
    for kind in Kind::ALL {
        for _ in 0..4 {
            let text = synth::random_text(kind, &mut rng);
            let img = synth::render_plate(&g, kind, &text, 0.0, &mut rng);
            plates.push((
                kind,
                text.into_iter().collect::<String>(),
                img,
                rng.next_u64(),
            ));
        }
    }
    for (name, way) in ways() {
        if !name.contains(only) {
            continue;
        }
        let (mut exact, mut none, mut wrong) = (0, 0, Vec::new());
        for (kind, text, img, seed) in &plates {
            let photo = synth::jpeg(&way(img, *kind, &mut Rng::new(*seed)), 88);
            let read = plate_recognizer::recognize(&photo)?;
            if let Some(out) = out
                && read.as_ref().is_none_or(|r| r.plate != *text)
            {
                let file = out.join(format!("{}-{text}.jpg", name.replace(' ', "_")));
                std::fs::write(&file, &photo).map_err(|e| format!("{}: {e}", file.display()))?;
            }
            match read {
                Some(r) if r.plate == *text => exact += 1,
                Some(r) => wrong.push(format!(
                    "{kind:?} {text}: {} {} {:.2}",
                    r.plate,
                    r.color.as_str(),
                    r.confidence
                )),
                None => {
                    none += 1;
                    wrong.push(format!("{kind:?} {text}: none"));
                }
            }
        }
        wrong.truncate(6);
        println!(
            "{name:26} {exact}/{} none {none}  {}",
            plates.len(),
            wrong.join("; ")
        );
    }
    Ok(())
}
