//! Renders synthetic photos of plates from the GA 36 plate glyphs
//! (`../shared/data/plates/glyphs`, MIT), every layout: the blank plate of
//! the colour, the characters at the standard's positions (`src/synth.rs`),
//! set into a plain "street" scene.
//!
//! ```sh
//! # one photo (KIND: blue, yellow, yellow2 (double row), green, white,
//! # black, learner, trailer, trailer2 (double row), police, hkmo (粤Z…港/澳),
//! # consulate, embassy)
//! cargo run --release -p plate-recognizer --bin render-plate -- \
//!     /work/shared/data/plates/glyphs 浙C58306 OUT.jpg [KIND]
//! # the crate's test fixtures (tests/fixtures/)
//! cargo run --release -p plate-recognizer --bin render-plate -- \
//!     /work/shared/data/plates/glyphs --fixtures plugins/plate-recognizer/tests/fixtures
//! # N photos of every kind, random texts of its format (`per_type_text`,
//! # seed SEED, default 13), one folder per kind: DIR/KIND/TEXT.jpg, what
//! # `plate-accuracy DIR/KIND [--scale F]` reads (the README's per-type figures)
//! cargo run --release -p plate-recognizer --bin render-plate -- \
//!     /work/shared/data/plates/glyphs --per-type N DIR [SEED]
//! # the same photos cut to 600 × 340 around the plate (`--crop`): the
//! # crate's per-type test photos, tests/fixtures/types/ (5 of each kind,
//! # seed 30)
//! cargo run --release -p plate-recognizer --bin render-plate -- \
//!     /work/shared/data/plates/glyphs --per-type 5 \
//!     plugins/plate-recognizer/tests/fixtures/types 30 --crop
//! ```
//!
//! Deterministic (fixed seeds).

use image::RgbImage;
use plate_recognizer::synth::{self, Glyphs, Kind, Rng};
use std::path::Path;

/// The kinds' names on the command line and in fixture names.
const NAMES: [(Kind, &str); 13] = [
    (Kind::Blue, "blue"),
    (Kind::Yellow, "yellow"),
    (Kind::YellowDouble, "yellow2"),
    (Kind::Green, "green"),
    (Kind::White, "white"),
    (Kind::Black, "black"),
    (Kind::Learner, "learner"),
    (Kind::Trailer, "trailer"),
    (Kind::TrailerDouble, "trailer2"),
    (Kind::Police, "police"),
    (Kind::HongKongMacau, "hkmo"),
    (Kind::Consulate, "consulate"),
    (Kind::Embassy, "embassy"),
];

fn kind_of(s: &str) -> Option<Kind> {
    NAMES.iter().find(|n| n.1 == s).map(|n| n.0)
}

fn kind_name(k: Kind) -> &'static str {
    NAMES.iter().find(|n| n.0 == k).map_or("?", |n| n.1)
}

/// A random text of a kind's format for `--per-type`: the training's
/// (`synth::random_text`), except that green plates get GA 36's new-energy
/// serials (a small car's D or F, a letter or digit, then 4 digits; a large
/// car's 5 digits, then D or F) where training draws any 6 letters or
/// digits, and that a plate of 7 drawn as 粤Z (Guangdong's letter for Hong
/// Kong and Macau cars alone, whose plates end in 港 or 澳) is made 粤Y
/// (no random number drawn: the other texts of a seed stay as they were).
fn per_type_text(kind: Kind, rng: &mut Rng) -> Vec<char> {
    let mut t = synth::random_text(kind, rng);
    if t.len() == 7 && t[..2] == ['粤', 'Z'] && kind != Kind::HongKongMacau {
        t[1] = 'Y';
    }
    if kind == Kind::Green {
        let alnum: Vec<char> = plate_recognizer::ALNUM.chars().collect();
        let digit = |rng: &mut Rng| alnum[rng.below(10)];
        let energy = if rng.chance(0.5) { 'D' } else { 'F' };
        let serial: Vec<char> = if rng.chance(0.5) {
            let second = alnum[rng.below(alnum.len())];
            [energy, second]
                .into_iter()
                .chain((0..4).map(|_| digit(rng)))
                .collect()
        } else {
            (0..5).map(|_| digit(rng)).chain([energy]).collect()
        };
        t.truncate(2);
        t.extend(serial);
    }
    t
}

fn save_jpeg(img: &RgbImage, out: &Path) -> Result<(), String> {
    let mut file = std::fs::File::create(out).map_err(|e| e.to_string())?;
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 88)
        .encode_image(img)
        .map_err(|e| e.to_string())
}

fn photo(g: &Glyphs, kind: Kind, text: &[char], seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    let plate = synth::render_plate(g, kind, text, 0.0, &mut rng);
    in_scene(&plate, kind, &mut rng)
}

