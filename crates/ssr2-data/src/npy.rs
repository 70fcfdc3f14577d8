//! A strict `.npy` reader (NumPy format 1.0-3.0): the header is checked against the file's size
//! before anything is allocated, so a hostile or truncated file gives one line, never a panic or
//! a huge allocation.

use crate::{DataError, Matrix};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";
/// Header dicts above this are not written by NumPy (it pads to 64 bytes); refuse them unread.
const MAX_HEADER: usize = 1 << 20;

/// The element type of an array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    I32,
    I64,
}

impl Dtype {
    fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    /// NumPy's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
        }
    }
}

/// What the header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// `None` for a dtype this reader does not decode; `descr` holds its text.
    pub dtype: Option<Dtype>,
    pub descr: String,
    pub big_endian: bool,
    pub fortran: bool,
    pub shape: Vec<usize>,
    /// Bytes before the data.
    pub data_offset: usize,
}

impl Header {
    /// Element count; `None` when it overflows.
    pub fn count(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s))
    }

    /// Data bytes the shape needs; `None` when it overflows.
    pub fn data_bytes(&self) -> Option<usize> {
        self.count()?.checked_mul(self.dtype?.size())
    }
}

/// Values of an array, converted to one of two host types.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

/// An array in C (row-major) order, whatever order the file used.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub header: Header,
    pub values: Values,
}

fn err(origin: &str, msg: impl Into<String>) -> DataError {
    DataError::format(origin, msg)
}

/// A version-1 `.npy` file with the given header dict (padded as NumPy pads it) and raw data:
/// for writing test files NumPy itself would never write.
pub fn file_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut head = dict.to_string();
    while !(10 + head.len() + 1).is_multiple_of(64) {
        head.push(' ');
    }
    head.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend([1, 0]);
    out.extend((head.len() as u16).to_le_bytes());
    out.extend(head.as_bytes());
    out.extend(data);
    out
}

/// A rank-2 float32/float64 array (`what` names it in messages) as an f32 [`Matrix`], refusing
/// NaN, infinity and values beyond f32.
pub fn read_matrix(path: &Path, what: &str) -> Result<Matrix, DataError> {
    let origin = path.display().to_string();
    let arr = read(path)?;
    let shape = &arr.header.shape;
    if shape.len() != 2 {
        return Err(err(
            &origin,
            format!("{what} must be a 2-D array (m x d), got shape {shape:?}"),
        ));
    }
    let (rows, cols) = (shape[0], shape[1]);
    let Values::Float(values) = arr.values else {
        return Err(err(
            &origin,
            format!("{what} must be float32 or float64, got dtype {}", arr.header.descr),
        ));
    };
    if let Some(i) = values
        .iter()
        .position(|v| !(v.is_finite() && (*v as f32).is_finite()))
    {
        let why = if values[i].is_finite() {
            "a value beyond float32's range"
        } else {
            "a non-finite value"
        };
        return Err(err(
            &origin,
            format!(
                "{what} holds {why} ({:e}) at row {}, column {}",
                values[i],
                i / cols.max(1),
                i % cols.max(1)
            ),
        ));
    }
    let data = values.into_iter().map(|v| v as f32).collect();
    Ok(Matrix::new(rows, cols, data))
}

/// A rank-1 int32/int64 array of non-negative integers (`what` names it in messages).
pub fn read_labels(path: &Path, what: &str) -> Result<Vec<usize>, DataError> {
    let origin = path.display().to_string();
    let arr = read(path)?;
    let shape = &arr.header.shape;
    if shape.len() != 1 {
        return Err(err(
            &origin,
            format!("{what} must be a 1-D array, got shape {shape:?}"),
        ));
    }
    let Values::Int(raw) = arr.values else {
        return Err(err(
            &origin,
            format!("{what} must be int32 or int64, got dtype {}", arr.header.descr),
        ));
    };
    raw.iter()
        .enumerate()
        .map(|(i, &v)| {
            usize::try_from(v).map_err(|_| {
                err(&origin, format!("{what} must be non-negative, got {v} at index {i}"))
            })
        })
        .collect()
}

/// A row-major float32 array of `shape` as `.npy` bytes (little-endian, C order).
pub fn f32_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    file_bytes(&dict, &bytes)
}

