//! A decoded photo whose pixels are made only where they are needed.
//!
//! A baseline JPEG (`crate::jpeg`) is entropy-decoded once and kept as DCT
//! coefficients. Its pixels are made per MCU, cached, at the scale asked
//! for ([`Photo::pixels_at`]): full resolution, or 1/2, 1/4, 1/8 through a
//! reduced IDCT of each block's lowest frequencies. The locator's and
//! the detector's working copies are the whole photo at the smallest such
//! scale still large enough, box-filtered the rest of the way
//! ([`Photo::working_copy`]); crops come from the full-resolution pixels
//! of the regions they sample (`crate::rectify`). At full resolution chroma is upsampled by
//! the triangle filter ("fancy" upsampling: 3/4 of the nearer chroma
//! sample, 1/4 of the farther, in each direction), at reduced scales
//! replicated, then converted to RGB (JFIF). A region's pixels are the
//! same as the whole photo's made at once at that scale
//! ([`Photo::to_rgb`] at full resolution) by construction: both come from
//! the same per-MCU code. At full resolution they are also zune-jpeg's
//! (the `image` crate's decoder, which the recogniser was tuned on), bit
//! for bit: the same integer IDCT, upsampling and colour conversion. So in
//! wasm32, where zune-jpeg runs scalar code, smaller baseline JPEGs are
//! decoded whole by this code instead ([`decode_whole`]). Any other photo (PNG, progressive JPEG, ...) is
//! decoded whole by the `image` crate, as before, and simply has all its
//! pixels (at full resolution only).
//!
//! Single-threaded (interior mutability through `RefCell`), `Send`.

use crate::jpeg::{self, Jpeg, idct::idct, pool, rows};
use crate::locate::resize_box_raw;
use image::RgbImage;
use std::borrow::Cow;
use std::cell::{Ref, RefCell};

/// JPEGs of at least this many pixels (2 MP, where cameras begin) are
/// decoded by our own decoder: located on a copy made at reduced scale
/// from the coefficients, full-resolution pixels made only where crops
/// are cut. Smaller ones are decoded whole by the `image` crate
/// (zune-jpeg), as the recogniser was tuned on. Measured on five
/// versions of the EasyPR photos (as they are, re-encoded, × 0.75, × 1.5,
/// × 2; NOTEBOOK.md, "Our own JPEG decoder"): with every JPEG ours, 455 /
/// 259 of 515 / 295 tuning / held-out reads exact against 458 / 263 with
/// none; from 2 MP, 458 / 264; from 4 MP, 460 / 263 (all within the noise
/// of re-encoding, about ± 4).
pub const LAZY_FROM_PIXELS: u64 = 2_000_000;

/// ... and at most this many (12 MP). Our decoder keeps the coefficients
/// (2 bytes each), the sample planes and the RGB pixels: about 7.5 bytes
/// per pixel for 4:2:0 and 12 for 4:4:4, where the `image` crate's whole
/// decode needs the 3 bytes of RGB and its working rows. Larger photos go
/// to the `image` crate so that a plugin's memory limit (`memory_mb`; the
/// shipped configuration gives the plate plugin 256) holds the photos a
/// camera sends with room to spare: 12 MP at 4:4:4 is 144 MB.
pub const LAZY_TO_PIXELS: u64 = 12_000_000;

/// A photo: all its pixels, or a JPEG's coefficients with pixels made on
/// demand.
pub struct Photo<'a> {
    width: u32,
    height: u32,
    src: Src<'a>,
}

enum Src<'a> {
    Pixels(Cow<'a, RgbImage>),
    Jpeg(Box<RefCell<Lazy>>),
}

/// Memory that must be free besides our decoder's buffers for it to take
/// a photo: the rest of the recognition (working copies, crops, a zoomed
/// region of the photo, the networks) runs in what is left.
const HEADROOM: usize = 16 << 20;

/// A JPEG's coefficients and the pixels made from them so far, at full
/// resolution and at the reduced scales asked for.
struct Lazy {
    jpeg: Jpeg,
    /// Scale 1 (full resolution, allocated with the photo), 1/2, 1/4, 1/8
    /// (allocated when first asked for; `None` until then, or without the
    /// memory for them).
    levels: [Option<Level>; 4],
    /// Rows of component values (reused).
    scratch: Vec<Vec<u8>>,
    /// Blended chroma samples of a row (reused).
    cols: Vec<u8>,
}

