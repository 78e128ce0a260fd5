//! A small baseline JPEG encoder (YCbCr 4:2:0, standard Huffman tables) that caches
//! the entropy-coded blocks of background plates.
//!
//! Why not `image`'s encoder: its per-pixel code is generic, so it is monomorphised in
//! this crate, which the dev profile (where tests and the demo run) builds at
//! opt-level 0; that costs ~170 ms per 1280x720 frame however optimised `image`
//! itself is. A simulated frame is a background plate panned by whole 16-pixel MCUs
//! with a brightness shift, plus a few sprites. So each plate is transformed,
//! quantised and Huffman-coded once; a frame then re-codes only the MCUs that sprites
//! touch and copies the others' codes: a uniform brightness shift only moves the luma
//! DC coefficients (which are re-coded as differences anyway), and AC codes do not
//! depend on neighbouring blocks.

use crate::SimError;

/// Natural (row-major) index of the k-th coefficient in zigzag order.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// ITU T.81 Annex K.1 quantisation tables (natural order), scaled by quality below.
const LUMA_Q: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

// ITU T.81 Annex K.3 Huffman tables: code counts per length 1..=16, then symbols.
const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

/// AAN DCT output scale factors: cos(k*pi/16) * sqrt(2), 1 for k = 0.
const AAN_SCALE: [f32; 8] = [
    1.0,
    1.387_039_8,
    1.306_563,
    1.175_875_6,
    1.0,
    0.785_694_96,
    0.541_196_1,
    0.275_899_38,
];

/// Pixels per MCU side (4:2:0 subsampling).
pub(crate) const MCU: usize = 16;
/// Blocks per MCU: four luma, one Cb, one Cr.
const BLOCKS: usize = 6;

/// A Huffman code table indexed by symbol.
#[derive(Debug, Clone)]
struct Huff {
    code: [u16; 256],
    len: [u8; 256],
    bits: [u8; 16],
    values: Vec<u8>,
}

impl Huff {
    fn new(bits: &[u8; 16], values: &[u8]) -> Self {
        let mut h = Huff {
            code: [0; 256],
            len: [0; 256],
            bits: *bits,
            values: values.to_vec(),
        };
        let mut code: u32 = 0;
        let mut k = 0;
        for (i, &count) in bits.iter().enumerate() {
            for _ in 0..count {
                let sym = values[k] as usize;
                h.code[sym] = code as u16;
                h.len[sym] = (i + 1) as u8;
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        h
    }
}

/// Quantisation and Huffman tables for one quality.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    quality: u8,
    /// Quantiser steps, natural order: luma, chroma.
    q: [[u16; 64]; 2],
    /// Multipliers that quantise AAN DCT output, natural order.
    mul: [[f32; 64]; 2],
    dc: [Huff; 2],
    ac: [Huff; 2],
}

impl Tables {
    pub(crate) fn new(quality: u8) -> Self {
        let quality = u32::from(quality.clamp(1, 100));
        // The IJG quality scaling that every other encoder uses.
        let scale = if quality < 50 {
            5000 / quality
        } else {
            200 - 2 * quality
        };
        let scaled = |base: &[u16; 64]| {
            let mut out = [0u16; 64];
            for i in 0..64 {
                out[i] = ((u32::from(base[i]) * scale + 50) / 100).clamp(1, 255) as u16;
            }
            out
        };
        let q = [scaled(&LUMA_Q), scaled(&CHROMA_Q)];
        let mut mul = [[0f32; 64]; 2];
        for (t, m) in mul.iter_mut().enumerate() {
            for (row, sr) in AAN_SCALE.iter().enumerate() {
                for (col, sc) in AAN_SCALE.iter().enumerate() {
                    let i = row * 8 + col;
                    m[i] = 1.0 / (f32::from(q[t][i]) * sr * sc * 8.0);
                }
            }
        }
        Tables {
            quality: quality as u8,
            q,
            mul,
            dc: [
                Huff::new(&DC_LUMA_BITS, &DC_VALUES),
                Huff::new(&DC_CHROMA_BITS, &DC_VALUES),
            ],
            ac: [
                Huff::new(&AC_LUMA_BITS, &AC_LUMA_VALUES),
                Huff::new(&AC_CHROMA_BITS, &AC_CHROMA_VALUES),
            ],
        }
    }

