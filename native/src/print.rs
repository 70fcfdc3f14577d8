//! What the commands print about runs: progress bars while training, and the All / Old / New
//! tables (per seed, then mean and std) of `train` and `eval`.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ssr2_train::Progress;
use ssr2_train::report::{EpochRecord, INDUCTIVE, RunReport, Scores, TRANSDUCTIVE};

/// Progress bars: one for epochs, one for the batches of the current epoch.
pub struct Bars {
    pub epochs: ProgressBar,
    pub batches: ProgressBar,
}

impl Bars {
    pub fn new(multi: &MultiProgress, seed: u64) -> Self {
        let epochs = multi.add(ProgressBar::new(0));
        epochs.set_style(
            ProgressStyle::with_template("seed {prefix} epoch {pos}/{len} {bar:30} {msg}")
                .expect("template"),
        );
        epochs.set_prefix(seed.to_string());
        let batches = multi.add(ProgressBar::new(0));
        batches.set_style(
            ProgressStyle::with_template("  batch {pos}/{len} {bar:30} {elapsed}")
                .expect("template"),
        );
        Self { epochs, batches }
    }
}

impl Progress for Bars {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.epochs.set_length(epochs as u64);
        self.epochs.set_position(epoch as u64);
        self.batches.set_length(batches as u64);
        self.batches.set_position(0);
    }
    fn batch_done(&mut self, _batch: usize) {
        self.batches.inc(1);
    }
    fn epoch_end(&mut self, r: &EpochRecord) {
        self.epochs.set_position(r.epoch as u64 + 1);
        let s = &r.eval.scores;
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}", 100.0 * v));
        self.epochs.set_message(format!(
            "loss {:.3}  All {:.1} Old {} New {}",
            r.loss.get("total").copied().unwrap_or(f64::NAN),
            100.0 * s.all,
            pct(s.old),
            pct(s.new)
        ));
    }
}

/// All / Old / New per seed, then mean and std (percent).
pub fn print_table(reports: &[RunReport]) {
    print_scores(reports, &[Split::Transductive, Split::Inductive]);
}

/// Which scores of a run: on its unlabelled training samples or on its held-out test split.
#[derive(Clone, Copy, Debug, PartialEq, clap::ValueEnum)]
pub enum Split {
    /// The unlabelled training samples (the GCD protocol's usual number).
    Transductive,
    /// The held-out test split, never seen in training.
    Inductive,
}

impl Split {
    pub fn scores(self, r: &RunReport) -> Option<&Scores> {
        match self {
            Split::Transductive => Some(&r.final_scores),
            Split::Inductive => r.test_scores.as_ref(),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Split::Transductive => TRANSDUCTIVE,
            Split::Inductive => INDUCTIVE,
        }
    }
}

/// One table per split that the reports have scores for: a row per seed, then mean and std.
pub fn print_scores(reports: &[RunReport], splits: &[Split]) {
    let Some(first) = reports.first() else { return };
    println!(
        "{} ({} classes, {} old), last epoch, no model selection",
        first.dataset.name, first.dataset.num_classes, first.dataset.num_old
    );
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}", 100.0 * v));
    for &split in splits {
        let Some(s) = split.scores(first) else {
            continue;
        };
        println!("{}: {} samples", split.label(), s.n);
        println!("{:<8} {:>7} {:>7} {:>7}", "seed", "All", "Old", "New");
        for r in reports {
            let s = split.scores(r);
            println!(
                "{:<8} {:>7} {:>7} {:>7}",
                r.seed,
                pct(s.map(|s| s.all)),
                pct(s.and_then(|s| s.old)),
                pct(s.and_then(|s| s.new))
            );
        }
        if reports.len() > 1 {
            let stats = |f: &dyn Fn(&Scores) -> Option<f64>| -> String {
                let v: Vec<f64> = reports
                    .iter()
                    .filter_map(|r| split.scores(r).and_then(f))
                    .map(|x| 100.0 * x)
                    .collect();
                if v.is_empty() {
                    return "-".into();
                }
                let m = v.iter().sum::<f64>() / v.len() as f64;
                let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                    / (v.len() as f64 - 1.0).max(1.0))
                .sqrt();
                format!("{m:.1}±{sd:.1}")
            };
            println!(
                "{:<8} {:>7} {:>7} {:>7}",
                "mean±std",
                stats(&|s| Some(s.all)),
                stats(&|s| s.old),
                stats(&|s| s.new)
            );
        }
    }
}
