//! Training the sequence reader (`src/bin/train.rs`; the province CNN's
//! training shares `he_init` and `col2im`): initialisation, the backward
//! pass, the CTC loss. Recognising uses none of it.

use super::*;

/// He-initialised parameters for tensors of `shapes` (biases zero).
pub fn he_init(shapes: Vec<(usize, usize)>, rng: &mut crate::synth::Rng) -> Vec<Vec<f32>> {
    shapes
        .into_iter()
        .map(|(r, c)| {
            if c == 1 {
                vec![0.0; r]
            } else {
                let sd = (2.0 / c as f32).sqrt();
                (0..r * c).map(|_| rng.gauss() * sd).collect()
            }
        })
        .collect()
}

impl Net {
    /// He-initialised network.
    pub fn init(classes: Vec<char>, rng: &mut crate::synth::Rng) -> Net {
        let p = he_init(shapes(classes.len()), rng);
        Net { classes, p }
    }

    /// Backward pass from d(loss)/d(logits); accumulates into `grads`.
    pub fn backward(&self, cache: &Cache, dlg: &[f32], grads: &mut [Vec<f32>]) {
        let nc = self.classes.len();
        // fc2
        let mut dh1 = dense_backward(&self.p[10], &cache.h1, dlg, nc, FC_H, &mut grads[10..12]);
        for (d, &a) in dh1.iter_mut().zip(&cache.h1) {
            if a <= 0.0 {
                *d = 0.0;
            }
        }
        // fc1
        let nf = CH[4] * FH;
        let dcur = dense_backward(&self.p[8], &cache.feat, &dh1, FC_H, nf, &mut grads[8..10]);
        // convs, last to first
        let dims = [
            (IN_H, IN_W),
            (IN_H / 2, IN_W / 2),
            (IN_H / 4, IN_W / 4),
            (IN_H / 4, IN_W / 4),
        ];
        convs_backward(
            ConvStack {
                p: &self.p,
                ch: &CH,
                dims: &dims,
                col: &cache.col,
                a: &cache.a,
                idx: &cache.idx,
            },
            dcur,
            grads,
        );
    }
}

/// A stack of 3×3 convolutions (padding 1, ReLU, then max-pooling where
/// a layer's `idx` is not empty) as its forward pass left it: the
/// parameters (weights and biases of layer i at 2i and 2i + 1), the
/// channels (`ch[i]` in, `ch[i + 1]` out), and per layer its input size,
/// im2col input, activations and pooling argmax.
pub(crate) struct ConvStack<'a> {
    pub(crate) p: &'a [Vec<f32>],
    pub(crate) ch: &'a [usize],
    pub(crate) dims: &'a [(usize, usize)],
    pub(crate) col: &'a [Vec<f32>],
    pub(crate) a: &'a [Vec<f32>],
    pub(crate) idx: &'a [Vec<u32>],
}

/// Backward through a [`ConvStack`], last layer to first, from d/d(its
/// output) `dout` (pooled size where the last layer pools): adds d/dw and
/// d/db of every layer into `grads` (indexed as `p`).
pub(crate) fn convs_backward(s: ConvStack<'_>, dout: Vec<f32>, grads: &mut [Vec<f32>]) {
    let mut dcur = dout;
    for i in (0..s.dims.len()).rev() {
        let (h, w) = s.dims[i];
        let (cin, cout) = (s.ch[i], s.ch[i + 1]);
        let n = h * w;
        // un-pool
        let mut dz = if s.idx[i].is_empty() {
            dcur
        } else {
            let mut d = vec![0f32; cout * n];
            for (g, &j) in dcur.iter().zip(&s.idx[i]) {
                d[j as usize] += *g;
            }
            d
        };
        for (d, &a) in dz.iter_mut().zip(&s.a[i]) {
            if a <= 0.0 {
                *d = 0.0;
            }
        }
        let g = &mut grads[2 * i..2 * i + 2];
        mm(
            cout,
            n,
            cin * 9,
            &dz,
            false,
            &s.col[i],
            true,
            &mut g[0],
            1.0,
        );
        for o in 0..cout {
            g[1][o] += dz[o * n..(o + 1) * n].iter().sum::<f32>();
        }
        if i == 0 {
            break;
        }
        let mut dcol = vec![0f32; cin * 9 * n];
        mm(
            cin * 9,
            cout,
            n,
            &s.p[2 * i],
            true,
            &dz,
            false,
            &mut dcol,
            0.0,
        );
        dz = vec![0f32; cin * n];
        col2im(&dcol, cin, h, w, &mut dz);
        dcur = dz;
    }
}

