//! Accuracy over a directory of photos named by their plate.
//!
//! `cargo run --release -p plate-recognizer --bin plate-accuracy -- DIR [-v]`
//!
//! * exact: recognised plate == file-name stem (O and 0 treated as equal,
//!   a quirk of some EasyPR file names);
//! * char: position-wise over the 7 characters (a missing plate counts 0/7);
//! * colour: against `DIR/labels.tsv` (the row whose plate equals the file-name
//!   plate), skipped if the file is absent;
//! * ms/image: wall time of `recognize` (decode included).
//!
//! `plate-accuracy DIR --bench [N]`: speed on 1280×720 photos instead. Each
//! photo of DIR (the first N) is resized and centre-cropped to 1280×720 and
//! re-encoded as JPEG (quality 90) in memory; then `recognize` is timed on
//! each (after one warm-up call that loads the model). Prints mean, median,
//! 90th percentile and max ms per photo, how many took over 50 ms, and the
//! time per stage (decode, locate, read); `PLATE_BENCH_LIST=1` also each
//! photo's time, candidates and crops read. The
//! same binary builds for `wasm32-wasip2` and runs inside a component with
//! the `wasm-run` tool (see the crate README), which gives the in-component
//! figure on the same machine.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

fn norm(s: &str) -> Vec<char> {
    s.chars().map(|c| if c == 'O' { '0' } else { c }).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: plate-accuracy DIR [-v]");
        std::process::exit(2);
    };
    let verbose = args.iter().any(|a| a == "-v");
    let dir = Path::new(dir);
    if args.iter().any(|a| a == "--crops") {
        crops(dir);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--bench") {
        let n = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(usize::MAX);
        bench(dir, n);
        return;
    }
    // labels.tsv: file, filename_plate, plate, color_zh, ...
    let mut colors: HashMap<String, &'static str> = HashMap::new();
    // every plate of each photo (several-plate photos), by file-name plate
    let mut all_plates: HashMap<String, Vec<Vec<char>>> = HashMap::new();
    let labels = std::fs::read_to_string(dir.join("labels.tsv")).ok();
    if let Some(l) = &labels {
        for line in l.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() >= 3 {
                all_plates
                    .entry(f[1].to_string())
                    .or_default()
                    .push(norm(f[2]));
            }
            if f.len() >= 4 && f[1] == f[2] {
                let c = match f[3] {
                    "蓝牌" => "blue",
                    "黄牌" => "yellow",
                    "绿牌" => "green",
                    "白牌" => "white",
                    "黑牌" => "black",
                    _ => continue,
                };
                colors.insert(f[1].to_string(), c);
            }
        }
    }
    let files = photos(dir);
    let (mut n, mut exact, mut chars_ok, mut chars_total, mut found) = (0, 0, 0, 0, 0);
    let (mut col_n, mut col_ok) = (0, 0);
    let mut any_plate = 0;
    let mut total_ms = 0f64;
    let mut max_ms = 0f64;
    for p in &files {
        let label = p.file_stem().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(p).expect("read file");
        let t = Instant::now();
        let r = plate_recognizer::recognize(&bytes);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        total_ms += ms;
        max_ms = max_ms.max(ms);
        n += 1;
        let want = norm(&label);
        chars_total += want.len();
        let (got, color) = match &r {
            Ok(Some(rec)) => (rec.plate.clone(), Some(rec.color.as_str())),
            _ => (String::new(), None),
        };
        if !got.is_empty() {
            found += 1;
        }
        let g = norm(&got);
        let ok_chars = want.iter().zip(g.iter()).filter(|(a, b)| a == b).count();
        chars_ok += ok_chars;
        let is_exact = g == want;
        if is_exact {
            exact += 1;
        }
        if is_exact
            || all_plates
                .get(&label)
                .map(|v| v.contains(&g))
                .unwrap_or(false)
        {
            any_plate += 1;
        }
        if let Some(want_c) = colors.get(&label) {
            col_n += 1;
            if color == Some(*want_c) {
                col_ok += 1;
            }
        }
        if verbose {
            let conf = match &r {
                Ok(Some(rec)) => rec.confidence,
                _ => 0.0,
            };
            let err = match &r {
                Err(e) => format!(" ERR {e}"),
                _ => String::new(),
            };
            println!(
                "{} {label}\t{got}\t{}\t{conf:.3}\t{ms:.1}ms{err}",
                if is_exact { "OK " } else { "BAD" },
                color.unwrap_or("-")
            );
        }
    }
    if n == 0 {
        println!("no images in {}", dir.display());
        return;
    }
    println!("images:            {n}");
    println!(
        "plate found:       {found} ({:.1} %)",
        100.0 * found as f64 / n as f64
    );
    println!(
        "exact plates:      {exact} / {n} = {:.1} %",
        100.0 * exact as f64 / n as f64
    );
    if !all_plates.is_empty() {
        println!(
            "a plate of photo:  {any_plate} / {n} = {:.1} % (exact, or another plate of the photo from labels.tsv)",
            100.0 * any_plate as f64 / n as f64
        );
    }
    println!(
        "char accuracy:     {chars_ok} / {chars_total} = {:.1} % (position-wise, missing plate = all wrong)",
        100.0 * chars_ok as f64 / chars_total.max(1) as f64
    );
    if labels.is_some() && col_n > 0 {
        println!(
            "colour accuracy:   {col_ok} / {col_n} = {:.1} % (main plate colour from labels.tsv; no plate = wrong)",
            100.0 * col_ok as f64 / col_n as f64
        );
    } else {
        println!("colour accuracy:   skipped (no labels.tsv with colours in DIR)");
    }
    println!(
        "ms per image:      {:.1} mean, {:.1} max (decode included)",
        total_ms / n as f64,
        max_ms
    );
}

