//! The pre-norm transformer block shared by both CLIP towers. Sources are cited by line in
//! Hugging Face transformers 5.24.0, `models/clip/modeling_clip.py` (the version of the
//! reference checkpoints in tests/reference/clip-tiny).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, gelu_approximate};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::ClipError;
use crate::activation::quick_gelu;
use crate::config::{Activation, TowerConfig};
use crate::weights::Source;

/// `linear` applied to every token of `[batch, tokens, d_in]` as one `[batch * tokens, d_in]`
/// matmul. Burn runs rank-3 input as a batched matmul against the broadcast weight, and autodiff
/// then builds a `[batch, d_in, d_out]` weight gradient before summing it: 2.4 GB for one MLP
/// matrix of ViT-B/16 at 256 image rows, over wgpu's buffer limit. Folding the rows avoids it.
pub fn per_token(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [b, l, d] = x.dims();
    let y = linear.forward(x.reshape([b * l, d]));
    let d_out = y.dims()[1];
    y.reshape([b, l, d_out])
}

/// Multi-head self-attention with separate q/k/v projections (Hugging Face layout).
// modeling_clip.py:280 CLIPAttention (scale head_dim^-0.5 at :289, forward at :298)
#[derive(Module, Debug)]
pub struct SelfAttention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub out: Linear,
    #[module(skip)]
    pub heads: usize,
}

impl SelfAttention {
    /// `x`: `[batch, tokens, hidden]`. Scale 1/sqrt(head_dim) as in CLIP.
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let [b, l, h] = x.dims();
        let split = |t: Tensor<3>| {
            t.reshape([b, l, self.heads, h / self.heads])
                .swap_dims(1, 2)
        };
        let q = split(per_token(&self.q, x.clone()));
        let k = split(per_token(&self.k, x.clone()));
        let v = split(per_token(&self.v, x));
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: causal,
        };
        let y = attention(q, k, v, None, None, options);
        per_token(&self.out, y.swap_dims(1, 2).reshape([b, l, h]))
    }
}

/// fc1, activation, fc2.
// modeling_clip.py:338 CLIPMLP (forward at :346)
#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = per_token(&self.fc1, x);
        let h = match self.activation {
            Activation::QuickGelu => quick_gelu(h),
            Activation::Gelu => gelu(h),
            Activation::GeluTanh => gelu_approximate(h),
        };
        per_token(&self.fc2, h)
    }
}

/// `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
// modeling_clip.py:353 CLIPEncoderLayer (the two residuals at :368-381)
#[derive(Module, Debug)]
pub struct Block {
    pub ln1: LayerNorm,
    pub attn: SelfAttention,
    pub ln2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.ln1.forward(x), causal);
        x.clone() + self.mlp.forward(self.ln2.forward(x))
    }

    /// Loads `{prefix}.{layer_norm1,self_attn,layer_norm2,mlp}`.
    pub fn load(
        src: &dyn Source,
        prefix: &str,
        cfg: &TowerConfig,
        device: &Device,
    ) -> Result<Self, ClipError> {
        let h = cfg.hidden;
        let eps = cfg.layer_norm_eps;
        let lin = |name: &str, d_in: usize, d_out: usize| {
            load_linear(src, &format!("{prefix}.{name}"), d_in, d_out, true, device)
        };
        Ok(Block {
            ln1: load_layer_norm(src, &format!("{prefix}.layer_norm1"), h, eps, device)?,
            attn: SelfAttention {
                q: lin("self_attn.q_proj", h, h)?,
                k: lin("self_attn.k_proj", h, h)?,
                v: lin("self_attn.v_proj", h, h)?,
                out: lin("self_attn.out_proj", h, h)?,
                heads: cfg.heads,
            },
            ln2: load_layer_norm(src, &format!("{prefix}.layer_norm2"), h, eps, device)?,
            mlp: Mlp {
                fc1: lin("mlp.fc1", h, cfg.intermediate)?,
                fc2: lin("mlp.fc2", cfg.intermediate, h)?,
                activation: cfg.activation,
            },
        })
    }
}

/// A tensor of the given shape from `src`.
pub fn load_tensor<const D: usize>(
    src: &dyn Source,
    name: &str,
    shape: [usize; D],
    device: &Device,
) -> Result<Tensor<D>, ClipError> {
    let v = src.get(name, &shape)?;
    Ok(Tensor::from_data(TensorData::new(v, shape), device))
}

/// `{name}.weight` is PyTorch's `[out, in]`; Burn's Linear stores `[in, out]`.
pub fn load_linear(
    src: &dyn Source,
    name: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &Device,
) -> Result<Linear, ClipError> {
    let w = load_tensor(src, &format!("{name}.weight"), [d_out, d_in], device)?.transpose();
    let b = if bias {
        let b = load_tensor(src, &format!("{name}.bias"), [d_out], device)?;
        Some(Param::from_tensor(b))
    } else {
        None
    };
    Ok(Linear {
        weight: Param::from_tensor(w),
        bias: b,
    })
}

pub fn load_layer_norm(
    src: &dyn Source,
    name: &str,
    d: usize,
    eps: f64,
    device: &Device,
) -> Result<LayerNorm, ClipError> {
    let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(device);
    ln.gamma = Param::from_tensor(load_tensor(src, &format!("{name}.weight"), [d], device)?);
    ln.beta = Some(Param::from_tensor(load_tensor(
        src,
        &format!("{name}.bias"),
        [d],
        device,
    )?));
    Ok(ln)
}
