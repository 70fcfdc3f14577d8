//! The features-mode dataset the trainer consumes, and its invariants.

use std::collections::HashSet;

use crate::{DataError, Matrix};

/// Text side of a sample set.
#[derive(Clone, Debug, PartialEq)]
pub enum TextFeatures {
    /// One (already aggregated) text vector per sample: n x d_txt.
    Aggregated(Matrix),
    /// RTA candidates per sample (SPEC §7).
    Candidates(CandidateFeatures),
}

/// RTA candidates per sample, best first (SPEC §7): tags is n*T rows of d_txt (sample i's T tags
/// are rows i*T..(i+1)*T), attributes n*A rows of d_txt, and an optional base-prompt embedding
/// (d_txt) shared by all samples.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateFeatures {
    /// n*T rows of d_txt.
    pub tags: Matrix,
    /// T, tags per sample.
    pub num_tags: usize,
    /// n*A rows of d_txt.
    pub attributes: Matrix,
    /// A, attributes per sample.
    pub num_attributes: usize,
    /// Base-prompt embedding (d_txt), shared by all samples.
    pub base: Option<Vec<f32>>,
}

impl CandidateFeatures {
    /// The text dimension d_txt.
    pub fn dim(&self) -> usize {
        self.tags.cols
    }

    /// The candidates of samples `idx`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, idx: &[usize]) -> Self {
        Self {
            tags: self.tags.select_blocks(self.num_tags, idx),
            attributes: self.attributes.select_blocks(self.num_attributes, idx),
            base: self.base.clone(),
            ..*self
        }
    }

    /// `other`'s samples after these (same T, A and d_txt; the base stays this one's).
    pub fn append(&mut self, other: &Self) {
        self.tags.append(&other.tags);
        self.attributes.append(&other.attributes);
    }

    /// Checks the shapes against n samples.
    fn validate(&self, n: usize) -> Result<(), DataError> {
        check_matrix("text tags", &self.tags)?;
        check_matrix("text attributes", &self.attributes)?;
        for (field, count) in [
            ("num_tags", self.num_tags),
            ("num_attributes", self.num_attributes),
        ] {
            if count == 0 {
                return Err(DataError::invalid(
                    field,
                    "is 0, expected at least 1 candidate",
                ));
            }
        }
        check_len("text tags rows", self.tags.rows, n * self.num_tags)?;
        check_len(
            "text attributes rows",
            self.attributes.rows,
            n * self.num_attributes,
        )?;
        check_len(
            "text attributes columns",
            self.attributes.cols,
            self.tags.cols,
        )?;
        if let Some(b) = &self.base {
            check_len("text base", b.len(), self.tags.cols)?;
            check_finite("text base", b)?;
        }
        Ok(())
    }
}

impl TextFeatures {
    /// The text dimension d_txt.
    pub fn dim(&self) -> usize {
        match self {
            TextFeatures::Aggregated(m) => m.cols,
            TextFeatures::Candidates(c) => c.dim(),
        }
    }
}

/// Pre-extracted augmented views of each image feature: `data` has n*V rows of d_img (sample i's V
/// views are rows i*V..(i+1)*V).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageViews {
    /// n*V rows of d_img.
    pub data: Matrix,
    /// V, views per sample.
    pub per_sample: usize,
}

/// A features-mode dataset: what the trainer consumes.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Short name ("digits", "synthetic", "cub200", ...).
    pub name: String,
    /// len = num_classes, in remapped order (old classes first).
    pub class_names: Vec<String>,
    /// Old (known) classes are `0..num_old`.
    pub num_old: usize,
    /// n x d_img.
    pub image: Matrix,
    /// Optional pre-extracted augmented views of `image` (e.g. features of random crops).
    pub image_views: Option<ImageViews>,
    /// Optional features before the image projection (e.g. CLIP's pooled class token,
    /// n x d_hidden); carried along for tools, unused by the trainer.
    pub image_pooled: Option<Matrix>,
    /// None = image-only.
    pub text: Option<TextFeatures>,
    /// Remapped true labels, old classes are 0..num_old.
    pub labels: Vec<usize>,
    /// true = label visible to training.
    pub labelled: Vec<bool>,
    /// One id per sample, unique.
    pub sample_ids: Vec<String>,
    /// Held-out test samples (same classes and feature shapes, no label visible), evaluated
    /// inductively after training and never trained on; `None` when the data has no test split.
    pub test: Option<Box<Dataset>>,
}

