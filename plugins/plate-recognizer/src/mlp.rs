//! Tiny multi-layer perceptron (one hidden ReLU layer, softmax output) used
//! for character classification, plus the character normalisation shared by
//! training (`src/bin/train.rs`) and inference.
//!
//! Model file format (`model/chars.bin`, little endian):
//! ```text
//! magic "PLM1"
//! u32 number_of_nets
//! per net:
//!   u32 name_len, name bytes (utf-8)
//!   u32 classes_len, classes bytes (utf-8, one class per char)
//!   u32 n_in, u32 n_hidden, u32 n_out
//!   layer1: n_hidden rows of (f32 scale, f32 bias, n_in × i8)
//!   layer2: n_out rows of (f32 scale, f32 bias, n_hidden × i8)
//! ```
//! Weights are quantised per row to i8 (w = q * scale).

/// Side of the normalised character square.
pub const SIDE: usize = 20;
/// Number of input features (raw pixels + a few shape features).
pub const N_IN: usize = SIDE * SIDE + 4;

#[derive(Clone, Debug)]
pub struct Layer {
    pub n_in: usize,
    pub n_out: usize,
    /// row-major n_out × n_in
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

impl Layer {
    pub fn forward(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        for o in 0..self.n_out {
            let row = &self.w[o * self.n_in..(o + 1) * self.n_in];
            let mut s = self.b[o];
            for (a, b) in row.iter().zip(x) {
                s += a * b;
            }
            out.push(s);
        }
    }
}

#[derive(Clone, Debug)]
pub struct Mlp {
    pub name: String,
    pub classes: Vec<char>,
    pub l1: Layer,
    pub l2: Layer,
}

impl Mlp {
    /// Returns softmax probabilities over `classes`.
    pub fn predict(&self, x: &[f32]) -> Vec<f32> {
        let mut h = Vec::with_capacity(self.l1.n_out);
        self.l1.forward(x, &mut h);
        for v in h.iter_mut() {
            if *v < 0.0 {
                *v = 0.0;
            }
        }
        let mut o = Vec::with_capacity(self.l2.n_out);
        self.l2.forward(&h, &mut o);
        softmax(&mut o);
        o
    }

    /// Best class and its probability.
    pub fn classify(&self, x: &[f32]) -> (char, f32) {
        let p = self.predict(x);
        let (i, v) = p.iter().enumerate().fold(
            (0, f32::MIN),
            |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
        );
        (self.classes.get(i).copied().unwrap_or('?'), v)
    }
}

pub fn softmax(v: &mut [f32]) {
    let m = v.iter().cloned().fold(f32::MIN, f32::max);
    let mut s = 0.0;
    for x in v.iter_mut() {
        *x = (*x - m).exp();
        s += *x;
    }
    if s > 0.0 {
        for x in v.iter_mut() {
            *x /= s;
        }
    }
}

// ---------------------------------------------------------------- (de)serialise

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.p + n > self.b.len() {
            return Err("model truncated".into());
        }
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<usize, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }
    fn f32(&mut self) -> Result<f32, String> {
        let s = self.take(4)?;
        Ok(f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = self.u32()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|e| e.to_string())
    }
    fn layer(&mut self, n_in: usize, n_out: usize) -> Result<Layer, String> {
        let mut w = Vec::with_capacity(n_in * n_out);
        let mut b = Vec::with_capacity(n_out);
        for _ in 0..n_out {
            let scale = self.f32()?;
            b.push(self.f32()?);
            for &q in self.take(n_in)? {
                w.push(q as i8 as f32 * scale);
            }
        }
        Ok(Layer { n_in, n_out, w, b })
    }
}

