//! CLIP's text transformer: causal pre-norm blocks, pooling at the end-of-text token.
//! Cited by line in transformers 5.24.0 `models/clip/modeling_clip.py` (CLIPTextModel, :484).

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;

use crate::ClipError;
use crate::block::{Block, load_layer_norm, load_linear, load_tensor};
use crate::config::TextConfig;
use crate::tokens::Tokens;
use crate::weights::Source;

#[derive(Module, Debug)]
pub struct TextTower {
    pub token_embedding: Param<Tensor<2>>,
    pub positions: Param<Tensor<2>>,
    pub blocks: Vec<Block>,
    pub final_norm: LayerNorm,
    /// `text_projection`, no bias.
    pub projection: Linear,
}

pub struct TextOutput {
    /// Input of the last block, `[batch, length, hidden]`.
    pub before_last: Tensor<3>,
    /// End-of-text token after `final_layer_norm`, `[batch, hidden]`.
    pub pooled: Tensor<2>,
    /// `text_projection(pooled)`, not normalised.
    pub projected: Tensor<2>,
}

impl TextTower {
    pub fn load(
        src: &dyn Source,
        cfg: &TextConfig,
        projection_dim: usize,
        device: &Device,
    ) -> Result<Self, ClipError> {
        let t = &cfg.tower;
        let h = t.hidden;
        let blocks = (0..t.layers)
            .map(|i| {
                let prefix = format!("text_model.encoder.layers.{i}");
                Block::load(src, &prefix, t, device)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TextTower {
            token_embedding: Param::from_tensor(load_tensor(
                src,
                "text_model.embeddings.token_embedding.weight",
                [cfg.vocab_size, h],
                device,
            )?),
            positions: Param::from_tensor(load_tensor(
                src,
                "text_model.embeddings.position_embedding.weight",
                [cfg.max_positions, h],
                device,
            )?),
            blocks,
            final_norm: load_layer_norm(
                src,
                "text_model.final_layer_norm",
                h,
                t.layer_norm_eps,
                device,
            )?,
            projection: load_linear(src, "text_projection", h, projection_dim, false, device)?,
        })
    }

    /// Token + position embeddings of `tokens.ids` (`[batch, length]`).
    // modeling_clip.py:232 CLIPTextEmbeddings.forward (position embeddings added at :253-254)
    pub fn embed(&self, tokens: &Tokens, device: &Device) -> Tensor<3> {
        let (b, l) = (tokens.batch(), tokens.length);
        let ids = Tensor::<1, Int>::from_data(TensorData::new(tokens.ids.clone(), [b * l]), device);
        let hidden = self.positions.dims()[1];
        let x = self
            .token_embedding
            .val()
            .select(0, ids)
            .reshape([b, l, hidden]);
        let pos = self.positions.val().slice([0..l, 0..hidden]);
        x + pos.unsqueeze::<3>()
    }

    /// Runs blocks `from..to` on `x`, causally.
    // modeling_clip.py:533-544 (causal mask, is_causal=True)
    pub fn run_blocks(&self, mut x: Tensor<3>, from: usize, to: usize) -> Tensor<3> {
        for block in &self.blocks[from..to] {
            x = block.forward(x, true);
        }
        x
    }

    /// Everything before the last block.
    pub fn prefix(&self, tokens: &Tokens, device: &Device) -> Tensor<3> {
        let last = self.blocks.len() - 1;
        self.run_blocks(self.embed(tokens, device), 0, last)
    }

    /// Last block, `final_layer_norm` at each sequence's end token, projection.
    // modeling_clip.py:549 final_layer_norm, :551-570 end-token pooling, :703 text_projection
    pub fn finish(&self, before_last: Tensor<3>, tokens: &Tokens) -> (Tensor<2>, Tensor<2>) {
        let n = self.blocks.len();
        let x = self.run_blocks(before_last, n - 1, n);
        let [b, l, h] = x.dims();
        let device = x.device();
        // Causal attention: only positions up to the end token matter, so pool before the norm.
        let rows: Vec<i64> = (0..b).map(|i| (i * l + tokens.eos[i]) as i64).collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [b]), &device);
        let pooled = self
            .final_norm
            .forward(x.reshape([b * l, h]).select(0, rows));
        let projected = self.projection.forward(pooled.clone());
        (pooled, projected)
    }

    pub fn forward(&self, tokens: &Tokens, device: &Device) -> TextOutput {
        let before_last = self.prefix(tokens, device);
        let (pooled, projected) = self.finish(before_last.clone(), tokens);
        TextOutput {
            before_last,
            pooled,
            projected,
        }
    }
}
