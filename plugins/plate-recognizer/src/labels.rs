//! The labelled plates of a photo set (`labels.tsv` of the EasyPR photos):
//! every plate of every photo, with its text, colour and rotated box. Read
//! by the tools that measure (`plate-accuracy`) and train (`train`,
//! `train-detector`); never by the recogniser itself.

use std::collections::BTreeMap;
use std::path::Path;

/// One labelled plate.
#[derive(Clone, Debug)]
pub struct Label {
    /// The photo's file name (e.g. `京A88731.jpg`).
    pub file: String,
    /// The photo's main plate (its file name's plate).
    pub main: String,
    /// This plate's text.
    pub plate: String,
    /// `blue`, `yellow`, `green`, `white` or `black` (`None`: unknown).
    pub colour: Option<&'static str>,
    /// Centre, width and height in the photo's pixels; the width is the
    /// longer side (OpenCV's rectangles written tall at −90° turned back).
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
    /// Rotation, radians, clockwise.
    pub angle: f32,
    /// The photo's width in pixels (`img_w`; `None` where the file has
    /// no such column).
    pub photo_w: Option<f32>,
}

impl Label {
    /// A recognised plate as `labels.tsv` would label it (its text, colour
    /// and box; no photo width): what [`paint_over`] takes to paint over a
    /// plate that was read.
    pub fn of_read(file: &str, r: &crate::Recognition) -> Label {
        let c = crate::locate::Cand::around(&r.corners);
        Label {
            file: file.to_string(),
            main: r.plate.clone(),
            plate: r.plate.clone(),
            colour: Some(r.color.as_str()),
            cx: c.cx,
            cy: c.cy,
            w: c.w,
            h: c.h,
            angle: c.angle,
            photo_w: None,
        }
    }

    /// The photo's main plate (the one its file name gives).
    pub fn is_main(&self) -> bool {
        self.main == self.plate
    }

    /// Layout by the box's proportions (a double-row plate is 440 × 220 mm,
    /// a single-row one 440 × 140) and, for 8 characters, new energy.
    pub fn layout(&self) -> &'static str {
        if self.plate.chars().count() == 8 {
            "new-energy"
        } else if self.w < 2.2 * self.h {
            "double-row"
        } else {
            "single-row"
        }
    }
}

/// Reads `DIR/labels.tsv` (header line; then file, filename_plate, plate,
/// color_zh, cx, cy, w, h, rotation in degrees, locateType, img_w, ...).
pub fn read(dir: &Path) -> Result<Vec<Label>, String> {
    let path = dir.join("labels.tsv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let num = |i: usize| {
            f.get(i).and_then(|v| v.parse::<f32>().ok()).ok_or_else(|| {
                format!(
                    "{}:{}: no number in column {}",
                    path.display(),
                    n + 1,
                    i + 1
                )
            })
        };
        let (mut w, mut h, mut deg) = (num(6)?, num(7)?, num(8)?);
        if h > w {
            std::mem::swap(&mut w, &mut h);
            deg += 90.0;
        }
        out.push(Label {
            file: f[0].to_string(),
            main: f[1].to_string(),
            plate: f[2].to_string(),
            colour: match f[3] {
                "蓝牌" => Some("blue"),
                "黄牌" => Some("yellow"),
                "绿牌" => Some("green"),
                "白牌" => Some("white"),
                "黑牌" => Some("black"),
                _ => None,
            },
            cx: num(4)?,
            cy: num(5)?,
            w,
            h,
            angle: deg.to_radians(),
            photo_w: num(10).ok(),
        });
    }
    Ok(out)
}

/// [`read`], the plates of each photo together, by file name (in order).
pub fn by_photo(dir: &Path) -> Result<BTreeMap<String, Vec<Label>>, String> {
    let mut by: BTreeMap<String, Vec<Label>> = BTreeMap::new();
    for l in read(dir)? {
        by.entry(l.file.clone()).or_default().push(l);
    }
    Ok(by)
}

/// A labelled photo: its file name, its plates, its pixels.
pub type Labelled = (String, Vec<Label>, image::RgbImage);

/// The labelled photos of one part of the split (`held_out`, else the
/// tuning part), each decoded when the iterator reaches it.
pub fn photos(
    dir: &Path,
    held_out: bool,
) -> Result<impl Iterator<Item = Result<Labelled, String>>, String> {
    let dir = dir.to_path_buf();
    Ok(by_photo(&dir)?
        .into_iter()
        .filter(move |(file, _)| crate::held_out(file) == held_out)
        .map(move |(file, plates)| {
            let bytes = std::fs::read(dir.join(&file)).map_err(|e| format!("{file}: {e}"))?;
            let img = crate::decode(&bytes).map_err(|e| format!("{file}: {e}"))?;
            Ok((file, plates, img))
        }))
}

/// Paints a labelled plate over with the median colour of a ring around
/// it (a box 1.3 times the plate's, the plate's own box widened by 30 %
/// and heightened by 60 % to take its frame): the photo as if the car had
/// no plate there (`plate-accuracy --mask-plates`).
pub fn paint_over(img: &mut image::RgbImage, l: &Label) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (ca, sa) = (l.angle.cos(), l.angle.sin());
    let (hw, hh) = (l.w * 0.65, l.h * 0.8);
    let inside = |x: i64, y: i64, k: f32| {
        let (dx, dy) = (x as f32 - l.cx, y as f32 - l.cy);
        let (u, v) = (dx * ca + dy * sa, -dx * sa + dy * ca);
        u.abs() <= hw * k && v.abs() <= hh * k
    };
    let r = (hw.max(hh) * 1.6) as i64;
    let (x0, x1) = ((l.cx as i64 - r).max(0), (l.cx as i64 + r).min(w));
    let (y0, y1) = ((l.cy as i64 - r).max(0), (l.cy as i64 + r).min(h));
    let area = || (y0..y1).flat_map(move |y| (x0..x1).map(move |x| (x, y)));
    let ring: Vec<[u8; 3]> = area()
        .filter(|&(x, y)| inside(x, y, 1.3) && !inside(x, y, 1.0))
        .map(|(x, y)| img.get_pixel(x as u32, y as u32).0)
        .collect();
    if ring.is_empty() {
        return;
    }
    let median = |k: usize| {
        let mut v: Vec<u8> = ring.iter().map(|p| p[k]).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let fill = image::Rgb([median(0), median(1), median(2)]);
    for (x, y) in area().filter(|&(x, y)| inside(x, y, 1.0)) {
        img.put_pixel(x as u32, y as u32, fill);
    }
}
