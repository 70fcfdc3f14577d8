//! `ssr2`: the command-line tool of ssr2-gcd. Thin: parses arguments, reads files, calls the
//! crates, prints JSON or tables. User errors print one line and exit with status 2.

mod bench;
mod cmd_metrics;
mod cmd_rate;
mod fail;
mod npy;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ssr2",
    version,
    about = "Generalized Category Discovery by Semi-Supervised Rate Reduction (SSR2-GCD)",
    long_about = "Generalized Category Discovery by Semi-Supervised Rate Reduction (SSR2-GCD).\n\n\
        Start with `ssr2 rate` to measure how much a set of features expands (R) and how much \
        each class compresses (R_c), and `ssr2 metrics` to score a clustering with the GCD \
        All/Old/New accuracy. Every command that reports numbers prints one JSON object."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Rate(cmd_rate::RateArgs),
    Metrics(cmd_metrics::MetricsArgs),
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Rate(a) => cmd_rate::run(&a),
        Command::Metrics(a) => cmd_metrics::run(&a),
        Command::Bench(a) => bench::run(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