/// Backward pass through a column-wise dense layer, `y = w · x + b` with
/// `rows` outputs and `cols` inputs per column (`T` columns): adds d/dw and
/// d/db to `g` (`[weights, biases]`) and returns d/dx.
fn dense_backward(
    w: &[f32],
    x: &[f32],
    dy: &[f32],
    rows: usize,
    cols: usize,
    g: &mut [Vec<f32>],
) -> Vec<f32> {
    mm(rows, T, cols, dy, false, x, true, &mut g[0], 1.0);
    for o in 0..rows {
        g[1][o] += dy[o * T..(o + 1) * T].iter().sum::<f32>();
    }
    let mut dx = vec![0f32; cols * T];
    mm(cols, rows, T, w, true, dy, false, &mut dx, 0.0);
    dx
}

pub(crate) fn col2im(col: &[f32], c: usize, h: usize, w: usize, dx: &mut [f32]) {
    let n = h * w;
    for ci in 0..c {
        for ky in 0..3 {
            for kx in 0..3 {
                let row = &col[((ci * 9) + ky * 3 + kx) * n..((ci * 9) + ky * 3 + kx + 1) * n];
                for y in 0..h {
                    let sy = y as isize + ky as isize - 1;
                    if sy < 0 || sy >= h as isize {
                        continue;
                    }
                    let base = ci * n + sy as usize * w;
                    let srow = &row[y * w..(y + 1) * w];
                    let d = &mut dx[base..base + w];
                    match kx {
                        0 => {
                            for x in 1..w {
                                d[x - 1] += srow[x];
                            }
                        }
                        1 => {
                            for x in 0..w {
                                d[x] += srow[x];
                            }
                        }
                        _ => {
                            for x in 0..w - 1 {
                                d[x + 1] += srow[x];
                            }
                        }
                    }
                }
            }
        }
    }
}

fn lse(a: f32, b: f32) -> f32 {
    if a == f32::NEG_INFINITY {
        return b;
    }
    if b == f32::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// CTC loss of [nc × T] logits for `label` (class indices, no blanks);
/// writes d(loss)/d(logits) into `grad`. Returns the loss (−log p).
pub fn ctc_loss(lg: &[f32], nc: usize, label: &[usize], grad: &mut [f32]) -> f32 {
    let mut lp = vec![0f32; nc * T];
    for t in 0..T {
        let mx = (0..nc).map(|k| lg[k * T + t]).fold(f32::MIN, f32::max);
        let s: f32 = (0..nc).map(|k| (lg[k * T + t] - mx).exp()).sum();
        let ls = mx + s.ln();
        for k in 0..nc {
            lp[k * T + t] = lg[k * T + t] - ls;
        }
    }
    let s = 2 * label.len() + 1;
    let ext: Vec<usize> = (0..s)
        .map(|i| if i % 2 == 0 { 0 } else { label[i / 2] })
        .collect();
    let ninf = f32::NEG_INFINITY;
    let mut al = vec![ninf; T * s];
    let mut be = vec![ninf; T * s];
    al[0] = lp[ext[0] * T];
    if s > 1 {
        al[1] = lp[ext[1] * T];
    }
    for t in 1..T {
        for i in 0..s {
            let mut a = al[(t - 1) * s + i];
            if i >= 1 {
                a = lse(a, al[(t - 1) * s + i - 1]);
            }
            if i >= 2 && ext[i] != 0 && ext[i] != ext[i - 2] {
                a = lse(a, al[(t - 1) * s + i - 2]);
            }
            al[t * s + i] = if a == ninf {
                ninf
            } else {
                a + lp[ext[i] * T + t]
            };
        }
    }
    be[(T - 1) * s + s - 1] = lp[ext[s - 1] * T + T - 1];
    if s > 1 {
        be[(T - 1) * s + s - 2] = lp[ext[s - 2] * T + T - 1];
    }
    for t in (0..T - 1).rev() {
        for i in 0..s {
            let mut b = be[(t + 1) * s + i];
            if i + 1 < s {
                b = lse(b, be[(t + 1) * s + i + 1]);
            }
            if i + 2 < s && ext[i] != 0 && ext[i] != ext[i + 2] {
                b = lse(b, be[(t + 1) * s + i + 2]);
            }
            be[t * s + i] = if b == ninf {
                ninf
            } else {
                b + lp[ext[i] * T + t]
            };
        }
    }
    let logp = if s > 1 {
        lse(al[(T - 1) * s + s - 1], al[(T - 1) * s + s - 2])
    } else {
        al[(T - 1) * s]
    };
    if !logp.is_finite() {
        grad.fill(0.0);
        return 0.0;
    }
    for t in 0..T {
        for k in 0..nc {
            grad[k * T + t] = lp[k * T + t].exp();
        }
        for i in 0..s {
            let g = al[t * s + i] + be[t * s + i] - lp[ext[i] * T + t] - logp;
            if g > -80.0 {
                grad[ext[i] * T + t] -= g.exp();
            }
        }
    }
    -logp
}
