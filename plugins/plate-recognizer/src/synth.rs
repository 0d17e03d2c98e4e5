//! Synthetic plates from the GA 36 glyph set (`../shared/data/plates/glyphs`,
//! MIT): every colour and layout (blue, yellow single and double row, green
//! new-energy with 8 characters, white, black) and the plates for a use
//! (learner 学, trailer 挂 single and double row, police 警, Hong Kong and
//! Macau 粤Z…港/澳, consulate 领, embassy 使; see `read/format.rs`). Used by
//! the trainer (as labelled data), by `render-plate` (test photos) and
//! nowhere at run time.
//!
//! The glyph set has no letter O (GA 36 uses it only as the second
//! character, the issuing authority's letter): it is drawn here
//! (`letter_o`) as a rounded-rectangle ring as wide as the other letters,
//! its stroke as thick as theirs (the font's 0 is narrower and oval).
//! 警, 使 and 领 are red, as on the plates.
//!
//! Geometry (millimetres, 1 px = 1 mm at render scale), GA 36-2018:
//! * single row 440 × 140: glyphs 45 × 90 at y = 25, x = 15.5, 12 apart,
//!   34.5 after the second (the dot; after the first on police plates,
//!   after the fourth on embassy plates);
//! * double row 440 × 220: top row 2 glyphs 80 × 60 at y = 15, x = 110 and
//!   250; bottom row 5 glyphs 65 × 110 at y = 90, x = 27.5, 15 apart;
//! * green new-energy 480 × 140: province 45 × 90 at x = 15.5, then glyphs
//!   43 × 90: letter at x = 69.5, six more from x = 161.5, 9 apart.

use crate::{ALNUM, Color, EXTRA, PROVINCES};
use image::{GrayImage, ImageBuffer, Pixel, Rgb, RgbImage, imageops};
use std::collections::HashMap;
use std::path::Path;

/// Deterministic xorshift generator (fixed seeds everywhere).
#[derive(Clone)]
pub struct Rng(pub u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn f(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn range(&mut self, a: f32, b: f32) -> f32 {
        a + (b - a) * self.f()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, p: f32) -> bool {
        self.f() < p
    }
    pub fn gauss(&mut self) -> f32 {
        let u1 = self.f().max(1e-7);
        let u2 = self.f();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }
}

/// Plate layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Blue,
    Yellow,
    YellowDouble,
    Green,
    White,
    Black,
    /// Yellow learner plate, ending in 学.
    Learner,
    /// Yellow trailer plate, ending in 挂.
    Trailer,
    /// Yellow double-row trailer plate, ending in 挂.
    TrailerDouble,
    /// White police plate, ending in a red 警; the dot after the province.
    Police,
    /// Black Hong Kong or Macau plate of Guangdong: 粤Z, ending in 港 or 澳.
    HongKongMacau,
    /// Black consulate plate, ending in a red 领.
    Consulate,
    /// Black embassy plate: a red 使, then 6 digits; the dot after the fourth
    /// character.
    Embassy,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::Blue,
        Kind::Yellow,
        Kind::YellowDouble,
        Kind::Green,
        Kind::White,
        Kind::Black,
        Kind::Learner,
        Kind::Trailer,
        Kind::TrailerDouble,
        Kind::Police,
        Kind::HongKongMacau,
        Kind::Consulate,
        Kind::Embassy,
    ];
    pub fn color(self) -> Color {
        match self {
            Kind::Blue => Color::Blue,
            Kind::Yellow
            | Kind::YellowDouble
            | Kind::Learner
            | Kind::Trailer
            | Kind::TrailerDouble => Color::Yellow,
            Kind::Green => Color::Green,
            Kind::White | Kind::Police => Color::White,
            Kind::Black | Kind::HongKongMacau | Kind::Consulate | Kind::Embassy => Color::Black,
        }
    }
    pub fn double(self) -> bool {
        matches!(self, Kind::YellowDouble | Kind::TrailerDouble)
    }
    /// Characters on the plate.
    pub fn chars(self) -> usize {
        if self == Kind::Green { 8 } else { 7 }
    }
    /// Plate size in mm.
    pub fn size(self) -> (u32, u32) {
        if self.double() {
            (440, 220)
        } else if self == Kind::Green {
            (480, 140)
        } else {
            (440, 140)
        }
    }
    fn light_ink(self) -> bool {
        matches!(self.color(), Color::Blue | Color::Black)
    }
    /// The character a plate of this use ends in (random for 港/澳).
    fn ending(self, rng: &mut Rng) -> Option<char> {
        match self {
            Kind::Learner => Some('学'),
            Kind::Trailer | Kind::TrailerDouble => Some('挂'),
            Kind::Police => Some('警'),
            Kind::HongKongMacau => Some(if rng.chance(0.5) { '港' } else { '澳' }),
            Kind::Consulate => Some('领'),
            _ => None,
        }
    }
}

/// Characters printed red (GA 36).
const RED: &str = "警使领";

