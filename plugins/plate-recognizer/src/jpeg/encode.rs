//! Baseline JPEGs written here (test photos with every sampling layout
//! and restart intervals, which the `image` crate's encoder does not
//! make): the decoder's tests and the seeds of its fuzz target.

use image::RgbImage;

/// Every sampling layout our decoder takes whole (sampling ratios 1 and
/// 2; one component: grey), as (horizontal, vertical) factors per
/// component.
pub const LAYOUTS: [&[(usize, usize)]; 6] = [
    &[(1, 1)],
    &[(1, 1), (1, 1), (1, 1)],
    &[(2, 1), (1, 1), (1, 1)],
    &[(2, 2), (1, 1), (1, 1)],
    &[(1, 2), (1, 1), (1, 1)],
    &[(2, 2), (1, 2), (1, 2)],
];

/// A small test photo: smooth gradients, a plate-like blue box with white
/// bars (edges in every channel).
pub fn scene(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let inside = (0.3..0.7).contains(&fx) && (0.4..0.6).contains(&fy);
        if inside {
            let bar = (x / 3) % 3 == 0;
            if bar {
                image::Rgb([235, 240, 245])
            } else {
                image::Rgb([20, 60, 190])
            }
        } else {
            image::Rgb([
                (200.0 * fx + 30.0) as u8,
                (150.0 * fy + 50.0) as u8,
                (100.0 + 80.0 * (fx * 9.0).sin()) as u8,
            ])
        }
    })
}