/// The scales of [`Lazy::levels`], in order.
const SCALES: [usize; 4] = [1, 2, 4, 8];

/// The photo at scale 1/`r`: `ceil(width / r)` × `ceil(height / r)`
/// pixels, made per MCU from per-component sample planes, each block
/// through the IDCT of the size its component needs at this scale
/// (reduced for r > 1). Chroma coarser than the pixels is upsampled by the
/// triangle filter at full resolution (as libjpeg and zune-jpeg do) and
/// replicated at reduced scales.
struct Level {
    r: usize,
    width: usize,
    height: usize,
    /// Per component: samples per block across and down at this scale.
    block: Vec<(usize, usize)>,
    /// Per component, its samples (`bw * nx` × `bh * ny`), and which
    /// blocks are done.
    planes: Vec<Vec<u8>>,
    block_done: Vec<Vec<bool>>,
    /// RGB pixels, `width * height * 3`, and which MCUs are done.
    rgb: Vec<u8>,
    mcu_done: Vec<bool>,
}

/// The pixels of a photo (RGB, `width * 3` bytes per row), valid at least
/// in the region they were asked for.
pub(crate) enum Pixels<'b> {
    Slice(&'b [u8]),
    Cell(Ref<'b, [u8]>),
}

impl std::ops::Deref for Pixels<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Pixels::Slice(s) => s,
            Pixels::Cell(r) => r,
        }
    }
}