/// Ink masks (0..1) of the glyphs, by set.
pub struct Glyphs {
    single: HashMap<char, Vec<f32>>, // 45 x 90
    green: HashMap<char, Vec<f32>>,  // 43 x 90 (45 x 90 for provinces)
    up: HashMap<char, Vec<f32>>,     // 80 x 60
    down: HashMap<char, Vec<f32>>,   // 65 x 110
    blanks: HashMap<&'static str, RgbImage>,
    /// Optional real character crops (EasyPR, binarised 20x20 squares).
    pub real: HashMap<char, Vec<GrayImage>>,
}

/// Whether the glyph's border is mostly bright (dark ink on white).
fn bright_border(img: &GrayImage) -> bool {
    let (gw, gh) = img.dimensions();
    let border: Vec<u32> = img
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == gw - 1 || *y == gh - 1)
        .map(|(_, _, p)| p.0[0] as u32)
        .collect();
    border.iter().sum::<u32>() > 128 * border.len() as u32
}

/// Ink mask (0..1). `dark_ink`: the set's polarity, decided by a majority
/// of its glyphs (strokes of M, N, H, ... touch the border, so one glyph's
/// border alone can mislead).
fn ink_mask(img: &GrayImage, w: u32, h: u32, dark_ink: bool) -> Vec<f32> {
    let g = imageops::resize(img, w, h, imageops::FilterType::Triangle);
    g.pixels()
        .map(|p| {
            let level = if dark_ink { 255 - p.0[0] } else { p.0[0] } as f32;
            ((level - 70.0) / 80.0).clamp(0.0, 1.0)
        })
        .collect()
}

/// The letter O, `w` × `h` (ink 0..1): a rounded-rectangle ring (a
/// superellipse of degree 3) filling the glyph box, its stroke a ninth of
/// the height (as thick as the font's strokes), antialiased by 4 × 4
/// samples per pixel.
fn letter_o(w: u32, h: u32) -> Vec<f32> {
    let (wf, hf) = (w as f32, h as f32);
    let stroke = hf / 9.0;
    let inside =
        |x: f32, y: f32, a: f32, b: f32| (x / a).abs().powi(3) + (y / b).abs().powi(3) <= 1.0;
    let (a, b) = (wf / 2.0 - 1.0, hf / 2.0 - 1.0);
    let mut m = Vec::with_capacity((w * h) as usize);
    for py in 0..h {
        for px in 0..w {
            let ink = (0..16)
                .filter(|s| {
                    let x = px as f32 + (s % 4) as f32 / 4.0 + 0.125 - wf / 2.0;
                    let y = py as f32 + (s / 4) as f32 / 4.0 + 0.125 - hf / 2.0;
                    inside(x, y, a, b) && !inside(x, y, a - stroke, b - stroke)
                })
                .count();
            m.push(ink as f32 / 16.0);
        }
    }
    m
}

impl Glyphs {
    /// A blank plate of the set by name (`blue`, `yellow`, `yellow2`,
    /// `green`, `green_yellow`, `white`, `black`, `black_dot4`).
    pub fn blank(&self, name: &str) -> Option<&RgbImage> {
        self.blanks.get(name)
    }

