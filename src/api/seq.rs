//! Layout transforms of `[T, N, W]` sequences used by stacks.

/// Reverses the time order of a `[T, N*W]` sequence (`slab = N*W`).
pub(crate) fn reverse_time<T: Copy>(x: &[T], slab: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for s in x.chunks_exact(slab).rev() {
        out.extend_from_slice(s);
    }
    out
}

/// Reverses each sequence of a `[T, N, w]` batch within its own length (`lengths[b]` steps;
/// all `T` when `None`): step `s < L_b` of sequence `b` becomes step `L_b - 1 - s`; steps past
/// a length become `zero`. An involution on the steps within the lengths.
pub(crate) fn reverse_seqs<T: Copy>(
    x: &[T],
    t: usize,
    n: usize,
    w: usize,
    lengths: Option<&[usize]>,
    zero: T,
) -> Vec<T> {
    let Some(lens) = lengths else {
        return reverse_time(x, n * w);
    };
    let mut out = vec![zero; x.len()];
    for (b, &l) in lens.iter().enumerate() {
        for s in 0..l.min(t) {
            out[(s * n + b) * w..][..w].copy_from_slice(&x[((l - 1 - s) * n + b) * w..][..w]);
        }
    }
    out
}

/// `[A, B, W]` → `[B, A, W]` (time-major ↔ batch-major).
pub(crate) fn swap_major<T: Copy>(x: &[T], a: usize, b: usize, w: usize) -> Vec<T> {
    let mut out = x.to_vec();
    for i in 0..a {
        for j in 0..b {
            out[(j * a + i) * w..][..w].copy_from_slice(&x[(i * b + j) * w..][..w]);
        }
    }
    out
}

/// Writes `src` (`[rows, w]`) into columns `c0..c0+w` of `dst` (`[rows, ld]`).
pub(crate) fn put_cols<T: Copy>(dst: &mut [T], ld: usize, c0: usize, src: &[T], w: usize) {
    for (d, s) in dst.chunks_exact_mut(ld).zip(src.chunks_exact(w)) {
        d[c0..c0 + w].copy_from_slice(s);
    }
}

/// Columns `c0..c0+w` of `src` (`[rows, ld]`) as `[rows, w]`.
pub(crate) fn get_cols<T: Copy>(src: &[T], ld: usize, c0: usize, w: usize) -> Vec<T> {
    src.chunks_exact(ld)
        .flat_map(|r| r[c0..c0 + w].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms() {
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect(); // [T=3, N=2, W=2]
        assert_eq!(reverse_time(&x, 4), [8., 9., 10., 11., 4., 5., 6., 7., 0., 1., 2., 3.]);
        let y = swap_major(&x, 3, 2, 2);
        assert_eq!(y, [0., 1., 4., 5., 8., 9., 2., 3., 6., 7., 10., 11.]);
        assert_eq!(swap_major(&y, 2, 3, 2), x);
        let mut d = vec![0.0; 6];
        put_cols(&mut d, 3, 1, &[1., 2., 3., 4.], 2);
        assert_eq!(d, [0., 1., 2., 0., 3., 4.]);
        assert_eq!(get_cols(&d, 3, 1, 2), [1., 2., 3., 4.]);
        // [T=3, N=2, W=1] with lengths 2 and 0.
        let r = reverse_seqs(&[1., 2., 3., 4., 5., 6.], 3, 2, 1, Some(&[2, 0]), 0.0);
        assert_eq!(r, [3., 0., 1., 0., 0., 0.]);
        assert_eq!(reverse_seqs(&x, 3, 2, 2, None, 0.0), reverse_time(&x, 4));
    }
}
