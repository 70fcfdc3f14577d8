//! The fine-tune model (SPEC §8): CLIP's towers split into a frozen prefix (everything before the
//! last block, no gradients) and the trainable part (last block of each tower, both projections,
//! both cosine classifiers).

use crate::rng::Rng;
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use ssr2_clip::{Block, Clip, TextTower, Tokens, VisionTower};
use ssr2_core::classifier::CosineClassifier;
use ssr2_core::ops::l2_normalize;

/// Both towers without their last block; every parameter has `require_grad = false`.
/// (The towers' own `projection` slots are unused: the trained copies live in [`Trainable`].)
#[derive(Module, Debug)]
pub struct Frozen {
    pub vision: VisionTower,
    pub text: TextTower,
}

/// What the optimiser updates and checkpoints store.
#[derive(Module, Debug)]
pub struct Trainable {
    pub vision_block: Block,
    pub vision_projection: Linear,
    pub text_block: Block,
    pub text_projection: Linear,
    pub image_head: CosineClassifier,
    /// Absent when training image-only.
    pub text_head: Option<CosineClassifier>,
}

/// A projection with fresh parameter ids (so it is not the frozen tower's parameter).
fn own(linear: &Linear) -> Linear {
    Linear {
        weight: Param::from_tensor(linear.weight.val().detach()),
        bias: linear
            .bias
            .as_ref()
            .map(|b| Param::from_tensor(b.val().detach())),
    }
}

/// A cosine classifier drawn from our own generator (uniform in +-1/sqrt(d) as `nn.Linear`, unit
/// gains; SPEC §5), so runs do not depend on the device's global random state.
fn classifier(d: usize, k: usize, rng: &mut Rng, device: &Device) -> CosineClassifier {
    let bound = 1.0 / (d as f64).sqrt();
    let w: Vec<f32> = (0..k * d)
        .map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32)
        .collect();
    CosineClassifier::from_tensors(
        Tensor::from_data(TensorData::new(w, [k, d]), device),
        Tensor::ones([k], device),
    )
}

/// Splits `clip` (on an autodiff device: load there or `fork` it) into the frozen prefix and the
/// trainable part; the classifiers are drawn from `seed`.
pub fn split(
    mut clip: Clip,
    classes: usize,
    use_text: bool,
    seed: u64,
    device: &Device,
) -> (Frozen, Trainable) {
    let mut rng = Rng::derive(seed, 0, 99);
    let vision_block = clip.vision.blocks.pop().expect("vision tower has blocks");
    let text_block = clip.text.blocks.pop().expect("text tower has blocks");
    let d = clip.vision.projection.weight.dims()[1];
    let trainable = Trainable {
        vision_block,
        vision_projection: own(&clip.vision.projection),
        text_block,
        text_projection: own(&clip.text.projection),
        image_head: classifier(d, classes, &mut rng, device),
        text_head: use_text.then(|| classifier(d, classes, &mut rng, device)),
    };
    // Fresh graph leaves: no trainable parameter may hang off an earlier graph.
    let trainable = trainable.set_require_grad(false).set_require_grad(true);
    let frozen = Frozen {
        vision: clip.vision,
        text: clip.text,
    }
    .no_grad();
    (frozen, trainable)
}

impl Frozen {
    /// Input of the last vision block for `[b, 3, s, s]` pixels; off the autodiff graph.
    pub fn image_prefix(&self, pixels: Tensor<4>) -> Tensor<3> {
        let n = self.vision.blocks.len();
        self.vision
            .run_blocks(self.vision.embed(pixels), 0, n)
            .detach()
    }

    /// Input of the last text block; off the autodiff graph.
    pub fn text_prefix(&self, tokens: &Tokens, device: &Device) -> Tensor<3> {
        let n = self.text.blocks.len();
        self.text
            .run_blocks(self.text.embed(tokens, device), 0, n)
            .detach()
    }
}

impl Trainable {
    /// Unit-norm image features: last block, class token, `post_layernorm`, projection (SPEC §8).
    pub fn image_features(&self, frozen: &Frozen, before_last: Tensor<3>) -> Tensor<2> {
        let x = self.vision_block.forward(before_last, false);
        let [b, _, h] = x.dims();
        let pooled = frozen
            .vision
            .post_norm
            .forward(x.slice([0..b, 0..1]).reshape([b, h]));
        l2_normalize(self.vision_projection.forward(pooled))
    }

    /// Unit-norm text features: last (causal) block, end token, `final_layer_norm`, projection.
    pub fn text_features(
        &self,
        frozen: &Frozen,
        before_last: Tensor<3>,
        eos: &[usize],
    ) -> Tensor<2> {
        let x = self.text_block.forward(before_last, true);
        let [b, l, h] = x.dims();
        let rows: Vec<i64> = (0..b).map(|i| (i * l + eos[i]) as i64).collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [b]), &x.device());
        let pooled = frozen
            .text
            .final_norm
            .forward(x.reshape([b * l, h]).select(0, rows));
        l2_normalize(self.text_projection.forward(pooled))
    }
}