    /// Loads `font_model/*.jpg` and `plate_model/*.PNG` from the glyph folder.
    pub fn load(dir: &Path) -> Result<Glyphs, String> {
        let mut g = Glyphs {
            single: HashMap::new(),
            green: HashMap::new(),
            up: HashMap::new(),
            down: HashMap::new(),
            blanks: HashMap::new(),
            real: HashMap::new(),
        };
        let open = |name: String| -> Result<GrayImage, String> {
            image::open(dir.join("font_model").join(&name))
                .map(|i| i.to_luma8())
                .map_err(|e| format!("{name}: {e}"))
        };
        // (set, char) -> image, then the set's polarity by majority
        let mut raw: Vec<(&str, char, GrayImage, u32, u32)> = Vec::new();
        for c in ALNUM.chars().chain(PROVINCES.chars()) {
            raw.push(("single", c, open(format!("140_{c}.jpg"))?, 45, 90));
            let gw = if c.is_ascii() { 43 } else { 45 };
            raw.push(("green", c, open(format!("green_{c}.jpg"))?, gw, 90));
            if c.is_ascii_digit() {
                raw.push(("down", c, open(format!("220_{c}.jpg"))?, 65, 110));
            } else if c.is_ascii() {
                raw.push(("down", c, open(format!("220_down_{c}.jpg"))?, 65, 110));
                raw.push(("up", c, open(format!("220_up_{c}.jpg"))?, 80, 60));
            } else {
                raw.push(("up", c, open(format!("220_{c}.jpg"))?, 80, 60));
            }
        }
        // the characters of a plate's use: single row (挂 also double row)
        for c in EXTRA.chars().filter(|c| !c.is_ascii()) {
            raw.push(("single", c, open(format!("140_{c}.jpg"))?, 45, 90));
            if c == '挂' {
                raw.push(("down", c, open(format!("220_{c}.jpg"))?, 65, 110));
            }
        }
        for set in ["single", "green", "down", "up"] {
            let all: Vec<&(&str, char, GrayImage, u32, u32)> =
                raw.iter().filter(|r| r.0 == set).collect();
            let bright = all.iter().filter(|r| bright_border(&r.2)).count();
            let dark_ink = bright * 2 > all.len();
            for (_, c, img, w, h) in all {
                let m = ink_mask(img, *w, *h, dark_ink);
                let map = match set {
                    "single" => &mut g.single,
                    "green" => &mut g.green,
                    "down" => &mut g.down,
                    _ => &mut g.up,
                };
                map.insert(*c, m);
            }
        }
        for (map, w, h) in [
            (&mut g.single, 45, 90),
            (&mut g.green, 43, 90),
            (&mut g.down, 65, 110),
            (&mut g.up, 80, 60),
        ] {
            map.insert('O', letter_o(w, h));
        }
        for (key, file) in [
            ("blue", "blue_140.PNG"),
            ("yellow", "yellow_140.PNG"),
            ("yellow2", "yellow_220.PNG"),
            ("green", "green_140.PNG"),
            ("green_yellow", "green_yellow_140.PNG"),
            ("white", "white_140.PNG"),
            ("black", "black_140.PNG"),
            // the dot after the fourth character (embassy plates)
            ("black_dot4", "black_ling_140.PNG"),
        ] {
            let img = image::open(dir.join("plate_model").join(file))
                .map_err(|e| format!("{file}: {e}"))?
                .to_rgba8();
            // composite over mid grey (the PNGs have transparent corners)
            let rgb = RgbImage::from_fn(img.width(), img.height(), |x, y| {
                let p = img.get_pixel(x, y).0;
                let a = p[3] as f32 / 255.0;
                let m = |v: u8| (v as f32 * a + 110.0 * (1.0 - a)) as u8;
                Rgb([m(p[0]), m(p[1]), m(p[2])])
            });
            let (bw, bh) = match key {
                "yellow2" => (440, 220),
                "green" | "green_yellow" => (480, 140),
                _ => (440, 140),
            };
            g.blanks.insert(
                key,
                imageops::resize(&rgb, bw, bh, imageops::FilterType::Triangle),
            );
        }
        Ok(g)
    }

    /// Adds EasyPR character crops (`chars2/<c>/`, `charsChinese/zh_*/` with
    /// `province_mapping.txt`) as alternative glyph shapes.
    pub fn load_real(&mut self, dir: &Path) -> Result<usize, String> {
        let mut n = 0;
        let mut add = |c: char, folder: &Path| {
            if let Ok(rd) = std::fs::read_dir(folder) {
                let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
                files.sort();
                for f in files {
                    if let Ok(img) = image::open(&f) {
                        let mut img = img.to_luma8();
                        let (w, h) = img.dimensions();
                        let border: Vec<u32> = img
                            .enumerate_pixels()
                            .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == w - 1 || *y == h - 1)
                            .map(|(_, _, p)| p.0[0] as u32)
                            .collect();
                        // ink must be the bright part; skip crops whose border is mostly ink
                        if border.iter().sum::<u32>() > 100 * border.len() as u32 {
                            image::imageops::invert(&mut img);
                        }
                        self.real.entry(c).or_default().push(img);
                        n += 1;
                    }
                }
            }
        };
        for c in ALNUM.chars() {
            add(c, &dir.join("chars2").join(c.to_string()));
        }
        for (folder, c) in province_folders(dir)? {
            if PROVINCES.contains(c) {
                add(c, &dir.join("charsChinese").join(folder));
            }
        }
        Ok(n)
    }
}

/// EasyPR's `province_mapping.txt` in `dir`: per line, the folder of a
/// province's crops under `charsChinese/` (`zh_*`) and its character.
pub fn province_folders(dir: &Path) -> Result<Vec<(String, char)>, String> {
    let map = std::fs::read_to_string(dir.join("province_mapping.txt"))
        .map_err(|e| format!("province_mapping.txt: {e}"))?;
    Ok(map
        .lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let folder = it.next()?;
            let c = it.next()?.chars().next()?;
            Some((folder.to_string(), c))
        })
        .collect())
}

impl Glyphs {
    /// Ink mask (w, h, values 0..1) of a single-row glyph, 45 × 90 shaped:
    /// the font glyph or, with probability `real_p`, a real crop.
    pub fn single_mask(
        &self,
        c: char,
        real_p: f32,
        rng: &mut Rng,
    ) -> Option<(usize, usize, Vec<f32>)> {
        if let Some(list) = self
            .real
            .get(&c)
            .filter(|v| !v.is_empty() && rng.chance(real_p))
        {
            let img = &list[rng.below(list.len())];
            let sq = imageops::resize(img, 90, 90, imageops::FilterType::Triangle);
            let mut m = Vec::with_capacity(45 * 90);
            for y in 0..90 {
                for x in 22..67 {
                    m.push(((sq.get_pixel(x, y).0[0] as f32 - 60.0) / 120.0).clamp(0.0, 1.0));
                }
            }
            return Some((45, 90, m));
        }
        self.single.get(&c).map(|m| (45, 90, m.clone()))
    }
}