impl<'a> Photo<'a> {
    /// Decodes JPEG or PNG with size and allocation limits (bounded memory
    /// on hostile input): a baseline JPEG of [`LAZY_FROM_PIXELS`] to
    /// [`LAZY_TO_PIXELS`] pixels by our own decoder (pixels made on
    /// demand), anything else by the `image` crate, whole.
    pub fn decode(bytes: &[u8]) -> Result<Photo<'static>, String> {
        Photo::decode_lazy_from(bytes, LAZY_FROM_PIXELS)
    }

    /// [`Photo::decode`] with another size from which a baseline JPEG is
    /// decoded by our own decoder, up to [`LAZY_TO_PIXELS`] (0: every one
    /// within the decoder's own allocation budget; the tests).
    pub fn decode_lazy_from(bytes: &[u8], min_pixels: u64) -> Result<Photo<'static>, String> {
        // the header's size first (no entropy decoding): a smaller photo
        // is decoded once, by the `image` crate
        let large = || {
            image::ImageReader::new(std::io::Cursor::new(bytes))
                .with_guessed_format()
                .ok()
                .and_then(|r| r.into_dimensions().ok())
                .is_some_and(|(w, h)| {
                    (min_pixels..=LAZY_TO_PIXELS).contains(&(u64::from(w) * u64::from(h)))
                })
        };
        // a baseline JPEG in scope; anything else, or a JPEG our decoder
        // finds malformed, goes to the `image` crate
        if jpeg::is_jpeg(bytes)
            && (min_pixels == 0 || large())
            && let Ok(Some(j)) = jpeg::parse(bytes)
        {
            if j.width < 16 || j.height < 8 {
                return Err("image too small".into());
            }
            let (width, height) = (j.width as u32, j.height as u32);
            // (None: not the memory our buffers need, in a component near
            // its limit; the whole decode below needs less)
            if let Some(lazy) = Lazy::new(j) {
                return Ok(Photo {
                    width,
                    height,
                    src: Src::Jpeg(Box::new(RefCell::new(lazy))),
                });
            }
        }
        // (natively too when the `image` crate would refuse it: a JPEG
        // sampling a component more finely than its luma)
        let finest = sampled_finest(bytes);
        if (WHOLE_BY_OURS || !finest)
            && let Some(img) = decode_whole(bytes)
        {
            return Ok(Photo::from(img));
        }
        Ok(Photo::from(decode_image_sampled(bytes, finest)?))
    }

    /// A photo of decoded pixels (borrowed).
    pub fn from_rgb(img: &'a RgbImage) -> Photo<'a> {
        Photo {
            width: img.width(),
            height: img.height(),
            src: Src::Pixels(Cow::Borrowed(img)),
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Decoded by our own JPEG decoder (pixels made on demand)?
    pub fn is_lazy(&self) -> bool {
        matches!(self.src, Src::Jpeg(_))
    }

    /// The whole photo's pixels.
    pub fn to_rgb(&self) -> RgbImage {
        let (w, h) = (self.width, self.height);
        let raw = self.pixels(0, 0, w, h).to_vec();
        RgbImage::from_raw(w, h, raw).expect("buffer size")
    }

    /// The pixels of the region [x0, x1) × [y0, y1) (clamped to the photo)
    /// made, and the photo's pixel buffer (`width * 3` bytes per row) in
    /// which they are; elsewhere the buffer may hold zeros.
    pub(crate) fn pixels(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> Pixels<'_> {
        self.pixels_at(1, [x0, y0, x1, y1])
            .expect("full resolution is always there")
            .0
    }

    /// [`Photo::pixels`] of the photo at scale 1/`r` (1, 2, 4, 8), the
    /// region in its pixels: the buffer (`width * 3` bytes per row) and its
    /// width and height (`ceil(photo's / r)`). `None` for any other r, and
    /// for r > 1 unless the photo is a JPEG of our decoder with the memory
    /// for that scale.
    pub(crate) fn pixels_at(
        &self,
        r: usize,
        region: [u32; 4],
    ) -> Option<(Pixels<'_>, usize, usize)> {
        let i = SCALES.iter().position(|&s| s == r)?;
        let (w, h) = (
            (self.width as usize).div_ceil(r),
            (self.height as usize).div_ceil(r),
        );
        let [x0, y0, x1, y1] = region.map(|v| v as usize);
        match &self.src {
            Src::Pixels(img) => (r == 1).then(|| (Pixels::Slice(img.as_raw()), w, h)),
            Src::Jpeg(cell) => {
                crate::stage::timed(&crate::stage::PIXELS, || {
                    cell.borrow_mut()
                        .make(i, x0.min(w), y0.min(h), x1.min(w), y1.min(h))
                });
                // (no level: not the memory for it)
                let rgb = Ref::filter_map(cell.borrow(), |l| {
                    l.levels[i].as_ref().map(|level| level.rgb.as_slice())
                })
                .ok()?;
                Some((Pixels::Cell(rgb), w, h))
            }
        }
    }

    /// The region [x0, x0 + w) × [y0, y0 + h) (inside the photo) as an
    /// image of its own.
    pub(crate) fn crop(&self, x0: u32, y0: u32, w: u32, h: u32) -> RgbImage {
        let px = self.pixels(x0, y0, x0 + w, y0 + h);
        let stride = self.width as usize * 3;
        let mut out = Vec::with_capacity((w * h * 3) as usize);
        for y in y0..y0 + h {
            let s = y as usize * stride + x0 as usize * 3;
            out.extend_from_slice(&px[s..s + w as usize * 3]);
        }
        RgbImage::from_raw(w, h, out).expect("buffer size")
    }

    /// The photo box-filtered to `nw` × `nh` (not larger than the photo):
    /// from a JPEG's coefficients at the smallest scale (1/8, 1/4, 1/2 by
    /// a reduced IDCT) that is still at least `nw` × `nh`, then
    /// box-filtered the rest of the way; from the full-resolution pixels
    /// when no reduction is that large.
    pub(crate) fn working_copy(&self, nw: u32, nh: u32) -> RgbImage {
        let (w, h) = (self.width as usize, self.height as usize);
        let (nw, nh) = (nw as usize, nh as usize);
        let r = [8usize, 4, 2]
            .into_iter()
            .find(|&r| w.div_ceil(r) >= nw && h.div_ceil(r) >= nh);
        // (full resolution when no reduction is that large, or without the
        // memory for it, and for photos not of our decoder)
        let all = [0, 0, u32::MAX, u32::MAX];
        let (px, sw, sh) = r
            .and_then(|r| self.pixels_at(r, all))
            .or_else(|| self.pixels_at(1, all))
            .expect("full resolution is always there");
        if (sw, sh) == (nw, nh) {
            return RgbImage::from_raw(nw as u32, nh as u32, px[..sw * sh * 3].to_vec())
                .expect("buffer size");
        }
        resize_box_raw(&px, sw, sh, nw, nh)
    }
}

impl From<RgbImage> for Photo<'static> {
    fn from(img: RgbImage) -> Photo<'static> {
        Photo {
            width: img.width(),
            height: img.height(),
            src: Src::Pixels(Cow::Owned(img)),
        }
    }
}