    /// How many quantised luma DC steps a brightness shift of `levels` makes.
    fn dc_shift(&self, levels: f32) -> i32 {
        (levels * 8.0 / f32::from(self.q[0][0])).round() as i32
    }
}

/// Where entropy-coded bits go.
trait BitSink {
    /// Appends the low `n` (<= 32) bits of `bits`.
    fn put(&mut self, bits: u32, n: u32);
}

/// The JPEG byte stream, with 0xFF byte stuffing.
struct ByteSink {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitSink for ByteSink {
    fn put(&mut self, bits: u32, n: u32) {
        let mask = (1u64 << n) - 1;
        self.acc = (self.acc << n) | (u64::from(bits) & mask);
        self.n += n;
        while self.n >= 8 {
            self.n -= 8;
            let byte = (self.acc >> self.n) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0);
            }
        }
        self.acc &= (1u64 << self.n) - 1;
    }
}

impl ByteSink {
    /// Pads the last byte with 1-bits, as T.81 asks.
    fn flush(&mut self) {
        if self.n > 0 {
            let pad = 8 - self.n;
            self.put((1 << pad) - 1, pad);
        }
    }
}

/// Bits packed into left-aligned u32 words (the plate cache).
struct WordSink<'a> {
    words: &'a mut Vec<u32>,
    acc: u64,
    n: u32,
    total: u32,
}

impl BitSink for WordSink<'_> {
    fn put(&mut self, bits: u32, n: u32) {
        let mask = (1u64 << n) - 1;
        self.acc = (self.acc << n) | (u64::from(bits) & mask);
        self.n += n;
        self.total += n;
        if self.n >= 32 {
            self.n -= 32;
            self.words.push((self.acc >> self.n) as u32);
            self.acc &= (1u64 << self.n) - 1;
        }
    }
}

impl WordSink<'_> {
    fn finish(self) -> u32 {
        if self.n > 0 {
            self.words.push((self.acc << (32 - self.n)) as u32);
        }
        self.total
    }
}

/// JPEG's (size category, value bits) of a coefficient.
fn magnitude(v: i32) -> (u32, u32) {
    let a = v.unsigned_abs();
    let size = 32 - a.leading_zeros();
    let bits = if v < 0 { (v - 1) as u32 } else { v as u32 };
    (size, bits & ((1u32 << size) - 1))
}

fn put_dc(sink: &mut impl BitSink, huff: &Huff, diff: i32) {
    let (size, bits) = magnitude(diff);
    sink.put(
        u32::from(huff.code[size as usize]),
        u32::from(huff.len[size as usize]),
    );
    sink.put(bits, size);
}

fn put_ac(sink: &mut impl BitSink, huff: &Huff, zz: &[i16; 64]) {
    let mut run = 0u32;
    for &c in &zz[1..] {
        if c == 0 {
            run += 1;
            continue;
        }
        while run > 15 {
            sink.put(u32::from(huff.code[0xF0]), u32::from(huff.len[0xF0]));
            run -= 16;
        }
        let (size, bits) = magnitude(i32::from(c));
        let sym = ((run << 4) | size) as usize;
        sink.put(u32::from(huff.code[sym]), u32::from(huff.len[sym]));
        sink.put(bits, size);
        run = 0;
    }
    if run > 0 {
        sink.put(u32::from(huff.code[0]), u32::from(huff.len[0]));
    }
}

/// In-place forward DCT (Arai-Agui-Nakajima, as IJG's jfdctflt); outputs are scaled by
/// `AAN_SCALE[row] * AAN_SCALE[col] * 8`, which [`Tables::mul`] undoes.
fn fdct(d: &mut [f32; 64]) {
    for pass in 0..2 {
        for k in 0..8 {
            // Rows in the first pass, columns in the second.
            let (base, step) = if pass == 0 { (k * 8, 1) } else { (k, 8) };
            let i = |j: usize| base + j * step;
            let tmp0 = d[i(0)] + d[i(7)];
            let tmp7 = d[i(0)] - d[i(7)];
            let tmp1 = d[i(1)] + d[i(6)];
            let tmp6 = d[i(1)] - d[i(6)];
            let tmp2 = d[i(2)] + d[i(5)];
            let tmp5 = d[i(2)] - d[i(5)];
            let tmp3 = d[i(3)] + d[i(4)];
            let tmp4 = d[i(3)] - d[i(4)];

            let tmp10 = tmp0 + tmp3;
            let tmp13 = tmp0 - tmp3;
            let tmp11 = tmp1 + tmp2;
            let tmp12 = tmp1 - tmp2;
            d[i(0)] = tmp10 + tmp11;
            d[i(4)] = tmp10 - tmp11;
            let z1 = (tmp12 + tmp13) * 0.707_106_77;
            d[i(2)] = tmp13 + z1;
            d[i(6)] = tmp13 - z1;

            let tmp10 = tmp4 + tmp5;
            let tmp11 = tmp5 + tmp6;
            let tmp12 = tmp6 + tmp7;
            let z5 = (tmp10 - tmp12) * 0.382_683_43;
            let z2 = 0.541_196_1 * tmp10 + z5;
            let z4 = 1.306_563 * tmp12 + z5;
            let z3 = tmp11 * 0.707_106_77;
            let z11 = tmp7 + z3;
            let z13 = tmp7 - z3;
            d[i(5)] = z13 + z2;
            d[i(3)] = z13 - z2;
            d[i(1)] = z11 + z4;
            d[i(7)] = z11 - z4;
        }
    }
}

