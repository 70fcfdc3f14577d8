//! CLIP's vision transformer: patches + class token, pre-norm blocks, class-token pooling.
//! Cited by line in transformers 5.24.0 `models/clip/modeling_clip.py` (CLIPVisionModel, :584).

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use ssr2_core::ops::l2_normalize;

use crate::ClipError;
use crate::block::{Block, load_layer_norm, load_linear, load_tensor};
use crate::config::VisionConfig;
use crate::weights::Source;

#[derive(Module, Debug)]
pub struct VisionTower {
    /// The stride-p convolution as a linear map of flattened `(c, y, x)` patches.
    pub patch: Linear,
    pub class_embedding: Param<Tensor<1>>,
    pub positions: Param<Tensor<2>>,
    pub pre_norm: LayerNorm,
    pub blocks: Vec<Block>,
    pub post_norm: LayerNorm,
    /// `visual_projection`, no bias.
    pub projection: Linear,
    #[module(skip)]
    pub patch_size: usize,
    #[module(skip)]
    pub image_size: usize,
}

/// What one pass gives.
pub struct VisionOutput {
    /// Input of the last block, `[batch, tokens, hidden]`.
    pub before_last: Tensor<3>,
    /// Class token after the last block and `post_layernorm`, `[batch, hidden]`.
    pub pooled: Tensor<2>,
    /// `visual_projection(pooled)`, not normalised, `[batch, projection_dim]`.
    pub projected: Tensor<2>,
}

impl VisionTower {
    pub fn load(
        src: &dyn Source,
        cfg: &VisionConfig,
        projection_dim: usize,
        device: &Device,
    ) -> Result<Self, ClipError> {
        let t = &cfg.tower;
        let (h, p) = (t.hidden, cfg.patch_size);
        let conv = load_tensor(
            src,
            "vision_model.embeddings.patch_embedding.weight",
            [h, 3, p, p],
            device,
        )?;
        let blocks = (0..t.layers)
            .map(|i| {
                let prefix = format!("vision_model.encoder.layers.{i}");
                Block::load(src, &prefix, t, device)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let eps = t.layer_norm_eps;
        Ok(VisionTower {
            patch: Linear {
                weight: Param::from_tensor(conv.reshape([h, 3 * p * p]).transpose()),
                bias: None,
            },
            class_embedding: Param::from_tensor(load_tensor(
                src,
                "vision_model.embeddings.class_embedding",
                [h],
                device,
            )?),
            positions: Param::from_tensor(load_tensor(
                src,
                "vision_model.embeddings.position_embedding.weight",
                [cfg.num_positions(), h],
                device,
            )?),
            // transformers spells it "pre_layrnorm".
            pre_norm: load_layer_norm(src, "vision_model.pre_layrnorm", h, eps, device)?,
            blocks,
            post_norm: load_layer_norm(src, "vision_model.post_layernorm", h, eps, device)?,
            projection: load_linear(src, "visual_projection", h, projection_dim, false, device)?,
            patch_size: p,
            image_size: cfg.image_size,
        })
    }

    /// Token embeddings after `pre_layrnorm` (the input of block 0). `pixels`: `[b, 3, s, s]`.
    // modeling_clip.py:202 CLIPVisionEmbeddings.forward (class token first, positions added),
    // then :632 pre_layrnorm
    pub fn embed(&self, pixels: Tensor<4>) -> Tensor<3> {
        let [b, c, hh, ww] = pixels.dims();
        let p = self.patch_size;
        assert!(
            c == 3 && hh == self.image_size && ww == self.image_size,
            "pixels must be [batch, 3, {s}, {s}], got {:?}",
            [b, c, hh, ww],
            s = self.image_size
        );
        let (gh, gw) = (hh / p, ww / p);
        let patches = pixels
            .reshape([b, c, gh, p, gw, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b, gh * gw, c * p * p]);
        let tokens = crate::block::per_token(&self.patch, patches);
        let hidden = tokens.dims()[2];
        let class = self
            .class_embedding
            .val()
            .reshape([1, 1, hidden])
            .repeat_dim(0, b);
        let x = Tensor::cat(vec![class, tokens], 1) + self.positions.val().unsqueeze::<3>();
        self.pre_norm.forward(x)
    }

    /// Runs blocks `from..to` on `x`.
    pub fn run_blocks(&self, mut x: Tensor<3>, from: usize, to: usize) -> Tensor<3> {
        for block in &self.blocks[from..to] {
            x = block.forward(x, false);
        }
        x
    }

    /// The frozen part in the paper's fine-tuning: everything before the last block.
    pub fn prefix(&self, pixels: Tensor<4>) -> Tensor<3> {
        let last = self.blocks.len() - 1;
        self.run_blocks(self.embed(pixels), 0, last)
    }

    /// Last block, class-token pooling, `post_layernorm`, projection: `(pooled, projected)`.
    // modeling_clip.py:640-641 (class token, post_layernorm), :741 visual_projection
    pub fn finish(&self, before_last: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
        let n = self.blocks.len();
        let x = self.run_blocks(before_last, n - 1, n);
        let [b, _, h] = x.dims();
        let pooled = self
            .post_norm
            .forward(x.slice([0..b, 0..1]).reshape([b, h]));
        let projected = self.projection.forward(pooled.clone());
        (pooled, projected)
    }

    /// L2-normalised projected embeddings of preprocessed `[b, 3, s, s]` pixels.
    pub fn encode(&self, pixels: Tensor<4>) -> Tensor<2> {
        l2_normalize(self.finish(self.prefix(pixels)).1)
    }

    pub fn forward(&self, pixels: Tensor<4>) -> VisionOutput {
        let before_last = self.prefix(pixels);
        let (pooled, projected) = self.finish(before_last.clone());
        VisionOutput {
            before_last,
            pooled,
            projected,
        }
    }
}