/// Replaces the province glyph of a real blue plate crop (light ink on a
/// dark plate) by another province's glyph; returns the new crop and the
/// province. The glyph's right edge is the emptiest column between 8 % and
/// 24 % of the width.
pub fn swap_province(img: &RgbImage, g: &Glyphs, rng: &mut Rng) -> Option<(RgbImage, char)> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let grey: Vec<f32> = img
        .pixels()
        .map(|p| 0.299 * p.0[0] as f32 + 0.587 * p.0[1] as f32 + 0.114 * p.0[2] as f32)
        .collect();
    let mean = grey.iter().sum::<f32>() / grey.len() as f32;
    let sd = (grey.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / grey.len() as f32).sqrt();
    let thr = mean + 0.4 * sd;
    let (y0, y1) = (h * 15 / 100, h * 85 / 100);
    let ink_col = |x: usize| (y0..y1).filter(|&y| grey[y * w + x] > thr).count();
    let bx = (w * 8 / 100..w * 24 / 100).min_by_key(|&x| ink_col(x))?;
    // background: mean colour of non-ink pixels left of bx; ink: mean of ink pixels
    let (mut bg, mut nb, mut ink, mut ni) = ([0f32; 3], 0f32, [0f32; 3], 0f32);
    for y in 0..h {
        for x in 0..w {
            let p = img.get_pixel(x as u32, y as u32).0;
            if grey[y * w + x] > thr {
                for k in 0..3 {
                    ink[k] += p[k] as f32;
                }
                ni += 1.0;
            } else if x < bx {
                for k in 0..3 {
                    bg[k] += p[k] as f32;
                }
                nb += 1.0;
            }
        }
    }
    if nb < 1.0 || ni < 1.0 {
        return None;
    }
    let prov: Vec<char> = PROVINCES.chars().collect();
    let c = prov[rng.below(prov.len())];
    let (mw, mh, mask) = g.single_mask(c, 0.5, rng)?;
    let mut out = img.clone();
    let (gx0, gx1) = (
        bx as f32 * rng.range(0.05, 0.2),
        bx as f32 * rng.range(0.85, 0.97),
    );
    let (gy0, gy1) = (
        h as f32 * rng.range(0.1, 0.2),
        h as f32 * rng.range(0.8, 0.9),
    );
    for y in 0..h {
        for x in 0..bx {
            let mut a = 0f32;
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            if fx >= gx0 && fx < gx1 && fy >= gy0 && fy < gy1 {
                let mx = (((fx - gx0) / (gx1 - gx0)) * mw as f32) as usize;
                let my = (((fy - gy0) / (gy1 - gy0)) * mh as f32) as usize;
                a = mask[my.min(mh - 1) * mw + mx.min(mw - 1)];
            }
            let mut px = [0u8; 3];
            for k in 0..3 {
                let b = bg[k] / nb + rng.gauss() * 4.0;
                px[k] = (b * (1.0 - a) + ink[k] / ni * a).clamp(0.0, 255.0) as u8;
            }
            out.put_pixel(x as u32, y as u32, Rgb(px));
        }
    }
    Some((out, c))
}

/// A random plate text of the right format for the layout and use: the
/// second character any letter or O, the serial letters and digits (no O),
/// the last one replaced by the use's character; embassy plates 使 and 6
/// digits.
pub fn random_text(kind: Kind, rng: &mut Rng) -> Vec<char> {
    let prov: Vec<char> = PROVINCES.chars().collect();
    let alnum: Vec<char> = ALNUM.chars().collect();
    let letters: Vec<char> = alnum
        .iter()
        .copied()
        .filter(|c| c.is_ascii_uppercase())
        .collect();
    if kind == Kind::Embassy {
        return std::iter::once('使')
            .chain((0..6).map(|_| alnum[rng.below(10)]))
            .collect();
    }
    let authority = rng.below(letters.len() + 1);
    let mut t = vec![
        prov[rng.below(prov.len())],
        letters.get(authority).copied().unwrap_or('O'),
    ];
    let letter_p = rng.range(0.0, 0.5);
    for _ in 0..kind.chars() - 2 {
        if rng.chance(letter_p) {
            t.push(letters[rng.below(letters.len())]);
        } else {
            t.push(alnum[rng.below(10)]);
        }
    }
    if kind == Kind::HongKongMacau {
        (t[0], t[1]) = ('粤', 'Z');
    }
    if let Some(c) = kind.ending(rng) {
        t[6] = c;
    }
    t
}

