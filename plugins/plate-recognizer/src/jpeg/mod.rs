//! A baseline JPEG decoder of our own (ITU-T T.81), written for the
//! pipeline's needs: it entropy-decodes the whole file once and keeps the
//! quantised DCT coefficients (`i16`, 64 per block), so that pixels can be
//! made later, and only where needed: at a reduced scale for locating
//! (`idct`, the low-frequency coefficients through a 4-, 2- or 1-point
//! IDCT) and at full resolution only for the regions crops are cut from
//! (`crate::photo`).
//!
//! Scope: sequential Huffman (SOF0, SOF1), 8-bit samples, one component
//! (grey) or three (YCbCr, JFIF or EXIF), sampling factors whose ratios to
//! the largest are 1, 2 or 4, one interleaved scan, restart intervals,
//! 8- and 16-bit quantisation tables. Anything else (progressive,
//! arithmetic coding, 12-bit, CMYK, RGB-coded, several scans, DNL) is
//! `Ok(None)`: the caller decodes it with the `image` crate as before.
//!
//! Hostile input: every length is checked, nothing panics, the sizes are
//! limited as the `image` path limits them (10,000 px a side, 400 MiB for
//! coefficients, sample planes and pixels together; beyond that budget
//! the `image` path is used), entropy data cut short is read as zeros
//! (as other decoders pad it) and every loop is bounded by the number of
//! blocks the frame header declares.

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod encode;
pub(crate) mod idct;
pub(crate) mod pool;
pub(crate) mod rows;

/// Largest width or height accepted (as the `image` path's limits).
pub(crate) const MAX_SIDE: usize = 10_000;
/// Largest allocation budget (as the `image` path's `max_alloc`).
pub(crate) const MAX_ALLOC: usize = 400 * 1024 * 1024;

/// The natural (row-major) index of the k-th coefficient in zig-zag order
/// (T.81, figure A.6).
pub(crate) const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// One colour component of a frame and its coefficients.
pub(crate) struct Component {
    id: u8,
    /// Sampling factors.
    pub(crate) h: usize,
    pub(crate) v: usize,
    tq: usize,
    /// Dequantisation factors, natural order.
    pub(crate) q: [u16; 64],
    /// Blocks across and down (whole MCUs).
    pub(crate) bw: usize,
    pub(crate) bh: usize,
    /// Quantised coefficients, 64 per block (natural order), blocks row by
    /// row.
    pub(crate) coefs: Vec<i16>,
}

/// A decoded (entropy-decoded, not transformed) baseline JPEG.
pub(crate) struct Jpeg {
    pub(crate) width: usize,
    pub(crate) height: usize,
    /// Largest sampling factors.
    pub(crate) hmax: usize,
    pub(crate) vmax: usize,
    /// MCUs across and down.
    pub(crate) mcus_x: usize,
    pub(crate) mcus_y: usize,
    /// 1 (grey) or 3 (Y, Cb, Cr).
    pub(crate) comps: Vec<Component>,
    /// Every MCU was decoded from the entropy-coded data (none was cut
    /// short or skipped after a corrupted restart interval).
    pub(crate) complete: bool,
}

impl Drop for Jpeg {
    /// The coefficients go back to the pool for the next photo.
    fn drop(&mut self) {
        for c in self.comps.iter_mut() {
            pool::give_words(std::mem::take(&mut c.coefs));
        }
    }
}

impl Jpeg {
    /// Bytes of everything a photo of this frame may allocate: the
    /// coefficients, one sample plane per component and the RGB pixels.
    fn budget(width: usize, height: usize, blocks: usize) -> usize {
        blocks * 64 * 3 + width * height * 3
    }
}

