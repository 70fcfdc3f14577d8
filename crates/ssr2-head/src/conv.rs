//! A small convolutional stem for square single-channel images (`adapter = "cnn"`): two blocks of
//! 3x3 convolution (same padding), batch normalisation, ReLU and 2x2 max-pooling, flattened into
//! the adapter's MLP. Trained from scratch with the rest of the adapter.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// One block: conv 3x3 -> batch norm -> ReLU -> max-pool 2x2.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: Conv2d,
    pub norm: BatchNorm,
    pub pool: MaxPool2d,
}

impl ConvBlock {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            norm: BatchNormConfig::new(c_out).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.pool
            .forward(relu(self.norm.forward(self.conv.forward(x))))
    }
}

/// Two [`ConvBlock`]s: `1 -> channels -> 2 channels`, each halving the side (floor).
#[derive(Module, Debug)]
pub struct ConvStem {
    pub blocks: Vec<ConvBlock>,
    /// Side of the square input image.
    pub side: usize,
}

impl ConvStem {
    pub fn new(side: usize, channels: usize, device: &Device) -> Self {
        Self {
            blocks: vec![
                ConvBlock::new(1, channels, device),
                ConvBlock::new(channels, 2 * channels, device),
            ],
            side,
        }
    }

    /// Values per image after the stem (the MLP's input width).
    pub fn out_dim(side: usize, channels: usize) -> usize {
        2 * channels * (side / 4).pow(2)
    }

    /// Rows of `side * side` pixels -> rows of [`ConvStem::out_dim`] values.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let n = x.dims()[0];
        let mut h = x.reshape([n, 1, self.side, self.side]);
        for block in &self.blocks {
            h = block.forward(h);
        }
        h.flatten(1, 3)
    }
}

/// The side of a square single-channel image of `d` pixels (at least 4x4), if `d` is one.
pub fn image_side(d: usize) -> Option<usize> {
    let side = (d as f64).sqrt().round() as usize;
    (side * side == d && side >= 4).then_some(side)
}