/// Glyph placements (x, y, w, h) in mm for each character slot.
pub fn slots(kind: Kind) -> Vec<(f32, f32, f32, f32)> {
    match kind {
        Kind::YellowDouble | Kind::TrailerDouble => {
            let mut v = vec![(110.0, 15.0, 80.0, 60.0), (250.0, 15.0, 80.0, 60.0)];
            for i in 0..5 {
                v.push((27.5 + i as f32 * 80.0, 90.0, 65.0, 110.0));
            }
            v
        }
        Kind::Green => {
            let mut v = vec![(15.5, 25.0, 45.0, 90.0), (69.5, 25.0, 43.0, 90.0)];
            for i in 0..6 {
                v.push((161.5 + i as f32 * 52.0, 25.0, 43.0, 90.0));
            }
            v
        }
        _ => {
            // the dot (34.5 mm) after this character
            let dot = match kind {
                Kind::Police => 0,
                Kind::Embassy => 3,
                _ => 1,
            };
            let mut v = Vec::new();
            let mut x = 15.5f32;
            for i in 0..7 {
                v.push((x, 25.0, 45.0, 90.0));
                x += 45.0 + if i == dot { 34.5 } else { 12.0 };
            }
            v
        }
    }
}

/// Renders a plate at 1 px per mm. `real_p`: probability of using a real
/// (EasyPR) character crop instead of the font glyph, per character.
pub fn render_plate(g: &Glyphs, kind: Kind, text: &[char], real_p: f32, rng: &mut Rng) -> RgbImage {
    let blank = match kind {
        Kind::Blue => &g.blanks["blue"],
        Kind::Yellow | Kind::Learner | Kind::Trailer => &g.blanks["yellow"],
        Kind::YellowDouble | Kind::TrailerDouble => &g.blanks["yellow2"],
        Kind::Green => {
            if rng.chance(0.3) {
                &g.blanks["green_yellow"]
            } else {
                &g.blanks["green"]
            }
        }
        Kind::White | Kind::Police => &g.blanks["white"],
        Kind::Black | Kind::HongKongMacau | Kind::Consulate => &g.blanks["black"],
        Kind::Embassy => &g.blanks["black_dot4"],
    };
    render_plate_on(g, kind, blank, text, real_p, rng)
}

/// Renders a plate of `kind` on a given blank of the glyph set
/// (`Glyphs::blank`: a green plate on `green_yellow` is a large car's
/// new-energy plate), as `render_plate` does on the blank it draws.
pub fn render_plate_on(
    g: &Glyphs,
    kind: Kind,
    blank: &RgbImage,
    text: &[char],
    real_p: f32,
    rng: &mut Rng,
) -> RgbImage {
    let (w, h) = kind.size();
    let mut plate = if blank.dimensions() == (w, h) {
        blank.clone()
    } else {
        imageops::resize(blank, w, h, imageops::FilterType::Triangle)
    };
    let ink_rgb: [f32; 3] = if kind.light_ink() {
        [245.0, 245.0, 245.0]
    } else {
        [15.0, 15.0, 15.0]
    };
    for (i, (&c, &(sx, sy, sw, sh))) in text.iter().zip(slots(kind).iter()).enumerate() {
        let ink_rgb = if RED.contains(c) {
            [200.0, 25.0, 25.0]
        } else {
            ink_rgb
        };
        let real = g.real.get(&c).filter(|v| !v.is_empty());
        let mask: Vec<f32>;
        let (mw, mh, ox, oy);
        if let (Some(list), true) = (real, rng.chance(real_p) && !kind.double()) {
            // EasyPR crops: the character centred in a square of its height
            let img = &list[rng.below(list.len())];
            let side = sh.round() as u32;
            let sq = imageops::resize(img, side, side, imageops::FilterType::Triangle);
            mask = sq
                .pixels()
                .map(|p| ((p.0[0] as f32 - 60.0) / 120.0).clamp(0.0, 1.0))
                .collect();
            mw = side;
            mh = side;
            ox = sx + sw / 2.0 - side as f32 / 2.0;
            oy = sy;
        } else {
            let set = if kind.double() {
                if i < 2 { &g.up } else { &g.down }
            } else if kind == Kind::Green {
                &g.green
            } else {
                &g.single
            };
            let Some(m) = set.get(&c).or_else(|| g.single.get(&c)) else {
                continue;
            };
            mask = m.clone();
            mw = sw.round() as u32;
            mh = sh.round() as u32;
            ox = sx;
            oy = sy;
            if mask.len() != (mw * mh) as usize {
                continue;
            }
        }
        for yy in 0..mh {
            for xx in 0..mw {
                let a = mask[(yy * mw + xx) as usize];
                if a <= 0.0 {
                    continue;
                }
                let (px, py) = ((ox + xx as f32) as i64, (oy + yy as f32) as i64);
                if px < 0 || py < 0 || px >= w as i64 || py >= h as i64 {
                    continue;
                }
                let p = plate.get_pixel_mut(px as u32, py as u32);
                for (c, ink) in p.0.iter_mut().zip(ink_rgb) {
                    *c = (*c as f32 * (1.0 - a) + ink * a) as u8;
                }
            }
        }
    }
    plate
}