/// A Huffman table with a 9-bit lookup for short codes (T.81, annex C
/// and F.2.2.3 for the longer ones).
#[derive(Clone)]
struct Huffman {
    /// For each 9-bit prefix: (code length << 8) | value; 0 when the code
    /// is longer than 9 bits.
    fast: [u16; 1 << FAST_BITS],
    /// Per code length 1..=16: the largest code (-1: none), the smallest,
    /// and the index of the smallest's value.
    maxcode: [i32; 17],
    mincode: [i32; 17],
    valptr: [i32; 17],
    vals: [u8; 256],
}

const FAST_BITS: u32 = 9;

impl Huffman {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Huffman, String> {
        let mut t = Huffman {
            fast: [0; 1 << FAST_BITS],
            maxcode: [-1; 17],
            mincode: [0; 17],
            valptr: [0; 17],
            vals: [0; 256],
        };
        t.vals[..symbols.len()].copy_from_slice(symbols);
        let (mut code, mut k) = (0u32, 0usize);
        for len in 1..=16u32 {
            let n = counts[len as usize - 1] as usize;
            t.mincode[len as usize] = code as i32;
            t.valptr[len as usize] = k as i32;
            if code + n as u32 > 1 << len {
                return Err("bad Huffman table".into());
            }
            for _ in 0..n {
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    let entry = ((len as u16) << 8) | symbols[k] as u16;
                    for p in (code << shift)..((code + 1) << shift) {
                        t.fast[p as usize] = entry;
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                t.maxcode[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(t)
    }
}

/// The entropy-coded data's bits, most significant first, with byte
/// stuffing removed; a marker (or the end of the data) gives zeros.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    /// The next bits at the top.
    buf: u64,
    n: u32,
    /// A marker (or the end) was reached: only zeros follow.
    stopped: bool,
    /// Of the `n` bits, how many are such zeros (the last ones).
    padding: u32,
    /// No more entropy-coded data at all (the end, or a marker other than
    /// RSTn).
    ended: bool,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Bits<'a> {
        Bits {
            data,
            pos,
            buf: 0,
            n: 0,
            stopped: false,
            padding: 0,
            ended: false,
        }
    }

    /// Have bits beyond the data been used (the data was cut short)?
    fn overrun(&self) -> bool {
        self.n < self.padding
    }

    /// At least 57 bits in the buffer.
    #[inline(always)]
    fn fill(&mut self) {
        while self.n <= 56 {
            let mut byte = 0u8;
            if self.stopped {
                self.padding += 8;
            } else {
                match self.data.get(self.pos) {
                    Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                        byte = 0xFF;
                        self.pos += 2;
                    }
                    Some(&0xFF) => {
                        self.stopped = true;
                        self.padding += 8;
                    }
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                    None => {
                        self.stopped = true;
                        self.padding += 8;
                    }
                }
            }
            self.buf |= (byte as u64) << (56 - self.n);
            self.n += 8;
        }
    }

    #[inline(always)]
    fn peek(&self, len: u32) -> u32 {
        (self.buf >> (64 - len)) as u32
    }

    #[inline(always)]
    fn consume(&mut self, len: u32) {
        self.buf <<= len;
        self.n -= len;
    }

    /// The next Huffman-coded symbol (needs 16 bits in the buffer).
    #[inline(always)]
    fn symbol(&mut self, t: &Huffman) -> Result<u8, String> {
        let e = t.fast[self.peek(FAST_BITS) as usize];
        if e != 0 {
            self.consume((e >> 8) as u32);
            return Ok(e as u8);
        }
        for len in FAST_BITS + 1..=16 {
            let code = self.peek(len) as i32;
            if code <= t.maxcode[len as usize] {
                let i = t.valptr[len as usize] + code - t.mincode[len as usize];
                self.consume(len);
                return Ok(t.vals[(i as usize) & 255]);
            }
        }
        Err("bad Huffman code".into())
    }

