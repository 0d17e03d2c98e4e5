//! Trains the plate reader (`src/cnn.rs`) and writes `model/reader.bin`.
//!
//! ```text
//! mkdir -p /tmp/platechars && tar xzf /work/shared/data/plates/chars/easypr-chars.tar.gz -C /tmp/platechars
//! cargo run --release -p plate-recognizer --bin train -- \
//!     /work/shared/data/plates/glyphs /tmp/platechars /work/shared/data/plates/lprnet-crops \
//!     plugins/plate-recognizer/model/reader.bin
//! ```
//!
//! Training data, generated on the fly (nothing from the evaluation photos):
//! * synthetic plates of every layout and use (`for_a_use`) rendered from
//!   the GA 36 glyphs (MIT),
//!   half of their characters swapped for real EasyPR character crops
//!   (Apache-2.0), cut out as the localiser would (random resolution,
//!   margins, rotation, shear, lighting, blur, noise);
//! * the LPRNet plate crops (Apache-2.0, real photos), with the same
//!   augmentation; every 7th file is held out for validation.
//!
//! Deterministic: every sample's generator is seeded from (SEED, step,
//! index), gradients are summed in a fixed order. Environment: `STEPS`
//! (default 10000), `BATCH` (32), `THREADS` (2), `SEED` (1), `LR` (0.0015),
//! `MIN_RES` (80: the narrowest plate, in px, the crops are cut at),
//! `MOTION` (0: the share of crops smeared as by a moving car,
//! `synth::augment_crop_moving`), `NEGATIVES` (the EasyPR photo
//! directory: crops of what is not a plate in its tuning photos,
//! `negative_crops`, read as no characters) and
//! `NEG_SHARE` (0.1: their share of the samples),
//! `INIT` (a model file to continue training from instead of a random
//! start; a model of fewer classes, the first of these, gets the others
//! added to its output layer, their weights zero), `NEW_ONLY` (1: train
//! only the output rows of the classes INIT did not have; the rest of the
//! network, and so every other class's logit, stays as it was).
//!
//! `model/reader.bin` is the model of 66 classes trained from a random
//! start (the defaults) with the 8 classes of `EXTRA` added by
//! `INIT=<that model> NEW_ONLY=1 STEPS=3000`.

use image::RgbImage;
use plate_recognizer::cnn::{self, Cache, Net};
use plate_recognizer::synth::{self, Glyphs, Kind, Rng};
use plate_recognizer::{ALNUM, EXTRA, PROVINCES};
use std::path::Path;
use std::time::Instant;

fn env<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

struct Data {
    glyphs: Glyphs,
    lpr: Vec<(RgbImage, Vec<char>)>,
    lpr_val: Vec<(RgbImage, Vec<char>)>,
    /// Plates cut out of the tuning EasyPR photos (`EASYPR`): crop, text,
    /// whether it is blue (light ink on a dark plate).
    easypr: Vec<(RgbImage, Vec<char>, bool)>,
    classes: Vec<char>,
    /// Plates are cut out at MIN_RES to 260 px wide.
    res: (f32, f32),
    /// Share of the samples from `easypr`, and of those whose province is
    /// swapped.
    easypr_share: f32,
    easypr_swap: f32,
    /// Crops of what is not a plate (`NEGATIVES`), read as no characters,
    /// and the share of the samples they make (`NEG_SHARE`).
    negatives: Vec<RgbImage>,
    negatives_val: Vec<RgbImage>,
    neg_share: f32,
    /// Share of the plate crops smeared by motion (`MOTION`).
    motion: f32,
}