/// A "rectified crop" as the recogniser's localiser would cut it from a
/// photo: the plate scaled to a random resolution, with random margins,
/// rotation, shear, lighting, blur and noise, around it random surroundings.
/// Output `out_w` × `out_h` RGB.
pub fn augment_crop(plate: &RgbImage, out_w: u32, out_h: u32, rng: &mut Rng) -> RgbImage {
    augment_crop_at(plate, out_w, out_h, (80.0, 260.0), rng)
}

/// [`augment_crop`] with the plate `res.0` to `res.1` px wide in the photo.
pub fn augment_crop_at(
    plate: &RgbImage,
    out_w: u32,
    out_h: u32,
    res: (f32, f32),
    rng: &mut Rng,
) -> RgbImage {
    augment_crop_moving(plate, out_w, out_h, res, 0.0, rng)
}

/// Longest smear of [`random_smear`], in pixels of the photo.
pub const MOTION_MAX_PX: f32 = 7.0;

/// A smear as training draws it: its length in pixels of the photo (1.5
/// to [`MOTION_MAX_PX`]) and whether it runs along the height (two times
/// in five) rather than across.
pub fn random_smear(rng: &mut Rng) -> (f32, bool) {
    let len = rng.range(1.5, MOTION_MAX_PX);
    (len, !rng.chance(0.6))
}

/// [`augment_crop_at`], and with probability `motion` the crop smeared as
/// a moving car or a panning camera smears it ([`motion_blur`] by a
/// [`random_smear`] of the photo). With `motion` 0 no random number is
/// drawn for it: the same crops as [`augment_crop_at`].
pub fn augment_crop_moving(
    plate: &RgbImage,
    out_w: u32,
    out_h: u32,
    res: (f32, f32),
    motion: f32,
    rng: &mut Rng,
) -> RgbImage {
    let (pw, ph) = plate.dimensions();
    // resolution of the plate in the photo (px wide)
    let res_w = rng.range(res.0, res.1);
    let sc = res_w / pw as f32;
    let small = imageops::resize(
        plate,
        (pw as f32 * sc).round().max(8.0) as u32,
        (ph as f32 * sc).round().max(4.0) as u32,
        imageops::FilterType::Triangle,
    );
    let (sw, sh) = (small.width() as f32, small.height() as f32);
    // surroundings: a car-body colour with a gradient
    let base = [
        rng.range(0.0, 255.0),
        rng.range(0.0, 255.0),
        rng.range(0.0, 255.0),
    ];
    let grad = rng.range(-0.6, 0.6);
    // the crop window in plate coordinates
    let ml = rng.range(-0.04, 0.2) * sw;
    let mr = rng.range(-0.04, 0.2) * sw;
    let mt = rng.range(-0.08, 0.3) * sh;
    let mb = rng.range(-0.08, 0.3) * sh;
    let ang = rng.range(-0.06, 0.06);
    let shear = rng.range(-0.12, 0.12);
    let (ca, sa) = (ang.cos(), ang.sin());
    let (cx, cy) = (sw / 2.0 + (mr - ml) / 2.0, sh / 2.0 + (mb - mt) / 2.0);
    let (ww, wh) = (sw + ml + mr, sh + mt + mb);
    let contrast = rng.range(0.45, 1.15);
    let bright = rng.range(-60.0, 50.0);
    let cast = [
        rng.range(0.85, 1.15),
        rng.range(0.85, 1.15),
        rng.range(0.85, 1.15),
    ];
    let shade = rng.range(-0.4, 0.4);
    let noise = rng.range(0.0, 12.0);
    let mut out = RgbImage::new(out_w, out_h);
    for oy in 0..out_h {
        for ox in 0..out_w {
            let u = ((ox as f32 + 0.5) / out_w as f32 - 0.5) * ww;
            let v = ((oy as f32 + 0.5) / out_h as f32 - 0.5) * wh;
            let u2 = u + shear * v;
            let x = cx + u2 * ca - v * sa;
            let y = cy + u2 * sa + v * ca;
            let mut px = if x >= 0.0 && y >= 0.0 && x < sw - 1.0 && y < sh - 1.0 {
                bilinear(&small, x, y)
            } else {
                let t = 1.0 + grad * (oy as f32 / out_h as f32 - 0.5);
                [base[0] * t, base[1] * t, base[2] * t]
            };
            let light = 1.0 + shade * (ox as f32 / out_w as f32 - 0.5);
            for k in 0..3 {
                px[k] = (px[k] - 128.0) * contrast + 128.0 + bright;
                px[k] = px[k] * cast[k] * light + noise * rng.gauss();
            }
            out.put_pixel(
                ox,
                oy,
                Rgb([
                    px[0].clamp(0.0, 255.0) as u8,
                    px[1].clamp(0.0, 255.0) as u8,
                    px[2].clamp(0.0, 255.0) as u8,
                ]),
            );
        }
    }
    if motion > 0.0 && rng.chance(motion) {
        // the smear's length in the photo, then in crop pixels (the
        // crop shows `ww` × `wh` pixels of the photo)
        let (len, vertical) = random_smear(rng);
        // (multiplied before dividing: the rounding the models were
        // trained with)
        let in_crop = if vertical {
            len * out_h as f32 / wh
        } else {
            len * out_w as f32 / ww
        };
        out = motion_blur(&out, in_crop, vertical);
    }
    if rng.chance(0.4) {
        out = imageops::blur(&out, rng.range(0.3, 1.2));
    }
    out
}

