//! Training the last block must not build a weight gradient per sequence. Burn runs a rank-3
//! `Linear` as a batched matmul against the broadcast weight; its backward then materialises a
//! `[batch, d_in, d_out]` gradient before summing (2.4 GB for one ViT-B/16 MLP matrix at 256
//! image rows, which wgpu refused). `block::per_token` folds the rows instead. This test counts
//! the bytes the process holds at its peak during one backward pass through a block.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use ssr2_clip::config::TowerConfig;
use ssr2_clip::{Activation, Block, Random};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = NOW.fetch_add(l.size(), Ordering::SeqCst) + l.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        NOW.fetch_sub(l.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn block_backward_holds_no_per_sequence_weight_gradient() {
    // 32 sequences of 32 tokens (a multiple of Burn's row tile, so it keeps the batched form, as
    // it does for 197 image or 77 text tokens): a per-sequence gradient of one 256 x 1024 MLP
    // matrix would be 32 MiB, while one MLP activation is 4 MiB.
    let (seqs, tokens, h, inter) = (32, 32, 256, 1024);
    let cfg = TowerConfig {
        hidden: h,
        intermediate: inter,
        layers: 1,
        heads: 4,
        activation: Activation::QuickGelu,
        layer_norm_eps: 1e-5,
    };
    let device = Device::flex().autodiff();
    let block = Block::load(&Random { seed: 3 }, "b", &cfg, &device).unwrap();
    let x = Tensor::<3>::random(
        [seqs, tokens, h],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let y = block.forward(x, true);
    let before = NOW.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let grads = (y.clone() * y).sum().backward();
    let fc1 = block.mlp.fc1.weight.grad(&grads).unwrap();
    assert_eq!(fc1.dims(), [h, inter]);
    let extra = PEAK.load(Ordering::SeqCst) - before;
    // What backward legitimately needs (a few activation gradients, the weight gradients)
    // stays well under 16 MiB.
    let per_sequence = seqs * h * inter * 4;
    assert!(
        extra < per_sequence / 2,
        "backward peaked {} MiB above the forward state; a per-sequence weight gradient is {} MiB",
        extra >> 20,
        per_sequence >> 20
    );
}