    /// `s` more bits as a signed value (T.81, F.2.2.1 EXTEND); `s` ≤ 16.
    #[inline(always)]
    fn receive_extend(&mut self, s: u32) -> i32 {
        if s == 0 {
            return 0;
        }
        let v = self.peek(s) as i32;
        self.consume(s);
        if v < 1 << (s - 1) {
            v - (1 << s) + 1
        } else {
            v
        }
    }

    /// At a restart: the bits left are padding; skips to the next marker
    /// and past it if it is RSTn (a missing one is tolerated).
    fn restart(&mut self) {
        self.buf = 0;
        self.n = 0;
        self.padding = 0;
        self.stopped = false;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF {
                let m = self.data[self.pos + 1];
                if (0xD0..=0xD7).contains(&m) {
                    self.pos += 2;
                    return;
                }
                if m != 0 && m != 0xFF {
                    // another marker: no more data
                    self.stopped = true;
                    self.ended = true;
                    return;
                }
            }
            self.pos += 1;
        }
        self.pos = self.data.len();
        self.stopped = true;
        self.ended = true;
    }
}

fn be16(d: &[u8], i: usize) -> Result<usize, String> {
    match d.get(i..i + 2) {
        Some(b) => Ok(((b[0] as usize) << 8) | b[1] as usize),
        None => Err("truncated".into()),
    }
}

/// Is this a JPEG at all (starts with SOI)?
pub(crate) fn is_jpeg(data: &[u8]) -> bool {
    data.len() >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF
}

/// The next marker from `pos` on (bytes between segments are skipped, as
/// other decoders do; fill bytes 0xFF too), `pos` left after it; `None`
/// at the end of the data.
fn next_marker(data: &[u8], pos: &mut usize) -> Option<u8> {
    while *pos < data.len() && data[*pos] != 0xFF {
        *pos += 1;
    }
    while *pos < data.len() && data[*pos] == 0xFF {
        *pos += 1;
    }
    let m = *data.get(*pos)?;
    *pos += 1;
    Some(m)
}

/// One marker segment of a JPEG: its marker, what follows its length,
/// and where the data goes on after it (for SOS, the entropy-coded data).
struct Segment<'a> {
    marker: u8,
    body: &'a [u8],
    end: usize,
}

/// The marker segments of a JPEG after its SOI, in order, markers that
/// stand alone (RSTn, TEM, SOI) skipped; the walk ends at EOI or the end
/// of the data, and with an error at a segment whose length does not fit.
/// Nothing stops it at SOS: whoever reads the scan stops there.
fn segments(data: &[u8]) -> impl Iterator<Item = Result<Segment<'_>, String>> {
    let mut pos = 2;
    std::iter::from_fn(move || {
        loop {
            let m = next_marker(data, &mut pos)?;
            match m {
                0xD0..=0xD7 | 0x01 | 0xD8 => continue,
                0xD9 => return None,
                _ => {}
            }
            let len = be16(data, pos).unwrap_or(0);
            let Some(body) = data.get(pos + 2..pos + len).filter(|_| len >= 2) else {
                // nothing after the error: the walk is at the end
                pos = data.len();
                return Some(Err("truncated segment".into()));
            };
            pos += len;
            return Some(Ok(Segment {
                marker: m,
                body,
                end: pos,
            }));
        }
    })
}

/// Whether a JPEG's frame (of any kind: baseline, progressive, ...)
/// samples no component more finely than its first: true of every camera
/// photo (4:4:4, 4:2:2, 4:2:0, grey), and of anything without a readable
/// frame header before its first scan (the `image` crate's decoder reports
/// those; a segment whose length is under 2 or runs past the data ends
/// the walk here, and zune-jpeg 0.5.15 refuses every such segment before
/// a frame). The `image` crate's JPEG decoder (zune-jpeg 0.5.15) can panic
/// on a frame that does (a component sampled 2 × 4 against a luma of
/// 1 × 1 wrote past its AVX2 IDCT's output, found by the fuzzer), so
/// such a photo does not go to it.
pub(crate) fn luma_sampled_finest(data: &[u8]) -> bool {
    for seg in segments(data) {
        let Ok(Segment { marker, body, .. }) = seg else {
            return true;
        };
        match marker {
            0xDA => return true,
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let comps: Vec<(u8, u8)> = body
                    .get(6..)
                    .unwrap_or_default()
                    .chunks_exact(3)
                    .take(usize::from(body.get(5).copied().unwrap_or(0)))
                    .map(|c| (c[1] >> 4, c[1] & 15))
                    .collect();
                return comps
                    .split_first()
                    .is_none_or(|(&(h, v), rest)| rest.iter().all(|&(ch, cv)| ch <= h && cv <= v));
            }
            _ => {}
        }
    }
    true
}