/// DCT and quantisation of one level-shifted block, in zigzag order.
fn quantise(block: &mut [f32; 64], mul: &[f32; 64]) -> [i16; 64] {
    fdct(block);
    let mut zz = [0i16; 64];
    for k in 0..64 {
        let n = ZIGZAG[k];
        // Baseline limits: DC differences fit 11 bits, AC values 10.
        zz[k] = (block[n] * mul[n]).round().clamp(-1023.0, 1023.0) as i16;
    }
    zz
}

/// An RGBA8 image (opaque; premultiplied is fine) in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rgba<'a> {
    pub(crate) data: &'a [u8],
    /// Row length in pixels.
    pub(crate) width: usize,
}

/// The six level-shifted blocks of the MCU whose top-left pixel is (x0, y0), with
/// `luma_shift` added to every luma sample.
fn mcu_blocks(img: Rgba<'_>, x0: usize, y0: usize, luma_shift: f32) -> [[f32; 64]; BLOCKS] {
    let mut b = [[0f32; 64]; BLOCKS];
    for y in 0..MCU {
        let row = ((y0 + y) * img.width + x0) * 4;
        let px = &img.data[row..row + MCU * 4];
        for x in 0..MCU {
            let r = f32::from(px[x * 4]);
            let g = f32::from(px[x * 4 + 1]);
            let bl = f32::from(px[x * 4 + 2]);
            let luma = 0.299 * r + 0.587 * g + 0.114 * bl - 128.0 + luma_shift;
            b[(y / 8) * 2 + x / 8][(y % 8) * 8 + x % 8] = luma;
            let c = (y / 2) * 8 + x / 2;
            b[4][c] += 0.25 * (-0.168_736 * r - 0.331_264 * g + 0.5 * bl);
            b[5][c] += 0.25 * (0.5 * r - 0.418_688 * g - 0.081_312 * bl);
        }
    }
    b
}

/// A background plate, transformed, quantised and Huffman-coded once.
#[derive(Debug, Clone)]
pub(crate) struct EncodedPlate {
    mcus_x: usize,
    mcus_y: usize,
    quality: u8,
    /// Quantised DC of every block, six per MCU in raster order.
    dc: Vec<i16>,
    /// Each block's AC code in `words`: (first word, bit count).
    ac: Vec<(u32, u32)>,
    words: Vec<u32>,
}

impl EncodedPlate {
    /// Encodes a plate whose width and height are multiples of [`MCU`].
    pub(crate) fn new(img: Rgba<'_>, height: usize, tables: &Tables) -> Self {
        let (mcus_x, mcus_y) = (img.width / MCU, height / MCU);
        let n = mcus_x * mcus_y * BLOCKS;
        let mut plate = EncodedPlate {
            mcus_x,
            mcus_y,
            quality: tables.quality,
            dc: Vec::with_capacity(n),
            ac: Vec::with_capacity(n),
            words: Vec::new(),
        };
        for my in 0..mcus_y {
            for mx in 0..mcus_x {
                let mut blocks = mcu_blocks(img, mx * MCU, my * MCU, 0.0);
                for (b, block) in blocks.iter_mut().enumerate() {
                    let t = usize::from(b >= 4);
                    let zz = quantise(block, &tables.mul[t]);
                    plate.dc.push(zz[0]);
                    let start = plate.words.len() as u32;
                    let mut sink = WordSink {
                        words: &mut plate.words,
                        acc: 0,
                        n: 0,
                        total: 0,
                    };
                    put_ac(&mut sink, &tables.ac[t], &zz);
                    let bits = sink.finish();
                    plate.ac.push((start, bits));
                }
            }
        }
        plate
    }
}

