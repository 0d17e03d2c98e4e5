//! `plate-accuracy --times`: the per-photo lines that `--component` reads
//! back from the component (tag, file name, ms, plate, colour, megapixels,
//! crops read, then the stage times). The two sides are this one program,
//! native and built for wasm32-wasip2, so the line's layout is a contract
//! between them: a field added on one side only would leave every photo
//! "not timed in the component".

use std::path::Path;
use std::process::Command;

/// Fields of a `--times` line: 7 before the stage times, 11 stages.
const FIELDS: usize = 7 + 11;

/// An empty directory of this test process's own, with the fixtures.
fn scratch(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = std::env::temp_dir().join(format!("plate-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (dir, fixtures)
}

/// `plate-accuracy DIR ARGS...`'s standard output; it must succeed.
fn plate_accuracy(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_plate-accuracy"))
        .arg(dir)
        .args(args)
        .output()
        .expect("runs plate-accuracy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `plate-accuracy DIR ARGS... --write DIR/TAG`, then the photo `name` as
/// it wrote it (scaled, painted over or degraded), in grey.
fn written_photo(dir: &Path, tag: &str, args: &[&str], name: &str) -> image::GrayImage {
    let out = dir.join(tag);
    let mut all = args.to_vec();
    all.extend(["--write", out.to_str().unwrap()]);
    plate_accuracy(dir, &all);
    image::open(out.join(name)).unwrap().to_luma8()
}

#[test]
fn times_lines_have_every_field_and_count_the_crops_read() {
    let (dir, fixtures) = scratch("times");
    for name in ["blue-京N62847.jpg", "yellow2-苏E45Q82.jpg"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    // a photo without a plate: a plain grey-green JPEG
    let plain = image::RgbImage::from_pixel(640, 480, image::Rgb([90, 120, 90]));
    plain.save(dir.join("plain.jpg")).unwrap();

    let stdout = plate_accuracy(&dir, &["--times"]);
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        lines.len(),
        3,
        "one line per photo and nothing else:\n{stdout}"
    );
    for f in &lines {
        assert_eq!(f.len(), FIELDS, "{f:?}");
        assert_eq!(f[0], "PLATE-TIME");
        let num = |s: &str| -> f64 { s.parse().unwrap_or_else(|e| panic!("{s:?} in {f:?}: {e}")) };
        assert!(num(f[2]) > 0.0, "the photo's time: {f:?}");
        assert!(num(f[5]) > 0.0, "megapixels: {f:?}");
        let stages: Vec<f64> = f[7..].iter().map(|s| num(s)).collect();
        assert!(stages.iter().all(|&v| v >= 0.0), "{f:?}");
        // the reader's forward passes are part of reading
        assert!(stages[3] <= stages[2], "reader CNN within read: {f:?}");
    }
    let line = |name: &str| {
        lines
            .iter()
            .find(|f| f[1] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let reads = |f: &[&str]| -> usize { f[6].parse().unwrap() };
    for (name, plate, colour) in [
        ("blue-京N62847.jpg", "京N62847", "blue"),
        ("yellow2-苏E45Q82.jpg", "苏E45Q82", "yellow"),
    ] {
        let f = line(name);
        assert_eq!((f[3], f[4]), (plate, colour), "{f:?}");
        assert!(reads(f) >= 1, "a plate read from no crop: {f:?}");
    }
    // nothing located, so nothing for the reader: no plate, no crop read
    let f = line("plain.jpg");
    assert_eq!((f[3], f[4]), ("", "-"), "{f:?}");
    assert_eq!(reads(f), 0, "{f:?}");
}

/// The per-width rows: a labelled main plate counts in the band of its
/// width in the photo as read (the label's width scaled with `--scale`).
#[test]
fn exact_plates_are_counted_by_the_plate_width_as_read() {
    let (dir, fixtures) = scratch("widths");
    let mut tsv = String::from(
        "file\tfilename_plate\tplate\tcolor_zh\tcx\tcy\tw\th\trotation\tlocateType\timg_w\timg_h\n",
    );
    // labelled widths 100 and 200 px at the photos' own size
    for (name, plate, colour, w) in [
        ("blue-京N62847.jpg", "京N62847", "蓝牌", 100),
        ("yellow2-苏E45Q82.jpg", "苏E45Q82", "黄牌", 200),
    ] {
        let src = fixtures.join(name);
        let (iw, ih) = image::image_dimensions(&src).unwrap();
        std::fs::copy(&src, dir.join(format!("{plate}.jpg"))).unwrap();
        tsv += &format!(
            "{plate}.jpg\t{plate}\t{plate}\t{colour}\t{}\t{}\t{w}\t30\t0\t1\t{iw}\t{ih}\n",
            iw / 2,
            ih / 2
        );
    }
    std::fs::write(dir.join("labels.tsv"), tsv).unwrap();
    let own = plate_accuracy(&dir, &[]);
    let half = plate_accuracy(&dir, &["--scale", "0.5"]);
    let _ = std::fs::remove_dir_all(&dir);
    // the full set's count of a band: "k/n" of "k/n = p %", the third of
    // the columns after the row's name (22 characters each)
    let band = |report: &str, name: &str| -> String {
        let rows = report
            .split("per plate width")
            .nth(1)
            .unwrap_or_else(|| panic!("no per-width rows:\n{report}"));
        let line = rows
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{report}"));
        let full = line.get(22 + 2 * 22..).unwrap_or_default();
        full.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    // both fixtures are read right at their own size (tests/api.rs)
    assert_eq!(band(&own, "< 90 px"), "0/0", "{own}");
    assert_eq!(band(&own, "90-120 px"), "1/1", "{own}");
    assert_eq!(band(&own, "120-160 px"), "0/0", "{own}");
    assert_eq!(band(&own, ">= 160 px"), "1/1", "{own}");
    // halved: 50 and 100 px; whether the small one is read does not matter
    assert!(band(&half, "< 90 px").ends_with("/1"), "{half}");
    assert!(band(&half, "90-120 px").ends_with("/1"), "{half}");
    assert_eq!(band(&half, ">= 160 px"), "0/0", "{half}");
}

/// A directory that is not there is an error message and exit status 2,
/// not a panic.
#[test]
fn a_missing_directory_is_a_clear_error() {
    let (dir, _) = scratch("missing");
    let gone = dir.join("no-such-photos");
    let out = Command::new(env!("CARGO_BIN_EXE_plate-accuracy"))
        .arg(&gone)
        .output()
        .expect("runs plate-accuracy");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot read") && err.contains("no-such-photos"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every report ends with the time beyond decoding (what is not to grow
/// with the megapixels): per photo, per crop read, and its largest parts.
#[test]
fn the_time_beyond_decoding_is_reported_per_crop_read() {
    let (dir, fixtures) = scratch("beyond");
    for name in ["blue-京N62847.jpg", "yellow2-苏E45Q82.jpg"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    let report = plate_accuracy(&dir, &[]);
    let _ = std::fs::remove_dir_all(&dir);
    // the numbers of the line that starts with `head`, in order
    let numbers = |head: &str| -> Vec<f64> {
        let line = report
            .lines()
            .find(|l| l.starts_with(head))
            .unwrap_or_else(|| panic!("no line {head:?}:\n{report}"));
        line[head.len()..]
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|s| !s.is_empty() && *s != ".")
            .map(|s| {
                s.parse()
                    .unwrap_or_else(|e| panic!("{s:?} in {line:?}: {e}"))
            })
            .collect()
    };
    let stages = numbers("per stage (mean, full):");
    // decode, locate, read, JPEG pixels, candidates, crops read, photos
    // over 50 ms, photos, 50
    assert_eq!(stages.len(), 9, "{report}");
    let crops = stages[5];
    assert!(crops >= 1.0, "both plates are read from crops: {report}");
    let beyond = numbers("beyond decoding (mean, full):");
    // per photo, per crop read, reader, checks, cutting, detector, the
    // photos the detector ran on (a check or its own pass), photos
    assert_eq!(beyond.len(), 8, "{report}");
    assert_eq!(beyond[7], 2.0, "{report}");
    assert!(beyond[6] <= beyond[7], "{report}");
    assert_eq!(
        beyond[5] > 0.0,
        beyond[6] > 0.0,
        "the detector's time is that of the photos it ran on: {report}"
    );
    let (per_photo, per_crop, reader, checks, cutting) =
        (beyond[0], beyond[1], beyond[2], beyond[3], beyond[4]);
    assert!(per_photo > 0.0, "{report}");
    assert!(
        (per_crop - per_photo / crops).abs() <= 0.01 + 0.01 * per_crop,
        "per crop read is per photo over the crops read: {report}"
    );
    // the reader's passes and the cutting of crops are parts of it (the
    // checks cut their glyph windows too, so they overlap the cutting)
    assert!(
        reader > 0.0 && reader + cutting <= per_photo + 0.02,
        "{report}"
    );
    assert!(checks <= per_photo + 0.01, "{report}");
}

/// `--degrade motion:PX` smears the photos across, `vmotion:PX` along
/// their height (`--write` keeps them as read): on upright stripes 4 px
/// wide, a smear of 8 px across evens out every row, one along the height
/// leaves the stripes as they were.
#[test]
fn motion_degradations_smear_the_photos_the_way_they_say() {
    let (dir, _) = scratch("motion");
    let stripes = image::RgbImage::from_fn(160, 96, |x, _| {
        image::Rgb([if x / 4 % 2 == 0 { 20 } else { 230 }; 3])
    });
    stripes.save(dir.join("stripes.jpg")).unwrap();
    // mean step between neighbours along the middle row of the photo written
    let step_across = |kind: &str| -> f64 {
        let spec = format!("{kind}:8");
        let img = written_photo(&dir, kind, &["--degrade", &spec], "stripes.jpg");
        let y = img.height() / 2;
        let steps: f64 = (1..img.width())
            .map(|x| (img.get_pixel(x, y).0[0] as f64 - img.get_pixel(x - 1, y).0[0] as f64).abs())
            .sum();
        steps / (img.width() - 1) as f64
    };
    let (across, along) = (step_across("motion"), step_across("vmotion"));
    let _ = std::fs::remove_dir_all(&dir);
    // the stripes: 210 levels every 4 px, about 52 a pixel
    assert!(
        along > 40.0,
        "smeared along the height, the stripes stay: {along}"
    );
    assert!(
        across < 8.0,
        "smeared across by their period, the rows are even: {across}"
    );
}

/// `--mask-plates` with `--scale` or `--degrade`: the labelled plates are
/// painted over first, then the photo is scaled or made worse (phantom
/// answers counted over every version of the photos, not one). A bright
/// box on grey, labelled as a plate: gone from the photo written at half
/// size and smeared, there without `--mask-plates`.
#[test]
fn painted_over_photos_can_be_scaled_and_degraded_too() {
    let (dir, _) = scratch("mask");
    let photo = image::RgbImage::from_fn(240, 120, |x, y| {
        let plate = (90..150).contains(&x) && (50..70).contains(&y);
        image::Rgb([if plate { 250 } else { 100 }; 3])
    });
    photo.save(dir.join("京A12345.jpg")).unwrap();
    std::fs::write(
        dir.join("labels.tsv"),
        "file\tfilename_plate\tplate\tcolor_zh\tcx\tcy\tw\th\trotation\tlocateType\timg_w\timg_h\n\
         京A12345.jpg\t京A12345\t京A12345\t蓝牌\t120\t60\t60\t20\t0\t1\t240\t120\n",
    )
    .unwrap();
    // the written photo's size and its grey level where the plate was
    let written = |tag: &str, args: &[&str]| -> ((u32, u32), u8) {
        let img = written_photo(&dir, tag, args, "京A12345.jpg");
        let (w, h) = img.dimensions();
        (img.dimensions(), img.get_pixel(w / 2, h / 2).0[0])
    };
    let scaled = written("scaled", &["--scale", "0.5"]);
    let masked = written("masked", &["--mask-plates", "--scale", "0.5"]);
    let smeared = written("smeared", &["--mask-plates", "--degrade", "motion:3"]);
    let alone = written("alone", &["--mask-plates"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(scaled.0, (120, 60));
    assert!(scaled.1 > 200, "the plate is there: {scaled:?}");
    assert_eq!(masked.0, (120, 60));
    assert!(masked.1.abs_diff(100) < 10, "painted over: {masked:?}");
    assert_eq!(smeared.0, (240, 120));
    assert!(smeared.1.abs_diff(100) < 10, "painted over: {smeared:?}");
    assert_eq!(alone.0, (240, 120));
    assert!(alone.1.abs_diff(100) < 10, "painted over: {alone:?}");
}
