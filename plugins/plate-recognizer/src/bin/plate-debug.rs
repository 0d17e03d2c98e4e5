//! Dumps the candidate crops of one photo into a directory (development aid):
//! `plate-debug PHOTO OUTDIR`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        eprintln!("usage: plate-debug PHOTO OUTDIR");
        std::process::exit(2);
    }
    let _ = std::fs::create_dir_all(&a[2]);
    // SAFETY: single-threaded at this point.
    unsafe { std::env::set_var("PLATE_DEBUG", &a[2]) };
    let bytes = std::fs::read(&a[1]).expect("read");
    if let Ok(img) = image::load_from_memory(&bytes) {
        if let (Some(x), Some(y)) = (a.get(3), a.get(4)) {
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