/// What one frame is made of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameSource<'a> {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) plate: &'a EncodedPlate,
    /// The frame's top-left MCU in the plate.
    pub(crate) plate_mcu: (usize, usize),
    /// Brightness shift in 8-bit levels.
    pub(crate) luma_shift: f32,
    /// Pixels of MCUs marked dirty; `ceil(width / 16) * 16` pixels per row.
    pub(crate) canvas: Rgba<'a>,
    /// One flag per frame MCU, raster order: re-encode from `canvas`.
    pub(crate) dirty: &'a [bool],
}

/// Encodes one frame; see the module docs.
pub(crate) fn encode_frame(tables: &Tables, src: &FrameSource<'_>) -> Result<Vec<u8>, SimError> {
    let mcus_x = (src.width as usize).div_ceil(MCU);
    let mcus_y = (src.height as usize).div_ceil(MCU);
    let canvas_rows = src.canvas.data.len() / (src.canvas.width * 4).max(1);
    let fits = src.plate_mcu.0 + mcus_x <= src.plate.mcus_x
        && src.plate_mcu.1 + mcus_y <= src.plate.mcus_y
        && src.canvas.width >= mcus_x * MCU
        && canvas_rows >= mcus_y * MCU
        && src.dirty.len() == mcus_x * mcus_y;
    if !fits || src.plate.quality != tables.quality {
        return Err(SimError::Render(
            "background plate, canvas and frame do not fit together".into(),
        ));
    }
    let (Ok(width), Ok(height)) = (u16::try_from(src.width), u16::try_from(src.height)) else {
        return Err(SimError::Render(format!(
            "{}x{} is too large for JPEG",
            src.width, src.height
        )));
    };
    let mut sink = ByteSink {
        out: Vec::with_capacity(src.width as usize * src.height as usize / 4),
        acc: 0,
        n: 0,
    };
    write_headers(&mut sink.out, width, height, tables);
    let dc_shift = tables.dc_shift(src.luma_shift);
    let mut prev = [0i32; 3];
    for my in 0..mcus_y {
        for mx in 0..mcus_x {
            if src.dirty[my * mcus_x + mx] {
                let mut blocks = mcu_blocks(src.canvas, mx * MCU, my * MCU, src.luma_shift);
                for (b, block) in blocks.iter_mut().enumerate() {
                    let t = usize::from(b >= 4);
                    let comp = b.saturating_sub(3);
                    let zz = quantise(block, &tables.mul[t]);
                    let dc = i32::from(zz[0]);
                    put_dc(&mut sink, &tables.dc[t], dc - prev[comp]);
                    prev[comp] = dc;
                    put_ac(&mut sink, &tables.ac[t], &zz);
                }
            } else {
                let p = &src.plate;
                let first = ((my + src.plate_mcu.1) * p.mcus_x + mx + src.plate_mcu.0) * BLOCKS;
                for b in 0..BLOCKS {
                    let t = usize::from(b >= 4);
                    let comp = b.saturating_sub(3);
                    let mut dc = i32::from(p.dc[first + b]);
                    if b < 4 {
                        dc = (dc + dc_shift).clamp(-1023, 1023);
                    }
                    put_dc(&mut sink, &tables.dc[t], dc - prev[comp]);
                    prev[comp] = dc;
                    let (start, bits) = p.ac[first + b];
                    let start = start as usize;
                    let full = (bits / 32) as usize;
                    for w in 0..full {
                        sink.put(p.words[start + w], 32);
                    }
                    let rest = bits % 32;
                    if rest > 0 {
                        sink.put(p.words[start + full] >> (32 - rest), rest);
                    }
                }
            }
        }
    }
    sink.flush();
    sink.out.extend_from_slice(&[0xFF, 0xD9]);
    Ok(sink.out)
}