/// Decodes the frame header and the entropy-coded data of a baseline
/// JPEG. `Ok(None)`: not a JPEG, or one outside this decoder's scope (see
/// the module documentation); `Err`: malformed.
pub(crate) fn parse(data: &[u8]) -> Result<Option<Jpeg>, String> {
    parse_with(data, None)
}

/// What is done with each row of MCUs as soon as it is entropy-decoded:
/// called with the frame, whose components then hold the coefficients of
/// that one row only (`c.v` rows of `c.bw` blocks each), and the row's
/// index; `false` stops decoding there (the frame is then not
/// `complete`).
pub(crate) type RowSink<'s> = &'s mut dyn FnMut(&Jpeg, usize) -> bool;

/// [`parse`], keeping every coefficient (`None`) or handing them to `sink`
/// one row of MCUs at a time (the frame returned then holds the last
/// row's).
pub(crate) fn parse_with(data: &[u8], mut sink: Option<RowSink>) -> Result<Option<Jpeg>, String> {
    if !is_jpeg(data) {
        return Ok(None);
    }
    let mut qt: [Option<[u16; 64]>; 4] = [None; 4];
    let mut dc: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac: [Option<Huffman>; 4] = [None, None, None, None];
    let mut restart_interval = 0usize;
    let mut frame: Option<Jpeg> = None;
    let mut adobe_rgb = false;
    for segment in segments(data) {
        let Segment {
            marker,
            body: seg,
            end: pos,
        } = segment?;
        match marker {
            0xC0 | 0xC1 => {
                if frame.is_some() {
                    return Err("two frames".into());
                }
                match frame_header(seg)? {
                    Some(f) => frame = Some(f),
                    None => return Ok(None),
                }
            }
            // other frame types: progressive, lossless, arithmetic, ...
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            0xC4 => {
                let mut i = 0;
                while i < seg.len() {
                    let tc = seg[i] >> 4;
                    let th = (seg[i] & 15) as usize;
                    let counts: [u8; 16] = seg
                        .get(i + 1..i + 17)
                        .ok_or("truncated DHT")?
                        .try_into()
                        .map_err(|_| "truncated DHT")?;
                    let n: usize = counts.iter().map(|&c| c as usize).sum();
                    if tc > 1 || th > 3 || n > 256 {
                        return Err("bad DHT".into());
                    }
                    let syms = seg.get(i + 17..i + 17 + n).ok_or("truncated DHT")?;
                    let t = Huffman::new(&counts, syms)?;
                    if tc == 0 {
                        dc[th] = Some(t);
                    } else {
                        ac[th] = Some(t);
                    }
                    i += 17 + n;
                }
            }
            0xDB => {
                let mut i = 0;
                while i < seg.len() {
                    let (pq, tq) = (seg[i] >> 4, (seg[i] & 15) as usize);
                    if pq > 1 || tq > 3 {
                        return Err("bad DQT".into());
                    }
                    let mut t = [0u16; 64];
                    for (k, &z) in ZIGZAG.iter().enumerate() {
                        t[z as usize] = if pq == 0 {
                            *seg.get(i + 1 + k).ok_or("truncated DQT")? as u16
                        } else {
                            be16(seg, i + 1 + 2 * k)? as u16
                        };
                    }
                    qt[tq] = Some(t);
                    i += 1 + 64 * (1 + pq as usize);
                }
            }
            0xDD => restart_interval = be16(seg, 0)?,
            // Adobe: transform 0 with three components is RGB
            0xEE if seg.len() >= 12 && &seg[..5] == b"Adobe" && seg[11] == 0 => adobe_rgb = true,
            0xDA => {
                let Some(mut f) = frame.take() else {
                    return Err("scan before frame".into());
                };
                if f.comps.len() == 3 && adobe_rgb
                    || f.comps.iter().map(|c| c.id).eq([b'R', b'G', b'B'])
                {
                    return Ok(None);
                }
                let ns = *seg.first().ok_or("truncated SOS")? as usize;
                if seg.len() < 1 + 2 * ns + 3 {
                    return Err("truncated SOS".into());
                }
                // one interleaved scan of every component, or nothing
                if ns != f.comps.len() {
                    return Ok(None);
                }
                let (ss, se, a) = (seg[1 + 2 * ns], seg[2 + 2 * ns], seg[3 + 2 * ns]);
                if ss != 0 || se != 63 || a != 0 {
                    return Err("bad spectral selection".into());
                }
                let mut tables = Vec::with_capacity(ns);
                for k in 0..ns {
                    let id = seg[1 + 2 * k];
                    let t = seg[2 + 2 * k];
                    let (td, ta) = ((t >> 4) as usize, (t & 15) as usize);
                    if f.comps[k].id != id || td > 3 || ta > 3 {
                        return Err("scan components".into());
                    }
                    let d = dc[td].clone().ok_or("no DC table")?;
                    let a = ac[ta].clone().ok_or("no AC table")?;
                    tables.push((d, a));
                }
                for c in f.comps.iter_mut() {
                    c.q = qt[c.tq].ok_or("no quantisation table")?;
                }
                entropy_decode(&mut f, &tables, data, pos, restart_interval, sink.take())?;
                return Ok(Some(f));
            }
            // APPn, COM and anything else with a length: skipped
            _ => {}
        }
    }
    Err("no image data".into())
}

