//! Choosing the plate: the passes over a photo's candidates (as located;
//! looser crops while no read is sure; zooming into large candidates while
//! nothing is read; re-reads from boxes fitted to the characters), the
//! state of that search, and the answer: the most confident read with each
//! character voted on by every read of the same plate.

use crate::locate::{Cand, Fallback, Scene, zoom};
use crate::photo::Photo;
use crate::read::format::fits;
use crate::read::{
    DOUBLE_ROW_ASPECT, FIRST_MARGINS, Reading, crop_color, read_candidate, read_prepared,
};
use crate::rectify::{KEYSTONE_MIN, Source, keystone_of, rectify};
use crate::{Recognition, cnn, debug_on};

/// Are candidates of this kind still to be located?
fn to_locate(kind: Fallback, st: &Search) -> bool {
    match kind {
        Fallback::Unsure => st.sure < CONFIDENT,
        Fallback::No | Fallback::Textured => true,
    }
}

/// Is a candidate still to be read? A textured one (a plate on a car of
/// its own colour) while nothing is read, or where it could be the main
/// plate: more prominent ([`prominence`]) than the main plate read so far.
pub(crate) fn wanted(c: &Cand, st: &Search, photo_w: f32) -> bool {
    match c.fallback {
        Fallback::No => true,
        Fallback::Unsure => st.sure < CONFIDENT,
        Fallback::Textured => {
            st.best_conf() < MIN_CONFIDENCE || prominence(c, photo_w) > st.main_prominence(photo_w)
        }
    }
}

/// Reads every candidate (and the fallback candidates of `scene` while
/// nothing is confident); the most confident valid read wins.
pub(crate) fn read_candidates(
    full: &Photo,
    scene: &Scene,
    mut cands: Vec<Cand>,
    net: &cnn::Net,
) -> Option<Recognition> {
    let debug = debug_on();
    let grey = scene.colourless();
    let mut st = Search::default();
    // per candidate: how many characters its first reads had with p >= 0.5
    let mut promise = vec![0usize; cands.len()];
    // pass 0: each candidate as located; pass 1 (only while no confident
    // read): looser crops of the candidates whose first read had at least
    // two clear characters (part of a plate, not a random texture)
    let mut top: Vec<usize> = Vec::new();
    let mut fallbacks = [Fallback::Unsure, Fallback::Textured].into_iter();
    let photo_w = full.width() as f32;
    for pass in 0..2 {
        if pass == 1 && st.sure >= CONFIDENT {
            break;
        }
        if pass == 1 {
            // the (at most) 2 candidates with the most clear characters
            top = (0..cands.len()).collect();
            top.sort_by(|&a, &b| promise[b].cmp(&promise[a]));
            top.truncate(2);
        }
        let mut ci = 0;
        while ci < cands.len() || pass == 0 {
            if ci == cands.len() {
                // the first pass has read every candidate: locate the next
                // kind of fallback, if still wanted
                match fallbacks.by_ref().find(|&k| to_locate(k, &st)) {
                    Some(kind) => {
                        let more = scene.candidates(kind, &cands);
                        cands.extend(more);
                        promise.resize(cands.len(), 0);
                        continue;
                    }
                    None => break,
                }
            }
            let c = &cands[ci];
            ci += 1;
            let ci = ci - 1;
            if debug {
                eprintln!("pass {pass} cand {ci} {c:?}");
            }
            if pass == 1 && (promise[ci] < 2 || !top.contains(&ci)) {
                continue;
            }
            if !wanted(c, &st, photo_w) {
                continue;
            }
            for rd in read_candidate(full, c, net, pass, grey, &mut promise[ci]) {
                st.consider(rd, "read");
            }
            // second pass: the first confident read ends the search
            if pass == 1 && st.sure >= CONFIDENT {
                break;
            }
        }
    }
    // pass 2 (still nothing confident): zoom into the largest candidates
    // without a clear read -- a plate merged with its surroundings into one
    // big blob -- and locate again inside them at a finer scale
    if st.best_conf() < MIN_CONFIDENCE {
        let mut big: Vec<usize> = (0..cands.len()).filter(|&i| promise[i] < 2).collect();
        big.sort_by(|&a, &b| (cands[b].w * cands[b].h).total_cmp(&(cands[a].w * cands[a].h)));
        for &ci in big.iter().take(ZOOMS) {
            for sc in zoom(full, &cands[ci]) {
                let mut p = 0;
                for rd in read_candidate(full, &sc, net, 0, grey, &mut p) {
                    st.consider(rd, &format!("zoom {ci} {sc:?}"));
                }
            }
            if st.sure >= CONFIDENT {
                break;
            }
        }
    }
    // pass 3: read the most confident plates again from boxes fitted to
    // their characters (a box that cut the province off, or held more than
    // the plate, gets a whole, centred plate); the most confident one, and
    // the main plate's most confident box when that is another plate (the
    // plate `answer` may choose), also with other margins
    st.fitted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let main_second = match main_fitted(&st.fitted, full.width() as f32) {
        Some(m) if m > 0 => {
            // second, so that it is among the `REFITS` read again
            let f = st.fitted.remove(m);
            st.fitted.insert(1, f);
            true
        }
        _ => false,
    };
    let mut done: Vec<Cand> = Vec::new();
    for (i, (conf, c)) in std::mem::take(&mut st.fitted).into_iter().enumerate() {
        if conf < MIN_CONFIDENCE / 2.0 || done.len() == REFITS {
            break;
        }
        if done
            .iter()
            .any(|d| (d.cx - c.cx).abs() < 0.1 * d.w && (d.cy - c.cy).abs() < 0.3 * d.h)
        {
            continue;
        }
        // a plate seen from one side: read in its perspective
        let mut c = c;
        if !grey && c.keystone == 0.0 {
            let k = keystone_of(full, &c);
            if k.abs() >= KEYSTONE_MIN {
                c.keystone = k;
                c.shear = false;
            }
        }
        let mut p = 0;
        for mut rd in read_candidate(full, &c, net, 0, grey, &mut p) {
            rd.aligned = None;
            st.consider(rd, &format!("refit {c:?}"));
        }
        if done.is_empty() || (main_second && i == 1) {
            // the most confident plate, and the main one: also with
            // tighter and looser margins, more votes for each character
            for (ew, eh) in CONFIRM_MARGINS {
                let crop = rectify(full, &c, ew, eh, cnn::IN_W as u32, cnn::IN_H as u32);
                let seen = crop_color(&c, &crop, grey);
                let x = cnn::prepare(&crop, false);
                if let Some(mut rd) = read_prepared(
                    net,
                    &x,
                    seen,
                    Source {
                        full,
                        c: &c,
                        ew,
                        eh,
                    },
                    true,
                    &mut p,
                ) {
                    rd.aligned = None;
                    st.consider(rd, "confirm");
                }
            }
        }
        done.push(c);
    }
    st.answer(full.width() as f32)
        .filter(|b| b.confidence >= MIN_CONFIDENCE)
        .filter(|b| b.confidence >= CONFIDENT || looks_like_a_plate(full, scene, b))
}