/// A baseline JPEG of `img` written here (T.81, annex A/F, forward DCT
/// and Huffman coding): components with sampling factors `samp` (one
/// component: grey), quantisation step `qs` everywhere, restart interval
/// `ri` (0: none). Its Huffman tables code every symbol, the AC ones
/// partly with 16-bit codes (the decoder's slow path).
pub fn encode(img: &RgbImage, samp: &[(usize, usize)], qs: u16, ri: usize) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let nc = samp.len();
    let hmax = samp.iter().map(|s| s.0).max().unwrap();
    let vmax = samp.iter().map(|s| s.1).max().unwrap();
    let (mx, my) = (w.div_ceil(8 * hmax), h.div_ceil(8 * vmax));
    // full-resolution planes (edge-replicated to whole MCUs)
    let plane = |k: usize, x: usize, y: usize| -> f32 {
        let p = img.get_pixel(x.min(w - 1) as u32, y.min(h - 1) as u32).0;
        let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
        match (nc, k) {
            (1, _) | (_, 0) => 0.299 * r + 0.587 * g + 0.114 * b,
            (_, 1) => -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0,
            _ => 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0,
        }
    };
    // DC: categories 0..=11, 4-bit codes; AC: 162 symbols, 100 of 8 bits,
    // 62 of 16 bits
    let dc_syms: Vec<u8> = (0..12).collect();
    let mut ac_syms: Vec<u8> = vec![0x00, 0xF0];
    for r in 0..16u8 {
        for s in 1..=10u8 {
            ac_syms.push(r << 4 | s);
        }
    }
    let mut dc_counts = [0u8; 16];
    dc_counts[3] = 12;
    let mut ac_counts = [0u8; 16];
    ac_counts[7] = 100;
    ac_counts[15] = 62;
    let codes = |counts: &[u8; 16], syms: &[u8]| {
        let mut t = [(0u32, 0u32); 256];
        let (mut code, mut k) = (0u32, 0);
        for len in 1..=16 {
            for _ in 0..counts[len - 1] {
                t[syms[k] as usize] = (code, len as u32);
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        t
    };
    let (dct, act) = (codes(&dc_counts, &dc_syms), codes(&ac_counts, &ac_syms));
    let mut out = vec![0xFF, 0xD8];
    let seg = |out: &mut Vec<u8>, m: u8, body: &[u8]| {
        out.extend_from_slice(&[0xFF, m]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(body);
    };
    seg(&mut out, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    let mut dqt = vec![0x10]; // 16-bit table 0
    for _ in 0..64 {
        dqt.extend_from_slice(&qs.to_be_bytes());
    }
    seg(&mut out, 0xDB, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&(h as u16).to_be_bytes());
    sof.extend_from_slice(&(w as u16).to_be_bytes());
    sof.push(nc as u8);
    for (k, &(sh, sv)) in samp.iter().enumerate() {
        sof.extend_from_slice(&[k as u8 + 1, (sh << 4 | sv) as u8, 0]);
    }
    seg(&mut out, 0xC0, &sof);
    let mut dht = vec![0x00];
    dht.extend_from_slice(&dc_counts);
    dht.extend_from_slice(&dc_syms);
    dht.push(0x10);
    dht.extend_from_slice(&ac_counts);
    dht.extend_from_slice(&ac_syms);
    seg(&mut out, 0xC4, &dht);
    if ri > 0 {
        seg(&mut out, 0xDD, &(ri as u16).to_be_bytes());
    }
    let mut sos = vec![nc as u8];
    for k in 0..nc {
        sos.extend_from_slice(&[k as u8 + 1, 0x00]);
    }
    sos.extend_from_slice(&[0, 63, 0]);
    seg(&mut out, 0xDA, &sos);
    // entropy-coded data
    let (mut acc, mut nacc) = (0u64, 0u32);
    fn put(out: &mut Vec<u8>, acc: &mut u64, nacc: &mut u32, v: u32, len: u32) {
        *acc = (*acc << len) | (v as u64 & ((1 << len) - 1));
        *nacc += len;
        while *nacc >= 8 {
            let b = (*acc >> (*nacc - 8)) as u8;
            out.push(b);
            if b == 0xFF {
                out.push(0);
            }
            *nacc -= 8;
        }
    }
    let cat = |v: i32| 32 - v.unsigned_abs().leading_zeros();
    let mut pred = vec![0i32; nc];
    let units: Vec<(usize, usize)> = if nc == 1 {
        let (bw, bh) = (w.div_ceil(8), h.div_ceil(8));
        (0..bh).flat_map(|y| (0..bw).map(move |x| (x, y))).collect()
    } else {
        (0..my).flat_map(|y| (0..mx).map(move |x| (x, y))).collect()
    };
    for (i, &(ux, uy)) in units.iter().enumerate() {
        if ri > 0 && i > 0 && i % ri == 0 {
            // pad with ones, then RSTn
            if nacc > 0 {
                let pad = 8 - nacc;
                put(&mut out, &mut acc, &mut nacc, (1 << pad) - 1, pad);
            }
            out.extend_from_slice(&[0xFF, 0xD0 + ((i / ri - 1) % 8) as u8]);
            pred.iter_mut().for_each(|p| *p = 0);
        }
        for (k, &(sh, sv)) in samp.iter().enumerate() {
            let (sh, sv) = if nc == 1 { (1, 1) } else { (sh, sv) };
            let (rx, ry) = (hmax / sh, vmax / sv);
            for by in 0..sv {
                for bx in 0..sh {
                    // the block's samples: the component's (box-averaged)
                    let mut s = [0f32; 64];
                    for y in 0..8 {
                        for x in 0..8 {
                            let cx = (ux * sh + bx) * 8 + x;
                            let cy = (uy * sv + by) * 8 + y;
                            let mut sum = 0.0;
                            for dy in 0..ry {
                                for dx in 0..rx {
                                    sum += plane(k, cx * rx + dx, cy * ry + dy);
                                }
                            }
                            s[y * 8 + x] = sum / (rx * ry) as f32 - 128.0;
                        }
                    }
                    // forward DCT, quantised, in zig-zag order
                    let mut zz = [0i32; 64];
                    for (kz, &nat) in super::ZIGZAG.iter().enumerate() {
                        let (v, u) = (nat as usize / 8, nat as usize % 8);
                        let c = |f: usize| if f == 0 { 0.5f32.sqrt() } else { 1.0 };
                        let mut f = 0f32;
                        for y in 0..8 {
                            for x in 0..8 {
                                f += s[y * 8 + x]
                                    * (((2 * x + 1) * u) as f32 * std::f32::consts::PI / 16.0)
                                        .cos()
                                    * (((2 * y + 1) * v) as f32 * std::f32::consts::PI / 16.0)
                                        .cos();
                            }
                        }
                        zz[kz] = (c(u) * c(v) / 4.0 * f / qs as f32).round() as i32;
                    }
                    let diff = zz[0] - pred[k];
                    pred[k] = zz[0];
                    let s = cat(diff);
                    let (code, len) = dct[s as usize];
                    put(&mut out, &mut acc, &mut nacc, code, len);
                    let bits = |v: i32, s: u32| if v < 0 { (v - 1) as u32 } else { v as u32 } & ((1 << s) - 1);
                    if s > 0 {
                        put(&mut out, &mut acc, &mut nacc, bits(diff, s), s);
                    }
                    let mut run = 0;
                    for &v in &zz[1..] {
                        if v == 0 {
                            run += 1;
                            continue;
                        }
                        while run > 15 {
                            let (code, len) = act[0xF0];
                            put(&mut out, &mut acc, &mut nacc, code, len);
                            run -= 16;
                        }
                        let s = cat(v).min(10);
                        let (code, len) = act[(run << 4 | s) as usize];
                        put(&mut out, &mut acc, &mut nacc, code, len);
                        put(&mut out, &mut acc, &mut nacc, bits(v, s), s);
                        run = 0;
                    }
                    if run > 0 {
                        let (code, len) = act[0x00];
                        put(&mut out, &mut acc, &mut nacc, code, len);
                    }
                }
            }
        }
    }
    if nacc > 0 {
        let pad = 8 - nacc;
        put(&mut out, &mut acc, &mut nacc, (1 << pad) - 1, pad);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}