/// The frame header (SOF0 / SOF1): `Ok(None)` when outside the scope.
fn frame_header(seg: &[u8]) -> Result<Option<Jpeg>, String> {
    if seg.len() < 6 {
        return Err("truncated SOF".into());
    }
    let (p, height, width, nf) = (seg[0], be16(seg, 1)?, be16(seg, 3)?, seg[5] as usize);
    if p != 8 || height == 0 || !(nf == 1 || nf == 3) {
        return Ok(None);
    }
    if width == 0 {
        return Err("zero width".into());
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err("image too large".into());
    }
    if seg.len() < 6 + 3 * nf {
        return Err("truncated SOF".into());
    }
    let mut comps = Vec::with_capacity(nf);
    for k in 0..nf {
        let (id, hv, tq) = (seg[6 + 3 * k], seg[7 + 3 * k], seg[8 + 3 * k] as usize);
        let (h, v) = ((hv >> 4) as usize, (hv & 15) as usize);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
            return Err("bad component".into());
        }
        // one component: its sampling factors do not matter (non-interleaved)
        let (h, v) = if nf == 1 { (1, 1) } else { (h, v) };
        comps.push(Component {
            id,
            h,
            v,
            tq,
            q: [0; 64],
            bw: 0,
            bh: 0,
            coefs: Vec::new(),
        });
    }
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    if comps
        .iter()
        .any(|c| hmax % c.h != 0 || vmax % c.v != 0 || hmax / c.h == 3 || vmax / c.v == 3)
    {
        return Ok(None);
    }
    let mcus_x = width.div_ceil(8 * hmax);
    let mcus_y = height.div_ceil(8 * vmax);
    let blocks: usize = comps.iter().map(|c| mcus_x * c.h * mcus_y * c.v).sum();
    if Jpeg::budget(width, height, blocks) > MAX_ALLOC {
        return Ok(None);
    }
    for c in comps.iter_mut() {
        c.bw = mcus_x * c.h;
        c.bh = mcus_y * c.v;
    }
    Ok(Some(Jpeg {
        width,
        height,
        hmax,
        vmax,
        mcus_x,
        mcus_y,
        comps,
        complete: false,
    }))
}

