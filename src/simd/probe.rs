//! The machine's limits, measured with the kernels' own vectors and dispatch: the peak rate
//! of fused multiply-adds, and the rate at which one thread streams a buffer through its
//! caches. `bench_api` times them on threads of their own; the benchmarks print them next to
//! the kernels' rates, so a shape's GFLOP/s can be read against what the machine gave at
//! that moment (on a shared host both move from minute to minute).

use super::{isa_dispatch, Vf32, Widen};

/// Independent multiply-add chains, at least the FMA latency (4 cycles) times its ports (2),
/// within the registers: 24 of the 32 on AVX-512, 12 of the 16 otherwise.
const CHAINS_ZMM: usize = 24;
const CHAINS: usize = 12;
/// Accumulators of [`read_sum`]: loads in flight without a dependency between them.
const SUMS: usize = 8;

/// Independent chains `a = a * b + c` of `iters` steps, on the ISA's widest vector (512-bit on
/// AVX-512: what the tiles use); returns the sum of every lane of every chain, which the
/// caller keeps (so nothing is optimized away) and the tests check.
#[inline(always)]
fn fma_g<V: Widen>(iters: usize) -> f32 {
    if V::ZMM_TILE {
        chains::<V::Wide, CHAINS_ZMM>(iters)
    } else {
        chains::<V, CHAINS>(iters)
    }
}

#[inline(always)]
fn chains<W: Vf32, const N: usize>(iters: usize) -> f32 {
    let (b, c) = (W::splat(0.999_999), W::splat(1e-7));
    let mut acc = [W::splat(1.0); N];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(b, c);
        }
    }
    lanes_sum(acc.into_iter().fold(W::splat(0.0), |s, a| s + a))
}

/// Multiply-adds of one call of [`fma`] with `iters` steps, counting two FLOPs each.
pub(crate) fn fma_flops(iters: usize) -> usize {
    let (lanes, chains) = if super::isa() == super::Isa::Avx512 {
        (16, CHAINS_ZMM)
    } else {
        (8, CHAINS)
    };
    2 * chains * lanes * iters
}

/// The sum of `buf` (in whole vectors of the widest type; a tail shorter than a vector is
/// left out), read `reps` times.
#[inline(always)]
fn read_g<V: Widen>(buf: &[f32], reps: usize) -> f32 {
    if V::ZMM_TILE {
        read_sum::<V::Wide>(buf, reps)
    } else {
        read_sum::<V>(buf, reps)
    }
}

#[inline(always)]
fn read_sum<W: Vf32>(buf: &[f32], reps: usize) -> f32 {
    let step = SUMS * W::LANES;
    let mut total = 0.0;
    for _ in 0..reps {
        let mut acc = [W::splat(0.0); SUMS];
        let mut rest = buf.chunks_exact(step);
        for run in &mut rest {
            for (j, a) in acc.iter_mut().enumerate() {
                *a = *a + W::load(&run[j * W::LANES..]);
            }
        }
        for v in rest.remainder().chunks_exact(W::LANES) {
            acc[0] = acc[0] + W::load(v);
        }
        total += lanes_sum(acc.into_iter().fold(W::splat(0.0), |s, a| s + a));
    }
    total
}

/// The sum of the lanes of `v`.
#[inline(always)]
fn lanes_sum<W: Vf32>(v: W) -> f32 {
    let mut a = [0.0f32; 16];
    v.store(&mut a);
    a[..W::LANES].iter().sum()
}

isa_dispatch!(
    /// [`fma_g`] on the dispatched ISA.
    pub(crate) fn fma => fma_g(iters: usize) -> f32
);

isa_dispatch!(
    /// [`read_g`] on the dispatched ISA.
    pub(crate) fn read => read_g(buf: &[f32], reps: usize) -> f32
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::every_isa;

    /// The chains compute what a scalar loop computes (every lane the same), so the probe
    /// really runs its multiply-adds.
    fn chains_recur<V: Widen>(isa: &str) {
        let iters = 1000;
        let mut a = 1.0f32;
        for _ in 0..iters {
            a = a.mul_add(0.999_999, 1e-7);
        }
        let (lanes, chains) = if V::ZMM_TILE { (16, CHAINS_ZMM) } else { (8, CHAINS) };
        let want = a * (lanes * chains) as f32;
        let got = fma_g::<V>(iters);
        // Unfused on the portable path: rounded twice per step, so not bitwise.
        assert!((got - want).abs() <= 1e-4 * want, "{isa}: {got} vs {want}");
    }

    /// The streaming sum reads every whole vector of the buffer, `reps` times.
    fn read_all<V: Widen>(isa: &str) {
        // Small integers, so every order of summation is exact; a tail of 16 floats that is
        // not a whole run of `SUMS` vectors.
        let buf: Vec<f32> = (0..1024 + 16).map(|i| (i % 7) as f32).collect();
        let want: f32 = buf.iter().sum::<f32>() * 3.0;
        assert_eq!(read_g::<V>(&buf, 3), want, "{isa}");
    }

    #[test]
    fn chains_compute_their_recurrence() {
        every_isa!(chains_recur);
    }

    #[test]
    fn read_sums_the_buffer() {
        every_isa!(read_all);
    }
}