/// `img` smeared along a line `len` pixels long (at least 1), across it
/// or, `vertical`, along its height, as a moving car or a panning camera
/// smears a photo: each output pixel the weighted mean of the `len`
/// pixels centred on it (the two end ones weighted by the fraction of
/// `len` beyond the whole pixels), edges repeated. Colour and grey alike.
pub fn motion_blur<P: Pixel<Subpixel = u8>>(
    img: &ImageBuffer<P, Vec<u8>>,
    len: f32,
    vertical: bool,
) -> ImageBuffer<P, Vec<u8>> {
    let (w, h) = img.dimensions();
    let len = len.max(1.0);
    // weights for offsets -r..=r: 1 inside, the fractional rest at the ends
    let inner = ((len - 1.0) / 2.0).floor() as i64;
    let end = (len - 1.0 - 2.0 * inner as f32) / 2.0;
    let r = if end > 0.0 { inner + 1 } else { inner };
    let weight = |d: i64| if d.abs() <= inner { 1.0 } else { end };
    let (n, lines) = if vertical { (h, w) } else { (w, h) };
    let at = |line: u32, i: i64| {
        let i = i.clamp(0, n as i64 - 1) as u32;
        if vertical {
            img.get_pixel(line, i)
        } else {
            img.get_pixel(i, line)
        }
    };
    let mut out: ImageBuffer<P, Vec<u8>> = ImageBuffer::new(w, h);
    let mut sum = [0f32; 4];
    for line in 0..lines {
        for i in 0..n {
            sum.fill(0.0);
            for d in -r..=r {
                for (s, &v) in sum.iter_mut().zip(at(line, i as i64 + d).channels()) {
                    *s += weight(d) * v as f32;
                }
            }
            let (x, y) = if vertical { (line, i) } else { (i, line) };
            for (o, s) in out.get_pixel_mut(x, y).channels_mut().iter_mut().zip(sum) {
                *o = (s / len).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// The photo as a camera sees it when the plate's plane is turned by `deg`
/// degrees about the vertical axis through (`cx`, `cy`) (`yaw`; about the
/// horizontal axis when not `yaw`), by a pinhole camera of focal length
/// [`OBLIQUE_FOCAL`] px: the side turned away narrower, grey where
/// nothing is seen. A plate `w` px wide turned by `deg` about its centre
/// is seen in the perspective `w · sin(deg) / OBLIQUE_FOCAL`
/// (`Cand::keystone`).
pub fn oblique(img: &RgbImage, deg: f32, yaw: bool, cx: f32, cy: f32) -> RgbImage {
    let f = OBLIQUE_FOCAL;
    let (s, c) = deg.to_radians().sin_cos();
    let (w, h) = (img.width() as f32 - 1.0, img.height() as f32 - 1.0);
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        // (a, b): the seen offset along and across the turning direction
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let (a, b) = if yaw { (dx, dy) } else { (dy, dx) };
        // the point of the plane that projects there: a = f u c / (f + u s)
        let den = f * c - a * s;
        if den <= 1.0 {
            return Rgb([100, 100, 100]);
        }
        let u = a * f / den;
        let v = b * (f + u * s) / f;
        let (sx, sy) = if yaw {
            (cx + u, cy + v)
        } else {
            (cx + v, cy + u)
        };
        if !(0.0..w).contains(&sx) || !(0.0..h).contains(&sy) {
            return Rgb([100, 100, 100]);
        }
        Rgb(bilinear(img, sx, sy).map(|v| v as u8))
    })
}

/// The focal length of [`oblique`]'s camera, px.
pub const OBLIQUE_FOCAL: f32 = 700.0;

/// The photo in grey, as a monochrome or infrared camera sends it: the
/// `image` crate's luma (Rec. 709 weights) in three equal channels. Used by
/// `plate-sweep` and `train-detector` (`GREY`).
pub fn grey(img: RgbImage) -> RgbImage {
    let luma = image::DynamicImage::ImageRgb8(img).to_luma8();
    image::DynamicImage::ImageLuma8(luma).to_rgb8()
}

/// `img` (RGB or grey) encoded as a JPEG of `quality` (the tools'
/// re-encoded photos).
pub fn jpeg<I>(img: &I, quality: u8) -> Vec<u8>
where
    I: image::GenericImageView,
    I::Pixel: image::PixelWithColorType,
{
    let mut jpg = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, quality)
        .encode_image(img)
        .expect("encode");
    jpg.into_inner()
}

/// `img` with its width and height scaled by `f` (Triangle filter,
/// nothing cut off): `plate-accuracy --scale F`, `plate-debug --scale F`.
pub fn scaled(img: &image::DynamicImage, f: f64) -> image::DynamicImage {
    let side = |v: u32| ((v as f64 * f).round() as u32).max(1);
    img.resize_exact(
        side(img.width()),
        side(img.height()),
        imageops::FilterType::Triangle,
    )
}

/// The colour at (x, y), bilinearly interpolated (x + 1 and y + 1 inside
/// the image).
pub fn bilinear(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (ax, ay) = (x - x0 as f32, y - y0 as f32);
    let p00 = img.get_pixel(x0, y0).0;
    let p10 = img.get_pixel(x0 + 1, y0).0;
    let p01 = img.get_pixel(x0, y0 + 1).0;
    let p11 = img.get_pixel(x0 + 1, y0 + 1).0;
    let mut o = [0f32; 3];
    for k in 0..3 {
        o[k] = p00[k] as f32 * (1.0 - ax) * (1.0 - ay)
            + p10[k] as f32 * ax * (1.0 - ay)
            + p01[k] as f32 * (1.0 - ax) * ay
            + p11[k] as f32 * ax * ay;
    }
    o
}

/// A plate in a scene: the plate, where (x, y, width) and the colour of the
/// car body around it (`None`: a random one).
pub type Placed<'a> = (&'a RgbImage, u32, u32, u32, Option<Rgb<u8>>);