pub fn load_models(bytes: &[u8]) -> Result<Vec<Mlp>, String> {
    let mut r = Reader { b: bytes, p: 0 };
    if r.take(4)? != b"PLM1" {
        return Err("bad model magic".into());
    }
    let n = r.u32()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let name = r.string()?;
        let classes: Vec<char> = r.string()?.chars().collect();
        let n_in = r.u32()?;
        let n_hid = r.u32()?;
        let n_out = r.u32()?;
        if n_in > 100_000 || n_hid > 100_000 || n_out != classes.len() {
            return Err("bad model dims".into());
        }
        let l1 = r.layer(n_in, n_hid)?;
        let l2 = r.layer(n_hid, n_out)?;
        out.push(Mlp {
            name,
            classes,
            l1,
            l2,
        });
    }
    Ok(out)
}

fn write_layer(out: &mut Vec<u8>, l: &Layer) {
    for o in 0..l.n_out {
        let row = &l.w[o * l.n_in..(o + 1) * l.n_in];
        let m = row.iter().fold(0f32, |a, &v| a.max(v.abs()));
        let scale = if m > 0.0 { m / 127.0 } else { 1.0 };
        out.extend_from_slice(&scale.to_le_bytes());
        out.extend_from_slice(&l.b[o].to_le_bytes());
        for &v in row {
            let q = (v / scale).round().clamp(-127.0, 127.0) as i8;
            out.push(q as u8);
        }
    }
}

pub fn save_models(nets: &[Mlp]) -> Vec<u8> {
    let mut out = b"PLM1".to_vec();
    out.extend_from_slice(&(nets.len() as u32).to_le_bytes());
    for n in nets {
        for s in [n.name.clone(), n.classes.iter().collect::<String>()] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        for d in [n.l1.n_in, n.l1.n_out, n.l2.n_out] {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        write_layer(&mut out, &n.l1);
        write_layer(&mut out, &n.l2);
    }
    out
}

// ---------------------------------------------------------------- features

/// Normalise a character given as a grey/binary patch (`w`×`h`, row-major,
/// values 0..=255, foreground = bright) into the feature vector: the tight
/// bounding box of foreground (> 127) is centred in a square of side
/// max(w, h), resampled to 20×20 (area average), plus shape features.
pub fn char_features(px: &[u8], w: usize, h: usize) -> Vec<f32> {
    let mut feat = vec![0f32; N_IN];
    if w == 0 || h == 0 || px.len() < w * h {
        return feat;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            if px[y * w + x] > 127 {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    if x1 < x0 || y1 < y0 {
        return feat;
    }
    let bw = x1 - x0 + 1;
    let bh = y1 - y0 + 1;
    let side = bw.max(bh) as f32;
    // square origin in patch coordinates
    let ox = x0 as f32 + bw as f32 / 2.0 - side / 2.0;
    let oy = y0 as f32 + bh as f32 / 2.0 - side / 2.0;
    let cell = side / SIDE as f32;
    // supersample each output cell 3×3
    let ss = 3;
    for gy in 0..SIDE {
        for gx in 0..SIDE {
            let mut acc = 0f32;
            for sy in 0..ss {
                for sx in 0..ss {
                    let fx = ox + (gx as f32 + (sx as f32 + 0.5) / ss as f32) * cell;
                    let fy = oy + (gy as f32 + (sy as f32 + 0.5) / ss as f32) * cell;
                    let ix = fx.floor() as isize;
                    let iy = fy.floor() as isize;
                    if ix >= x0 as isize
                        && iy >= y0 as isize
                        && ix <= x1 as isize
                        && iy <= y1 as isize
                    {
                        acc += px[iy as usize * w + ix as usize] as f32 / 255.0;
                    }
                }
            }
            feat[gy * SIDE + gx] = acc / (ss * ss) as f32;
        }
    }
    let n = SIDE * SIDE;
    feat[n] = bw as f32 / bh as f32; // aspect
    let mut on = 0usize;
    for y in y0..=y1 {
        for x in x0..=x1 {
            if px[y * w + x] > 127 {
                on += 1;
            }
        }
    }
    feat[n + 1] = on as f32 / (bw * bh) as f32; // fill
    feat[n + 2] = 1.0; // bias-like constant
    feat[n + 3] = 0.0;
    feat
}
