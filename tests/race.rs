//! Shared by the end-to-end tests (`#[path]`-included): two `ssr2` processes started at once.

use std::process::{Command, Output, Stdio};

/// Runs `ssr2 ARGS` twice at the same time and returns both outputs.
pub fn race(args: &[&str]) -> [Output; 2] {
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_ssr2"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssr2 starts")
    };
    let (a, b) = (spawn(), spawn());
    [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()]
}