/// Whether a smaller baseline JPEG (below [`LAZY_FROM_PIXELS`]) is decoded
/// whole by our decoder ([`decode_whole`]) rather than by the `image`
/// crate: in wasm32, where zune-jpeg (the `image` crate's decoder) runs
/// scalar code and ours runs its IDCT with SIMD128; not natively, where
/// zune-jpeg has AVX2. Either way the pixels are the same, bit for bit.
pub(crate) const WHOLE_BY_OURS: bool = cfg!(target_arch = "wasm32");

/// A baseline JPEG decoded whole by our decoder, with the very pixels
/// zune-jpeg gives (its integer IDCT, upsampling and colour conversion;
/// `crate::jpeg::tests` compares them): `None` for anything it should not
/// take, which then goes to the `image` crate: not a baseline JPEG in our
/// decoder's scope, entropy-coded data cut short or corrupted (decoders
/// differ in what they make of the rest), sampling ratios other than 1
/// and 2 (zune-jpeg repeats samples there; not compared), more than
/// [`LAZY_TO_PIXELS`], or not the memory.
pub(crate) fn decode_whole(bytes: &[u8]) -> Option<RgbImage> {
    if !jpeg::is_jpeg(bytes) {
        return None;
    }
    // each row of MCUs through the IDCT as soon as it is decoded (its
    // coefficients still in cache, and no buffer for all of them), into
    // the full-resolution planes
    // (stopped at the first row when the photo is not for this path)
    let mut planes: Option<Vec<Vec<u8>>> = None;
    let mut sink = |j: &Jpeg, my: usize| {
        if planes.is_none() {
            let ratios_1_2 = j.comps.iter().all(|c| {
                [j.hmax / c.h, j.vmax / c.v]
                    .iter()
                    .all(|r| (1..=2).contains(r))
            });
            let pixels = j.width as u64 * j.height as u64;
            planes = (ratios_1_2 && j.width >= 16 && j.height >= 8 && pixels <= LAZY_TO_PIXELS)
                .then(|| {
                    j.comps
                        .iter()
                        .map(|c| pool::bytes(c.bw * 8 * c.bh * 8))
                        .collect::<Option<Vec<_>>>()
                })
                .flatten();
        }
        let Some(planes) = planes.as_mut() else {
            return false;
        };
        for (c, plane) in j.comps.iter().zip(planes.iter_mut()) {
            let stride = c.bw * 8;
            for by in 0..c.v {
                let row = &mut plane[(my * c.v + by) * 8 * stride..];
                for bx in 0..c.bw {
                    let b = by * c.bw + bx;
                    idct(
                        &c.coefs[b * 64..b * 64 + 64],
                        &c.q,
                        8,
                        8,
                        &mut row[bx * 8..],
                        stride,
                    );
                }
            }
        }
        true
    };
    let j = jpeg::parse_with(bytes, Some(&mut sink)).ok()??;
    let planes = planes?;
    if !j.complete {
        for p in planes {
            pool::give_bytes(p);
        }
        return None;
    }
    let (w, h) = (j.width, j.height);
    let full = Level::new(&j, 1, Some(planes))?;
    let mut lazy = Lazy {
        levels: [Some(full), None, None, None],
        scratch: Vec::new(),
        cols: Vec::new(),
        jpeg: j,
    };
    lazy.make(0, 0, 0, w, h);
    let level = lazy.levels[0].as_mut()?;
    let mut rgb = std::mem::take(&mut level.rgb);
    rgb.truncate(w * h * 3);
    RgbImage::from_raw(w as u32, h as u32, rgb)
}

/// [`decode_image_sampled`], the frame header read for it (the tests'
/// decode by the `image` crate).
#[cfg(test)]
pub(crate) fn decode_image(bytes: &[u8]) -> Result<RgbImage, String> {
    decode_image_sampled(bytes, sampled_finest(bytes))
}

/// Whether `bytes` may go to the `image` crate's decoder: not a JPEG, or
/// one that samples no component more finely than its luma.
fn sampled_finest(bytes: &[u8]) -> bool {
    !jpeg::is_jpeg(bytes) || jpeg::luma_sampled_finest(bytes)
}