impl Dataset {
    /// Number of samples n.
    pub fn len(&self) -> usize {
        self.image.rows
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of classes K (= `class_names.len()`).
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Samples whose label is hidden from training (the ones GCD is evaluated on).
    pub fn unlabelled_indices(&self) -> Vec<usize> {
        (0..self.labelled.len())
            .filter(|&i| !self.labelled[i])
            .collect()
    }

    /// Samples whose label is visible to training.
    pub fn labelled_indices(&self) -> Vec<usize> {
        (0..self.labelled.len())
            .filter(|&i| self.labelled[i])
            .collect()
    }

    /// Checks every invariant (lengths agree, labels < num_classes, labelled samples only from
    /// old classes, finite values, unique sample ids) and returns a DataError naming the field.
    pub fn validate(&self) -> Result<(), DataError> {
        let n = self.len();
        check_matrix("image", &self.image)?;
        let k = self.num_classes();
        if self.num_old > k {
            return Err(DataError::invalid(
                "num_old",
                format!("is {} but there are only {k} classes", self.num_old),
            ));
        }
        check_len("labels", self.labels.len(), n)?;
        check_len("labelled", self.labelled.len(), n)?;
        check_len("sample_ids", self.sample_ids.len(), n)?;
        for (i, &y) in self.labels.iter().enumerate() {
            if y >= k {
                return Err(DataError::invalid(
                    "labels",
                    format!("sample {i} has label {y}, expected < {k} (number of classes)"),
                ));
            }
            if self.labelled[i] && y >= self.num_old {
                return Err(DataError::invalid(
                    "labelled",
                    format!(
                        "sample {i} is labelled but its class {y} is new (old classes are 0..{})",
                        self.num_old
                    ),
                ));
            }
        }
        let mut seen = HashSet::with_capacity(n);
        for (i, id) in self.sample_ids.iter().enumerate() {
            if !seen.insert(id.as_str()) {
                return Err(DataError::invalid(
                    "sample_ids",
                    format!("id `{id}` of sample {i} appears twice"),
                ));
            }
        }
        if let Some(views) = &self.image_views {
            validate_views(views, n, self.image.cols)?;
        }
        if let Some(pooled) = &self.image_pooled {
            check_matrix("image_pooled", pooled)?;
            check_len("image_pooled", pooled.rows, n)?;
        }
        if let Some(text) = &self.text {
            validate_text(text, n)?;
        }
        if let Some(test) = &self.test {
            self.validate_test(test)?;
        }
        Ok(())
    }

    /// The test part: valid on its own, the same classes and shapes, no label visible.
    fn validate_test(&self, test: &Dataset) -> Result<(), DataError> {
        let field = |f: &str| format!("test {f}");
        let in_test = |e: DataError| match e {
            DataError::Invalid { field: f, message } => DataError::invalid(&field(&f), message),
            other => other,
        };
        if test.test.is_some() {
            return Err(DataError::invalid("test", "has a test part of its own"));
        }
        test.validate().map_err(in_test)?;
        if test.class_names != self.class_names || test.num_old != self.num_old {
            return Err(DataError::invalid(
                "test class_names",
                "differ from the training set's classes",
            ));
        }
        if shape(test) != shape(self) {
            return Err(DataError::invalid(
                "test features",
                "have other tensors or dimensions than the training set's",
            ));
        }
        if let Some(i) = test.labelled.iter().position(|&l| l) {
            return Err(DataError::invalid(
                "test labelled",
                format!("sample {i} of the test split is labelled; test labels stay hidden"),
            ));
        }
        if let Some(id) = test
            .sample_ids
            .iter()
            .find(|id| self.sample_ids.contains(id))
        {
            return Err(DataError::invalid(
                "test sample_ids",
                format!("id `{id}` is in both the training set and the test split"),
            ));
        }
        Ok(())
    }
}

/// The tensors a dataset has and their widths (image, views, pooled, text, candidate counts):
/// what its parts must share.
pub(crate) type Shape = (
    usize,
    Option<(usize, usize)>,
    Option<usize>,
    Option<(usize, usize, usize)>,
);

pub(crate) fn shape(d: &Dataset) -> Shape {
    (
        d.image.cols,
        d.image_views.as_ref().map(|v| (v.per_sample, v.data.cols)),
        d.image_pooled.as_ref().map(|m| m.cols),
        d.text.as_ref().map(|t| match t {
            TextFeatures::Aggregated(m) => (m.cols, 0, 0),
            TextFeatures::Candidates(c) => (c.dim(), c.num_tags, c.num_attributes),
        }),
    )
}

/// Checks the augmented views against n samples of d_img columns.
fn validate_views(views: &ImageViews, n: usize, d_img: usize) -> Result<(), DataError> {
    if views.per_sample == 0 {
        return Err(DataError::invalid(
            "image_views",
            "has 0 views per sample, expected at least 1",
        ));
    }
    check_matrix("image_views", &views.data)?;
    check_len("image_views rows", views.data.rows, n * views.per_sample)?;
    check_len("image_views columns", views.data.cols, d_img)
}

/// Checks the text side against n samples.
fn validate_text(text: &TextFeatures, n: usize) -> Result<(), DataError> {
    match text {
        TextFeatures::Aggregated(m) => {
            check_matrix("text", m)?;
            check_len("text rows", m.rows, n)
        }
        TextFeatures::Candidates(c) => c.validate(n),
    }
}

/// `actual` must equal `expected`.
fn check_len(field: &str, actual: usize, expected: usize) -> Result<(), DataError> {
    if actual == expected {
        Ok(())
    } else {
        Err(DataError::invalid(
            field,
            format!("has length {actual}, expected {expected}"),
        ))
    }
}

/// The buffer fills the shape and every value is finite.
fn check_matrix(field: &str, m: &Matrix) -> Result<(), DataError> {
    if m.data.len() != m.rows * m.cols {
        return Err(DataError::invalid(
            field,
            format!(
                "holds {} values, expected {} x {} = {}",
                m.data.len(),
                m.rows,
                m.cols,
                m.rows * m.cols
            ),
        ));
    }
    check_finite(field, &m.data)
}

/// Every value is finite; the message gives the first offender's position.
pub(crate) fn check_finite(field: &str, v: &[f32]) -> Result<(), DataError> {
    match v.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(p) => Err(DataError::invalid(
            field,
            format!("value {} at flat index {p} is not finite", v[p]),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four samples, 3 classes (2 old), V = 2 image views, candidates text with T = 2, A = 1,
    /// d_txt = 2.
    fn small() -> Dataset {
        Dataset {
            name: "t".into(),
            class_names: vec!["a".into(), "b".into(), "c".into()],
            num_old: 2,
            image: Matrix::new(4, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.5]),
            image_views: Some(ImageViews {
                data: Matrix::new(8, 2, vec![0.3; 16]),
                per_sample: 2,
            }),
            image_pooled: Some(Matrix::new(4, 3, vec![0.25; 12])),
            text: Some(TextFeatures::Candidates(CandidateFeatures {
                tags: Matrix::new(8, 2, vec![0.1; 16]),
                num_tags: 2,
                attributes: Matrix::new(4, 2, vec![0.2; 8]),
                num_attributes: 1,
                base: Some(vec![0.0, 1.0]),
            })),
            labels: vec![0, 1, 2, 1],
            labelled: vec![true, false, false, true],
            sample_ids: (0..4).map(|i| format!("s{i}")).collect(),
            test: None,
        }
    }

    fn field_of(ds: &Dataset) -> String {
        match ds.validate() {
            Err(DataError::Invalid { field, .. }) => field,
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn accessors_and_valid_dataset() {
        let ds = small();
        ds.validate().unwrap();
        assert_eq!(ds.len(), 4);
        assert!(!ds.is_empty());
        assert_eq!(ds.num_classes(), 3);
        assert_eq!(ds.labelled_indices(), vec![0, 3]);
        assert_eq!(ds.unlabelled_indices(), vec![1, 2]);
        assert_eq!(ds.text.as_ref().unwrap().dim(), 2);
    }

    #[test]
    fn each_broken_invariant_names_its_field() {
        type Breaker = Box<dyn Fn(&mut Dataset)>;
        let cases: Vec<(&str, Breaker)> = vec![
            ("labels", Box::new(|d| d.labels[2] = 3)),
            ("labels", Box::new(|d| d.labels.pop().map(|_| ()).unwrap())),
            ("labelled", Box::new(|d| d.labelled[2] = true)),
            ("labelled", Box::new(|d| d.labelled.push(false))),
            ("sample_ids", Box::new(|d| d.sample_ids[1] = "s0".into())),
            ("sample_ids", Box::new(|d| d.sample_ids.clear())),
            ("num_old", Box::new(|d| d.num_old = 4)),
            ("image", Box::new(|d| d.image.data[3] = f32::NAN)),
            ("image", Box::new(|d| d.image.data.push(0.0))),
            ("image_views", Box::new(|d| set_views(d, 0, 8, 2))),
            (
                "image_views",
                Box::new(|d| views(d).data.data[11] = f32::NAN),
            ),
            ("image_views", Box::new(|d| views(d).data.data.push(0.0))),
            ("image_views rows", Box::new(|d| set_views(d, 3, 8, 2))),
            ("image_views rows", Box::new(|d| set_views(d, 2, 6, 2))),
            ("image_views columns", Box::new(|d| set_views(d, 2, 8, 3))),
            ("text tags", Box::new(|d| set_tag(d, f32::INFINITY))),
            ("text tags rows", Box::new(|d| set_num_tags(d, 3))),
            ("num_tags", Box::new(|d| set_num_tags(d, 0))),
            ("text base", Box::new(|d| set_base(d, vec![0.0]))),
            ("text base", Box::new(|d| set_base(d, vec![0.0, f32::NAN]))),
            (
                "text rows",
                Box::new(|d| {
                    d.text = Some(TextFeatures::Aggregated(Matrix::new(3, 2, vec![0.0; 6])))
                }),
            ),
        ];
        for (field, breaker) in cases {
            let mut ds = small();
            breaker(&mut ds);
            assert_eq!(field_of(&ds), field);
        }
    }

    #[test]
    fn messages_are_complete() {
        let mut ds = small();
        ds.labels[2] = 7;
        let msg = ds.validate().unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid `labels`: sample 2 has label 7, expected < 3 (number of classes)"
        );
    }

    fn views(d: &mut Dataset) -> &mut ImageViews {
        d.image_views.as_mut().unwrap()
    }

    /// Replaces the views with `rows` x `cols` finite values, V = `per_sample`.
    fn set_views(d: &mut Dataset, per_sample: usize, rows: usize, cols: usize) {
        let data = Matrix::new(rows, cols, vec![0.1; rows * cols]);
        d.image_views = Some(ImageViews { data, per_sample });
    }

    #[test]
    fn view_messages_are_complete() {
        let mut ds = small();
        set_views(&mut ds, 3, 8, 2);
        assert_eq!(
            ds.validate().unwrap_err().to_string(),
            "invalid `image_views rows`: has length 8, expected 12"
        );
        set_views(&mut ds, 0, 0, 2);
        assert_eq!(
            ds.validate().unwrap_err().to_string(),
            "invalid `image_views`: has 0 views per sample, expected at least 1"
        );
        ds.image_views = None;
        ds.validate().unwrap();
    }

    fn set_tag(d: &mut Dataset, v: f32) {
        if let Some(TextFeatures::Candidates(c)) = &mut d.text {
            c.tags.data[5] = v;
        }
    }

    fn set_num_tags(d: &mut Dataset, t: usize) {
        if let Some(TextFeatures::Candidates(c)) = &mut d.text {
            c.num_tags = t;
        }
    }

    fn set_base(d: &mut Dataset, b: Vec<f32>) {
        if let Some(TextFeatures::Candidates(c)) = &mut d.text {
            c.base = Some(b);
        }
    }
}
