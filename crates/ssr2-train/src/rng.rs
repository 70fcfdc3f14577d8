//! A small seeded generator (SplitMix64) for sampling and augmentation, so runs are exactly
//! repeatable and each epoch's stream can be derived from `(seed, epoch)` for resuming.

/// SplitMix64: tiny, fast, and good enough for sampling and noise.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for one purpose of one epoch of one seed.
    pub fn derive(seed: u64, epoch: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ 0x5851_F42D_4C95_7F2D);
        let a = r.next_u64() ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Rng(a ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Burn's random initialisation draws from one generator per device, shared by every thread of
/// the process, and lazily, at a parameter's first use. Seeding, building and materialising every
/// parameter (in field order) under one process-wide lock keeps concurrent runs (threads, tests)
/// from interleaving their draws, so a seed gives the same weights anywhere.
///
/// Each device kind has its own generator (flex and wgpu draw different numbers from one seed),
/// so the model is built on the host's CPU device, with autodiff if `device` has it, and then
/// forked to `device`: one seed gives the same initial weights on every device.
pub fn seeded_init<M: burn::module::Module, E>(
    device: &burn::prelude::Device,
    seed: u64,
    init: impl FnOnce(&burn::prelude::Device) -> Result<M, E>,
) -> Result<M, E> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut host = burn::prelude::Device::flex();
    if device.is_autodiff() {
        host = host.autodiff();
    }
    host.seed(seed);
    let built = init(&host)?;
    built.visit(&mut Materialise);
    Ok(if host == *device { built } else { built.fork(device) })
}

/// Touches every float parameter of a module, which initialises a lazy one.
struct Materialise;

impl burn::module::ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::prelude::Tensor<D>>,
    ) {
        let _ = param.val();
    }
}