/// Does the learned detector see a plate where an unsure answer was read,
/// and does the check reader read one there?
/// The reader, which never saw anything but plates in training, reads
/// characters into noise, signs and textures with confidences up to 0.8;
/// the detector, trained on photos with everything but their plates as
/// negatives, gives those places a low plate probability
/// ([`Detector::plate_score`](crate::detect::Detector::plate_score) under
/// [`PLATE_SCORE_MIN`]). The crate README, "Plates that are not there".
fn looks_like_a_plate(full: &Photo, scene: &Scene, b: &Recognition) -> bool {
    let Ok(det) = crate::detect::model() else {
        return true;
    };
    let score = crate::stage::timed(&crate::stage::DETECT, || {
        det.plate_score(scene.detector_input(full), &b.corners)
    });
    if debug_on() {
        eprintln!(
            "  verify {} ({:.3}): plate score {score:.3}",
            b.plate, b.confidence
        );
    }
    score >= PLATE_SCORE_MIN && the_check_reader_reads_a_plate(full, b)
}

/// Does the check reader ([`crate::read::check_model`]: the reader taught
/// to read nothing where there is no plate) read at least
/// [`CHECK_READ_MIN`] characters at an unsure answer's box (cut out as a
/// candidate's first read is)? Single-row boxes only (aspect
/// [`DOUBLE_ROW_ASPECT`] and more): the check reader was taught single-row crops; a double-row
/// answer has the detector's check alone. The crate README, "Plates that
/// are not there".
fn the_check_reader_reads_a_plate(full: &Photo, b: &Recognition) -> bool {
    let Ok(check) = crate::read::check_model() else {
        return true;
    };
    let at = Cand::around(&b.corners);
    if at.w < DOUBLE_ROW_ASPECT * at.h {
        return true;
    }
    let n = read_box(check, full, &at).len();
    if debug_on() {
        eprintln!("  check reader: {n} characters");
    }
    n >= CHECK_READ_MIN
}

