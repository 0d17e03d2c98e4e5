//! Tests of the pipeline's rooms on synthetic data (the photos in
//! `tests/fixtures/` and crops made here).

use crate::colour::plate_color;
use crate::layout::{CENTRES_7, align};
use crate::locate::{Cand, Fallback, locate};
use crate::photo::Photo;
use crate::province::*;
use crate::read::format::*;
use crate::read::*;
use crate::rectify::{keystone_of, rectify};
use crate::search::*;
use crate::synth::{Noise, noise_photo};
use crate::*;
use image::RgbImage;

fn reading(text: &str, probs: &[f32]) -> Reading {
    let conf = probs.iter().sum::<f32>() / probs.len() as f32;
    Reading {
        rec: Recognition {
            plate: text.into(),
            color: Color::Blue,
            confidence: conf,
            corners: [[0.0; 2]; 4],
        },
        reader_conf: conf,
        aligned: None,
        at: plate_box(500.0, 120.0),
        dists: text
            .chars()
            .zip(probs)
            .map(|(c, &p)| vec![(c, p)])
            .collect(),
    }
}

/// A read of `text` at the given CTC centres (columns), each character
/// with probability 0.9 at its column; `alt` adds (column, class, p).
fn read_at(classes: &[char], text: &str, centre: &[f32], alt: &[(usize, char, f32)]) -> cnn::Read {
    let text: Vec<char> = text.chars().collect();
    let cols: Vec<usize> = centre.iter().map(|&c| c.round() as usize).collect();
    let mut probs = vec![0f32; classes.len() * cnn::T];
    let k = |ch: char| classes.iter().position(|&c| c == ch).unwrap();
    probs[..cnn::T].fill(1.0);
    for (&ch, &t) in text.iter().zip(&cols) {
        (probs[t], probs[k(ch) * cnn::T + t]) = (0.1, 0.9);
    }
    for &(t, ch, p) in alt {
        probs[k(ch) * cnn::T + t] = p;
    }
    cnn::Read {
        conf: vec![0.9; text.len()],
        text,
        cols,
        centre: centre.to_vec(),
        probs,
    }
}

/// The plate's extent in a province window: from the first column with
/// the plate's colour, over the rows that have it; the whole window for
/// a colourless plate.
#[test]
fn province_window_starts_at_the_plate() {
    // 40 × 64: a light grey car body (x < 6), then the blue plate
    // between rows 10 and 53, with a white frame line at x = 8 and a
    // white glyph stroke at x = 16..20; grey above and below
    let win = RgbImage::from_fn(40, 64, |x, y| {
        if x < 6 || !(10..54).contains(&y) {
            image::Rgb([200, 200, 200])
        } else if x == 8 || (16..20).contains(&x) {
            image::Rgb([240, 240, 240])
        } else {
            image::Rgb([20, 60, 170])
        }
    });
    assert_eq!(plate_extent(&win, Color::Blue), (6, 10, 54));
    // the same window for a white plate: nothing to go by
    assert_eq!(plate_extent(&win, Color::White), (0, 64 / 6, 64 - 64 / 6));
    // no blue anywhere: the whole window
    let grey = RgbImage::from_pixel(40, 64, image::Rgb([200, 200, 200]));
    assert_eq!(plate_extent(&grey, Color::Blue), (0, 64 / 6, 64 - 64 / 6));
}

/// The 皖 prior follows from the training mix (1.79) and the province list.
#[test]
fn reader_wan_prior_is_the_training_mix() {
    assert_eq!(PROVINCES.chars().count(), PROVINCE_COUNT);
    assert!(
        (READER_WAN_PRIOR - 1.795).abs() < 0.001,
        "{READER_WAN_PRIOR}"
    );
}

/// The text of a mended read.
fn s(r: Option<cnn::Read>) -> Option<String> {
    r.map(|r| r.text.into_iter().collect())
}

/// The CTC columns of a 7-character plate (u = 0.02 + 0.002 mm across the
/// crop).
fn columns_7() -> Vec<f32> {
    CENTRES_7
        .iter()
        .map(|mm| (0.02 + 0.002 * mm) * cnn::T as f32 - 0.5)
        .collect()
}

#[test]
fn reads_are_mended_to_the_plate_format() {
    let classes: Vec<char> = "_0123456789ABDEQX皖粤".chars().collect();
    let at = columns_7();
    // a digit where the letter goes: the most probable letter there
    let r = read_at(
        &classes,
        "粤012345",
        &at,
        &[(at[1] as usize, 'Q', 0.3), (at[1] as usize, 'D', 0.2)],
    );
    assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some("粤Q12345"));
    // ... but not one the reader hardly considered
    let r = read_at(&classes, "粤012345", &at, &[(at[1] as usize, 'Q', 0.01)]);
    assert_eq!(s(fix_format(&r, &classes, 7)), None);
    // two characters out of place are not one slip
    let r = read_at(&classes, "粤01234粤", &at, &[(at[1] as usize, 'Q', 0.3)]);
    assert_eq!(s(fix_format(&r, &classes, 7)), None);
    // one too many: the character off the layout goes (here the second
    // half of a province glyph, read as E), not the one that leaves the
    // format valid but a gap in the row (X or 4)
    let mut extra = at.clone();
    extra.insert(1, 0.5 * (at[0] + at[1]));
    let r = read_at(&classes, "皖EX30479", &extra, &[]);
    assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some("皖X30479"));
    // a trailing 1 from the frame's edge
    let mut edge = at.clone();
    edge.push(at[6] + 2.0);
    let r = read_at(&classes, "粤AB12331", &edge, &[]);
    assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some("粤AB1233"));
    // two too many: no
    let mut two = extra.clone();
    two.push(at[6] + 2.0);
    let r = read_at(&classes, "皖EX304791", &two, &[]);
    assert_eq!(s(fix_format(&r, &classes, 7)), None);
}

/// A plate's box in a photo: centred at (`cx`, 300), `w` wide.
fn plate_box(cx: f32, w: f32) -> Cand {
    Cand {
        cx,
        cy: 300.0,
        w,
        h: w / 3.2,
        angle: 0.0,
        color: Some(Color::Blue),
        shear: false,
        keystone: 0.0,
        fallback: Fallback::No,
    }
}

