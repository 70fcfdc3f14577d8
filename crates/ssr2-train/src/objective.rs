//! The total loss of one batch (SPEC §4-6): representation loss per modality, classification
//! block per branch, co-teaching pseudo-labels, and the optional inter-modal ablation.
//! Change a loss here; the trainer only calls [`batch_loss`].

use crate::config::{InterModal, LossConfig, RepLoss};
use burn::prelude::*;
use ssr2_core::LogdetRoute;
use ssr2_core::RateError;
use ssr2_core::coteach::pseudo_label_loss;
use ssr2_core::loss::cluster::{ClusterConfig, branch_loss};
use ssr2_core::loss::contrastive::{clip_image_to_text, info_nce, supcon};
use ssr2_core::loss::ssr2::{BatchLabels, Ssr2Config, rate_terms, ssr2_loss};
use ssr2_core::ops::index_tensor;

/// Features and logits of both views of a batch for one modality (`2B` rows each).
pub struct ModalityOut {
    pub z: Tensor<2>,
    pub logits: Tensor<2>,
}

/// What a batch knows besides the model outputs.
pub struct BatchContext {
    pub labels: BatchLabels,
    /// Pseudo-label per row (`2B`) chosen by the text branch, learnt by the image branch.
    pub pseudo_for_image: Option<Vec<Option<usize>>>,
    /// Pseudo-label per row chosen by the image branch, learnt by the text branch.
    pub pseudo_for_text: Option<Vec<Option<usize>>>,
    pub warmup: bool,
    pub teacher_temp: f64,
}

/// Names of the logged terms, in the order of [`BatchLoss::terms`].
pub const TERM_NAMES: [&str; 12] = [
    "total",
    "rep_image",
    "rep_text",
    "R_image",
    "Rc_s_image",
    "Rc_u_image",
    "R_text",
    "Rc_s_text",
    "Rc_u_text",
    "cls_image",
    "cls_text",
    "pseudo_and_inter",
];

/// The loss to differentiate and its terms for logging.
pub struct BatchLoss {
    pub total: Tensor<1>,
    /// One value per [`TERM_NAMES`] entry, concatenated (read back once per step).
    pub terms: Tensor<1>,
}

fn rep_loss(
    m: &ModalityOut,
    ctx: &BatchContext,
    cfg: &LossConfig,
    batch_size: usize,
) -> Result<(Tensor<1>, [Tensor<1>; 3]), RateError> {
    let device = m.z.device();
    match cfg.rep_loss {
        RepLoss::Ssr2 => {
            let scfg = Ssr2Config {
                eps2: cfg.eps2,
                batch_size,
                route: LogdetRoute::Auto,
            };
            let t = rate_terms(
                m.z.clone(),
                m.logits.clone(),
                &ctx.labels,
                ctx.warmup,
                &scfg,
            )?;
            let loss = ssr2_loss(std::slice::from_ref(&t), ctx.warmup, batch_size);
            Ok((loss, [t.r, t.rc_labelled, t.rc_unlabelled]))
        }
        RepLoss::Contrastive => {
            let (rows, _) = ctx.labels.labelled_rows();
            let imgs: Vec<usize> = (0..ctx.labels.images())
                .filter(|&i| ctx.labels.labelled[i])
                .collect();
            let labels: Vec<usize> = imgs.iter().map(|&i| ctx.labels.labels[i]).collect();
            let sup = if rows.is_empty() {
                Tensor::zeros([1], &device)
            } else {
                supcon(
                    m.z.clone().select(0, index_tensor(&rows, &device)),
                    &labels,
                    cfg.supcon_temp,
                )
            };
            let unsup = info_nce(m.z.clone(), cfg.infonce_temp);
            let loss = sup.mul_scalar(cfg.sup_weight) + unsup.mul_scalar(1.0 - cfg.sup_weight);
            let zero = || Tensor::zeros([1], &device);
            Ok((loss, [zero(), zero(), zero()]))
        }
    }
}

/// SPEC §6 total: `L_rep + L_branch(img) + L_branch(txt) + L_pseudo(img) + L_pseudo(txt)`
/// (+ the CLIP loss when `inter_modal = clip`). Fails only when a coding rate cannot be
/// factored (non-finite or float32-overflowing features).
pub fn batch_loss(
    image: &ModalityOut,
    text: Option<&ModalityOut>,
    ctx: &BatchContext,
    cfg: &LossConfig,
    batch_size: usize,
) -> Result<BatchLoss, RateError> {
    let device = image.z.device();
    let zero = || Tensor::<1>::zeros([1], &device);
    let ccfg = ClusterConfig {
        sup_temp: cfg.sup_temp,
        student_temp: cfg.student_temp,
        memax_weight: cfg.memax_weight,
        sup_weight: cfg.sup_weight,
    };
    let (rep_img, rates_img) = rep_loss(image, ctx, cfg, batch_size)?;
    let cls_img = branch_loss(image.logits.clone(), &ctx.labels, ctx.teacher_temp, &ccfg).total;
    let mut extra = zero();
    if let Some(p) = &ctx.pseudo_for_image {
        extra = extra + pseudo_label_loss(image.logits.clone(), p, cfg.sup_temp);
    }
    let (rep_txt, rates_txt, cls_txt) = match text {
        Some(t) => {
            let (rep, rates) = rep_loss(t, ctx, cfg, batch_size)?;
            let cls = branch_loss(t.logits.clone(), &ctx.labels, ctx.teacher_temp, &ccfg).total;
            if let Some(p) = &ctx.pseudo_for_text {
                extra = extra + pseudo_label_loss(t.logits.clone(), p, cfg.sup_temp);
            }
            if cfg.inter_modal == InterModal::Clip {
                extra = extra + clip_image_to_text(image.z.clone(), t.z.clone(), cfg.clip_scale);
            }
            (rep, rates, cls)
        }
        None => (zero(), [zero(), zero(), zero()], zero()),
    };
    let total =
        rep_img.clone() + rep_txt.clone() + cls_img.clone() + cls_txt.clone() + extra.clone();
    let [r_i, s_i, u_i] = rates_img;
    let [r_t, s_t, u_t] = rates_txt;
    let terms = Tensor::cat(
        vec![
            total.clone(),
            rep_img,
            rep_txt,
            r_i,
            s_i,
            u_i,
            r_t,
            s_t,
            u_t,
            cls_img,
            cls_txt,
            extra,
        ],
        0,
    )
    .detach();
    Ok(BatchLoss { total, terms })
}