/// Reads `path`, checking the header against the file size first.
pub fn read(path: &Path) -> Result<Array, DataError> {
    let origin = path.display().to_string();
    let io = |e: std::io::Error| err(&origin, format!("cannot read: {e}"));
    let mut file =
        std::fs::File::open(path).map_err(|e| err(&origin, format!("cannot open: {e}")))?;
    let len = file.metadata().map_err(io)?.len();
    let mut pre = vec![0u8; 12.min(len as usize)];
    file.read_exact(&mut pre).map_err(io)?;
    let (hlen_at, hlen) = preamble(&pre, &origin)?;
    let total = (hlen_at + hlen) as u64;
    if total > len {
        return Err(err(
            &origin,
            format!("not a .npy file: header of {hlen} bytes but the file has {len} bytes"),
        ));
    }
    // The header is at most MAX_HEADER and the data is checked against `len` before reading.
    let mut head = vec![0u8; hlen_at + hlen];
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.read_exact(&mut head).map_err(io)?;
    let header = parse_header(&head, &origin)?;
    let need = expected_bytes(&header, &origin)?;
    let have = len - header.data_offset as u64;
    check_size(need as u64, have, &header, &origin)?;
    let mut data = vec![0u8; need];
    file.read_exact(&mut data).map_err(io)?;
    Ok(decode(header, &data))
}

/// Parses a whole `.npy` file held in memory.
pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Array, DataError> {
    let header = parse_header(bytes, origin)?;
    let need = expected_bytes(&header, origin)?;
    let have = (bytes.len() - header.data_offset) as u64;
    check_size(need as u64, have, &header, origin)?;
    let data = &bytes[header.data_offset..header.data_offset + need];
    Ok(decode(header, data))
}

/// Where the header length field ends and the header's length.
fn preamble(bytes: &[u8], origin: &str) -> Result<(usize, usize), DataError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(err(
            origin,
            "not a .npy file (it does not start with \\x93NUMPY)",
        ));
    }
    let (at, hlen) = match bytes[6] {
        1 => (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        v => {
            return Err(err(
                origin,
                format!("not a .npy file this reader knows (format version {v}, expected 1-3)"),
            ));
        }
    };
    if hlen > MAX_HEADER {
        return Err(err(
            origin,
            format!("malformed .npy header: {hlen} bytes long (at most {MAX_HEADER})"),
        ));
    }
    Ok((at, hlen))
}

