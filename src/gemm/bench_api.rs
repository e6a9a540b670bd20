//! A small public hook on the packed kernels for the benchmarks in `benches/` (not API: hidden
//! from the docs and free to change).

use super::hugebuf::HugeBuf;
use super::pack::Packed;
use super::packed::{self, PlainGemm};
use super::par::SyncMutPtr;
use super::proj::{self, Proj};

/// `B` `[K, N]` row-major, packed once for repeated products `C = A · B`.
#[derive(Debug)]
pub struct PackedB {
    b: Packed,
    n: usize,
}

impl PackedB {
    /// Packs `b` (`[k, n]` row-major).
    pub fn new(b: &[f32], k: usize, n: usize) -> Self {
        Self {
            b: Packed::plain(b, k, n),
            n,
        }
    }

    /// `c = a · B` with `a` `[m, K]` and `c` `[m, N]` row-major, on the current thread.
    pub fn matmul(&self, m: usize, a: &[f32], c: &mut [f32]) {
        assert!(a.len() >= m * self.b.k() && c.len() >= m * self.n);
        // SAFETY: `c` is exclusively borrowed and only this thread writes it.
        let cp = unsafe { SyncMutPtr::new(c.as_mut_ptr()) };
        let g = PlainGemm {
            m,
            a,
            lda: self.b.k(),
            b: &self.b,
            h: self.n,
            beta: 0.0,
            c: cp,
            ldc: self.n,
            reverse: false,
        };
        packed::plain(&g, 0..self.b.blocks());
    }
}

/// `W` `[G*H, K]` (gate blocks of `H` rows, like `W_ih`) packed gate-interleaved, for the
/// input-projection kernel `out = bias + A · Wᵀ`.
#[derive(Debug)]
pub struct PackedGates {
    w: Packed,
    h: usize,
    bias: Vec<f32>,
}

impl PackedGates {
    /// Packs `w` (`[gates * h, k]` row-major), with a zero bias.
    pub fn new(w: &[f32], gates: usize, h: usize, k: usize) -> Self {
        Self {
            w: Packed::gate_rows(w, gates, h, k),
            h,
            bias: vec![0.0; gates * h],
        }
    }

    /// `out = a · Wᵀ` with `a` `[m, K]` and `out` `[m, G*H]` row-major, on the current thread.
    pub fn project(&self, m: usize, a: &[f32], out: &mut [f32]) {
        self.project_split(m, a, out, 1);
    }

    /// As [`PackedGates::project`], with the unit blocks split evenly over `threads` rayon
    /// tasks (the layers' split of the input projection).
    pub fn project_split(&self, m: usize, a: &[f32], out: &mut [f32], threads: usize) {
        assert!(a.len() >= m * self.w.k() && out.len() >= m * self.bias.len());
        // SAFETY: `out` is exclusively borrowed and only this thread writes it.
        let out = unsafe { SyncMutPtr::new(out.as_mut_ptr()) };
        let p = Proj {
            rows: m,
            x: a,
            w: &self.w,
            bias: &self.bias,
            h: self.h,
            out,
        };
        let bounds = super::split(self.w.blocks(), threads, 1);
        rayon::scope(|s| {
            for w in bounds.windows(2) {
                let (b0, b1) = (w[0], w[1]);
                let p = &p;
                s.spawn(move |_| proj::project(p, b0..b1));
            }
        });
    }
}

/// `c = beta * c + op(a) · b` through the library's general product (`a_t`: `a` is stored
/// `[k, m]` and used transposed; `b` is `[k, n]`, `c` `[m, n]`, all row-major), on the current
/// rayon pool. `tiles`: `Some(true)` forces the register tiles, `Some(false)` matrixmultiply,
/// `None` lets the library choose.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    beta: f32,
    c: &mut [f32],
    tiles: Option<bool>,
) {
    use super::{Mat, Path};
    let a = if a_t { Mat::t(a, m) } else { Mat::n(a, k) };
    let path = match tiles {
        Some(true) => Path::Tiles,
        Some(false) => Path::Matrixmultiply,
        None => super::path(m, n, k),
    };
    super::sgemm_on(path, m, n, k, a, Mat::n(b, n), beta, c, n);
}

/// The fused multiply-add peak of `threads` threads (each on a thread of its own, all at
/// once) on the dispatched ISA's widest vectors, in GFLOP/s: the fastest of `rounds` rounds
/// of 0.04-0.1 s.
pub fn fma_peak(threads: usize, rounds: usize) -> f64 {
    const ITERS: usize = 8_000_000;
    let threads = threads.max(1);
    best_rate(
        rounds,
        (threads * crate::simd::probe::fma_flops(ITERS)) as f64 / 1e9,
        || {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| std::hint::black_box(crate::simd::probe::fma(ITERS)));
                }
            });
        },
    )
}

/// The read bandwidth of `threads` threads each streaming a buffer of its own of
/// `bytes_per_thread` (on huge pages, as the packed weights are) again and again, in GB/s:
/// the fastest of `rounds` rounds of about 1 GiB per thread. A buffer within one core's L2
/// measures L2, a few MiB per thread L3.
pub fn read_bandwidth(threads: usize, bytes_per_thread: usize, rounds: usize) -> f64 {
    let threads = threads.max(1);
    let len = (bytes_per_thread / 4).max(64);
    let bufs: Vec<HugeBuf> = (0..threads)
        .map(|t| {
            let mut b = HugeBuf::zeroed(len);
            b.iter_mut().enumerate().for_each(|(i, v)| *v = ((i + t) % 3) as f32);
            b
        })
        .collect();
    let reps = ((1usize << 30) / (4 * len)).max(1);
    // Once untimed, so the buffers are in the caches they fit.
    let run = |reps: usize| {
        std::thread::scope(|s| {
            for b in &bufs {
                s.spawn(move || std::hint::black_box(crate::simd::probe::read(b, reps)));
            }
        });
    };
    run(1);
    best_rate(rounds, (threads * reps * len * 4) as f64 / 1e9, || run(reps))
}

/// `work / seconds` for the fastest of `rounds` runs of `f`.
fn best_rate(rounds: usize, work: f64, f: impl Fn()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..rounds.max(1) {
        let t0 = std::time::Instant::now();
        f();
        best = best.min(t0.elapsed().as_secs_f64());
    }
    work / best
}