/// A plate set into the plain 800 × 450 scene, 230 px wide (200 double row).
fn in_scene(plate: &RgbImage, kind: Kind, rng: &mut Rng) -> RgbImage {
    let width = if kind.double() { 200 } else { 230 };
    synth::scene(800, 450, &[(plate, 290, 250, width)], rng)
}

/// The 600 × 340 around the plate of [`in_scene`]'s photo (its centre
/// at the photo's): its car and some street, a plate 38 % of the width (a
/// close-up beyond that is read by the recogniser's close-up pass, tested
/// on the fixtures cut closer).
fn around_plate(img: &RgbImage) -> RgbImage {
    image::imageops::crop_imm(img, 290 + 115 - 300, 250 + 40 - 170, 600, 340).to_image()
}

/// A plate dimmed, brightened a little and blurred (`sigma`): a far or
/// badly lit plate.
fn faded(mut plate: RgbImage, sigma: f32) -> RgbImage {
    for p in plate.pixels_mut() {
        for k in 0..3 {
            p.0[k] = (p.0[k] as f32 * 0.7 + 30.0) as u8;
        }
    }
    image::imageops::blur(&plate, sigma)
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err(
            "usage: render-plate GLYPH_DIR PLATE OUT.jpg [KIND] | GLYPH_DIR --fixtures DIR \
             | GLYPH_DIR --per-type N DIR [SEED] [--crop]"
                .into(),
        );
    }
    let g = Glyphs::load(Path::new(&args[1]))?;
    if args[2] == "--fixtures" {
        let dir = Path::new(&args[3]);
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let set: [(Kind, &str); 15] = [
            (Kind::Blue, "京N62847"),
            (Kind::Yellow, "鲁B7K391"),
            (Kind::YellowDouble, "苏E45Q82"),
            (Kind::Green, "粤BD12345"),
            (Kind::White, "川A90M17"),
            (Kind::Black, "沪G3X508"),
            (Kind::Blue, "粤O20486"),
            (Kind::Learner, "浙A3721学"),
            (Kind::Trailer, "冀F5K08挂"),
            (Kind::TrailerDouble, "鲁H7093挂"),
            (Kind::Police, "湘A0825警"),
            (Kind::HongKongMacau, "粤Z3C16港"),
            (Kind::HongKongMacau, "粤Z0947澳"),
            (Kind::Consulate, "沪A2061领"),
            (Kind::Embassy, "使014578"),
        ];
        for (i, (kind, plate)) in set.iter().enumerate() {
            let text: Vec<char> = plate.chars().collect();
            let img = photo(&g, *kind, &text, 100 + i as u64);
            let out = dir.join(format!("{}-{plate}.jpg", kind_name(*kind)));
            save_jpeg(&img, &out)?;
            println!("wrote {}", out.display());
        }
        // a large car's new-energy plate: yellow under its province and
        // letter, green under its serial (5 digits, then D or F)
        let text: Vec<char> = "苏E78342D".chars().collect();
        let mut rng = Rng::new(120);
        let blank = g.blank("green_yellow").ok_or("no green_yellow blank")?;
        let plate = synth::render_plate_on(&g, Kind::Green, blank, &text, 0.0, &mut rng);
        let out = dir.join("green-large-苏E78342D.jpg");
        save_jpeg(&in_scene(&plate, Kind::Green, &mut rng), &out)?;
        println!("wrote {}", out.display());
        // several plates: a near, clear one and a far, dim one; and each alone
        let mut rng = Rng::new(7);
        let a: Vec<char> = "浙A7M219".chars().collect();
        let b: Vec<char> = "闽D50K63".chars().collect();
        let pa = synth::render_plate(&g, Kind::Blue, &a, 0.0, &mut rng);
        let pb = faded(
            synth::render_plate(&g, Kind::Yellow, &b, 0.0, &mut rng),
            1.2,
        );
        let both = synth::scene(
            960,
            540,
            &[(&pa, 120, 300, 240), (&pb, 640, 160, 150)],
            &mut Rng::new(8),
        );
        let only_a = synth::scene(960, 540, &[(&pa, 120, 300, 240)], &mut Rng::new(8));
        let only_b = synth::scene(960, 540, &[(&pb, 640, 160, 150)], &mut Rng::new(8));
        for (img, name) in [
            (both, "multi.jpg"),
            (only_a, "multi-1.jpg"),
            (only_b, "multi-2.jpg"),
        ] {
            save_jpeg(&img, &dir.join(name))?;
            println!("wrote {}", dir.join(name).display());
        }
        // the main plate of several: the near (widest) plate although a far
        // one reads more clearly, and a central plate rather than a wider
        // one at the side edge; each plate also alone
        let mut rng = Rng::new(9);
        let text = |t: &str| t.chars().collect::<Vec<char>>();
        let near = faded(
            faded(
                synth::render_plate(&g, Kind::Blue, &text("新A3B765"), 0.0, &mut rng),
                2.0,
            ),
            2.0,
        );
        let far = synth::render_plate(&g, Kind::Blue, &text("晋K82Q41"), 0.0, &mut rng);
        let side = synth::render_plate(&g, Kind::Blue, &text("晋C6M909"), 0.0, &mut rng);
        let centre = faded(
            synth::render_plate(&g, Kind::Yellow, &text("新F27T58"), 0.0, &mut rng),
            1.6,
        );
        let (near_at, far_at) = ((&near, 330, 330, 300), (&far, 760, 90, 130));
        let (side_at, centre_at) = ((&side, 0, 420, 250), (&centre, 390, 200, 190));
        for (plates, name) in [
            (vec![near_at, far_at], "main-near.jpg"),
            (vec![near_at], "main-near-1.jpg"),
            (vec![far_at], "main-near-2.jpg"),
            (vec![side_at, centre_at], "main-centre.jpg"),
            (vec![side_at], "main-centre-1.jpg"),
            (vec![centre_at], "main-centre-2.jpg"),
        ] {
            let img = synth::scene(960, 540, &plates, &mut Rng::new(10));
            save_jpeg(&img, &dir.join(name))?;
            println!("wrote {}", dir.join(name).display());
        }
        // the main plate on a car of its own colour (a blue taxi: the
        // colour mask cannot tell the plate from the body) between two lamps
        // whose edges merge with its characters' in the edge mask (a box
        // too sparse for a plate), another car's plate at the side read
        // first; each alone
        let taxi = synth::render_plate(&g, Kind::Blue, &text("津E24735"), 0.0, &mut rng);
        let other = synth::render_plate(&g, Kind::Blue, &text("沪B90K62"), 0.0, &mut rng);
        let body = *taxi.get_pixel(taxi.width() / 2, 2);
        let (taxi_at, other_at) = (
            (&taxi, 380, 330, 220, Some(body)),
            (&other, 60, 180, 150, None),
        );
        for (plates, name) in [
            (vec![taxi_at, other_at], "main-taxi.jpg"),
            (vec![taxi_at], "main-taxi-1.jpg"),
            (vec![other_at], "main-taxi-2.jpg"),
        ] {
            let mut img = synth::scene_with_bodies(960, 540, &plates, &mut Rng::new(11));
            if plates.contains(&taxi_at) {
                // lamps: grey stripes 6 px wide, 14 px either side of the plate
                for y in 320..420 {
                    for x in (286..366).chain(614..694) {
                        let v = if (x / 6) % 2 == 0 { 40 } else { 190 };
                        img.put_pixel(x, y, image::Rgb([v, v, v]));
                    }
                }
            }
            save_jpeg(&img, &dir.join(name))?;
            println!("wrote {}", dir.join(name).display());
        }
        return Ok(());
    }
    if args[2] == "--per-type" {
        let n: usize = args[3]
            .parse()
            .map_err(|_| "N: a number of photos per kind")?;
        let dir = Path::new(args.get(4).ok_or("--per-type N DIR [SEED]")?);
        let seed: u64 = match args.get(5).filter(|a| *a != "--crop") {
            Some(s) => s.parse().map_err(|_| "SEED: a number")?,
            None => 13,
        };
        let crop = args[5..].iter().any(|a| a == "--crop");
        let mut rng = Rng::new(seed);
        for (kind, name) in NAMES {
            let sub = dir.join(name);
            std::fs::create_dir_all(&sub).map_err(|e| e.to_string())?;
            for _ in 0..n {
                let text = per_type_text(kind, &mut rng);
                let mut img = photo(&g, kind, &text, rng.next_u64());
                if crop {
                    img = around_plate(&img);
                }
                let out = sub.join(format!("{}.jpg", text.iter().collect::<String>()));
                save_jpeg(&img, &out)?;
            }
            println!("wrote {n} photos into {}", sub.display());
        }
        return Ok(());
    }
    let plate = &args[2];
    let out = Path::new(&args[3]);
    let kind = match args.get(4) {
        Some(k) => kind_of(k).ok_or("KIND: see render-plate's documentation")?,
        None => Kind::Blue,
    };
    let text: Vec<char> = plate.chars().collect();
    if text.len() != kind.chars() {
        return Err(format!(
            "a {} plate has {} characters",
            kind_name(kind),
            kind.chars()
        ));
    }
    let img = photo(&g, kind, &text, 1);
    if out.extension().map(|e| e == "png").unwrap_or(false) {
        img.save(out).map_err(|e| e.to_string())?;
    } else {
        save_jpeg(&img, out)?;
    }
    println!("wrote {} ({}x{})", out.display(), img.width(), img.height());
    Ok(())
}
