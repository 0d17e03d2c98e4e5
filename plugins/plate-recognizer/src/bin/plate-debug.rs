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
        let _ = img.thumbnail(800, 800).save(format!("{}/photo.png", a[2]));
    }
    println!("{:?}", plate_recognizer::recognize(&bytes));
}
