//! The time loops: input projection as one GEMM, then per step the recurrent GEMM and the
//! cell's fused gate pass; backward by BPTT with the weight gradients as GEMMs over all steps.

pub(crate) mod backward;
pub(crate) mod forward;
pub(crate) mod layout;
pub(crate) mod prepared;
pub(crate) mod team;

/// `(prev, next)` views of slots `t % slots` and `(t + 1) % slots` of a ring of `[width]` slots.
pub(crate) fn ring_pair(buf: &mut [f32], width: usize, slots: usize, t: usize) -> (&[f32], &mut [f32]) {
    let (i0, i1) = (t % slots, (t + 1) % slots);
    if i0 < i1 {
        let (lo, hi) = buf.split_at_mut(i1 * width);
        (&lo[i0 * width..][..width], &mut hi[..width])
    } else {
        let (lo, hi) = buf.split_at_mut(i0 * width);
        (&hi[..width], &mut lo[i1 * width..][..width])
    }
}