/// The `image` crate's decode with the limits of our own decoder; not
/// of a JPEG that samples a component more finely than its luma
/// (`finest`: [`sampled_finest`] of `bytes`), on which that decoder can
/// panic (`jpeg::luma_sampled_finest`). Every decode by the `image` crate
/// goes through here.
fn decode_image_sampled(bytes: &[u8], finest: bool) -> Result<RgbImage, String> {
    if !finest {
        return Err("cannot decode image: a component sampled more finely than the luma".into());
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read image: {e}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(jpeg::MAX_SIDE as u32);
    limits.max_image_height = Some(jpeg::MAX_SIDE as u32);
    limits.max_alloc = Some(jpeg::MAX_ALLOC as u64);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("cannot decode image: {e}"))?;
    if img.width() < 16 || img.height() < 8 {
        return Err("image too small".into());
    }
    // (no copy when the image is already RGB8, as JPEG photos are)
    Ok(img.into_rgb8())
}

impl Drop for Lazy {
    /// The large buffers go back to the pool for the next photo.
    fn drop(&mut self) {
        for level in self.levels.iter_mut().filter_map(Option::take) {
            pool::give_bytes(level.rgb);
            for p in level.planes {
                pool::give_bytes(p);
            }
        }
    }
}

impl Level {
    /// The buffers of scale 1/`r` for `jpeg` (`None`: not the memory), or
    /// at full resolution (`r` = 1) around `planes` already made (every
    /// block of every component, through the IDCT).
    fn new(jpeg: &Jpeg, r: usize, planes: Option<Vec<Vec<u8>>>) -> Option<Level> {
        let (width, height) = (jpeg.width.div_ceil(r), jpeg.height.div_ceil(r));
        let block: Vec<(usize, usize)> = jpeg
            .comps
            .iter()
            .map(|c| {
                // a component subsampled by `hr` is at 1/hr already: its
                // blocks are reduced by what is left of r (none at r <= hr)
                let n = |sub: usize| if sub >= r { 8 } else { 8 * sub / r };
                (n(jpeg.hmax / c.h), n(jpeg.vmax / c.v))
            })
            .collect();
        // (a buffer allocated before one that fails is freed on return)
        let made = planes.is_some();
        let planes = match planes {
            Some(p) => p,
            None => jpeg
                .comps
                .iter()
                .zip(&block)
                .map(|(c, (nx, ny))| pool::bytes(c.bw * nx * c.bh * ny))
                .collect::<Option<Vec<_>>>()?,
        };
        let Some(rgb) = pool::bytes(width * height * 3) else {
            for p in planes {
                pool::give_bytes(p);
            }
            return None;
        };
        Some(Level {
            r,
            width,
            height,
            block,
            planes,
            block_done: jpeg.comps.iter().map(|c| vec![made; c.bw * c.bh]).collect(),
            rgb,
            mcu_done: vec![false; jpeg.mcus_x * jpeg.mcus_y],
        })
    }
}

impl Lazy {
    /// The buffers for a photo's full-resolution planes and pixels,
    /// allocated now (`None` without the memory for them and [`HEADROOM`]
    /// more).
    fn new(jpeg: Jpeg) -> Option<Lazy> {
        let full = Level::new(&jpeg, 1, None)?;
        let lazy = Lazy {
            levels: [Some(full), None, None, None],
            scratch: Vec::new(),
            cols: Vec::new(),
            jpeg,
        };
        // without the headroom, dropped: its buffers go back to the pool
        Vec::<u8>::new().try_reserve_exact(HEADROOM).ok()?;
        Some(lazy)
    }

