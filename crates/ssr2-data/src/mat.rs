//! A minimal MATLAB v5 `.mat` reader: numeric, char, cell and struct arrays, plain or
//! zlib-compressed (what `scipy.io.savemat` and MATLAB's default `save` write). Enough for the
//! annotation files of Flowers102 and Stanford Cars; sparse arrays and objects are rejected.

use std::collections::BTreeMap;
use std::path::Path;

use crate::DataError;

/// One MATLAB array. Elements are stored column-major, like MATLAB.
#[derive(Clone, Debug, PartialEq)]
pub enum MatValue {
    /// Any numeric or logical class, converted to f64 (exact for integers below 2^53).
    Numeric { dims: Vec<usize>, data: Vec<f64> },
    /// A char array.
    Char { dims: Vec<usize>, chars: Vec<char> },
    /// A cell array.
    Cell {
        dims: Vec<usize>,
        items: Vec<MatValue>,
    },
    /// A struct array: `items[element][field]`, fields in `fields` order.
    Struct {
        dims: Vec<usize>,
        fields: Vec<String>,
        items: Vec<Vec<MatValue>>,
    },
}

impl MatValue {
    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        match self {
            MatValue::Numeric { dims, .. }
            | MatValue::Char { dims, .. }
            | MatValue::Cell { dims, .. }
            | MatValue::Struct { dims, .. } => dims,
        }
    }

    /// The numbers of a numeric array (column-major), None for other kinds.
    pub fn numbers(&self) -> Option<&[f64]> {
        match self {
            MatValue::Numeric { data, .. } => Some(data),
            _ => None,
        }
    }

    /// A char array with one row (or empty) as a string; None otherwise.
    pub fn text(&self) -> Option<String> {
        match self {
            MatValue::Char { dims, chars } if dims.first().copied().unwrap_or(0) <= 1 => {
                Some(chars.iter().collect())
            }
            _ => None,
        }
    }

    /// Field `name` of struct element `index`.
    pub fn field(&self, index: usize, name: &str) -> Option<&MatValue> {
        match self {
            MatValue::Struct { fields, items, .. } => {
                let f = fields.iter().position(|f| f == name)?;
                items.get(index)?.get(f)
            }
            _ => None,
        }
    }
}

// Data types of element tags.
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MI_UTF8: u32 = 16;
const MI_UTF16: u32 = 17;
const MI_UTF32: u32 = 18;

// Array classes (low byte of the array flags).
const MX_CELL: u8 = 1;
const MX_STRUCT: u8 = 2;
const MX_CHAR: u8 = 4;

/// Reads every top-level variable of a `.mat` file.
pub fn read_mat(path: &Path) -> Result<BTreeMap<String, MatValue>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_mat(&bytes, &path.display().to_string())
}

/// Parses the bytes of a `.mat` file; `origin` names it in errors.
pub fn parse_mat(bytes: &[u8], origin: &str) -> Result<BTreeMap<String, MatValue>, DataError> {
    let err = |m: String| DataError::format(origin, m);
    if bytes.len() < 128 {
        return Err(err(format!(
            "{} bytes, expected a 128-byte MATLAB 5 header",
            bytes.len()
        )));
    }
    if bytes.starts_with(b"MATLAB 7.3") || bytes[..4] == [0x89, b'H', b'D', b'F'] {
        return Err(err("MATLAB 7.3 (HDF5) file, expected MATLAB 5".into()));
    }
    let big = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        other => {
            return Err(err(format!(
                "endian indicator {other:?}, expected \"IM\" or \"MI\" (not a MATLAB 5 file)"
            )));
        }
    };
    let r = Reader { origin, big };
    let mut vars = BTreeMap::new();
    let mut pos = 128;
    while pos < bytes.len() {
        let el = r.element(bytes, pos)?;
        pos = el.next;
        let (name, value) = match el.ty {
            MI_COMPRESSED => {
                let raw = miniz_oxide::inflate::decompress_to_vec_zlib(el.data)
                    .map_err(|e| err(format!("compressed element at byte {}: {e:?}", el.start)))?;
                let inner = r.element(&raw, 0)?;
                r.expect_matrix(&inner)?;
                r.matrix(inner.data)?
            }
            MI_MATRIX => r.matrix(el.data)?,
            ty => {
                return Err(err(format!(
                    "top-level element of type {ty} at byte {}, expected 14 (matrix) or 15 (compressed)",
                    el.start
                )));
            }
        };
        vars.insert(name, value);
    }
    Ok(vars)
}