/// A photo-like scene (w × h) with the given plates pasted at (x, y, width),
/// each on a car body of a random colour.
pub fn scene(w: u32, h: u32, plates: &[(&RgbImage, u32, u32, u32)], rng: &mut Rng) -> RgbImage {
    let plates: Vec<_> = plates
        .iter()
        .map(|&(p, x, y, pw)| (p, x, y, pw, None))
        .collect();
    scene_with_bodies(w, h, &plates, rng)
}

/// [`scene`], a plate's car body of the given colour where one is given (a
/// blue plate on a blue taxi); the same random draws either way.
pub fn scene_with_bodies(w: u32, h: u32, plates: &[Placed], rng: &mut Rng) -> RgbImage {
    let mut photo = RgbImage::from_fn(w, h, |_, y| {
        let v = 90 + (y * 60 / h.max(1)) as u8;
        Rgb([v, v, v.saturating_add(5)])
    });
    for &(p, x, y, pw, colour) in plates {
        let ph = (p.height() as f32 * pw as f32 / p.width() as f32).round() as u32;
        // a car body around the plate
        let (bx0, by0) = (x.saturating_sub(pw), y.saturating_sub(ph * 3));
        let (bx1, by1) = ((x + 2 * pw).min(w), (y + ph * 2).min(h));
        let random = Rgb([
            rng.below(200) as u8 + 20,
            rng.below(200) as u8 + 20,
            rng.below(200) as u8 + 20,
        ]);
        let body = colour.unwrap_or(random);
        for yy in by0..by1 {
            for xx in bx0..bx1 {
                photo.put_pixel(xx, yy, body);
            }
        }
        let small = imageops::resize(p, pw, ph, imageops::FilterType::Triangle);
        imageops::overlay(&mut photo, &small, x as i64, y as i64);
    }
    photo
}

/// What a photo of noise ([`noise_photo`]) looks like: random pixels in
/// colour, tinted blue or yellow (a plate's colours), grey, or of low
/// contrast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    Colour,
    Blue,
    Yellow,
    Grey,
    LowContrast,
}

impl Noise {
    /// Every kind, in the order above.
    pub const ALL: [Noise; 5] = [
        Noise::Colour,
        Noise::Blue,
        Noise::Yellow,
        Noise::Grey,
        Noise::LowContrast,
    ];
}

/// A `w` × `h` photo of random pixels, which shows no plate: what the
/// recogniser must answer "no plate" for (`plate-accuracy --noise`, the
/// crate's tests). `lcg` is the state of a 32-bit linear congruential
/// generator (the Numerical Recipes constants), stepped once per pixel;
/// carried from one photo to the next, it makes a sequence of different
/// photos, the same on every machine.
pub fn noise_photo(w: u32, h: u32, kind: Noise, lcg: &mut u32) -> RgbImage {
    RgbImage::from_fn(w, h, |_, _| {
        *lcg = lcg.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let (a, b, c) = ((*lcg >> 24) as u8, (*lcg >> 16) as u8, (*lcg >> 8) as u8);
        match kind {
            Noise::Colour => Rgb([a, b, c]),
            Noise::Blue => Rgb([a / 2, b / 2, c / 2 + 128]),
            Noise::Yellow => Rgb([a / 2 + 100, b / 2 + 90, c / 4]),
            Noise::Grey => Rgb([a, a, a]),
            Noise::LowContrast => Rgb([a / 3 + 60, b / 3 + 60, c / 3 + 60]),
        }
    })
}
