//! Greyscale thumbnails as `data:` URLs an `<img>` shows without any decoder in the app.

/// A `side x side` greyscale image (row-major, 0-255) as a 24-bit BMP `data:` URL.
pub fn grey_bmp_data_url(side: usize, pixels: &[u8]) -> String {
    format!("data:image/bmp;base64,{}", base64(&grey_bmp(side, pixels)))
}

/// BMP file bytes (BITMAPINFOHEADER, 24 bits, rows bottom-up, each padded to 4 bytes).
pub fn grey_bmp(side: usize, pixels: &[u8]) -> Vec<u8> {
    let row = (side * 3).div_ceil(4) * 4;
    let size = 54 + row * side;
    let mut out = Vec::with_capacity(size);
    let u32le = |v: usize| (v as u32).to_le_bytes();
    out.extend(b"BM");
    out.extend(u32le(size));
    out.extend([0u8; 4]);
    out.extend(u32le(54));
    out.extend(u32le(40));
    out.extend(u32le(side));
    out.extend(u32le(side));
    out.extend(1u16.to_le_bytes());
    out.extend(24u16.to_le_bytes());
    out.extend([0u8; 4]); // no compression
    out.extend(u32le(row * side));
    out.extend(u32le(2835)); // 72 dpi
    out.extend(u32le(2835));
    out.extend([0u8; 8]);
    for y in (0..side).rev() {
        for x in 0..side {
            let v = pixels.get(y * side + x).copied().unwrap_or(0);
            out.extend([v, v, v]);
        }
        out.resize(out.len() + row - side * 3, 0);
    }
    out
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        // RFC 4648 §10.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded);
        }
    }

    #[test]
    fn bmp_layout_is_bottom_up_padded_grey() {
        // 2 x 2: rows of 6 bytes padded to 8; the file starts with the bottom row.
        let b = grey_bmp(2, &[10, 20, 30, 40]);
        assert_eq!(&b[..2], b"BM");
        assert_eq!(u32::from_le_bytes(b[2..6].try_into().unwrap()), 54 + 16);
        assert_eq!(b.len(), 70);
        assert_eq!(&b[54..62], &[30, 30, 30, 40, 40, 40, 0, 0]);
        assert_eq!(&b[62..70], &[10, 10, 10, 20, 20, 20, 0, 0]);
        assert!(grey_bmp_data_url(2, &[0; 4]).starts_with("data:image/bmp;base64,Qk"));
    }
}