fn segment(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// SOI, JFIF, quantisation and Huffman tables, frame and scan headers.
fn write_headers(out: &mut Vec<u8>, width: u16, height: u16, t: &Tables) {
    out.extend_from_slice(&[0xFF, 0xD8]);
    segment(out, 0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    let mut dqt = Vec::with_capacity(130);
    for (id, q) in t.q.iter().enumerate() {
        dqt.push(id as u8);
        for &n in &ZIGZAG {
            dqt.push(q[n] as u8);
        }
    }
    segment(out, 0xDB, &dqt);
    let [h1, h0] = height.to_be_bytes();
    let [w1, w0] = width.to_be_bytes();
    // Three components: Y sampled 2x2 with table 0, Cb and Cr 1x1 with table 1.
    segment(
        out,
        0xC0,
        &[8, h1, h0, w1, w0, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1],
    );
    let mut dht = Vec::new();
    for (class_id, h) in [
        (0x00, &t.dc[0]),
        (0x10, &t.ac[0]),
        (0x01, &t.dc[1]),
        (0x11, &t.ac[1]),
    ] {
        dht.push(class_id);
        dht.extend_from_slice(&h.bits);
        dht.extend_from_slice(&h.values);
    }
    segment(out, 0xC4, &dht);
    segment(out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A 64x48 test card: gradients, a hard edge and a red square.
    fn card() -> (Vec<u8>, usize, usize) {
        let (w, h) = (64, 48);
        let mut data = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            for x in 0..w {
                let (r, g, b) = if (20..36).contains(&x) && (10..30).contains(&y) {
                    (220, 20, 30)
                } else if x > 48 {
                    (250, 250, 250)
                } else {
                    ((x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8)
                };
                data.extend_from_slice(&[r, g, b, 255]);
            }
        }
        (data, w, h)
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0 * 255.0 / mse).log10()
    }

    fn encode(data: &[u8], w: usize, h: usize, quality: u8, dirty: bool, shift: f32) -> Vec<u8> {
        let tables = Tables::new(quality);
        let img = Rgba { data, width: w };
        let plate = EncodedPlate::new(img, h, &tables);
        let flags = vec![dirty; (w / MCU) * (h / MCU)];
        encode_frame(
            &tables,
            &FrameSource {
                width: w as u32,
                height: h as u32,
                plate: &plate,
                plate_mcu: (0, 0),
                luma_shift: shift,
                canvas: img,
                dirty: &flags,
            },
        )
        .unwrap()
    }

    #[test]
    fn the_standard_huffman_tables_are_complete() {
        assert_eq!(
            AC_LUMA_BITS.iter().map(|&b| usize::from(b)).sum::<usize>(),
            AC_LUMA_VALUES.len()
        );
        assert_eq!(
            AC_CHROMA_BITS
                .iter()
                .map(|&b| usize::from(b))
                .sum::<usize>(),
            AC_CHROMA_VALUES.len()
        );
        assert_eq!(magnitude(-3), (2, 0b00));
        assert_eq!(magnitude(5), (3, 0b101));
        assert_eq!(magnitude(0), (0, 0));
    }

    #[test]
    fn an_encoded_image_decodes_close_to_the_original() {
        let (data, w, h) = card();
        let jpeg = encode(&data, w, h, 90, false, 0.0);
        let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (w as u32, h as u32));
        let rgb: Vec<u8> = data.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        let quality = psnr(&rgb, decoded.as_raw());
        assert!(quality > 28.0, "PSNR {quality}");
        // The red square stays red.
        let p = decoded.get_pixel(28, 20);
        assert!(p[0] > 180 && p[1] < 70 && p[2] < 80, "{p:?}");
    }

    #[test]
    fn cached_blocks_give_the_same_bytes_as_fresh_ones() {
        let (data, w, h) = card();
        assert_eq!(
            encode(&data, w, h, 75, false, 0.0),
            encode(&data, w, h, 75, true, 0.0)
        );
    }

    #[test]
    fn a_brightness_shift_moves_cached_and_fresh_blocks_alike() {
        let (data, w, h) = card();
        let plain = image::load_from_memory(&encode(&data, w, h, 90, false, 0.0))
            .unwrap()
            .to_luma8();
        for dirty in [false, true] {
            let bright = image::load_from_memory(&encode(&data, w, h, 90, dirty, 12.0))
                .unwrap()
                .to_luma8();
            // Compare away from clipped whites.
            let (a, b) = (plain.get_pixel(10, 40)[0], bright.get_pixel(10, 40)[0]);
            let diff = i32::from(b) - i32::from(a);
            assert!((10..=14).contains(&diff), "dirty={dirty}: {a} -> {b}");
        }
    }

    #[test]
    fn frames_that_are_not_a_multiple_of_sixteen_pixels_decode_at_their_size() {
        let (data, w, h) = card();
        let tables = Tables::new(80);
        let img = Rgba {
            data: &data,
            width: w,
        };
        let plate = EncodedPlate::new(img, h, &tables);
        let flags = vec![false; 4 * 3];
        let jpeg = encode_frame(
            &tables,
            &FrameSource {
                width: 60,
                height: 40,
                plate: &plate,
                plate_mcu: (0, 0),
                luma_shift: 0.0,
                canvas: img,
                dirty: &flags,
            },
        )
        .unwrap();
        let decoded = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (60, 40));
    }
}
