//! `ssr2 rate`: coding rates of a feature matrix, and optionally their gradients.

use crate::device::DeviceArgs;
use crate::fail::{Fail, Result};
use crate::npy::{self, Matrix};
use burn::prelude::*;
use clap::Args;
use ssr2_core::{LogdetRoute, RateError, coding_rate, coding_rate_hard, coding_rate_soft};
use std::path::{Path, PathBuf};

/// Coding rate R(Z), class coding rate R_c and their difference delta R = R - R_c (SPEC §3).
///
/// Prints one JSON object: {"m","d","k","eps2","R","Rc","delta_R"}; k, Rc and delta_R are null
/// without --labels or --probs. Natural logarithms (nats).
#[derive(Args)]
pub struct RateArgs {
    /// Features Z: .npy, float32 or float64, shape m x d, one sample per row. Used as given (not
    /// normalised).
    #[arg(long, value_name = "Z.npy")]
    z: PathBuf,
    /// Hard labels: .npy, int32 or int64, length m, values >= 0. Classes are 0..max label;
    /// classes without samples contribute 0.
    #[arg(long, value_name = "y.npy", conflicts_with = "probs")]
    labels: Option<PathBuf>,
    /// Soft memberships P: .npy, float32 or float64, shape m x k, non-negative (each row
    /// normally sums to 1).
    #[arg(long, value_name = "P.npy")]
    probs: Option<PathBuf>,
    /// epsilon^2, the allowed distortion of the coding rate (the paper uses 0.5).
    #[arg(long, default_value_t = 0.5)]
    eps2: f64,
    /// Also write the gradients dR_dZ.npy, dRc_dZ.npy and (with --probs) dRc_dP.npy into this
    /// directory (float32, created if missing).
    #[arg(long, value_name = "DIR")]
    grads: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
}

enum Members {
    None,
    Hard(Vec<usize>),
    Soft(Matrix),
}

/// The class memberships of `--labels` (hard) or `--probs` (soft), checked against `Z`'s rows.
fn read_members(args: &RateArgs, z: &Matrix) -> Result<Members> {
    Ok(match (&args.labels, &args.probs) {
        (Some(p), _) => {
            let y = npy::read_labels(p, "labels")?;
            same_rows(p, y.len(), z, &args.z)?;
            Members::Hard(y)
        }
        (_, Some(p)) => {
            let probs = npy::read_matrix(p, "P")?;
            same_rows(p, probs.rows, z, &args.z)?;
            if let Some(i) = probs.data.iter().position(|&v| v < 0.0) {
                return Err(Fail::input(
                    p,
                    format!(
                        "P must be non-negative, got {} at row {}",
                        probs.data[i],
                        i / probs.cols
                    ),
                ));
            }
            if probs.cols == 0 {
                return Err(Fail::input(p, "P needs at least one column (class)"));
            }
            Members::Soft(probs)
        }
        _ => Members::None,
    })
}

pub fn run(args: &RateArgs) -> Result<()> {
    if !(args.eps2.is_finite() && args.eps2 > 0.0) {
        return Err(Fail::arg(format!(
            "--eps2 must be a positive number, got {}",
            args.eps2
        )));
    }
    let z = npy::read_matrix(&args.z, "Z")?;
    if z.rows == 0 || z.cols == 0 {
        return Err(Fail::input(
            &args.z,
            format!(
                "Z must have at least one row and one column, got shape [{}, {}]",
                z.rows, z.cols
            ),
        ));
    }
    let members = read_members(args, &z)?;
    let grads = args.grads.as_deref();
    if let Some(dir) = grads {
        std::fs::create_dir_all(dir).map_err(|e| Fail::output(dir, e))?;
    }
    let device = args.device.open()?;
    let device = if grads.is_some() {
        device.autodiff()
    } else {
        device
    };
    // A fresh leaf per term, so each gradient file holds the gradient of one term only.
    let leaf = |data: &Matrix| {
        let t = Tensor::<2>::from_data(
            TensorData::new(data.data.clone(), [data.rows, data.cols]),
            &device,
        );
        if grads.is_some() { t.require_grad() } else { t }
    };
    let route = LogdetRoute::Auto;
    // The rates fail only on float32 overflow; say which input caused it.
    let rate_fail = |e: RateError| match e {
        RateError::BadEps2(_) | RateError::ScaleOverflow { .. } => {
            Fail::arg(format!("--eps2: {e}"))
        }
        _ => Fail::input(&args.z, e),
    };

    let zr = leaf(&z);
    let r = coding_rate(zr.clone(), args.eps2, route).map_err(rate_fail)?;
    // The GPU routes do not read back inside the rate, so a non-finite result is caught here.
    let finite = |v: f64, what: &str| -> Result<f64> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Fail::input(
                &args.z,
                format!(
                    "{what} is {v} on this device: the features are non-finite or too large for float32"
                ),
            ))
        }
    };
    let r_val = finite(scalar(r.clone()), "R")?;
    if let Some(dir) = grads {
        write_grad(dir, "dR_dZ.npy", zr.grad(&r.backward()))?;
    }

    let zc = leaf(&z);
    let (k, rc) = match &members {
        Members::None => (None, None),
        Members::Hard(y) => {
            let k = y.iter().max().map_or(0, |m| m + 1);
            (
                Some(k),
                Some((
                    coding_rate_hard(zc.clone(), y, args.eps2, route).map_err(rate_fail)?,
                    None,
                )),
            )
        }
        Members::Soft(p) => {
            let pt = leaf(p);
            (
                Some(p.cols),
                Some((
                    coding_rate_soft(zc.clone(), pt.clone(), args.eps2, route)
                        .map_err(rate_fail)?,
                    Some(pt),
                )),
            )
        }
    };
    let rc_val = match &rc {
        Some((t, _)) => Some(finite(scalar(t.clone()), "R_c")?),
        None => None,
    };
    if let (Some(dir), Some((rc, pt))) = (grads, rc) {
        let g = rc.backward();
        write_grad(dir, "dRc_dZ.npy", zc.grad(&g))?;
        if let Some(pt) = pt {
            write_grad(dir, "dRc_dP.npy", pt.grad(&g))?;
        }
    }
    let out = serde_json::json!({
        "m": z.rows, "d": z.cols, "k": k, "eps2": args.eps2,
        "R": r_val, "Rc": rc_val, "delta_R": rc_val.map(|c| r_val - c),
    });
    println!("{out}");
    Ok(())
}

fn scalar(t: Tensor<1>) -> f64 {
    t.try_into_vec_as::<f32>()
        .expect("native reads are synchronous")[0] as f64
}

fn write_grad(dir: &Path, name: &str, grad: Option<Tensor<2>>) -> Result<()> {
    let grad = grad.expect("the input is a tracked leaf");
    let shape = grad.dims();
    let data = grad
        .try_into_vec_as::<f32>()
        .expect("native reads are synchronous");
    npy::write_f32(&dir.join(name), &shape, &data)
}

fn same_rows(path: &Path, rows: usize, z: &Matrix, z_path: &Path) -> Result<()> {
    if rows != z.rows {
        return Err(Fail::input(
            path,
            format!(
                "has {rows} rows but {} has m = {} rows",
                z_path.display(),
                z.rows
            ),
        ));
    }
    Ok(())
}
