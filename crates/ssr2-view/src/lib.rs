//! View logic of the browser app: reading run reports, seed statistics, scales, binning and
//! colour maps. Plain Rust (no Burn, no browser), so it is tested natively with the workspace.

pub mod colour;
pub mod confusion;
pub mod image;
pub mod predict;
pub mod report;
pub mod scale;
pub mod stats;

pub use report::{RunReport, parse_report};