fn photos(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .map(|e| {
                    let e = e.to_string_lossy().to_lowercase();
                    e == "jpg" || e == "jpeg" || e == "png"
                })
                .unwrap_or(false)
        })
        .collect();
    files.sort();
    files
}

fn bench(dir: &Path, n: usize) {
    let mut inputs = Vec::new();
    for p in photos(dir).into_iter().take(n) {
        let label = p.file_stem().unwrap().to_string_lossy().to_string();
        // by content, not extension (a few EasyPR ".jpg" files are not JPEG)
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let Ok(img) = image::load_from_memory(&bytes) else {
            eprintln!("skipped {}: not decodable", p.display());
            continue;
        };
        let img = img.resize_to_fill(1280, 720, image::imageops::FilterType::Triangle);
        let mut jpg = std::io::Cursor::new(Vec::new());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, 90)
            .encode_image(&img.to_rgb8())
            .expect("encode");
        inputs.push((label, jpg.into_inner()));
    }
    if inputs.is_empty() {
        println!("no images in {}", dir.display());
        return;
    }
    let _ = plate_recognizer::recognize(&inputs[0].1); // loads the model
    if let Some(n) = std::env::var("PLATE_BENCH_READ")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // the reader alone: fastest of n reads of a fixed input
        let net = plate_recognizer::model().expect("model");
        let x: Vec<f32> = (0..plate_recognizer::cnn::IN_H * plate_recognizer::cnn::IN_W)
            .map(|i| ((i * 7919) % 255) as f32 / 64.0 - 2.0)
            .collect();
        let (mut best, mut sum) = (f64::MAX, 0f64);
        for _ in 0..n {
            let t = Instant::now();
            let r = net.read_aligned(&x);
            let el = t.elapsed().as_secs_f64() * 1000.0;
            std::hint::black_box(r);
            best = best.min(el);
            sum += el;
        }
        println!(
            "read_aligned: {best:.3} ms fastest, {:.3} ms mean",
            sum / n as f64
        );
        let pnet = plate_recognizer::province_model().expect("province model");
        let g: Vec<f32> = (0..plate_recognizer::pcnn::S * plate_recognizer::pcnn::S)
            .map(|i| ((i * 31) % 7) as f32 / 6.0)
            .collect();
        let mut best = f64::MAX;
        for _ in 0..n {
            let t = Instant::now();
            std::hint::black_box(pnet.predict(&g));
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!("province predict: {best:.3} ms fastest");
        return;
    }
    let mut ms = Vec::new();
    let (mut dec, mut loc, mut rd, mut cands, mut exact) = (0f64, 0f64, 0f64, 0usize, 0usize);
    let mut reads = 0usize;
    // PLATE_BENCH_REPS=R: each photo R times, the fastest run counts (for
    // comparing builds on a busy machine)
    let reps: usize = std::env::var("PLATE_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    for (label, bytes) in &inputs {
        let mut best: Option<(f64, _, plate_recognizer::Profile)> = None;
        for _ in 0..reps {
            let t = Instant::now();
            let (r, prof) = plate_recognizer::recognize_profiled(bytes);
            let el = t.elapsed().as_secs_f64() * 1000.0;
            if best.as_ref().map(|b| el < b.0).unwrap_or(true) {
                best = Some((el, r, prof));
            }
        }
        let (el, r, prof) = best.expect("one run");
        if std::env::var("PLATE_BENCH_LIST").is_ok() {
            println!(
                "{label}\t{el:.1} ms\t{} candidates\t{} crops read",
                prof.candidates, prof.reads
            );
        }
        ms.push(el);
        dec += prof.decode_ms;
        loc += prof.locate_ms;
        rd += prof.read_ms;
        cands += prof.candidates;
        reads += prof.reads;
        if let Ok(Some(rec)) = r {
            if norm(&rec.plate) == norm(label) {
                exact += 1;
            }
        }
    }
    let k = ms.len() as f64;
    let mean = ms.iter().sum::<f64>() / k;
    let mut sorted = ms.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "1280x720 photos:   {} ({})",
        ms.len(),
        if cfg!(target_arch = "wasm32") {
            "inside wasm32-wasip2"
        } else {
            "native"
        }
    );
    println!(
        "ms per photo:      {mean:.1} mean, {:.1} median, {:.1} p90, {:.1} max; {} of {} over 50 ms",
        sorted[sorted.len() / 2],
        sorted[sorted.len() * 9 / 10],
        sorted[sorted.len() - 1],
        ms.iter().filter(|&&m| m > 50.0).count(),
        ms.len()
    );
    println!(
        "per stage (mean):  decode {:.1} ms, locate {:.1} ms, read {:.1} ms ({:.1} candidates, {:.1} crops read)",
        dec / k,
        loc / k,
        rd / k,
        cands as f64 / k,
        reads as f64 / k
    );
    println!("exact at 720p:     {exact} / {}", ms.len());
}