/// What `net` reads (single row) at a box, cut out as a candidate's first
/// read is ([`FIRST_MARGINS`]).
pub(crate) fn read_box(net: &cnn::Net, full: &Photo, at: &Cand) -> Vec<char> {
    let (ew, eh) = FIRST_MARGINS;
    let crop = rectify(full, at, ew, eh, cnn::IN_W as u32, cnn::IN_H as u32);
    net.read(&cnn::prepare(&crop, false)).0
}

/// Least number of characters the check reader must read at an unsure
/// single-row answer (chosen on the tuning part: NOTEBOOK.md, "A reader
/// taught what is not a plate").
pub const CHECK_READ_MIN: usize = 6;

/// Least plate score of the detector at an answer below [`CONFIDENT`].
pub const PLATE_SCORE_MIN: f32 = 0.12;

/// The state of one photo's search over its candidates.
#[derive(Default)]
pub(crate) struct Search {
    /// Every valid read so far, with its text.
    reads: Vec<(Vec<char>, Reading)>,
    /// The most confident read by the reader alone (before the province vote).
    sure: f32,
    /// Boxes fitted to single-row reads, with their read's confidence.
    fitted: Vec<(f32, Cand)>,
}

impl Search {
    pub(crate) fn consider(&mut self, mut rd: Reading, what: &str) {
        self.sure = self.sure.max(rd.reader_conf);
        if debug_on() {
            eprintln!(
                "  {what} -> {} {} {:.3}",
                rd.rec.plate,
                rd.rec.color.as_str(),
                rd.rec.confidence
            );
        }
        if let Some(a) = rd.aligned.take() {
            self.fitted.push((rd.rec.confidence, a));
        }
        self.reads.push((rd.rec.plate.chars().collect(), rd));
    }

    /// Which read so far is of the main plate ([`main_among`] over the
    /// reads' boxes and confidences; `None` without a read of at least
    /// `MIN_CONFIDENCE`).
    fn main_read(&self, photo_w: f32) -> Option<usize> {
        let scored: Vec<(f32, &Cand)> = self
            .reads
            .iter()
            .map(|r| (r.1.rec.confidence, &r.1.at))
            .collect();
        main_among(&scored, photo_w)
    }

    /// The [`prominence`] of the main plate read so far (0 without a read
    /// of at least `MIN_CONFIDENCE`).
    fn main_prominence(&self, photo_w: f32) -> f32 {
        self.main_read(photo_w)
            .map_or(0.0, |m| prominence(&self.reads[m].1.at, photo_w))
    }

    /// The confidence of the most confident read so far (0 without one).
    pub(crate) fn best_conf(&self) -> f32 {
        self.reads
            .iter()
            .map(|r| r.1.rec.confidence)
            .fold(0.0, f32::max)
    }

    /// The main plate's most confident read (see [`main_plate`]), its
    /// characters voted on by every read of the same plate (the same length, at most 2 characters different):
    /// per position, the character with the highest probability summed
    /// over those reads.
    /// Crops of one plate differ in their margins, and a character misread
    /// in one of them is usually read right in the others. A vote whose
    /// text the plate cannot have (characters of different reads that do
    /// not make a plate together, e.g. a province from one read and an
    /// embassy plate's digits from another) is not taken: the read's own
    /// text is answered.
    pub(crate) fn answer(self, photo_w: f32) -> Option<Recognition> {
        let conf = |i: usize| self.reads[i].1.rec.confidence;
        let most_confident =
            |of: &mut dyn Iterator<Item = usize>| of.max_by(|&a, &b| conf(a).total_cmp(&conf(b)));
        let at: Vec<&Cand> = self.reads.iter().map(|r| &r.1.at).collect();
        let top = match self.main_read(photo_w) {
            // the most confident read of the main plate
            Some(m) => most_confident(&mut (0..at.len()).filter(|&i| same_place(at[i], at[m])))?,
            None => most_confident(&mut (0..at.len()))?,
        };
        let text = &self.reads[top].0;
        let same: Vec<&(Vec<char>, Reading)> = self
            .reads
            .iter()
            .filter(|r| {
                r.0.len() == text.len() && r.0.iter().zip(text).filter(|(a, b)| a != b).count() <= 2
            })
            .collect();
        let voted: Vec<char> = (0..text.len())
            .map(|i| {
                let mut score: Vec<(char, f32)> = Vec::new();
                for &(ch, p) in same.iter().flat_map(|r| &r.1.dists[i]) {
                    match score.iter_mut().find(|s| s.0 == ch) {
                        Some(s) => s.1 += p,
                        None => score.push((ch, p)),
                    }
                }
                score
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|s| s.0)
                    .unwrap_or(text[i])
            })
            .collect();
        let mut best = self.reads.into_iter().nth(top)?.1.rec;
        if !fits(&voted, best.color) {
            return Some(best);
        }
        let voted: String = voted.into_iter().collect();
        if debug_on() && voted != best.plate {
            eprintln!("  vote: {} -> {voted}", best.plate);
        }
        best.plate = voted;
        Some(best)
    }
}