    /// Makes the RGB pixels of every MCU meeting [x0, x1) × [y0, y1) of
    /// the level `i` (scale 1/`SCALES[i]`, in its pixels), allocating the
    /// level first if it was not; without the memory for it, nothing (and
    /// `levels[i]` stays `None`).
    fn make(&mut self, i: usize, x0: usize, y0: usize, x1: usize, y1: usize) {
        let r = SCALES[i];
        if self.levels[i].is_none() {
            self.levels[i] = Level::new(&self.jpeg, r, None);
        }
        // (taken out while its MCUs are made, which borrows `self`)
        let Some(mut level) = self.levels[i].take() else {
            return;
        };
        let (mcus_x, mcus_y) = (self.jpeg.mcus_x, self.jpeg.mcus_y);
        // an MCU at this scale (r <= 8 <= 8 * hmax: at least a pixel)
        let (mw, mh) = (8 * self.jpeg.hmax / r, 8 * self.jpeg.vmax / r);
        let (mx0, mx1) = (x0 / mw, x1.div_ceil(mw).min(mcus_x));
        // (an empty region: no rows)
        let rows = if x0 < x1 && y0 < y1 {
            y0 / mh..y1.div_ceil(mh).min(mcus_y)
        } else {
            0..0
        };
        for my in rows {
            // runs of MCUs not made yet, each made as one strip
            let row = my * mcus_x;
            let mut mx = mx0;
            while mx < mx1 {
                if level.mcu_done[row + mx] {
                    mx += 1;
                    continue;
                }
                let start = mx;
                while mx < mx1 && !level.mcu_done[row + mx] {
                    level.mcu_done[row + mx] = true;
                    mx += 1;
                }
                self.make_mcus(&mut level, start, mx, my);
            }
        }
        self.levels[i] = Some(level);
    }

    /// The samples of component `k`'s blocks [bx0, bx1) × [by0, by1)
    /// (clamped to its blocks) at the level's scale.
    fn make_blocks(
        &self,
        level: &mut Level,
        k: usize,
        bx0: isize,
        by0: isize,
        bx1: isize,
        by1: isize,
    ) {
        let c = &self.jpeg.comps[k];
        let (nx, ny) = level.block[k];
        let stride = c.bw * nx;
        let (bx0, bx1) = (bx0.max(0) as usize, (bx1.max(0) as usize).min(c.bw));
        let (by0, by1) = (by0.max(0) as usize, (by1.max(0) as usize).min(c.bh));
        for by in by0..by1 {
            for bx in bx0..bx1 {
                let b = by * c.bw + bx;
                if level.block_done[k][b] {
                    continue;
                }
                let out = &mut level.planes[k][by * ny * stride + bx * nx..];
                idct(&c.coefs[b * 64..b * 64 + 64], &c.q, nx, ny, out, stride);
                level.block_done[k][b] = true;
            }
        }
    }

    /// The RGB pixels of the MCUs [mx0, mx1) of MCU row `my` (inside
    /// the photo) at the level's scale.
    fn make_mcus(&mut self, level: &mut Level, mx0: usize, mx1: usize, my: usize) {
        let (hmax, vmax) = (self.jpeg.hmax, self.jpeg.vmax);
        let r = level.r;
        let (w, h) = (level.width, level.height);
        // each component's blocks of these MCUs and, when upsampled by the
        // triangle filter (full resolution), one block around them
        for k in 0..self.jpeg.comps.len() {
            let c = &self.jpeg.comps[k];
            let (ch, cv) = (c.h as isize, c.v as isize);
            let full = r == 1;
            let (ex, ey) = ((full && c.h < hmax) as isize, (full && c.v < vmax) as isize);
            let by = my as isize * cv;
            let (bx0, bx1) = (mx0 as isize * ch, mx1 as isize * ch);
            self.make_blocks(level, k, bx0 - ex, by - ey, bx1 + ex, by + cv + ey);
        }
        let px0 = mx0 * 8 * hmax / r;
        let py0 = my * 8 * vmax / r;
        let px1 = (mx1 * 8 * hmax / r).min(w);
        let py1 = (py0 + 8 * vmax / r).min(h);
        let n = px1 - px0;
        let mut bufs = std::mem::take(&mut self.scratch);
        let mut cols = std::mem::take(&mut self.cols);
        bufs.resize(3, Vec::new());
        for row in bufs.iter_mut() {
            row.resize(n, 0);
        }
        for y in py0..py1 {
            for (k, row) in bufs.iter_mut().enumerate().take(self.jpeg.comps.len()) {
                if r == 1 {
                    self.component_row(level, k, y, px0, &mut row[..n], &mut cols);
                } else {
                    self.component_row_replicated(level, k, y, px0, &mut row[..n]);
                }
            }
            let out = &mut level.rgb[(y * w + px0) * 3..(y * w + px1) * 3];
            if self.jpeg.comps.len() == 1 {
                for (o, &g) in out.chunks_exact_mut(3).zip(&bufs[0][..n]) {
                    o.fill(g);
                }
            } else {
                rows::ycc_to_rgb(&bufs[0][..n], &bufs[1][..n], &bufs[2][..n], out);
            }
        }
        self.scratch = bufs;
        self.cols = cols;
    }