/// `plate-accuracy DIR --crops`: tight blue plate crops named by their plate
/// (e.g. the held-out LPRNet crops, every 7th file, which the trainer never
/// uses): exact reads of the sequence reader alone and with the province
/// MLP at weights 0.25, 0.5, 0.75, 1.
fn crops(dir: &Path) {
    let weights = [0.25f32, 0.5, 0.75, 1.0];
    let (mut n, mut ctc_ok, mut prov_ok) = (0, 0, vec![0; weights.len()]);
    for (i, p) in photos(dir).into_iter().enumerate() {
        if i % 7 != 0 {
            continue;
        }
        let label = p.file_stem().unwrap().to_string_lossy().to_string();
        let Ok(img) = image::open(&p) else { continue };
        n += 1;
        if let Some((text, outs)) =
            plate_recognizer::diagnose_crop(&img.to_rgb8(), plate_recognizer::Color::Blue, &weights)
        {
            if text == label {
                ctc_ok += 1;
            }
            for (k, o) in outs.iter().enumerate() {
                if *o == label {
                    prov_ok[k] += 1;
                }
            }
        }
    }
    println!("crops: {n}, reader alone exact {ctc_ok}");
    for (k, w) in weights.iter().enumerate() {
        println!("  province MLP weight {w}: exact {}", prov_ok[k]);
    }
}