impl Data {
    fn label(&self, text: &[char]) -> Option<Vec<usize>> {
        text.iter()
            .map(|c| self.classes.iter().position(|k| k == c))
            .collect()
    }
    /// One training example: net input, label, kind (None = real crop).
    fn sample(&self, rng: &mut Rng) -> (Vec<f32>, Vec<char>, Option<Kind>) {
        if !self.negatives.is_empty() && rng.chance(self.neg_share) {
            let img = &self.negatives[rng.below(self.negatives.len())];
            return (negative(img, rng), Vec::new(), None);
        }
        if !self.easypr.is_empty() && rng.chance(self.easypr_share) {
            let (img, text, blue) = &self.easypr[rng.below(self.easypr.len())];
            // the provinces of one photo set are its region's: swap some of
            // them (blue plates: the swap needs light ink on a dark plate)
            let swap = *blue && rng.chance(self.easypr_swap);
            // at most a little above the resolution it was photographed at
            let w = img.width() as f32;
            let res = ((0.55 * w).max(40.0), (1.15 * w).max(50.0));
            return self.real_crop(img, text, swap, res, rng);
        }
        if !self.lpr.is_empty() && rng.chance(plate_recognizer::READER_REAL_SHARE) {
            let (img, text) = &self.lpr[rng.below(self.lpr.len())];
            // almost all LPRNet crops are 皖: give most of them another
            // province so that the reader does not learn "real photo = 皖"
            let swap = rng.chance(1.0 - plate_recognizer::READER_KEEP_PROVINCE);
            return self.real_crop(img, text, swap, self.res, rng);
        }
        let r = rng.f();
        let kind = if r < 0.36 {
            Kind::Blue
        } else if r < 0.50 {
            Kind::Yellow
        } else if r < 0.64 {
            Kind::YellowDouble
        } else if r < 0.80 {
            Kind::Green
        } else if r < 0.90 {
            Kind::White
        } else {
            Kind::Black
        };
        self.synthetic(for_a_use(kind, rng), rng)
    }
    /// A real plate crop as a training example: its province glyph
    /// replaced by another's when `swap` (and the crop allows it), cut
    /// out at `res` px wide with the whole augmentation.
    fn real_crop(
        &self,
        img: &RgbImage,
        text: &[char],
        swap: bool,
        res: (f32, f32),
        rng: &mut Rng,
    ) -> (Vec<f32>, Vec<char>, Option<Kind>) {
        let mut text = text.to_vec();
        let swapped = if swap {
            synth::swap_province(img, &self.glyphs, rng)
        } else {
            None
        };
        let img = match swapped {
            Some((im, c)) => {
                text[0] = c;
                im
            }
            None => img.clone(),
        };
        let (w, h) = (cnn::IN_W as u32, cnn::IN_H as u32);
        let crop = synth::augment_crop_moving(&img, w, h, res, self.motion, rng);
        (cnn::prepare(&crop, false), text, None)
    }
    fn synthetic(&self, kind: Kind, rng: &mut Rng) -> (Vec<f32>, Vec<char>, Option<Kind>) {
        let text = synth::random_text(kind, rng);
        let plate = synth::render_plate(&self.glyphs, kind, &text, 0.5, rng);
        let h = if kind.double() { 64 } else { cnn::IN_H as u32 };
        let crop =
            synth::augment_crop_moving(&plate, cnn::IN_W as u32, h, self.res, self.motion, rng);
        (cnn::prepare(&crop, kind.double()), text, Some(kind))
    }
}

/// A negative crop as a training example: cut out at 0.55 to 1.15 times
/// its own resolution with the whole augmentation, as a plate would be.
fn negative(img: &RgbImage, rng: &mut Rng) -> Vec<f32> {
    let w = img.width() as f32;
    let res = ((0.55 * w).max(40.0), (1.15 * w).max(50.0));
    cnn::prepare(
        &synth::augment_crop_at(img, cnn::IN_W as u32, cnn::IN_H as u32, res, rng),
        false,
    )
}

/// Part of the plates of a colour and layout are plates for a use (same
/// colour and layout; the mix of colours and layouts stays as it was):
/// a quarter of the yellow single-row ones learner or trailer plates, a
/// fifth of the double-row ones trailer plates, half the white ones police
/// plates, three fifths of the black ones Hong Kong / Macau, consulate or
/// embassy plates (a fifth each).
fn for_a_use(kind: Kind, rng: &mut Rng) -> Kind {
    let r = rng.f();
    match kind {
        Kind::Yellow if r < 0.125 => Kind::Learner,
        Kind::Yellow if r < 0.25 => Kind::Trailer,
        Kind::YellowDouble if r < 0.2 => Kind::TrailerDouble,
        Kind::White if r < 0.5 => Kind::Police,
        Kind::Black if r < 0.2 => Kind::HongKongMacau,
        Kind::Black if r < 0.4 => Kind::Consulate,
        Kind::Black if r < 0.6 => Kind::Embassy,
        _ => kind,
    }
}

