//! The models behind "Classify your images": CLIP's image tower streamed from the chosen
//! `model.safetensors` onto the page's device, and the run's image branch (adapter + cosine
//! head) from `heads.safetensors`, with the checks that refuse inputs that do not fit the run.

use burn::prelude::*;
use ssr2_clip::{ByteRange, ClipConfig, Streamed, VisionTower};
use ssr2_core::classifier::predict;
use ssr2_head::{HeadModel, ModelConfig};
use ssr2_view::RunReport;
use std::ops::Range;
use std::path::Path;

/// A file's bytes in a JS buffer, outside wasm memory: a tensor is copied into wasm only while
/// it is decoded and sent to the device, so a ViT-B/16 (~350 MB of f32 weights) never has a
/// second full copy in wasm's linear memory.
pub struct JsBytes(js_sys::Uint8Array);

impl ByteRange for JsBytes {
    fn len(&self) -> usize {
        self.0.length() as usize
    }
    fn read(&self, range: Range<usize>) -> Vec<u8> {
        self.0
            .subarray(range.start as u32, range.end as u32)
            .to_vec()
    }
}

pub async fn read_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let f = gloo_file::File::from(file.clone());
    gloo_file::futures::read_as_bytes(&f)
        .await
        .map_err(|e| format!("{}: cannot read the file ({e})", file.name()))
}

pub async fn read_array_buffer(file: &web_sys::File) -> Result<js_sys::Uint8Array, String> {
    let f = gloo_file::File::from(file.clone());
    gloo_file::futures::read_as_array_buffer(&f)
        .await
        .map(|b| js_sys::Uint8Array::new(&b))
        .map_err(|e| format!("{}: cannot read the file ({e})", file.name()))
}

/// A CLIP folder's `config.json` and `model.safetensors` (header checked, tensors unread).
pub struct Weights {
    pub config: ClipConfig,
    pub weights: Streamed<JsBytes>,
    size: usize,
}

impl Weights {
    /// The two files of a CLIP folder, chosen together.
    pub async fn open(files: Vec<web_sys::File>) -> Result<Self, String> {
        let names: Vec<String> = files.iter().map(|f| f.name()).collect();
        let config = files.iter().find(|f| f.name() == "config.json");
        let weights = files.iter().find(|f| f.name().ends_with(".safetensors"));
        let (Some(config), Some(weights), 2) = (config, weights, files.len()) else {
            return Err(format!(
                "CLIP files: choose the folder's config.json and model.safetensors together \
                 (got {})",
                if names.is_empty() {
                    "nothing".into()
                } else {
                    names.join(", ")
                }
            ));
        };
        let text = String::from_utf8(read_bytes(config).await?)
            .map_err(|_| "config.json: not UTF-8 text".to_string())?;
        let config = ClipConfig::from_json(&text).map_err(|e| format!("config.json: {e}"))?;
        let name = weights.name();
        let bytes = JsBytes(read_array_buffer(weights).await?);
        let size = bytes.len();
        let weights = Streamed::new(Path::new(&name), bytes).map_err(|e| e.to_string())?;
        Ok(Weights {
            config,
            weights,
            size,
        })
    }

    pub fn describe(&self) -> String {
        let v = &self.config.vision;
        format!(
            "ViT {}/{} px, {} layers, width {}, projection {}; {:.1} MB of weights",
            v.image_size,
            v.patch_size,
            v.tower.layers,
            v.tower.hidden,
            self.config.projection_dim,
            self.size as f64 / 1e6
        )
    }
}

/// The run's head settings (`config.model`), or why the page cannot classify with it: it must
/// be a features-mode run on image features only.
pub fn check_run(report: &RunReport) -> Result<ModelConfig, String> {
    if report.dataset.modalities.iter().any(|m| m == "text") {
        return Err(format!(
            "report.json: the run uses text features too (dataset.modalities {:?}); the page \
             classifies images with image-only runs",
            report.dataset.modalities
        ));
    }
    if report.is_finetune() {
        return Err(
            "report.json: a fine-tune run (config.finetune.model is set): its CLIP is the run's \
             own, not a CLIP folder; the page classifies with features-mode runs"
                .into(),
        );
    }
    let model = report.config.get("model").cloned().unwrap_or_default();
    let model = if model.is_null() { serde_json::json!({}) } else { model };
    serde_json::from_value(model).map_err(|e| format!("report.json: config.model: {e}"))
}

/// CLIP's image tower and the run's image branch, on one device.
pub struct Models {
    vision: VisionTower,
    heads: HeadModel,
    device: Device,
}

impl Models {
    pub fn build(
        clip: Option<&Weights>,
        heads: Option<&(String, Vec<u8>)>,
        report: &RunReport,
        device: &Device,
    ) -> Result<Self, String> {
        let model = check_run(report)?;
        let Some(clip) = clip else {
            return Err("choose the CLIP folder's config.json and model.safetensors first".into());
        };
        let Some((name, bytes)) = heads else {
            return Err("choose the run's heads.safetensors first".into());
        };
        // The heads' shapes, read from their header: clusters and input dimension.
        let header = Streamed::new(Path::new(name), bytes.clone()).map_err(|e| e.to_string())?;
        let shape = |t: &str| {
            header
                .shape(t)
                .map(<[usize]>::to_vec)
                .ok_or_else(|| format!("{name}: tensor `{t}` is missing (not a run's heads file)"))
        };
        let (head, adapter) = (
            shape("image.head.weight")?,
            shape("image.adapter.first.weight")?,
        );
        let clusters = report.head_clusters();
        if head[0] != clusters {
            return Err(format!(
                "{name}: image.head.weight has {} clusters, the report's run has {clusters}: \
                 these heads come from another run",
                head[0]
            ));
        }
        let d_in = adapter[0];
        let proj = clip.config.projection_dim;
        if proj != d_in {
            return Err(format!(
                "config.json: projection_dim is {proj}, the run's heads take {d_in}-dimensional \
                 image features: give the CLIP the run's bundle was extracted with"
            ));
        }
        let vision = VisionTower::load(&clip.weights, &clip.config.vision, proj, device)
            .map_err(|e| e.to_string())?;
        let mut heads = HeadModel::new(&model, d_in, None, clusters, device)?;
        ssr2_head::load_weights(Path::new(name), bytes.clone(), &mut heads)?;
        Ok(Models {
            vision,
            heads,
            device: device.clone(),
        })
    }

    pub fn image_size(&self) -> usize {
        self.vision.image_size
    }

    /// Logits (`b x k`, row-major), predicted clusters and `k` of `b` preprocessed images, as
    /// `ssr2 predict` computes them: normalised CLIP embedding, adapter, cosine head (SPEC §2).
    pub async fn predict(
        &self,
        pixels: Vec<f32>,
        b: usize,
    ) -> Result<(Vec<f32>, Vec<usize>, usize), String> {
        let s = self.image_size();
        let x = Tensor::<4>::from_data(TensorData::new(pixels, [b, 3, s, s]), &self.device);
        let branch = &self.heads.image;
        let logits = branch
            .head
            .forward(branch.adapter.forward(self.vision.encode(x)));
        let k = logits.dims()[1];
        let preds = predict(logits.clone(), None);
        let read = |e| format!("reading results from the device failed: {e:?}");
        let logits = logits.into_data_async().await.map_err(read)?;
        let preds = preds.into_data_async().await.map_err(read)?;
        Ok((
            logits.iter::<f32>().collect(),
            preds.iter::<i64>().map(|p| p as usize).collect(),
            k,
        ))
    }
}