/// Parses the preamble and header dict of `bytes` (which may stop after the header).
pub fn parse_header(bytes: &[u8], origin: &str) -> Result<Header, DataError> {
    let (at, hlen) = preamble(bytes, origin)?;
    let end = at + hlen;
    if bytes.len() < end {
        return Err(err(
            origin,
            format!(
                "not a .npy file: header of {hlen} bytes but the file has {} bytes",
                bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(&bytes[at..end])
        .map_err(|_| err(origin, "malformed .npy header: not text"))?;
    let dict = parse_dict(text).map_err(|m| {
        err(
            origin,
            format!("malformed .npy header ({m}): {}", oneline(text)),
        )
    })?;
    header_from_dict(dict, end, origin)
}

fn header_from_dict(
    dict: Vec<(String, Value)>,
    end: usize,
    origin: &str,
) -> Result<Header, DataError> {
    let get = |key: &str| dict.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let bad = |m: String| err(origin, format!("malformed .npy header: {m}"));
    let descr = match get("descr") {
        Some(Value::Str(s)) => s.clone(),
        Some(_) => {
            return Err(bad(
                "`descr` is not a plain dtype string (structured arrays are not supported)".into(),
            ));
        }
        None => return Err(bad("no `descr` key".into())),
    };
    let fortran = match get("fortran_order") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`fortran_order` must be True or False".into())),
        None => return Err(bad("no `fortran_order` key".into())),
    };
    let shape = match get("shape") {
        Some(Value::Tuple(s)) => s.clone(),
        Some(_) => return Err(bad("`shape` must be a tuple of integers".into())),
        None => return Err(bad("no `shape` key".into())),
    };
    let (big_endian, dtype) = dtype_of(&descr);
    Ok(Header {
        dtype,
        descr,
        big_endian,
        fortran,
        shape,
        data_offset: end,
    })
}

/// Byte order and type of a descr such as `<f4`; `None` for types we do not decode.
fn dtype_of(descr: &str) -> (bool, Option<Dtype>) {
    // At a character boundary: a damaged header may hold any UTF-8 here.
    let (order, rest) = descr.split_at(descr.char_indices().nth(1).map_or(descr.len(), |(i, _)| i));
    let big = order == ">";
    let t = match (order, rest) {
        ("<" | ">" | "=" | "|", "f4") => Some(Dtype::F32),
        ("<" | ">" | "=" | "|", "f8") => Some(Dtype::F64),
        ("<" | ">" | "=" | "|", "i4") => Some(Dtype::I32),
        ("<" | ">" | "=" | "|", "i8") => Some(Dtype::I64),
        _ => None,
    };
    (big, t)
}

fn expected_bytes(h: &Header, origin: &str) -> Result<usize, DataError> {
    let Some(t) = h.dtype else {
        return Err(err(
            origin,
            format!(
                "unsupported dtype {} (this reader takes float32, float64, int32, int64)",
                h.descr
            ),
        ));
    };
    h.data_bytes().ok_or_else(|| {
        err(
            origin,
            format!(
                "shape {:?} of {} holds more elements than this machine can address",
                h.shape,
                t.name()
            ),
        )
    })
}

fn check_size(need: u64, have: u64, h: &Header, origin: &str) -> Result<(), DataError> {
    let name = h.dtype.map_or("?", Dtype::name);
    if have < need {
        return Err(err(
            origin,
            format!(
                "truncated: shape {:?} of {name} needs {need} data bytes but the file holds {have}",
                h.shape
            ),
        ));
    }
    if have > need {
        return Err(err(
            origin,
            format!(
                "{} unexpected bytes after the data of shape {:?} of {name} (corrupt or not one array)",
                have - need,
                h.shape
            ),
        ));
    }
    Ok(())
}

fn decode(header: Header, data: &[u8]) -> Array {
    let t = header.dtype.expect("checked by expected_bytes");
    let big = header.big_endian;
    // Each element as 8 bytes in little-endian order (narrow types padded), then typed.
    let words = data.chunks_exact(t.size()).map(|b| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        if big {
            w[..b.len()].reverse();
        }
        w
    });
    let values = match t {
        Dtype::F32 => Values::Float(
            words
                .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]) as f64)
                .collect(),
        ),
        Dtype::F64 => Values::Float(words.map(f64::from_le_bytes).collect()),
        Dtype::I32 => Values::Int(
            words
                .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]) as i64)
                .collect(),
        ),
        Dtype::I64 => Values::Int(words.map(i64::from_le_bytes).collect()),
    };
    let values = if header.fortran && header.shape.len() > 1 {
        to_c_order(values, &header.shape)
    } else {
        values
    };
    Array { header, values }
}

/// Fortran (column-major) order to C order, any rank.
fn to_c_order(values: Values, shape: &[usize]) -> Values {
    fn permute<T: Copy>(v: &[T], shape: &[usize]) -> Vec<T> {
        let n = v.len();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; shape.len()];
        for _ in 0..n {
            // Column-major offset of the C-order index `idx`.
            let mut off = 0;
            let mut stride = 1;
            for (i, &s) in idx.iter().zip(shape) {
                off += i * stride;
                stride *= s;
            }
            out.push(v[off]);
            for d in (0..shape.len()).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    }
    match values {
        Values::Float(v) => Values::Float(permute(&v, shape)),
        Values::Int(v) => Values::Int(permute(&v, shape)),
    }
}

