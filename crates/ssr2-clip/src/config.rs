//! CLIP shapes from a Hugging Face `config.json` (defaults are transformers' CLIP defaults).

use std::path::Path;

use serde::Deserialize;

use crate::ClipError;

/// The MLP non-linearity of a transformer block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`, OpenAI's CLIP.
    QuickGelu,
    /// Exact (erf) GELU.
    Gelu,
    /// Tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
}

impl Activation {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "quick_gelu" => Some(Activation::QuickGelu),
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            _ => None,
        }
    }
}

/// One transformer stack's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TowerConfig {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub activation: Activation,
    pub layer_norm_eps: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub tower: TowerConfig,
    pub image_size: usize,
    pub patch_size: usize,
}

impl VisionConfig {
    /// Patches plus the class token.
    pub fn num_positions(&self) -> usize {
        let side = self.image_size / self.patch_size;
        side * side + 1
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TextConfig {
    pub tower: TowerConfig,
    pub vocab_size: usize,
    pub max_positions: usize,
    /// transformers' rule: 2 (old configs) means "pool at the largest token id".
    pub eos_token_id: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClipConfig {
    pub vision: VisionConfig,
    pub text: TextConfig,
    pub projection_dim: usize,
}

#[derive(Deserialize)]
struct RawTower {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
    // vision
    image_size: Option<usize>,
    patch_size: Option<usize>,
    num_channels: Option<usize>,
    // text
    vocab_size: Option<usize>,
    max_position_embeddings: Option<usize>,
    eos_token_id: Option<usize>,
}

#[derive(Deserialize)]
struct RawConfig {
    projection_dim: Option<usize>,
    vision_config: Option<RawTower>,
    text_config: Option<RawTower>,
    // Some older checkpoints only carry the `*_dict` spelling.
    vision_config_dict: Option<RawTower>,
    text_config_dict: Option<RawTower>,
}

impl ClipConfig {
    /// Reads `config.json` of a Hugging Face CLIP folder.
    pub fn from_file(path: &Path) -> Result<Self, ClipError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClipError::io(path, e))?;
        Self::from_json(&text).map_err(|msg| ClipError::config(path, msg))
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: RawConfig =
            serde_json::from_str(text).map_err(|e| format!("not a CLIP config.json ({e})"))?;
        let v = raw
            .vision_config
            .or(raw.vision_config_dict)
            .ok_or("field `vision_config` is missing (is this a CLIPModel config?)")?;
        let t = raw
            .text_config
            .or(raw.text_config_dict)
            .ok_or("field `text_config` is missing (is this a CLIPModel config?)")?;
        if let Some(c) = v.num_channels
            && c != 3
        {
            return Err(format!(
                "vision_config.num_channels is {c}, expected 3 (RGB)"
            ));
        }
        let vision = VisionConfig {
            tower: tower("vision_config", &v, (768, 3072, 12, 12))?,
            image_size: size("vision_config.image_size", v.image_size, 224)?,
            patch_size: size("vision_config.patch_size", v.patch_size, 32)?,
        };
        if !vision.image_size.is_multiple_of(vision.patch_size) {
            return Err(format!(
                "vision_config.image_size {} is not a multiple of patch_size {}",
                vision.image_size, vision.patch_size
            ));
        }
        let text = TextConfig {
            tower: tower("text_config", &t, (512, 2048, 12, 8))?,
            vocab_size: size("text_config.vocab_size", t.vocab_size, 49408)?,
            max_positions: size(
                "text_config.max_position_embeddings",
                t.max_position_embeddings,
                77,
            )?,
            eos_token_id: t.eos_token_id.unwrap_or(49407),
        };
        Ok(ClipConfig {
            vision,
            text,
            projection_dim: size("projection_dim", raw.projection_dim, 512)?,
        })
    }
}

fn tower(
    field: &str,
    raw: &RawTower,
    defaults: (usize, usize, usize, usize),
) -> Result<TowerConfig, String> {
    let act = raw.hidden_act.as_deref().unwrap_or("quick_gelu");
    let activation = Activation::parse(act).ok_or_else(|| {
        format!("{field}.hidden_act is \"{act}\", expected quick_gelu, gelu or gelu_new")
    })?;
    let field_size = |name: &str, value, default| size(&format!("{field}.{name}"), value, default);
    let cfg = TowerConfig {
        hidden: field_size("hidden_size", raw.hidden_size, defaults.0)?,
        intermediate: field_size("intermediate_size", raw.intermediate_size, defaults.1)?,
        layers: field_size("num_hidden_layers", raw.num_hidden_layers, defaults.2)?,
        heads: field_size("num_attention_heads", raw.num_attention_heads, defaults.3)?,
        activation,
        layer_norm_eps: raw.layer_norm_eps.unwrap_or(1e-5),
    };
    if !(cfg.layer_norm_eps.is_finite() && cfg.layer_norm_eps > 0.0) {
        return Err(format!(
            "{field}.layer_norm_eps is {}, expected a small positive number",
            cfg.layer_norm_eps
        ));
    }
    if !cfg.hidden.is_multiple_of(cfg.heads) {
        return Err(format!(
            "{field}.hidden_size {} is not a multiple of num_attention_heads {}",
            cfg.hidden, cfg.heads
        ));
    }
    Ok(cfg)
}

/// Largest accepted size: far above any CLIP, and small enough that products of sizes (patch
/// grids, parameter counts) cannot overflow.
const MAX_SIZE: usize = 1 << 20;

/// A size field (or its default), at least 1 and at most [`MAX_SIZE`].
fn size(field: &str, value: Option<usize>, default: usize) -> Result<usize, String> {
    let v = value.unwrap_or(default);
    if v == 0 || v > MAX_SIZE {
        return Err(format!("{field} is {v}, expected 1 to {MAX_SIZE}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_vit_b_32_and_old_spelling_is_read() {
        let c = ClipConfig::from_json(r#"{"vision_config_dict": {}, "text_config": {}}"#).unwrap();
        assert_eq!(c.vision.patch_size, 32);
        assert_eq!(c.vision.num_positions(), 50);
        assert_eq!(c.text.tower.heads, 8);
        assert_eq!(c.projection_dim, 512);
        assert_eq!(c.vision.tower.activation, Activation::QuickGelu);
    }

    #[test]
    fn bad_configs_say_which_field() {
        let e = ClipConfig::from_json(r#"{"text_config": {}}"#).unwrap_err();
        assert!(e.contains("vision_config"), "{e}");
        let e = ClipConfig::from_json(
            r#"{"vision_config": {"hidden_act": "swish"}, "text_config": {}}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("vision_config.hidden_act") && e.contains("swish"),
            "{e}"
        );
        let e = ClipConfig::from_json(
            r#"{"vision_config": {"image_size": 30, "patch_size": 8}, "text_config": {}}"#,
        )
        .unwrap_err();
        assert!(e.contains("image_size 30"), "{e}");
    }

    #[test]
    fn sizes_must_be_positive_and_bounded() {
        let parse = |vision: &str, text: &str| {
            ClipConfig::from_json(&format!(
                r#"{{"vision_config": {{{vision}}}, "text_config": {{{text}}}}}"#
            ))
            .unwrap_err()
        };
        let e = parse(r#""image_size": 0"#, "");
        assert!(e.contains("vision_config.image_size is 0"), "{e}");
        let e = parse("", r#""num_hidden_layers": 0"#);
        assert!(e.contains("text_config.num_hidden_layers is 0"), "{e}");
        let e = parse(r#""patch_size": 4294967296"#, "");
        assert!(
            e.contains("patch_size") && e.contains("expected 1 to"),
            "{e}"
        );
        let e = parse("", r#""layer_norm_eps": -1.0"#);
        assert!(e.contains("text_config.layer_norm_eps"), "{e}");
        let e = parse("", r#""vocab_size": -3"#);
        assert!(e.contains("not a CLIP config.json"), "{e}");
    }
}
