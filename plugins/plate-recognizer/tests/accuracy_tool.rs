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

#[test]
fn times_lines_have_every_field_and_count_the_crops_read() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = std::env::temp_dir().join(format!("plate-times-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["blue-京N62847.jpg", "yellow2-苏E45Q82.jpg"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    // a photo without a plate: a plain grey-green JPEG
    let plain = image::RgbImage::from_pixel(640, 480, image::Rgb([90, 120, 90]));
    plain.save(dir.join("plain.jpg")).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_plate-accuracy"))
        .arg(&dir)
        .arg("--times")
        .output()
        .expect("runs plate-accuracy");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
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