/// A header on one line, cut to a readable length.
fn oneline(text: &str) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(120)
        .collect();
    flat
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// The Python dict literal NumPy writes: `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
fn parse_dict(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut p = Parser {
        s: text.trim().as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        let value = p.value()?;
        out.push((key, value));
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err("text after the closing brace".into());
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        self.i += hit as usize;
        hit
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.i))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {}", self.i)),
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != quote {
            self.i += 1;
        }
        if self.i == self.s.len() {
            return Err("unterminated string".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.s.get(self.i) {
            Some(b'\'' | b'"') => Ok(Value::Str(self.string()?)),
            Some(b'(') => self.tuple().map(Value::Tuple),
            Some(b'[') => Err(format!("a list at byte {} (structured dtype?)", self.i)),
            _ => {
                let word = self.word();
                match word.as_str() {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    _ => Err(format!("unexpected value `{word}`")),
                }
            }
        }
    }

    fn word(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let word = self.word();
            let digits = word.strip_suffix('L').unwrap_or(&word);
            let dim: usize = digits
                .parse()
                .map_err(|_| format!("shape entry `{word}` is not a non-negative integer"))?;
            dims.push(dim);
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
        file_bytes(dict, data)
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn written_arrays_read_back_exactly_with_numpy_s_header() {
        let data = [1.5f32, -0.0, 3e-38, f32::MAX, 7.25, -2.0];
        let bytes = f32_bytes(&[2, 3], &data);
        // NumPy's header for this array, padded so that the data starts at byte 64.
        let head = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(&bytes[10..10 + head.len()], head.as_bytes());
        assert_eq!((bytes.len() - data.len() * 4) % 64, 0);
        let back = from_bytes(&bytes, "t").unwrap();
        assert_eq!(back.header.shape, vec![2, 3]);
        let Values::Float(v) = back.values else { panic!("floats") };
        assert_eq!(v, data.iter().map(|&x| x as f64).collect::<Vec<_>>());
        // One dimension is written `(n,)`, as NumPy writes it.
        let one = f32_bytes(&[3], &data[..3]);
        assert!(String::from_utf8_lossy(&one[..one.len() - 12]).contains("'shape': (3,), }"));
        assert_eq!(from_bytes(&one, "t").unwrap().header.shape, vec![3]);
    }

    #[test]
    fn reads_c_and_fortran_order() {
        let data = f32s(&[1., 2., 3., 4., 5., 6.]);
        let c = from_bytes(
            &npy(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                &data,
            ),
            "c",
        )
        .unwrap();
        assert_eq!(c.values, Values::Float(vec![1., 2., 3., 4., 5., 6.]));
        let f = from_bytes(
            &npy(
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                &data,
            ),
            "f",
        )
        .unwrap();
        // Column-major [[1,3,5],[2,4,6]].
        assert_eq!(f.values, Values::Float(vec![1., 3., 5., 2., 4., 6.]));
    }

    #[test]
    fn big_endian_and_ints() {
        let data: Vec<u8> = [7i64, -2].iter().flat_map(|x| x.to_be_bytes()).collect();
        let a = from_bytes(
            &npy(
                "{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }",
                &data,
            ),
            "b",
        )
        .unwrap();
        assert_eq!(a.values, Values::Int(vec![7, -2]));
    }

    fn message(bytes: &[u8]) -> String {
        let e = from_bytes(bytes, "x.npy").unwrap_err().to_string();
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    #[test]
    fn overflowing_shapes_are_refused_without_allocating() {
        for shape in ["(4294967296, 4294967296)", "(18446744073709551615, 2)"] {
            let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
            let e = message(&npy(&dict, &[0; 16]));
            assert!(
                e.contains("more elements") || e.contains("truncated"),
                "{e}"
            );
        }
        let e = message(&npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2), }",
            &[],
        ));
        assert!(e.contains("not a non-negative integer"), "{e}");
    }

    #[test]
    fn truncated_and_trailing_data_name_the_sizes() {
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let e = message(&npy(dict, &f32s(&[1., 2.])));
        assert!(
            e.contains("truncated") && e.contains("24") && e.contains('8'),
            "{e}"
        );
        let e = message(&npy(dict, &f32s(&[0.; 7])));
        assert!(e.contains("unexpected bytes"), "{e}");
    }

    #[test]
    fn malformed_headers_give_one_line() {
        for dict in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3) ",
            "{'descr': '<f4',\n 'shape': (2, 3), }",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
            "not a dict",
        ] {
            let e = message(&npy(dict, &[]));
            assert!(e.contains("malformed .npy header"), "{e}");
        }
        assert!(message(b"hello").contains("not a .npy file"));
        assert!(message(b"\x93NUMPY\x07\x00\x10\x00").contains("version 7"));
    }

    #[test]
    fn unsupported_dtype_is_named() {
        let e = message(&npy(
            "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }",
            &[0; 16],
        ));
        assert!(e.contains("unsupported dtype <c16"), "{e}");
        // A multi-byte character where the byte-order mark goes: named, no panic.
        let e = message(&npy(
            "{'descr': '\u{e9}4', 'fortran_order': False, 'shape': (1,), }",
            &[0; 4],
        ));
        assert!(e.contains("unsupported dtype"), "{e}");
    }

    #[test]
    fn reads_files_and_checks_size_before_allocating() {
        let dir = std::env::temp_dir().join(format!("ssr2-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.npy");
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
        let data: Vec<u8> = [1.5f64, 2.5, -1.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        std::fs::write(&path, npy(dict, &data)).unwrap();
        assert_eq!(
            read(&path).unwrap().values,
            Values::Float(vec![1.5, 2.5, -1.0])
        );
        let huge = "{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1024), }";
        std::fs::write(&path, npy(huge, &data)).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        std::fs::write(&path, &npy(dict, &data)[..20]).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("not a .npy file"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
