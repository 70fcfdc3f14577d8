//! A plain row-major matrix: the host-side currency between data and trainer.

/// Row-major f32 matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Number of rows (samples).
    pub rows: usize,
    /// Number of columns (feature dimension).
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<f32>,
}

impl Matrix {
    /// Wraps `data` as a `rows x cols` matrix.
    ///
    /// # Panics
    /// If `data.len() != rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "Matrix::new: {} values do not fill {rows} x {cols}",
            data.len()
        );
        Self { rows, cols, data }
    }

    /// Row `i` as a slice.
    ///
    /// # Panics
    /// If `i >= rows`.
    pub fn row(&self, i: usize) -> &[f32] {
        assert!(
            i < self.rows,
            "Matrix::row: row {i} out of {} rows",
            self.rows
        );
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// A new matrix made of rows `idx` in that order (repeats allowed).
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select_rows(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix::new(idx.len(), self.cols, data)
    }

    /// Blocks of `per` rows (block `i` is rows `i*per..(i+1)*per`), for the samples `idx` in that
    /// order: a sample's views or candidates.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select_blocks(&self, per: usize, idx: &[usize]) -> Matrix {
        let rows: Vec<usize> = idx.iter().flat_map(|&i| i * per..(i + 1) * per).collect();
        self.select_rows(&rows)
    }

    /// `other`'s rows after these (same columns).
    pub fn append(&mut self, other: &Matrix) {
        debug_assert_eq!(self.cols, other.cols);
        self.data.extend_from_slice(&other.data);
        self.rows += other.rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_selection() {
        let m = Matrix::new(3, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(m.row(1), &[2.0, 3.0]);
        let s = m.select_rows(&[2, 0, 2]);
        assert_eq!(s, Matrix::new(3, 2, vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]));
        assert_eq!(m.select_rows(&[]), Matrix::new(0, 2, vec![]));
    }

    #[test]
    #[should_panic(expected = "do not fill")]
    fn new_rejects_wrong_length() {
        Matrix::new(2, 2, vec![0.0; 3]);
    }

    #[test]
    #[should_panic(expected = "out of 3 rows")]
    fn row_out_of_range_panics() {
        Matrix::new(3, 1, vec![0.0; 3]).row(3);
    }
}
