//! `ssr2`: the command-line tool of ssr2-gcd. Thin: parses arguments, reads files, calls the
//! crates, prints JSON or tables. User errors print one line and exit with status 2.

mod bench;
mod bench_clip;
mod clip_io;
mod cmd_embed;
mod cmd_estimate_k;
mod cmd_eval;
mod cmd_export_digits;
mod cmd_extract;
mod cmd_finetune;
mod cmd_kmeans;
mod cmd_merge;
mod cmd_metrics;
mod cmd_predict;
mod cmd_rate;
mod cmd_retrieve;
mod cmd_train;
mod device;
mod fail;
mod lock;
mod npy;
mod print;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ssr2",
    version,
    about = "Generalized Category Discovery by Semi-Supervised Rate Reduction (SSR2-GCD)",
    long_about = "Generalized Category Discovery by Semi-Supervised Rate Reduction (SSR2-GCD).\n\n\
        Start with `ssr2 train`: with no arguments it learns the embedded handwritten digits, \
        where digits 0-4 are partly labelled and 5-9 must be discovered, and prints the GCD \
        All/Old/New accuracy. `ssr2 rate` measures how much a set of features expands (R) and \
        how much each class compresses (R_c); `ssr2 metrics` scores any clustering."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing buys nothing
enum Command {
    Train(cmd_train::TrainArgs),
    Eval(cmd_eval::EvalArgs),
    Rate(cmd_rate::RateArgs),
    Metrics(cmd_metrics::MetricsArgs),
    EstimateK(cmd_estimate_k::EstimateKArgs),
    Kmeans(cmd_kmeans::KmeansArgs),
    Merge(cmd_merge::MergeArgs),
    Predict(cmd_predict::PredictArgs),
    Bench(bench::BenchArgs),
    BenchClip(bench_clip::BenchClipArgs),
    EmbedImages(cmd_embed::EmbedImagesArgs),
    EmbedText(cmd_embed::EmbedTextArgs),
    Extract(cmd_extract::ExtractArgs),
    Retrieve(cmd_retrieve::RetrieveArgs),
    ExportDigits(cmd_export_digits::ExportDigitsArgs),
}

fn main() {
    // Rust ignores SIGPIPE, which turns a closed pipe (`ssr2 predict | head`) into a panic in
    // println!; the default action ends the process quietly instead, as for other Unix tools.
    #[cfg(unix)]
    // SAFETY: called once at start, before any thread exists; only resets a signal disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => cmd_train::run(&a),
        Command::Eval(a) => cmd_eval::run(&a),
        Command::Rate(a) => cmd_rate::run(&a),
        Command::Metrics(a) => cmd_metrics::run(&a),
        Command::EstimateK(a) => cmd_estimate_k::run(&a),
        Command::Kmeans(a) => cmd_kmeans::run(&a),
        Command::Merge(a) => cmd_merge::run(&a),
        Command::Predict(a) => cmd_predict::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::BenchClip(a) => bench_clip::run(&a),
        Command::EmbedImages(a) => cmd_embed::run_images(&a),
        Command::EmbedText(a) => cmd_embed::run_text(&a),
        Command::Extract(a) => cmd_extract::run(&a),
        Command::Retrieve(a) => cmd_retrieve::run(&a),
        Command::ExportDigits(a) => cmd_export_digits::run(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