/// One tagged data element.
struct Element<'a> {
    ty: u32,
    data: &'a [u8],
    /// Where the tag starts, for error messages.
    start: usize,
    /// Where the next element starts.
    next: usize,
}

struct Reader<'o> {
    origin: &'o str,
    big: bool,
}

impl Reader<'_> {
    fn err(&self, m: String) -> DataError {
        DataError::format(self.origin, m)
    }

    fn u32_at(&self, b: &[u8], pos: usize) -> u32 {
        let a = [b[pos], b[pos + 1], b[pos + 2], b[pos + 3]];
        if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }

    /// The element whose tag starts at `pos`; handles the 4-byte "small element" form.
    fn element<'a>(&self, b: &'a [u8], pos: usize) -> Result<Element<'a>, DataError> {
        if pos + 8 > b.len() {
            return Err(self.err(format!(
                "truncated element tag at byte {pos} (length {})",
                b.len()
            )));
        }
        let first = self.u32_at(b, pos);
        if first >> 16 != 0 {
            // Small element: type in the low half, byte count in the high half, data in 4 bytes.
            let n = (first >> 16) as usize;
            if n > 4 {
                return Err(self.err(format!(
                    "small element at byte {pos} claims {n} bytes, expected at most 4"
                )));
            }
            return Ok(Element {
                ty: first & 0xffff,
                data: &b[pos + 4..pos + 4 + n],
                start: pos,
                next: pos + 8,
            });
        }
        let n = self.u32_at(b, pos + 4) as usize;
        let end = pos + 8 + n;
        if end > b.len() {
            return Err(self.err(format!(
                "element at byte {pos} needs {n} bytes, only {} left",
                b.len() - pos - 8
            )));
        }
        // Elements are padded to 8 bytes, except compressed ones.
        let next = if first == MI_COMPRESSED {
            end
        } else {
            end.div_ceil(8) * 8
        };
        Ok(Element {
            ty: first,
            data: &b[pos + 8..end],
            start: pos,
            next: next.min(b.len()),
        })
    }

    fn expect_matrix(&self, el: &Element) -> Result<(), DataError> {
        if el.ty != MI_MATRIX {
            return Err(self.err(format!(
                "element at byte {} has type {}, expected 14 (matrix)",
                el.start, el.ty
            )));
        }
        Ok(())
    }

    /// Decodes the numbers of a numeric element as f64.
    fn numbers(&self, el: &Element) -> Result<Vec<f64>, DataError> {
        let d = el.data;
        let big = self.big;
        macro_rules! conv {
            ($t:ty, $n:expr) => {
                d.chunks_exact($n)
                    .map(|c| {
                        let a: [u8; $n] = c.try_into().unwrap();
                        (if big {
                            <$t>::from_be_bytes(a)
                        } else {
                            <$t>::from_le_bytes(a)
                        }) as f64
                    })
                    .collect()
            };
        }
        Ok(match el.ty {
            MI_INT8 => d.iter().map(|&v| f64::from(v as i8)).collect(),
            MI_UINT8 | MI_UTF8 => d.iter().map(|&v| f64::from(v)).collect(),
            MI_INT16 => conv!(i16, 2),
            MI_UINT16 | MI_UTF16 => conv!(u16, 2),
            MI_INT32 => conv!(i32, 4),
            MI_UINT32 | MI_UTF32 => conv!(u32, 4),
            MI_SINGLE => conv!(f32, 4),
            MI_DOUBLE => conv!(f64, 8),
            MI_INT64 => conv!(i64, 8),
            MI_UINT64 => conv!(u64, 8),
            ty => {
                return Err(self.err(format!(
                    "data element at byte {} has type {ty}, expected a numeric type",
                    el.start
                )));
            }
        })
    }

    /// The body of a miMATRIX element: (name, value). An empty body is an empty double array
    /// (MATLAB writes those for empty cells).
    fn matrix(&self, body: &[u8]) -> Result<(String, MatValue), DataError> {
        if body.is_empty() {
            return Ok((
                String::new(),
                MatValue::Numeric {
                    dims: vec![0, 0],
                    data: vec![],
                },
            ));
        }
        let flags = self.element(body, 0)?;
        if flags.data.len() < 8 {
            return Err(self.err(format!(
                "array flags are {} bytes, expected 8",
                flags.data.len()
            )));
        }
        let flag_word = self.u32_at(flags.data, 0);
        let class = (flag_word & 0xff) as u8;
        let complex = flag_word & 0x800 != 0;
        let dims_el = self.element(body, flags.next)?;
        let dims: Vec<usize> = self
            .numbers(&dims_el)?
            .into_iter()
            .map(|v| v as usize)
            .collect();
        let count: usize = dims.iter().product();
        let name_el = self.element(body, dims_el.next)?;
        let name = String::from_utf8_lossy(name_el.data).into_owned();
        let mut pos = name_el.next;
        let value = match class {
            MX_CELL => {
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let el = self.element(body, pos)?;
                    self.expect_matrix(&el)?;
                    items.push(self.matrix(el.data)?.1);
                    pos = el.next;
                }
                MatValue::Cell { dims, items }
            }
            MX_STRUCT => {
                let len_el = self.element(body, pos)?;
                let len = self.numbers(&len_el)?.first().copied().unwrap_or(0.0) as usize;
                let names_el = self.element(body, len_el.next)?;
                pos = names_el.next;
                let fields: Vec<String> = if len == 0 {
                    vec![]
                } else {
                    names_el
                        .data
                        .chunks(len)
                        .map(|c| {
                            let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                            String::from_utf8_lossy(&c[..end]).into_owned()
                        })
                        .collect()
                };
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let mut row = Vec::with_capacity(fields.len());
                    for _ in 0..fields.len() {
                        let el = self.element(body, pos)?;
                        self.expect_matrix(&el)?;
                        row.push(self.matrix(el.data)?.1);
                        pos = el.next;
                    }
                    items.push(row);
                }
                MatValue::Struct {
                    dims,
                    fields,
                    items,
                }
            }
            MX_CHAR => {
                let el = self.element(body, pos)?;
                let chars = if el.ty == MI_UTF8 {
                    String::from_utf8_lossy(el.data).chars().collect()
                } else {
                    self.numbers(&el)?
                        .into_iter()
                        .map(|v| char::from_u32(v as u32).unwrap_or('\u{fffd}'))
                        .collect()
                };
                MatValue::Char { dims, chars }
            }
            6..=15 => {
                let el = self.element(body, pos)?;
                let data = self.numbers(&el)?;
                if complex {
                    return Err(self.err(format!(
                        "variable `{name}` is complex, expected a real array"
                    )));
                }
                if data.len() != count {
                    return Err(self.err(format!(
                        "variable `{name}` has {} values, expected {count} (dims {dims:?})",
                        data.len()
                    )));
                }
                MatValue::Numeric { dims, data }
            }
            other => {
                return Err(self.err(format!(
                    "variable `{name}` has array class {other}, expected numeric, char, cell or struct"
                )));
            }
        };
        Ok((name, value))
    }
}
