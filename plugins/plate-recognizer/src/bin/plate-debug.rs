//! Dumps the candidate crops of one photo into a directory (development aid):
//! `plate-debug PHOTO OUTDIR [X Y | --scale F]`: with X Y, prints the
//! pixels around (X, Y); with `--scale F`, reads the photo scaled by F and
//! re-encoded as `plate-accuracy --scale F` does (Triangle filter, JPEG
//! quality 90; the photo read is saved as `scaled.jpg`).
fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        eprintln!("usage: plate-debug PHOTO OUTDIR");
        std::process::exit(2);
    }
    let _ = std::fs::create_dir_all(&a[2]);
    // SAFETY: single-threaded at this point.
    unsafe { std::env::set_var("PLATE_DEBUG", &a[2]) };
    let mut bytes = std::fs::read(&a[1]).expect("read");
    if a.get(3).is_some_and(|s| s == "--scale") {
        let f: f64 = a.get(4).and_then(|s| s.parse().ok()).expect("--scale F");
        let img = image::load_from_memory(&bytes).expect("decodable");
        let img = plate_recognizer::synth::scaled(&img, f);
        bytes = plate_recognizer::synth::jpeg(&img.to_rgb8(), 90);
        std::fs::write(format!("{}/scaled.jpg", a[2]), &bytes).expect("writes");
    }
    if let Ok(img) = image::load_from_memory(&bytes) {
        if let (Some(x), Some(y)) = (a.get(3).filter(|s| *s != "--scale"), a.get(4)) {
            let (x, y): (u32, u32) = (x.parse().unwrap(), y.parse().unwrap());
            let rgb = img.to_rgb8();
            for dy in [-10i32, -5, 0, 5, 10] {
                for dx in [-30i32, -15, 0, 15, 30] {
                    let p = rgb.get_pixel((x as i32 + dx) as u32, (y as i32 + dy) as u32);
                    print!("{:?} ", p.0);
                }
                println!();
            }
        }
        let _ = img.thumbnail(800, 800).save(format!("{}/photo.png", a[2]));
    }
    println!("{:?}", plate_recognizer::recognize(&bytes));
}
