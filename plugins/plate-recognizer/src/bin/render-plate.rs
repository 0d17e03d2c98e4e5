//! Renders a synthetic photo of a car's plate from the GA 36 plate glyphs
//! (`../shared/data/plates/glyphs`, MIT): the blank plate of the colour,
//! the characters at the standard's positions, set into a plain
//! "street" background. The host's test fixture `tests/data/plate-浙C58306.jpg`
//! was made with:
//!
//! ```sh
//! cargo run --release -p plate-recognizer --bin render-plate -- \
//!     /work/shared/data/plates/glyphs 浙C58306 tests/data/plate-浙C58306.jpg
//! ```
//!
//! (The current model often misreads the second letter of such renders —
//! e.g. 京N62847 as 京A62847 — so the fixture is one it reads right.)

use image::{Rgb, RgbImage, imageops};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, glyphs, plate, out] = &args[..] else {
        return Err("usage: render-plate GLYPH_DIR PLATE OUT.jpg".into());
    };
    let glyphs = std::path::Path::new(glyphs);
    let chars: Vec<char> = plate.chars().collect();
    if chars.len() != 7 {
        return Err("a blue plate has 7 characters".into());
    }
    let blank = image::open(glyphs.join("plate_model/blue_140.PNG")).map_err(|e| e.to_string())?;
    let mut plate_img =
        imageops::resize(&blank.to_rgb8(), 440, 140, imageops::FilterType::Triangle);
    // GA 36: characters 45 x 90 mm, 25 mm from the top; 12 mm apart, 34.5 mm
    // after the second (where the dot is).
    let mut x = 15.5f32;
    for (i, c) in chars.iter().enumerate() {
        let glyph = image::open(glyphs.join(format!("font_model/140_{c}.jpg")))
            .map_err(|e| format!("glyph {c}: {e}"))?;
        let glyph = imageops::resize(&glyph.to_luma8(), 45, 90, imageops::FilterType::Triangle);
        // The glyph's border is background, whatever its polarity.
        let border: Vec<u32> = glyph
            .enumerate_pixels()
            .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == 44 || *y == 89)
            .map(|(_, _, p)| p.0[0] as u32)
            .collect();
        let mean = border.iter().sum::<u32>() / border.len() as u32;
        for (gx, gy, p) in glyph.enumerate_pixels() {
            let level = if mean > 128 { 255 - p.0[0] } else { p.0[0] };
            // Crisp strokes: the glyphs are JPEGs, whose ringing would
            // otherwise leave a haze around every character.
            let ink = if level > 110 { 1.0 } else { 0.0 };
            let (px, py) = (x as u32 + gx, 25 + gy);
            let bg = plate_img.get_pixel(px, py).0;
            let mix = |b: u8| (b as f32 * (1.0 - ink) + 250.0 * ink) as u8;
            plate_img.put_pixel(px, py, Rgb([mix(bg[0]), mix(bg[1]), mix(bg[2])]));
        }
        x += 45.0 + if i == 1 { 34.5 } else { 12.0 };
    }
    // A 1024 x 640 scene: grey road, a darker car body, the plate (scaled to
    // a typical size in such a photo) on the bumper.
    let mut photo = RgbImage::from_fn(1024, 640, |_, y| {
        let v = 90 + (y * 60 / 640) as u8;
        Rgb([v, v, v + 5])
    });
    for y in 220..560 {
        for x in 200..824 {
            photo.put_pixel(x, y, Rgb([40, 42, 48]));
        }
    }
    let small = imageops::resize(&plate_img, 330, 105, imageops::FilterType::Triangle);
    imageops::overlay(&mut photo, &small, 347, 420);
    let (w, h) = photo.dimensions();
    if out.ends_with(".png") {
        photo.save(out).map_err(|e| e.to_string())?;
    } else {
        let mut file = std::fs::File::create(out).map_err(|e| e.to_string())?;
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 90)
            .encode_image(&photo)
            .map_err(|e| e.to_string())?;
    }
    println!("wrote {out} ({w}x{h})");
    Ok(())
}