/// Decodes the scan's MCUs (T.81, F.2) into the components' coefficients
/// (with a `sink`, one row of MCUs at a time, each handed to it).
fn entropy_decode(
    f: &mut Jpeg,
    tables: &[(Huffman, Huffman)],
    data: &[u8],
    start: usize,
    restart_interval: usize,
    mut sink: Option<RowSink>,
) -> Result<(), String> {
    for c in f.comps.iter_mut() {
        let rows = if sink.is_some() { c.v } else { c.bh };
        c.coefs = pool::words(c.bw * rows * 64).ok_or("out of memory for the coefficients")?;
    }
    let mut bits = Bits::new(data, start);
    let mut pred = [0i32; 3];
    let single = f.comps.len() == 1;
    // a single component is not interleaved: its MCU is one block, over
    // the blocks that hold image samples
    let (units_x, units_y) = if single {
        (f.width.div_ceil(8), f.height.div_ceil(8))
    } else {
        (f.mcus_x, f.mcus_y)
    };
    let mut todo = restart_interval;
    let mut cut = false;
    for my in 0..units_y {
        for mx in 0..units_x {
            if restart_interval > 0 {
                if todo == 0 {
                    bits.restart();
                    pred = [0; 3];
                    todo = restart_interval;
                }
                todo -= 1;
            }
            // data cut short: the blocks it lacks keep zero coefficients
            // (mid-grey); with restarts, decoding resumes at the next one
            if bits.ended || bits.overrun() {
                cut = true;
                if restart_interval == 0 || bits.ended {
                    return Ok(());
                }
                continue;
            }
            // (with a sink, the row's blocks only)
            let row = if sink.is_some() { 0 } else { my };
            for (k, c) in f.comps.iter_mut().enumerate() {
                let (dct, act) = (&tables[k].0, &tables[k].1);
                for by in 0..c.v {
                    for bx in 0..c.h {
                        let b = (row * c.v + by) * c.bw + mx * c.h + bx;
                        let blk = &mut c.coefs[b * 64..b * 64 + 64];
                        decode_block(&mut bits, dct, act, &mut pred[k], blk)?;
                    }
                }
            }
        }
        if let Some(sink) = sink.as_deref_mut() {
            if !sink(f, my) {
                return Ok(());
            }
            for c in f.comps.iter_mut() {
                c.coefs.fill(0);
            }
        }
    }
    f.complete = !cut && !bits.overrun();
    Ok(())
}

/// One block's coefficients (T.81, F.2.2).
#[inline(always)]
fn decode_block(
    bits: &mut Bits,
    dct: &Huffman,
    act: &Huffman,
    pred: &mut i32,
    blk: &mut [i16],
) -> Result<(), String> {
    bits.fill();
    let t = bits.symbol(dct)? as u32;
    let diff = bits.receive_extend(t.min(16));
    *pred = (*pred + diff).clamp(-32768, 32767);
    blk[0] = *pred as i16;
    let mut k = 1usize;
    while k < 64 {
        if bits.n < 32 {
            bits.fill();
        }
        let rs = bits.symbol(act)?;
        let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
        if s == 0 {
            if r != 15 {
                break;
            }
            k += 16;
            continue;
        }
        k += r;
        if k > 63 {
            break;
        }
        blk[ZIGZAG[k] as usize] = bits.receive_extend(s) as i16;
        k += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
