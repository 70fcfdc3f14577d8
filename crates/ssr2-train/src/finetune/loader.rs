//! Image loading on worker threads: decode and transform (SPEC §8 train or test transform) the
//! images of a batch in parallel, and prefetch the next batches while the device runs a step.

use ssr2_data::{
    CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, ImageSource, load_rgb, test_transform,
    train_transform,
};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

/// One image to produce: a train view drawn from `seed`, or the test transform (`None`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    pub sample: usize,
    pub seed: Option<u64>,
}

/// Decodes and transforms images; cheap to share between threads.
pub struct ImageLoader {
    pub items: Arc<Vec<ImageSource>>,
    /// Model input side (crop size).
    pub size: u32,
    /// Short side before the random crop of the train transform.
    pub resize: u32,
    pub workers: usize,
}

impl ImageLoader {
    /// Values per image: `3 x size x size`.
    pub fn image_len(&self) -> usize {
        3 * (self.size as usize).pow(2)
    }

    fn one(&self, job: Job) -> Result<Vec<f32>, String> {
        let img = load_rgb(&self.items[job.sample]).map_err(|e| e.to_string())?;
        Ok(match job.seed {
            // SPEC §8: train = resize 256, random crop 224, flip, ImageNet mean/std.
            Some(seed) => train_transform(
                &img,
                seed,
                self.resize,
                self.size,
                IMAGENET_MEAN,
                IMAGENET_STD,
            ),
            // SPEC §8: test = resize 224, centre crop 224, CLIP mean/std.
            None => test_transform(&img, self.size, CLIP_MEAN, CLIP_STD),
        })
    }

    /// The images of `jobs`, CHW each, concatenated in order; decoded on `workers` threads.
    pub fn load(&self, jobs: &[Job]) -> Result<Vec<f32>, String> {
        let len = self.image_len();
        let mut out = vec![0f32; jobs.len() * len];
        let per = jobs.len().div_ceil(self.workers.max(1)).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .chunks(per)
                .zip(out.chunks_mut(per * len))
                .map(|(chunk, dst)| {
                    s.spawn(move || -> Result<(), String> {
                        for (job, d) in chunk.iter().zip(dst.chunks_mut(len)) {
                            d.copy_from_slice(&self.one(*job)?);
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("loader thread panicked"))
        })?;
        Ok(out)
    }

    /// Loads `batches` in order on a background thread, at most `ahead` batches in advance.
    pub fn prefetch(self: &Arc<Self>, batches: Vec<Vec<Job>>, ahead: usize) -> Prefetch {
        let (tx, rx) = sync_channel(ahead.max(1));
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            for jobs in batches {
                // A closed channel means the trainer stopped early.
                if tx.send(me.load(&jobs)).is_err() {
                    break;
                }
            }
        });
        Prefetch {
            rx,
            waited: Duration::ZERO,
        }
    }
}

/// Batches being prepared in the background.
pub struct Prefetch {
    rx: Receiver<Result<Vec<f32>, String>>,
    /// Total time the trainer waited for a batch (the device idle on the CPU).
    pub waited: Duration,
}

impl Prefetch {
    /// The next batch's pixels (blocks until ready).
    pub fn next_batch(&mut self) -> Result<Vec<f32>, String> {
        let t = Instant::now();
        let r = self
            .rx
            .recv()
            .map_err(|_| "image loader stopped".to_string())?;
        self.waited += t.elapsed();
        r
    }
}