/// The answer is the most confident read with each character voted on
/// by the reads of the same plate; reads of another plate do not vote.
#[test]
fn reads_of_one_plate_vote_per_character() {
    let mut st = Search::default();
    for (text, probs) in [
        ("粤AL62T2", [0.9, 1.0, 1.0, 1.0, 1.0, 0.55, 1.0]),
        ("粤AL6212", [0.9, 1.0, 1.0, 1.0, 1.0, 0.5, 0.9]),
        ("粤AL6212", [0.8, 1.0, 1.0, 0.9, 1.0, 0.6, 0.9]),
        // another plate of the photo, same length: too different to vote
        ("京N11111", [0.1; 7]),
        ("京N11111", [0.1; 7]),
    ] {
        st.consider(reading(text, &probs), text);
    }
    assert!((st.best_conf() - 0.9214).abs() < 1e-3);
    let r = st.answer(1000.0).unwrap();
    assert_eq!(r.plate, "粤AL6212");
    assert!(
        (r.confidence - 0.9214).abs() < 1e-3,
        "the top read's confidence"
    );
    // one read: itself
    let mut st = Search::default();
    st.consider(reading("粤AL62T2", &[0.9; 7]), "a");
    assert_eq!(st.answer(1000.0).unwrap().plate, "粤AL62T2");
    assert!(Search::default().answer(1000.0).is_none());
    // whole distributions vote: the runner-up of each read counts
    let mut st = Search::default();
    let mut a = reading("粤Q18632", &[0.51, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    a.dists[0] = vec![('粤', 0.51), ('皖', 0.45)];
    let mut b = reading("皖Q18632", &[0.44, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    b.dists[0] = vec![('皖', 0.44), ('粤', 0.02)];
    st.consider(a, "a");
    st.consider(b, "b");
    assert_eq!(st.answer(1000.0).unwrap().plate, "皖Q18632");
    // a vote that makes no plate is not taken: 川 from one read and the
    // embassy plate's digits from the other would give 川014578
    let mut st = Search::default();
    st.consider(
        reading("使014578", &[0.6, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0]),
        "a",
    );
    st.consider(
        reading("川Q14578", &[0.9, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]),
        "b",
    );
    assert_eq!(st.answer(1000.0).unwrap().plate, "使014578");
}

/// A read whose province glyph the province CNN was not given (the
/// window found no letter rows, a double-row read) counts in the vote
/// with the reader's share of the province vote only, as it does where
/// the CNN has a view: two such reads of 皖 (the reader's province, right
/// on a third of plates) do not outvote one read whose CNN saw 苏.
#[test]
fn a_province_the_cnn_did_not_see_counts_with_the_readers_share() {
    let net = model().unwrap();
    let read = read_at(&net.classes, "皖A36E80", &columns_7(), &[]);
    let share = reader_share(net, &read, PROVINCE_CNN_WEIGHT).unwrap();
    let total: f32 = share.iter().map(|d| d.1).sum();
    assert!(
        (total - (1.0 - PROVINCE_CNN_WEIGHT)).abs() < 1e-4,
        "{total}"
    );
    assert_eq!(argmax(&share).0, '皖');
    // an embassy plate has no province to check
    let embassy = read_at(&net.classes, "使014578", &columns_7(), &[]);
    assert!(reader_share(net, &embassy, PROVINCE_CNN_WEIGHT).is_none());
    let vote = |unchecked: &Dist| {
        let mut st = Search::default();
        let mut checked = reading("苏A36E80", &[0.48, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        checked.dists[0] = vec![('苏', 0.48), ('冀', 0.1)];
        st.consider(checked, "checked");
        for _ in 0..2 {
            let mut r = reading("皖A36E80", &[0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
            r.dists[0] = unchecked.clone();
            st.consider(r, "unchecked");
        }
        st.answer(1000.0).unwrap().plate
    };
    assert_eq!(vote(&share), "苏A36E80");
    // with the reader's whole probability they would
    assert_eq!(vote(&vec![('皖', 0.9)]), "皖A36E80");
}

/// A file of `tests/fixtures/`. Inside a component (the unit tests built
/// for wasm32-wasip2, run by `tests/in_component.rs`) the crate's
/// directory is `/data`.
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/{name}", fixtures());
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixtures' folder (in a component, as `wasm-run` maps it).
fn fixtures() -> String {
    let root = if cfg!(target_arch = "wasm32") {
        "/data"
    } else {
        env!("CARGO_MANIFEST_DIR")
    };
    format!("{root}/tests/fixtures")
}

/// The synthetic photo of a blue plate, 京N62847 (`tests/fixtures`).
fn blue_photo() -> RgbImage {
    decode(&fixture("blue-京N62847.jpg")).unwrap()
}

/// The candidate its blue colour finds in a photo.
fn blue_candidate(img: &RgbImage) -> Cand {
    locate(&crate::Photo::from_rgb(img))
        .into_iter()
        .find(|c| c.color == Some(Color::Blue))
        .expect("the plate is found by its colour")
}

/// The main plate: the widest contender, its width discounted towards the
/// photo's side edges; contenders are the reads within `MAIN_MARGIN` of
/// the most confident one.
#[test]
fn the_main_plate_is_the_near_central_one() {
    let main = |plates: &[(f32, f32, f32)]| {
        let at: Vec<Cand> = plates.iter().map(|&(cx, w, _)| plate_box(cx, w)).collect();
        let scored: Vec<(f32, &Cand)> = plates.iter().map(|p| p.2).zip(&at).collect();
        main_among(&scored, 1000.0)
    };
    // the wider plate, though less confident
    assert_eq!(main(&[(500.0, 100.0, 0.99), (450.0, 150.0, 0.9)]), Some(1));
    // a wider plate at the edge counts half its width
    assert_eq!(main(&[(40.0, 180.0, 0.99), (520.0, 120.0, 0.9)]), Some(1));
    assert_eq!(main(&[(40.0, 260.0, 0.99), (520.0, 120.0, 0.9)]), Some(0));
    // much less confident than the best read: a texture, no contender
    assert_eq!(main(&[(500.0, 100.0, 0.99), (450.0, 300.0, 0.7)]), Some(0));
    assert_eq!(main(&[(500.0, 100.0, 0.4)]), None);
}

/// Pass 3 reads the main plate again with other margins, not only the
/// most confident one: of the boxes fitted to reads (most confident
/// first), the first at the main plate's place.
#[test]
fn the_main_plate_gets_the_extra_reads() {
    let fitted = |boxes: &[(f32, f32, f32)]| -> Vec<(f32, Cand)> {
        boxes
            .iter()
            .map(|&(cx, w, conf)| (conf, plate_box(cx, w)))
            .collect()
    };
    // a plate at the side read most confidently; the near central plate
    // twice, the wider box the less confident one
    let f = fitted(&[
        (60.0, 120.0, 0.95),
        (500.0, 200.0, 0.9),
        (505.0, 210.0, 0.85),
    ]);
    assert_eq!(main_fitted(&f, 1000.0), Some(1));
    // one plate: its most confident box
    let f = fitted(&[(500.0, 200.0, 0.9), (505.0, 210.0, 0.85)]);
    assert_eq!(main_fitted(&f, 1000.0), Some(0));
    // a wide texture far below the best read is no contender
    let f = fitted(&[(500.0, 120.0, 0.95), (450.0, 300.0, 0.6)]);
    assert_eq!(main_fitted(&f, 1000.0), Some(0));
}

/// A box that holds more than the plate (40 % too wide, off-centre) is
/// fitted back onto the plate from the characters it reads.
#[test]
fn a_loose_box_is_fitted_to_the_characters() {
    let img = blue_photo();
    let net = model().unwrap();
    let plate = blue_candidate(&img);
    let mut loose = plate.clone();
    loose.w *= 1.4;
    loose.cx += 0.12 * plate.w;
    let crop = rectify(
        &crate::Photo::from_rgb(&img),
        &loose,
        1.08,
        1.2,
        cnn::IN_W as u32,
        cnn::IN_H as u32,
    );
    let read = net.read_aligned(&cnn::prepare(&crop, false));
    // (the reader alone is weak on provinces; the layout fit ignores it)
    assert_eq!(read.text[1..].iter().collect::<String>(), "N62847");
    let fitted = align(&loose, 1.08, &read).expect("a 7-character row fits");
    assert!(
        (fitted.w / plate.w - 1.0).abs() < 0.1 && (fitted.cx - plate.cx).abs() < 0.05 * plate.w,
        "fitted {fitted:?}, plate {plate:?}"
    );
    // a read that is not a row of 7 or 8 characters fits nothing
    let mut short = read;
    short.text.truncate(5);
    short.centre.truncate(5);
    assert!(align(&loose, 1.08, &short).is_none());
}

/// The segmenter's glyph of every letter and digit of the fixtures'
/// single-row plates is classified right by the letter-and-digit CNN: on
/// police and embassy plates too, whose dot is elsewhere (the grid is
/// the read's layout, `layout::dot_after`).
#[test]
fn the_letter_and_digit_cnn_reads_the_segmenters_glyphs() {
    use crate::segment::glyph_patches;
    let net = crate::glyphs::alnum_model().unwrap();
    for (name, text, color) in [
        ("blue-京N62847.jpg", "京N62847", Color::Blue),
        ("yellow-鲁B7K391.jpg", "鲁B7K391", Color::Yellow),
        ("white-川A90M17.jpg", "川A90M17", Color::White),
        ("police-湘A0825警.jpg", "湘A0825警", Color::White),
        ("embassy-使014578.jpg", "使014578", Color::Black),
    ] {
        let chars: Vec<char> = text.chars().collect();
        let img = decode(&fixture(name)).unwrap();
        let photo = crate::Photo::from_rgb(&img);
        let plate = locate(&photo)
            .into_iter()
            .filter(|c| c.color.is_none() || c.color == Some(color))
            .max_by(|a, b| (a.w * a.h).total_cmp(&(b.w * b.h)))
            .expect("a candidate");
        let src = crate::rectify::Source {
            full: &photo,
            c: &plate,
            ew: 1.08,
            eh: 1.2,
        };
        let seg = glyph_patches(&src, color, &chars).expect("segmented");
        assert_eq!(seg.len(), 7, "{name}");
        // the letters and digits (not 警)
        let alnum = |c: &char| c.is_ascii_alphanumeric();
        let read: String = seg[1..]
            .iter()
            .zip(&chars[1..])
            .filter(|(_, c)| alnum(c))
            .map(|(p, _)| p)
            .map(|(w, h, px)| {
                let p = net.predict(&mlp::char_features(px, *w, *h)[..pcnn::S * pcnn::S]);
                argmax(&net.classes.iter().copied().zip(p).collect::<Vec<_>>()).0
            })
            .collect();
        let want: String = chars[1..].iter().filter(|c| alnum(c)).collect();
        assert_eq!(read, want, "{name}");
    }
}

/// Where the reader is unsure of a letter or digit the CNN's glyph decides
/// (a 2 the reader took for Z, its N weakly); a position the reader is
/// sure of is not checked; a character the CNN does not know (the letter
/// O) keeps the reader's share of its probability.
#[test]
fn unsure_characters_are_voted_with_the_glyph_cnn() {
    use crate::glyphs::{ALNUM_CNN_WEIGHT, refine_chars, unsure};
    use crate::segment::glyph_patches;
    let img = blue_photo();
    let photo = crate::Photo::from_rgb(&img);
    let plate = blue_candidate(&img);
    let src = crate::rectify::Source {
        full: &photo,
        c: &plate,
        ew: 1.08,
        eh: 1.2,
    };
    let text: Vec<char> = "京N6Z847".chars().collect();
    let seg = glyph_patches(&src, Color::Blue, &text).expect("segmented");
    let mut dists: Vec<Dist> = text.iter().map(|&c| vec![(c, 0.95)]).collect();
    dists[1] = vec![('N', 0.5), ('H', 0.45)];
    dists[3] = vec![('Z', 0.6), ('2', 0.3)];
    let at = unsure(&text, &dists);
    assert_eq!(at, vec![1, 3]);
    let got = refine_chars(&text, &dists, &at, &seg, ALNUM_CNN_WEIGHT);
    let chars: Vec<(usize, char)> = got.iter().map(|(i, d)| (*i, argmax(d).0)).collect();
    assert_eq!(chars, vec![(1, 'N'), (3, '2')]);
    // the letter O second: the CNN has no O, the reader's share stays
    let text_o: Vec<char> = "粤O20486".chars().collect();
    let mut d_o: Vec<Dist> = text_o.iter().map(|&c| vec![(c, 0.95)]).collect();
    d_o[1] = vec![('O', 0.8), ('D', 0.1)];
    let got = refine_chars(&text_o, &d_o, &[1], &seg, ALNUM_CNN_WEIGHT);
    let o = got[0].1.iter().find(|e| e.0 == 'O').expect("O kept").1;
    assert!((o - (1.0 - ALNUM_CNN_WEIGHT) * 0.8).abs() < 1e-6);
    assert!(got[0].1.iter().all(|e| e.0 != '0'), "no digit second");
}

/// A crop of `bg` with vertical strokes of `ink` (a third of the area).
fn plate_crop(bg: [u8; 3], ink: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(128, 32, |x, y| {
        let stroke = (8..24).contains(&y) && x % 12 < 4;
        image::Rgb(if stroke { ink } else { bg })
    })
}

/// A crop of `bg` with bold strokes of `ink` (two thirds of the band).
fn bold(bg: [u8; 3], ink: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(128, 32, |x, y| {
        let stroke = (4..28).contains(&y) && x % 12 < 8;
        image::Rgb(if stroke { ink } else { bg })
    })
}

/// Light ink on a dark background is black only when the background
/// has (almost) no colour; a blue plate at night, dark and tinted by
/// the light, stays blue.
#[test]
fn dark_plates_are_blue_unless_colourless() {
    for bg in [[30, 22, 48], [46, 34, 36], [8, 12, 24], [24, 40, 110]] {
        assert_eq!(
            plate_color(&plate_crop(bg, [200, 200, 210])),
            Color::Blue,
            "{bg:?}"
        );
    }
    // (the last: saturation 0.11 from two levels of difference at a value
    // of 0.07, as JPEG noise gives a small black plate; no colour against
    // the step to its characters)
    for bg in [[18, 18, 20], [40, 42, 44], [18, 16, 17]] {
        assert_eq!(
            plate_color(&plate_crop(bg, [230, 230, 230])),
            Color::Black,
            "{bg:?}"
        );
    }
}

/// A blue plate whose white characters are most of the crop (bold
/// characters, a light frame or car around a small plate) is blue, not
/// white: a white plate's ink is black or red, never blue. Its polarity
/// decides how the province glyph is binarised.
#[test]
fn mostly_white_crops_over_blue_are_blue_plates() {
    // teal and deep blue plates with white characters
    for bg in [[40, 170, 160], [20, 60, 180], [60, 150, 200]] {
        assert_eq!(
            plate_color(&bold(bg, [235, 240, 240])),
            Color::Blue,
            "{bg:?}"
        );
    }
    // white plates with black or red ink stay white
    for ink in [[20, 20, 24], [200, 20, 30]] {
        assert_eq!(
            plate_color(&plate_crop([235, 235, 230], ink)),
            Color::White,
            "{ink:?}"
        );
    }
    // and white-ish characters over a weakly tinted grey background too
    assert_eq!(
        plate_color(&bold([110, 120, 130], [240, 240, 240])),
        Color::White
    );
}

/// A small green plate's characters, blurred and tinted by the plate,
/// are most of the band: both classes green is a green plate, whichever
/// is the ink. Not a black plate on a green car, whose light class is
/// the car's colour but whose background has none.
#[test]
fn a_green_plate_whose_characters_are_most_of_the_band_is_green() {
    assert_eq!(
        plate_color(&bold([170, 225, 190], [60, 110, 80])),
        Color::Green
    );
    assert_eq!(
        plate_color(&plate_crop([15, 15, 15], [160, 220, 200])),
        Color::Black
    );
}

/// A small white plate's black characters, blurred into every grey
/// between ink and plate, are most of the band, but the plate's white is
/// its most frequent shade: a white plate (its ink dark), also when a
/// police plate's red 警 tints them. A colourless grey background that is
/// itself the most frequent shade, under light characters, keeps its
/// light ink.
#[test]
fn a_white_plate_whose_blurred_characters_are_most_of_the_band_is_white() {
    // strokes two thirds of the band, each column a different grey
    let blurred = |bg: [u8; 3], lo: u8, hi: u8| {
        RgbImage::from_fn(128, 32, |x, y| {
            let i = x % 12;
            image::Rgb(if (4..28).contains(&y) && i < 8 {
                [lo + (hi - lo) / 7 * i as u8; 3]
            } else {
                bg
            })
        })
    };
    let white = blurred([232, 232, 230], 40, 180);
    assert_eq!(plate_color(&white), Color::White);
    // a police plate: its last character's strokes red (警)
    let mut police = white.clone();
    for (x, _, p) in police.enumerate_pixels_mut() {
        if x >= 100 && p.0 != [232, 232, 230] {
            p.0 = [p.0[0].saturating_add(90), p.0[1] / 3, p.0[2] / 3];
        }
    }
    assert_eq!(plate_color(&police), Color::White);
    assert_eq!(
        plate_color(&plate_crop([110, 110, 112], [220, 220, 220])),
        Color::Blue
    );
}

/// A yellow plate in haze or glare (contrast halved: saturation about
/// 0.2) is still yellow; a white plate in warm light, as faintly tinted
/// but with black ink far darker than its tint is strong, is white.
#[test]
fn a_yellow_plate_at_low_contrast_is_yellow() {
    assert_eq!(
        plate_color(&plate_crop([160, 150, 125], [110, 105, 95])),
        Color::Yellow
    );
    assert_eq!(
        plate_color(&plate_crop([235, 220, 195], [30, 30, 30])),
        Color::White
    );
}

/// A crop looser than a black plate on a brightly painted car: the paint
/// and the plate's white characters are the light majority, the plate's
/// black the dark minority. Black, not white (small 港/澳 plates were read
/// white, with 辽 for 粤); a white plate beside the same paint, whose own
/// white outnumbers its characters, stays white.
#[test]
fn a_black_plate_on_a_coloured_car_is_black() {
    let paint = [200, 120, 165];
    let on_car = |plate: [u8; 3], ink: [u8; 3]| {
        RgbImage::from_fn(128, 32, |x, y| {
            image::Rgb(if !(28..100).contains(&x) || !(6..26).contains(&y) {
                paint
            } else if x % 6 < 2 {
                ink
            } else {
                plate
            })
        })
    };
    assert_eq!(
        plate_color(&on_car([25, 25, 25], [230, 230, 230])),
        Color::Black
    );
    assert_eq!(
        plate_color(&on_car([230, 230, 230], [25, 25, 25])),
        Color::White
    );
}

/// A faded plate at night (flash-lit, washed-out colours: the plate's
/// blue keeps a saturation of about 0.15) is located by the pale-blue
/// mask, where the plain blue mask no longer sees it; the photo still
/// reads as the plate.
#[test]
fn pale_blue_plate_is_located() {
    let img = blue_photo();
    let pale = RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0.map(f32::from);
        let grey = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        // an eighth of the colour left, washed out by a flash (the
        // plate's blue [1, 27, 122] becomes [86, 89, 101])
        image::Rgb([0, 1, 2].map(|k| (grey + 56.0 + 0.12 * (p[k] - grey)).clamp(0.0, 255.0) as u8))
    });
    let plain = |cands: &[Cand]| {
        cands
            .iter()
            .filter(|c| c.color == Some(Color::Blue) && c.fallback == Fallback::No)
            .count()
    };
    let plate = blue_candidate(&img);
    let located = locate(&crate::Photo::from_rgb(&pale));
    assert_eq!(plain(&located), 0, "plain blue mask: {located:?}");
    assert!(
        located.iter().any(|c| c.fallback == Fallback::Unsure
            && c.color == Some(Color::Blue)
            && (c.cx - plate.cx).abs() < 0.2 * plate.w
            && (c.cy - plate.cy).abs() < 0.5 * plate.h),
        "pale mask: {located:?}, plate {plate:?}"
    );
    let r = recognize_rgb(&pale, model().unwrap()).expect("read");
    assert_eq!((r.plate.as_str(), r.color), ("京N62847", Color::Blue));
}

/// 0 and O are told apart by position: second a letter (O), from the
/// third on never an O (0); a 使 before letters is a misread province.
#[test]
fn zero_and_letter_o_by_position() {
    let classes: Vec<char> = "_0123456789ALOQ粤使".chars().collect();
    let at = columns_7();
    // (read, position, the reader's runner-up there, mended)
    for (read, i, alt, mended) in [
        ("粤020486", 1, 'O', "粤O20486"),
        ("粤A2O486", 3, '0', "粤A20486"),
        ("使AL6212", 0, '粤', "粤AL6212"),
    ] {
        let r = read_at(&classes, read, &at, &[(at[i].round() as usize, alt, 0.3)]);
        assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some(mended));
    }
}

/// Of the single replacements that make a read a plate, the mend takes
/// the one leaving the most probable text: a 粤Z plate's 港 read after a
/// province the reader is unsure of (赣, 0.34) makes that province 粤 (0.1),
/// not the sure 港 (0.8) a 学 (0.18) as the likelier replacement alone did.
#[test]
fn the_mend_replaces_what_the_reader_is_least_sure_of() {
    let classes: Vec<char> = "_0123456789Z赣粤港学".chars().collect();
    let at = columns_7();
    let col = |i: usize| at[i].round() as usize;
    let mut r = read_at(
        &classes,
        "赣Z4598港",
        &at,
        &[(col(0), '粤', 0.1), (col(6), '学', 0.18)],
    );
    r.conf[0] = 0.34;
    r.conf[6] = 0.8;
    assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some("粤Z4598港"));
    // the same read, sure of its province: the ending goes
    r.conf[0] = 0.9;
    r.conf[6] = 0.3;
    assert_eq!(s(fix_format(&r, &classes, 7)).as_deref(), Some("赣Z4598学"));
}

/// Six sure digits after a first character the reader is unsure of are
/// an embassy plate's, however little the reader gave 使 (a small plate's
/// red 使 is a blur it takes for a province); not after a province it is
/// sure of, nor before digits it is unsure of.
#[test]
fn an_embassy_plate_by_its_digits() {
    let classes: Vec<char> = "_0123456789AL皖粤使".chars().collect();
    let at = columns_7();
    let read = |first: f32, digits: f32| {
        let mut r = read_at(
            &classes,
            "皖153557",
            &at,
            &[(at[0].round() as usize, '使', 0.01)],
        );
        r.conf = vec![digits; 7];
        r.conf[0] = first;
        r
    };
    let mended = fix_format(&read(0.1, 0.99), &classes, 7).expect("mended");
    assert_eq!(mended.text.iter().collect::<String>(), "使153557");
    assert_eq!(mended.conf[0], 0.01);
    assert_eq!(s(fix_format(&read(0.6, 0.99), &classes, 7)), None);
    assert_eq!(s(fix_format(&read(0.1, 0.8), &classes, 7)), None);
}

/// A monochrome camera's photo is colourless, a few coloured pixels (under
/// one in a thousand) or an infrared camera's faint tint do not change
/// that; a grey street with one red car is a colour photo. In a colourless
/// photo a read fits a crop by its polarity alone: a green plate's 8
/// characters, a learner or police plate where the characters are dark
/// on light, an embassy plate where they are light on dark.
#[test]
fn colourless_photos_and_what_fits_them() {
    use crate::locate::colourless;
    use image::Rgb;
    let t = |s: &str| s.chars().collect::<Vec<_>>();
    let mut grey = RgbImage::from_fn(640, 480, |x, y| {
        let v = ((x + 3 * y) % 200) as u8 + 20;
        Rgb([v, v, v])
    });
    assert!(colourless(&grey));
    let tinted = RgbImage::from_fn(640, 480, |x, y| {
        let v = ((x + 3 * y) % 200) as u8 + 20;
        Rgb([v + 12, v, v + 18])
    });
    assert!(colourless(&tinted));
    for x in 0..100 {
        grey.put_pixel(x, 0, Rgb([200, 30, 30]));
    }
    assert!(
        colourless(&grey),
        "50 coloured pixels of the 76,800 looked at"
    );
    let mut street = grey.clone();
    for y in 200..260 {
        for x in 100..300 {
            street.put_pixel(x, y, Rgb([150, 40, 40]));
        }
    }
    assert!(!colourless(&street));

    let dark_on_light = Seen {
        color: Color::Yellow,
        grey: true,
    };
    for plate in ["粤BD12345", "浙A3721学", "湘A0825警", "京N62847"] {
        assert!(dark_on_light.fits(&t(plate)), "{plate}");
    }
    for plate in ["粤Z3C16港", "使014578", "京N6284"] {
        assert!(!dark_on_light.fits(&t(plate)), "{plate}");
    }
    let light_on_dark = Seen {
        color: Color::Blue,
        grey: true,
    };
    assert!(light_on_dark.fits(&t("使014578")) && light_on_dark.fits(&t("京N62847")));
    assert!(!light_on_dark.fits(&t("粤BD12345")) && !light_on_dark.fits(&t("浙A3721学")));
    // in a colour photo the colour seen decides
    let yellow = Seen {
        color: Color::Yellow,
        grey: false,
    };
    assert!(!yellow.fits(&t("粤BD12345")) && yellow.fits(&t("浙A3721学")));
}

/// A plate for a use is read only on a plate of its colour (a black one
/// also when it looks blue), which its text gives, and a green plate's
/// read has its 8 characters; embassy and
/// 港/澳 plates have no province to check, nor another read's province to
/// vote for.
#[test]
fn plates_for_a_use_have_their_colour() {
    let t = |s: &str| s.chars().collect::<Vec<_>>();
    for (plate, colour) in [
        ("浙A3721学", Color::Yellow),
        ("鲁H7093挂", Color::Yellow),
        ("湘A0825警", Color::White),
        ("粤Z3C16港", Color::Black),
        ("沪A2061领", Color::Black),
        ("使014578", Color::Black),
        ("粤BD12345", Color::Green),
    ] {
        assert!(fits(&t(plate), colour), "{plate}");
        assert!(
            !fits(&t(plate), Color::Yellow) || colour == Color::Yellow,
            "{plate}"
        );
        // a black plate may look blue (a dark plate with some colour)
        assert_eq!(
            fits(&t(plate), Color::Blue),
            colour == Color::Black,
            "{plate}"
        );
        assert_eq!(colour_of(&t(plate)), Some(colour), "{plate}");
    }
    assert!(fits(&t("粤O20486"), Color::Blue) && fits(&t("京A12345"), Color::White));
    // a green plate is a new-energy plate: 8 characters (GA 36), not a
    // read that dropped one (闽PD6118 for 闽PDT6118 on a small plate)
    assert!(!fits(&t("闽PD6118"), Color::Green) && fits(&t("闽PDT6118"), Color::Green));
    assert!(province_checked(&t("湘A0825警")) && province_checked(&t("粤O20486")));
    assert!(!province_checked(&t("使014578")) && !province_checked(&t("粤Z0947澳")));
    // what another read may vote for at a position depends on the others
    let hk = t("粤Z3C16港");
    assert!(!valid_with(&hk, 0, '琼') && !valid_with(&hk, 1, 'A') && valid_with(&hk, 6, '澳'));
    // 粤Z is the letter of Hong Kong and Macau cars alone: a 粤Z plate of
    // 7 ends in 港 or 澳 (read at 15 degrees, 粤ZN7C4澳 was 粤ZN7C4A)
    assert!(!valid_with(&hk, 6, '7') && !valid_plate(&t("粤ZN7C4A")));
    assert!(valid_plate(&t("粤AN7C4A")) && valid_plate(&t("粤BDZ1234")));
    assert!(!valid_with(&t("使014578"), 0, '川') && valid_with(&t("川A14578"), 0, '京'));
}

/// A read's province as the reader alone votes it (where the province CNN
/// has no glyph) keeps to the provinces the rest of the text allows, as
/// the CNN's vote does: a read of 桂ZN7C4A whose reader put most of the
/// province's probability on 粤 votes 桂, not 粤 (粤Z plates end in 港 or
/// 澳), while for 桂AN7C4A it votes 粤.
#[test]
fn the_readers_province_share_keeps_to_what_the_text_allows() {
    let net = model().expect("reader");
    let at = |ch: char| net.classes.iter().position(|&k| k == ch).unwrap();
    let read_of = |text: &str| {
        let text: Vec<char> = text.chars().collect();
        let n = text.len();
        let mut probs = vec![0f32; net.classes.len() * cnn::T];
        probs[at('粤') * cnn::T] = 0.7;
        probs[at('桂') * cnn::T] = 0.3;
        cnn::Read {
            text,
            conf: vec![1.0; n],
            cols: (0..n).collect(),
            centre: (0..n).map(|i| i as f32).collect(),
            probs,
        }
    };
    let best = |d: &Dist| argmax(d).0;
    let hk = reader_share(net, &read_of("桂ZN7C4A"), PROVINCE_CNN_WEIGHT).expect("a share");
    assert!(hk.iter().all(|&(ch, _)| ch != '粤'), "{hk:?}");
    assert_eq!(best(&hk), '桂');
    let plain = reader_share(net, &read_of("桂AN7C4A"), PROVINCE_CNN_WEIGHT).expect("a share");
    assert_eq!(best(&plain), '粤');
}

/// The detector's plate score on a window around a box is the whole
/// input's at the same cells (the read plate's box, boxes at the photo's
/// corners and edges, the whole photo), and a read plate scores high.
#[test]
fn plate_score_on_a_window_is_the_whole_passes() {
    let det = detect::model().unwrap();
    for name in ["blue-京N62847.jpg", "yellow2-苏E45Q82.jpg", "multi.jpg"] {
        let photo = photo::Photo::decode(&fixture(name)).unwrap();
        let read = recognize(&fixture(name)).unwrap().expect(name);
        let prepared = detect::prepare_photo(&photo);
        let (w, h) = (photo.width() as f32, photo.height() as f32);
        // the plate's box, boxes at the photo's corners and edges, and
        // one as large as the photo
        let c = read.corners;
        let at = |x0: f32, y0: f32, x1: f32, y1: f32| [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
        for (i, b) in [
            c,
            at(0.0, 0.0, 40.0, 12.0),
            at(w - 50.0, h - 15.0, w, h),
            at(w / 2.0, 0.0, w / 2.0 + 60.0, 20.0),
            at(0.0, 0.0, w, h),
        ]
        .iter()
        .enumerate()
        {
            let part = det.plate_score_in(&prepared, b, true);
            let whole = det.plate_score_in(&prepared, b, false);
            assert!(
                (part - whole).abs() < 1e-4,
                "{name} box {i}: {part} vs {whole}"
            );
            if i == 0 {
                assert!(part > 0.5, "{name}: the plate scores {part}");
                // the input the search makes for a photo, once, is this one
                let scene = crate::locate::Scene::new(&photo);
                assert_eq!(part, det.plate_score(scene.detector_input(&photo), b));
            }
        }
    }
}

/// The check reader (`read::check_model`) reads as many characters as the
/// plate has at the box a fixture's plate is read in (single-row plates of
/// every colour and some for a use), and where the locator finds
/// something plate-like in photos of noise, where the reader reads six
/// characters or more in a third of the crops or more, it does so in at
/// most one in twenty.
#[test]
fn the_check_reader_reads_plates_not_noise() {
    let (reader, check) = (read::model().unwrap(), read::check_model().unwrap());
    for name in [
        "blue-京N62847.jpg",
        "black-沪G3X508.jpg",
        "green-粤BD12345.jpg",
        "white-川A90M17.jpg",
        "yellow-鲁B7K391.jpg",
        "learner-浙A3721学.jpg",
        "police-湘A0825警.jpg",
        "embassy-使014578.jpg",
    ] {
        let bytes = fixture(name);
        let r = recognize(&bytes).unwrap().expect(name);
        let photo = photo::Photo::decode(&bytes).unwrap();
        let read = read_box(check, &photo, &Cand::around(&r.corners));
        assert_eq!(read.len(), r.plate.chars().count(), "{name}: {read:?}");
    }
    // crops where the locator finds something plate-like in photos of noise
    let mut s: u32 = 5;
    let (mut crops, mut by_reader, mut by_check) = (0, 0, 0);
    for i in 0..8u32 {
        let tint = [Noise::Colour, Noise::Blue, Noise::Grey, Noise::LowContrast][i as usize % 4];
        let img = noise_photo(640, 480, tint, &mut s);
        let photo = photo::Photo::from_rgb(&img);
        for c in locate(&photo) {
            crops += 1;
            by_reader += usize::from(read_box(reader, &photo, &c).len() >= search::CHECK_READ_MIN);
            by_check += usize::from(read_box(check, &photo, &c).len() >= search::CHECK_READ_MIN);
        }
    }
    // (205 crops: the reader reads 6 characters or more in 93, the check
    // reader in 1)
    assert!(crops >= 100, "{crops} crops");
    assert!(
        by_reader * 3 >= crops,
        "the reader reads {by_reader} of {crops}"
    );
    assert!(
        by_check * 20 <= crops,
        "the check reader reads {by_check} of {crops}"
    );
}

/// One white pixel on black, smeared `len` pixels.
fn smeared(len: f32, vertical: bool) -> image::RgbImage {
    let mut img = image::RgbImage::new(21, 21);
    img.put_pixel(10, 10, image::Rgb([250, 250, 250]));
    crate::synth::motion_blur(&img, len, vertical)
}

#[test]
fn motion_blur_spreads_a_point_along_a_line_of_its_length() {
    // 5 px across: the point's 250 over five pixels of its row, none above or below
    let img = smeared(5.0, false);
    let row: Vec<u8> = (6..=14).map(|x| img.get_pixel(x, 10).0[0]).collect();
    assert_eq!(row, [0, 0, 50, 50, 50, 50, 50, 0, 0]);
    assert_eq!(img.get_pixel(10, 9).0, [0, 0, 0]);
    assert_eq!(img.get_pixel(10, 11).0, [0, 0, 0]);
    // along the height: the same down its column
    let img = smeared(5.0, true);
    let col: Vec<u8> = (6..=14).map(|y| img.get_pixel(10, y).0[1]).collect();
    assert_eq!(col, [0, 0, 50, 50, 50, 50, 50, 0, 0]);
    assert_eq!(img.get_pixel(9, 10).0, [0, 0, 0]);
    // 4 px: three whole pixels and half of one at each end, 250 / 4 each
    let img = smeared(4.0, false);
    let row: Vec<u8> = (7..=13).map(|x| img.get_pixel(x, 10).0[2]).collect();
    assert_eq!(row, [0, 31, 63, 63, 63, 31, 0]);
    // 1 px leaves the photo as it is
    assert_eq!(smeared(1.0, true).get_pixel(10, 10).0, [250, 250, 250]);
}

#[test]
fn motion_blur_keeps_a_flat_photo_flat_to_its_edges() {
    let img = image::RgbImage::from_pixel(9, 7, image::Rgb([10, 120, 200]));
    for vertical in [false, true] {
        let out = crate::synth::motion_blur(&img, 6.5, vertical);
        assert!(out.pixels().all(|p| p.0 == [10, 120, 200]));
    }
}

#[test]
fn crops_without_motion_are_the_crops_of_before() {
    // `augment_crop_moving` with no motion draws no random number of its
    // own: the same crop, and the generator left in the same state
    let plate = image::RgbImage::from_fn(90, 28, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 8) as u8, 90])
    });
    let (mut a, mut b) = (crate::synth::Rng::new(11), crate::synth::Rng::new(11));
    let ca = crate::synth::augment_crop_at(&plate, 128, 32, (80.0, 260.0), &mut a);
    let cb = crate::synth::augment_crop_moving(&plate, 128, 32, (80.0, 260.0), 0.0, &mut b);
    assert_eq!(ca, cb);
    assert_eq!(a.f(), b.f());
    // with motion every time, the crop is another
    let mut c = crate::synth::Rng::new(11);
    let cm = crate::synth::augment_crop_moving(&plate, 128, 32, (80.0, 260.0), 1.0, &mut c);
    assert_ne!(ca, cm);
}

/// The layout fitted to a read puts every character where the renderer
/// draws it, on every single-row and green plate kind (the dot after the
/// province on police plates, after the fourth character on embassy
/// plates, after the second elsewhere).
#[test]
fn the_fitted_layouts_are_the_rendered_ones() {
    use crate::layout::centres_of;
    use crate::synth::{Kind, Rng, random_text, slots};
    let mut rng = Rng::new(3);
    for kind in Kind::ALL.into_iter().filter(|k| !k.double()) {
        for _ in 0..20 {
            let text = random_text(kind, &mut rng);
            let drawn: Vec<f32> = slots(kind).iter().map(|s| s.0 + s.2 / 2.0).collect();
            let fitted = centres_of(&text).expect("a single-row text has a layout");
            assert_eq!(
                fitted,
                &drawn[..],
                "{kind:?} {}",
                text.iter().collect::<String>()
            );
        }
    }
    assert!(centres_of(&"皖A1234".chars().collect::<Vec<_>>()).is_none());
}

/// A part of a plate in perspective (`Cand::part`) is seen where the
/// plate's view puts it: its points and heights are the plate's at the
/// same place, and the whole plate as a part is the plate.
#[test]
fn a_part_of_a_plate_in_perspective_is_where_the_plate_is() {
    let mut c = plate_box(400.0, 200.0);
    c.angle = 0.1;
    c.keystone = -0.3;
    // (`v`: a fraction of the box's height at its centre)
    let seen = |c: &Cand, s: f32, v: f32| {
        let [x, y] = c.in_perspective(s, v * c.h);
        (x, y)
    };
    let (s0, s1) = (-0.35, 0.2);
    let p = c.part(s0, s1);
    for sigma in [-0.5f32, -0.2, 0.0, 0.3, 0.5] {
        for v in [-0.5f32, 0.0, 0.5] {
            let (x, y) = seen(&p, sigma, v);
            let (xw, yw) = seen(&c, s0 + (sigma + 0.5) * (s1 - s0), v);
            assert!(
                (x - xw).abs() < 1e-3 && (y - yw).abs() < 1e-3,
                "part at {sigma}, {v}: ({x}, {y}) against ({xw}, {yw})"
            );
        }
    }
    let whole = c.part(-0.5, 0.5);
    for (a, b) in whole.corners().iter().zip(c.corners()) {
        assert!((a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3);
    }
    // square on, a keystone of 0 is the plain rotated rectangle
    let flat = plate_box(400.0, 200.0);
    let mut tiny = flat.clone();
    tiny.keystone = 1e-6;
    for (a, b) in tiny.corners().iter().zip(flat.corners()) {
        assert!((a[0] - b[0]).abs() < 1e-2 && (a[1] - b[1]).abs() < 1e-2);
    }
}

/// The perspective of a plate seen from one side is measured from its
/// edges: the sweep's plate 230 px wide turned 50° away (left end
/// farther) by a camera of focal length 700 px is in the perspective
/// 230 · sin(−50°) / 700 = −0.25; the same plate square on measures none.
#[test]
fn the_perspective_of_a_plate_seen_from_the_side_is_measured() {
    let bytes = fixture("side-50-京F60711.jpg");
    let photo = Photo::decode(&bytes).expect("decodes");
    // the plate's ends seen at 405 + 700 u cos / (700 + u sin), u = ±115
    let (s, c) = (-50f32).to_radians().sin_cos();
    let end = |u: f32| 405.0 + 700.0 * u * c / (700.0 + u * s);
    let (x0, x1) = (end(-115.0), end(115.0));
    let mut at = plate_box((x0 + x1) / 2.0, x1 - x0);
    at.cy = 287.0;
    at.h = 73.0;
    at.color = None;
    let k = keystone_of(&photo, &at);
    let want = 230.0 * s / crate::synth::OBLIQUE_FOCAL;
    assert!((k - want).abs() < 0.05, "measured {k}, want {want}");
    assert!(k.abs() >= crate::rectify::KEYSTONE_MIN);
    // a plate seen square on: no perspective
    let bytes = fixture("yellow-鲁B7K391.jpg");
    let photo = Photo::decode(&bytes).expect("decodes");
    let found = crate::recognize(&bytes).expect("reads").expect("a plate");
    let k = keystone_of(&photo, &Cand::around(&found.corners));
    assert!(k.abs() < crate::rectify::KEYSTONE_MIN, "square on: {k}");
}

/// A double-row plate's province glyph is cut out of its top row where
/// GA 36 puts it, in a single-row glyph's proportions (about twice as
/// tall as wide, as the province CNNs learnt them), and the double-row
/// province CNN classifies it: the ten double-row plates of the rendered sets (yellow and
/// trailer), at their size and at 0.4 × (a plate about 75 px wide, whose
/// top-row glyph is some 14 × 10 px in the photo).
#[test]
fn a_double_row_plates_province_glyph_is_classified() {
    let net = double_province_model().expect("double-row province CNN");
    let mut wrong = Vec::new();
    for kind in ["yellow2", "trailer2"] {
        let dir = format!("types/{kind}");
        let mut names: Vec<String> = std::fs::read_dir(format!("{}/{dir}", fixtures()))
            .expect("set")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 5, "{kind}");
        for name in names {
            let want = name.chars().next().unwrap();
            let full = Photo::decode(&fixture(&format!("{dir}/{name}"))).expect("decodes");
            for scale in [1.0f32, 0.4] {
                let img = full.to_rgb();
                let (w, h) = (img.width() as f32 * scale, img.height() as f32 * scale);
                let small = image::imageops::resize(
                    &img,
                    w as u32,
                    h as u32,
                    image::imageops::FilterType::Triangle,
                );
                let photo = Photo::from_rgb(&small);
                let bytes = crate::synth::jpeg(&small, 90);
                let found = crate::recognize(&bytes)
                    .expect("reads")
                    .unwrap_or_else(|| panic!("{name} at {scale}: no plate"));
                let mut at = Cand::around(&found.corners);
                at.color = Some(Color::Yellow);
                let (ew, eh) = DOUBLE_ROW_MARGINS;
                let src = crate::rectify::Source {
                    full: &photo,
                    c: &at,
                    ew,
                    eh,
                };
                let patches = up_patch(src, Color::Yellow)
                    .unwrap_or_else(|| panic!("{name} at {scale}: no glyph"));
                let (pw, ph, _) = &patches[0];
                let tall = *ph as f32 / *pw as f32;
                assert!(
                    (1.4..=2.8).contains(&tall),
                    "{name} at {scale}: {pw} x {ph}"
                );
                let p = classify(net, &patches);
                let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
                if net.classes[best] != want {
                    wrong.push(format!("{name} at {scale}: {}", net.classes[best]));
                }
            }
        }
    }
    // of 20 glyphs, at most two small ones misclassified
    assert!(wrong.len() <= 2, "{wrong:?}");
}