    /// Component `k`'s values at the pixels (x0.., y) of a reduced level:
    /// its samples, each repeated where the component is coarser than the
    /// level.
    fn component_row_replicated(
        &self,
        level: &Level,
        k: usize,
        y: usize,
        x0: usize,
        out: &mut [u8],
    ) {
        let c = &self.jpeg.comps[k];
        let (hr, vr) = (self.jpeg.hmax / c.h, self.jpeg.vmax / c.v);
        let r = level.r;
        let (ux, uy) = ((hr / r).max(1), (vr / r).max(1));
        let stride = c.bw * level.block[k].0;
        let src = &level.planes[k][(y / uy) * stride..];
        if ux == 1 {
            out.copy_from_slice(&src[x0..x0 + out.len()]);
        } else {
            for (i, o) in out.iter_mut().enumerate() {
                *o = src[(x0 + i) / ux];
            }
        }
    }

    /// Component `k`'s values at the full-resolution pixels (x0.., y),
    /// upsampled as zune-jpeg upsamples them (the `image` crate's decoder,
    /// which the recogniser was tuned on), bit for bit: a component at
    /// half the vertical resolution is first blended from its nearer row
    /// and its farther one, `(3·near + far + 2) >> 2`, then one at half the
    /// horizontal resolution the same way from its nearer and farther
    /// columns of that (two roundings); at the edges of the component's
    /// padded plane (whole MCUs, beyond the photo's own edge: zune-jpeg
    /// upsamples the padding too) the edge sample is its own neighbour.
    /// Other ratios (4) repeat the nearest sample. `cols`: scratch.
    fn component_row(
        &self,
        level: &Level,
        k: usize,
        y: usize,
        x0: usize,
        out: &mut [u8],
        cols: &mut Vec<u8>,
    ) {
        let c = &self.jpeg.comps[k];
        let (hr, vr) = (self.jpeg.hmax / c.h, self.jpeg.vmax / c.v);
        let plane = &level.planes[k];
        let (sw, sh) = (c.bw * 8, c.bh * 8);
        // vertical: the nearer row and the farther one
        let (ra, rb) = if vr == 2 {
            let i = y / 2;
            let j = if y.is_multiple_of(2) {
                i.saturating_sub(1)
            } else {
                i + 1
            };
            (i, j.min(sh - 1))
        } else {
            (y / vr, y / vr)
        };
        let (a, b) = (&plane[ra * sw..][..sw], &plane[rb * sw..][..sw]);
        let n = out.len();
        match (hr, vr) {
            (1, 1) => out.copy_from_slice(&a[x0..x0 + n]),
            (1, 2) => rows::blend_rows(&a[x0..x0 + n], &b[x0..x0 + n], out),
            (2, 1) | (2, 2) => {
                // the rows blended over the samples s0 − 1 ..= s1 + 1
                // (the edge sample its own neighbour), then doubled
                let (s0, s1) = (x0 / 2, (x0 + n - 1) / 2);
                let m = s1 - s0 + 1;
                let at = |s: usize| if vr == 2 { rows::tri(a[s], b[s]) } else { a[s] };
                cols.clear();
                cols.resize(m + 2, 0);
                if vr == 2 {
                    rows::blend_rows(&a[s0..=s1], &b[s0..=s1], &mut cols[1..=m]);
                } else {
                    cols[1..=m].copy_from_slice(&a[s0..=s1]);
                }
                cols[0] = if s0 > 0 { at(s0 - 1) } else { cols[1] };
                cols[m + 1] = if s1 + 1 < sw { at(s1 + 1) } else { cols[m] };
                if x0.is_multiple_of(2) {
                    rows::double_row(cols, out);
                } else {
                    // an odd first pixel leans right
                    out[0] = rows::tri(cols[1], cols[2]);
                    rows::double_row(&cols[1..], &mut out[1..]);
                }
            }
            _ => {
                // other ratios (4): the nearest sample
                let a = &plane[(y / vr) * sw..];
                for (i, o) in out.iter_mut().enumerate() {
                    *o = a[(x0 + i) / hr];
                }
            }
        }
    }
}