/// Plates read again from a box fitted to their characters (pass 3).
pub(crate) const REFITS: usize = 2;

/// Crop margins (width, height factors) the most confident plate's fitted
/// box is also read with (pass 3), besides the usual [`FIRST_MARGINS`].
pub(crate) const CONFIRM_MARGINS: [(f32, f32); 2] = [(1.0, 1.1), (1.18, 1.35)];

/// Candidates zoomed into when nothing was read confidently.
pub(crate) const ZOOMS: usize = 3;

/// A read this confident ends the search after the first pass.
pub(crate) const CONFIDENT: f32 = 0.85;

/// Reads below this confidence are not reported (no plate).
pub const MIN_CONFIDENCE: f32 = 0.5;

/// How much less confident than the best read a read may be and still
/// make its plate the main one (set on the tuning part of EasyPR: 0.1
/// read 92 of its 103 photos exactly, 0.15 and 0.2 93, 0.25 and 0.3 91;
/// the most confident read alone 91).
pub(crate) const MAIN_MARGIN: f32 = 0.15;

/// The main plate of a photo with several, as a car park wants it: the
/// plate of the car nearest the camera and in front of it, not merely the
/// one read most confidently. Of the contenders (the reads at least
/// `MIN_CONFIDENCE` and at most `MAIN_MARGIN` below the most confident
/// read: a plate, not a texture read as one), the one whose box in the
/// photo is the widest near the centre ([`prominence`]). `None` without
/// contenders.
fn main_plate(
    at: &[&Cand],
    contenders: impl Iterator<Item = usize>,
    photo_w: f32,
) -> Option<usize> {
    contenders.max_by(|&a, &b| prominence(at[a], photo_w).total_cmp(&prominence(at[b], photo_w)))
}

/// How much a box in the photo looks like the main plate's: its width,
/// discounted linearly with its centre's horizontal distance from the
/// photo's centre, to half at the left or right edge (a car passing at
/// the side of the picture is not the one at the barrier).
fn prominence(c: &Cand, photo_w: f32) -> f32 {
    let half = (photo_w / 2.0).max(1.0);
    c.w * (1.0 - 0.5 * ((c.cx - half).abs() / half).min(1.0))
}

/// Of boxes fitted to reads (confidence, box; most confident first), the
/// first one at the main plate's place, chosen among them as `answer`
/// chooses among reads (`main_plate`).
pub(crate) fn main_fitted(fitted: &[(f32, Cand)], photo_w: f32) -> Option<usize> {
    let scored: Vec<(f32, &Cand)> = fitted.iter().map(|f| (f.0, &f.1)).collect();
    let m = main_among(&scored, photo_w)?;
    (0..fitted.len()).find(|&i| same_place(&fitted[i].1, &fitted[m].1))
}

/// The main plate of reads (or boxes) with their confidence: by
/// [`main_plate`] among the contenders, those at least `MIN_CONFIDENCE`
/// and at most `MAIN_MARGIN` below the most confident.
pub(crate) fn main_among(scored: &[(f32, &Cand)], photo_w: f32) -> Option<usize> {
    let best = scored.iter().map(|s| s.0).fold(0.0, f32::max);
    let floor = MIN_CONFIDENCE.max(best - MAIN_MARGIN);
    let at: Vec<&Cand> = scored.iter().map(|s| s.1).collect();
    main_plate(
        &at,
        (0..at.len()).filter(|&i| scored[i].0 >= floor),
        photo_w,
    )
}

/// Are two boxes the same plate's (centres less than half the wider
/// box's width apart across, less than the taller box's height down)?
fn same_place(a: &Cand, b: &Cand) -> bool {
    (a.cx - b.cx).abs() < 0.5 * a.w.max(b.w) && (a.cy - b.cy).abs() < a.h.max(b.h)
}