fn seed_of(seed: u64, step: u64, i: u64) -> u64 {
    seed.wrapping_mul(1_000_003)
        .wrapping_add(step.wrapping_mul(7919))
        .wrapping_add(i)
        .wrapping_add(12345)
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, glyph_dir, chars_dir, lpr_dir, out] = &args[..] else {
        return Err("usage: train GLYPH_DIR CHARS_DIR LPRNET_DIR OUT".into());
    };
    let steps: u64 = env("STEPS", 10000);
    let batch: usize = env("BATCH", 32);
    let threads: usize = env("THREADS", 2);
    let seed: u64 = env("SEED", 1);
    let base_lr: f32 = env("LR", 0.0015);

    let mut glyphs = Glyphs::load(Path::new(glyph_dir))?;
    let n_real = glyphs.load_real(Path::new(chars_dir))?;
    let classes: Vec<char> = std::iter::once('_')
        .chain(ALNUM.chars())
        .chain(PROVINCES.chars())
        .chain(EXTRA.chars())
        .collect();
    let mut files: Vec<_> = std::fs::read_dir(lpr_dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .map(|e| e == "jpg" || e == "png")
                .unwrap_or(false)
        })
        .collect();
    files.sort();
    let (mut lpr, mut lpr_val) = (Vec::new(), Vec::new());
    for (i, f) in files.iter().enumerate() {
        let text: Vec<char> = f.file_stem().unwrap().to_string_lossy().chars().collect();
        if text.len() != 7 || !text.iter().all(|c| classes.contains(c)) {
            continue;
        }
        let Ok(img) = image::open(f) else { continue };
        if i % 7 == 0 {
            lpr_val.push((img.to_rgb8(), text));
        } else {
            lpr.push((img.to_rgb8(), text));
        }
    }
    eprintln!(
        "real char crops {n_real}, lprnet train {} val {}, classes {}",
        lpr.len(),
        lpr_val.len(),
        classes.len()
    );
    let easypr = match std::env::var("EASYPR") {
        Ok(dir) => easypr_crops(Path::new(&dir), &classes)?,
        Err(_) => Vec::new(),
    };
    eprintln!("easypr tuning plates {}", easypr.len());
    let (mut negatives, mut negatives_val) = (Vec::new(), Vec::new());
    if let Ok(dir) = std::env::var("NEGATIVES") {
        for (i, crop) in negative_crops(Path::new(&dir))?.into_iter().enumerate() {
            if i % 7 == 0 {
                negatives_val.push(crop);
            } else {
                negatives.push(crop);
            }
        }
    }
    eprintln!(
        "negatives train {} val {}",
        negatives.len(),
        negatives_val.len()
    );
    let data = Data {
        negatives,
        negatives_val,
        neg_share: env("NEG_SHARE", 0.1),
        motion: env("MOTION", 0.0),
        glyphs,
        lpr,
        lpr_val,
        easypr,
        easypr_share: env("EASYPR_SHARE", 0.15),
        easypr_swap: env("EASYPR_SWAP", 0.5),
        classes: classes.clone(),
        res: (env("MIN_RES", 80.0), 260.0),
    };
    if let Ok(dir) = std::env::var("DUMP") {
        // look at what the net is trained on
        let mut sheet = image::GrayImage::new(cnn::IN_W as u32 * 2, cnn::IN_H as u32 * 16);
        for i in 0..32u64 {
            let mut r = Rng::new(seed_of(seed, 0, i));
            let (x, text, _) = data.sample(&mut r);
            let t: String = text.iter().collect();
            eprintln!("{i}: {t}");
            for (j, v) in x.iter().enumerate() {
                let (xx, yy) = (j % cnn::IN_W, j / cnn::IN_W);
                let px = (128.0 + v * 50.0).clamp(0.0, 255.0) as u8;
                sheet.put_pixel(
                    (i as u32 % 2) * cnn::IN_W as u32 + xx as u32,
                    (i as u32 / 2) * cnn::IN_H as u32 + yy as u32,
                    image::Luma([px]),
                );
            }
        }
        sheet
            .save(Path::new(&dir).join("samples.png"))
            .map_err(|e| e.to_string())?;
        let mut lp = image::RgbImage::new(94 * 3 * 2, 24 * 3 * 6);
        for (i, (img, _)) in data.lpr.iter().take(12).enumerate() {
            let mut r = Rng::new(i as u64);
            let img = &synth::swap_province(img, &data.glyphs, &mut r)
                .map(|x| x.0)
                .unwrap_or(img.clone());
            let big =
                image::imageops::resize(img, 94 * 3, 24 * 3, image::imageops::FilterType::Nearest);
            image::imageops::overlay(&mut lp, &big, (i % 2) as i64 * 282, (i / 2) as i64 * 72);
        }
        lp.save(Path::new(&dir).join("lpr.png"))
            .map_err(|e| e.to_string())?;
        let mut ez = image::RgbImage::new(94 * 3 * 2, 24 * 3 * 12);
        for (i, (img, _, _)) in data.easypr.iter().take(24).enumerate() {
            let big =
                image::imageops::resize(img, 94 * 3, 24 * 3, image::imageops::FilterType::Triangle);
            image::imageops::overlay(&mut ez, &big, (i % 2) as i64 * 282, (i / 2) as i64 * 72);
        }
        ez.save(Path::new(&dir).join("easypr.png"))
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    let mut rng = Rng::new(seed);
    let mut net = match std::env::var("INIT") {
        Ok(f) => {
            let mut net = Net::from_bytes(&std::fs::read(&f).map_err(|e| format!("{f}: {e}"))?)?;
            if !classes.starts_with(&net.classes) {
                return Err(format!("{f}: other classes"));
            }
            add_classes(&mut net, &classes);
            net
        }
        Err(_) => Net::init(classes.clone(), &mut rng),
    };
    let nt = net.p.len();
    // the parameters trained, per tensor
    let trained: Vec<std::ops::Range<usize>> = match std::env::var("INIT") {
        Ok(f) if env("NEW_ONLY", 0) == 1 => {
            let old = Net::from_bytes(&std::fs::read(&f).map_err(|e| e.to_string())?)?;
            let n_old = old.classes.len();
            (0..nt)
                .map(|k| match k {
                    _ if k == nt - 2 => n_old * cnn::FC_H..net.p[k].len(),
                    _ if k == nt - 1 => n_old..net.p[k].len(),
                    _ => 0..0,
                })
                .collect()
        }
        _ => net.p.iter().map(|t| 0..t.len()).collect(),
    };
    let mut m1: Vec<Vec<f32>> = net.p.iter().map(|t| vec![0.0; t.len()]).collect();
    let mut m2 = m1.clone();
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let t0 = Instant::now();
    let mut loss_acc = 0f32;
    let mut loss_n = 0usize;
    for step in 0..steps {
        // per-thread gradient sums over fixed slices of the batch
        let per = batch.div_ceil(threads);
        let results: Vec<(Vec<Vec<f32>>, f32)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|th| {
                    let net = &net;
                    let data = &data;
                    s.spawn(move || {
                        let mut g: Vec<Vec<f32>> =
                            net.p.iter().map(|t| vec![0.0; t.len()]).collect();
                        let mut loss = 0f32;
                        let mut cache = Cache::default();
                        for i in th * per..((th + 1) * per).min(batch) {
                            let mut r = Rng::new(seed_of(seed, step, i as u64));
                            let (x, text, _) = data.sample(&mut r);
                            let Some(label) = data.label(&text) else {
                                continue;
                            };
                            let lg = net.forward(&x, &mut cache);
                            let mut dl = vec![0f32; lg.len()];
                            loss += cnn::ctc_loss(&lg, net.classes.len(), &label, &mut dl);
                            net.backward(&cache, &dl, &mut g);
                        }
                        (g, loss)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut grads: Vec<Vec<f32>> = net.p.iter().map(|t| vec![0.0; t.len()]).collect();
        for (g, l) in &results {
            loss_acc += l;
            for (a, b) in grads.iter_mut().zip(g) {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
            }
        }
        loss_n += batch;
        let inv = 1.0 / batch as f32;
        let mut norm = 0f32;
        for (g, r) in grads.iter_mut().zip(&trained) {
            for v in g[r.clone()].iter_mut() {
                *v *= inv;
                norm += *v * *v;
            }
        }
        let norm = norm.sqrt();
        let clip = if norm > 5.0 { 5.0 / norm } else { 1.0 };
        let warm = ((step + 1) as f32 / 200.0).min(1.0);
        let prog = step as f32 / steps as f32;
        let lr = base_lr * warm * (0.03 + 0.97 * 0.5 * (1.0 + (std::f32::consts::PI * prog).cos()));
        let tt = (step + 1) as i32;
        let (c1, c2) = (1.0 - b1.powi(tt), 1.0 - b2.powi(tt));
        for k in 0..nt {
            for j in trained[k].clone() {
                let g = grads[k][j] * clip;
                m1[k][j] = b1 * m1[k][j] + (1.0 - b1) * g;
                m2[k][j] = b2 * m2[k][j] + (1.0 - b2) * g * g;
                net.p[k][j] -= lr * (m1[k][j] / c1) / ((m2[k][j] / c2).sqrt() + eps);
            }
        }
        if (step + 1) % 100 == 0 {
            eprintln!(
                "step {:5} loss {:.3} lr {:.5} |g| {:.2} {:.0}s",
                step + 1,
                loss_acc / loss_n as f32,
                lr,
                norm,
                t0.elapsed().as_secs_f32()
            );
            loss_acc = 0.0;
            loss_n = 0;
        }
        if (step + 1) % 1000 == 0 || step + 1 == steps {
            validate(&net, &data);
            std::fs::write(out, net.to_bytes()).map_err(|e| e.to_string())?;
        }
    }
    eprintln!("wrote {out}");
    Ok(())
}

/// Every single-row plate of the **tuning** EasyPR photos (`labels.tsv`;
/// never a held-out photo: `held_out`), cut out along its labelled rotated
/// box at the photo's resolution by the recogniser's own cutter (`cut_box`).
fn easypr_crops(dir: &Path, classes: &[char]) -> Result<Vec<(RgbImage, Vec<char>, bool)>, String> {
    let mut out = Vec::new();
    for photo in plate_recognizer::labels::photos(dir, false)? {
        let (_, plates, photo) = photo?;
        for l in plates {
            let text: Vec<char> = l.plate.chars().collect();
            if text.len() != 7
                || l.layout() != "single-row"
                || !text.iter().all(|c| classes.contains(c))
            {
                continue;
            }
            let (w, h) = (l.w.round().max(8.0) as u32, l.h.round().max(4.0) as u32);
            let crop = plate_recognizer::cut_box(&photo, [l.cx, l.cy, l.w, l.h, l.angle], w, h);
            out.push((crop, text, l.colour == Some("blue")));
        }
    }
    Ok(out)
}

/// What is not a plate, from the **tuning** EasyPR photos (never a
/// held-out one) with every labelled plate painted over
/// (`labels::paint_over`): the classical locator's candidates there
/// (`located_boxes`: grilles, badges, signs, lamps, text, the painted
/// patch itself), cut out along their boxes with a tenth of their size
/// around them. The places the search would read, where nothing is to
/// be read.
fn negative_crops(dir: &Path) -> Result<Vec<RgbImage>, String> {
    let mut out = Vec::new();
    for photo in plate_recognizer::labels::photos(dir, false)? {
        let (_, plates, mut photo) = photo?;
        for l in &plates {
            plate_recognizer::labels::paint_over(&mut photo, l);
        }
        for [cx, cy, w, h, angle] in plate_recognizer::located_boxes(&photo) {
            let (w, h) = (w * 1.1, h * 1.2);
            if w < 16.0 || h < 6.0 {
                continue;
            }
            let (ow, oh) = (w.round().min(400.0) as u32, h.round().min(120.0) as u32);
            out.push(plate_recognizer::cut_box(
                &photo,
                [cx, cy, w, h, angle],
                ow,
                oh,
            ));
        }
    }
    Ok(out)
}

/// Adds the classes of `classes` after the net's own (a prefix of them) to
/// its output layer (the last two tensors), weights and biases zero.
fn add_classes(net: &mut Net, classes: &[char]) {
    let n = net.p.len();
    net.p[n - 2].resize(classes.len() * cnn::FC_H, 0.0);
    net.p[n - 1].resize(classes.len(), 0.0);
    net.classes = classes.to_vec();
}

fn validate(net: &Net, data: &Data) {
    let mut ok = 0;
    for (img, text) in &data.lpr_val {
        let (got, _) = net.read(&cnn::prepare(img, false));
        if &got == text {
            ok += 1;
        }
    }
    eprint!("  val lprnet {ok}/{}", data.lpr_val.len());
    if !data.negatives_val.is_empty() {
        // negatives of which 5 characters or more are read (a plate could
        // be made of them)
        let read = data
            .negatives_val
            .iter()
            .filter(|img| net.read(&cnn::prepare(img, false)).0.len() >= 5)
            .count();
        eprint!("  negatives read {read}/{}", data.negatives_val.len());
    }
    for kind in Kind::ALL {
        let mut ok = 0;
        let n = 60;
        for i in 0..n {
            let mut r = Rng::new(900_000 + i);
            let (x, text, _) = data.synthetic(kind, &mut r);
            if net.read(&x).0 == text {
                ok += 1;
            }
        }
        eprint!("  {kind:?} {ok}/{n}");
    }
    eprintln!();
}
