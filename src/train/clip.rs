//! Gradient clipping over a set of buffers: by global norm ([`clip_grad_norm`]) and by value
//! ([`clip_grad_value`]).
//!
//! Both run on the calling thread and visit the buffers in the order given, so their results
//! never depend on the thread count.

/// The global L2 norm of `buffers` taken together, `sqrt(Σ x²)`, summed in `f64` in the order
/// given (buffer by buffer, element by element), so it is reproducible bit for bit.
///
/// NaN anywhere gives NaN; an infinity gives infinity.
pub fn global_norm(buffers: &[&[f32]]) -> f64 {
    let mut sum = 0.0f64;
    for b in buffers {
        for &x in b.iter() {
            let x = x as f64;
            sum += x * x;
        }
    }
    sum.sqrt()
}

/// Clips by global norm: when the norm of all `buffers` together exceeds `max_norm`, scales
/// every element by `max_norm / norm` (the product taken in `f64`, then rounded to `f32`), so
/// the clipped norm is `max_norm` up to `f32` rounding. Returns the norm *before* clipping,
/// computed as [`global_norm`] does and rounded to `f32`.
///
/// When the norm is not finite (a NaN or an infinity in a gradient) the buffers are left
/// untouched and the NaN or infinite norm is returned, so the caller can skip the step.
///
/// # Panics
/// When `max_norm` is not a finite number `> 0`.
///
/// ```
/// use fusedrnn::train::clip_grad_norm;
/// let (mut a, mut b) = (vec![3.0f32], vec![0.0f32, 4.0]);
/// let norm = clip_grad_norm(&mut [&mut a[..], &mut b[..]], 1.0);
/// assert_eq!(norm, 5.0);
/// assert_eq!((a[0], b[1]), (0.6, 0.8));
/// ```
pub fn clip_grad_norm(buffers: &mut [&mut [f32]], max_norm: f32) -> f32 {
    assert!(
        max_norm.is_finite() && max_norm > 0.0,
        "clip_grad_norm: max_norm must be finite and > 0, got {max_norm}"
    );
    let norm = {
        let views: Vec<&[f32]> = buffers.iter().map(|b| &**b).collect();
        global_norm(&views)
    };
    if norm.is_finite() && norm > max_norm as f64 {
        let scale = max_norm as f64 / norm;
        for b in buffers.iter_mut() {
            for x in b.iter_mut() {
                *x = (*x as f64 * scale) as f32;
            }
        }
    }
    norm as f32
}

/// Clips by value: clamps every element of `buffers` into `[-clip_value, clip_value]`.
/// NaN elements stay NaN. Returns how many elements were changed.
///
/// # Panics
/// When `clip_value` is NaN or negative.
///
/// ```
/// use fusedrnn::train::clip_grad_value;
/// let mut g = vec![-3.0f32, 0.5, 2.0];
/// assert_eq!(clip_grad_value(&mut [&mut g[..]], 1.0), 2);
/// assert_eq!(g, [-1.0, 0.5, 1.0]);
/// ```
pub fn clip_grad_value(buffers: &mut [&mut [f32]], clip_value: f32) -> usize {
    assert!(
        clip_value >= 0.0,
        "clip_grad_value: clip_value must be >= 0, got {clip_value}"
    );
    let mut changed = 0;
    for b in buffers.iter_mut() {
        for x in b.iter_mut() {
            if *x > clip_value {
                *x = clip_value;
                changed += 1;
            } else if *x < -clip_value {
                *x = -clip_value;
                changed += 1;
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_is_exact_on_pythagorean_buffers() {
        let a = [3.0f32, 0.0];
        let b = [4.0f32];
        let c: [f32; 0] = [];
        assert_eq!(global_norm(&[&a, &c, &b]), 5.0);
        assert_eq!(global_norm(&[]), 0.0);
    }

    #[test]
    fn clips_to_exactly_max_norm() {
        let mut a = vec![3.0f32, 0.0];
        let mut b = vec![-4.0f32];
        let norm = clip_grad_norm(&mut [&mut a[..], &mut b[..]], 2.5);
        assert_eq!(norm, 5.0);
        assert_eq!(a, [1.5, 0.0]);
        assert_eq!(b, [-2.0]);
        assert_eq!(global_norm(&[&a, &b]), 2.5);
    }

    #[test]
    fn clipped_norm_matches_max_norm_on_random_buffers() {
        let mut rng = crate::rng::SplitMix64::new(3);
        let mut bufs: Vec<Vec<f32>> = [7usize, 100, 1, 33]
            .iter()
            .map(|&n| (0..n).map(|_| 10.0 * (rng.next_f32() - 0.5)).collect())
            .collect();
        let before: Vec<Vec<f32>> = bufs.clone();
        let expect = {
            let v: Vec<&[f32]> = before.iter().map(|b| &b[..]).collect();
            global_norm(&v)
        };
        let mut views: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
        let norm = clip_grad_norm(&mut views, 1.0);
        assert_eq!(norm, expect as f32);
        let after = {
            let v: Vec<&[f32]> = bufs.iter().map(|b| &b[..]).collect();
            global_norm(&v)
        };
        assert!((after - 1.0).abs() < 1e-6, "{after}");
        // Every element scaled by the same factor, rounded once.
        let scale = 1.0 / expect;
        for (b, a) in before.iter().zip(&bufs) {
            for (&x, &y) in b.iter().zip(a) {
                assert_eq!(y, (x as f64 * scale) as f32);
            }
        }
    }

    #[test]
    fn leaves_small_gradients_alone() {
        let mut a = vec![0.3f32, -0.4];
        let norm = clip_grad_norm(&mut [&mut a[..]], 1.0);
        assert_eq!(norm, 0.5);
        assert_eq!(a, [0.3, -0.4]);
        // At exactly the threshold nothing changes either.
        let mut b = vec![3.0f32, 4.0];
        assert_eq!(clip_grad_norm(&mut [&mut b[..]], 5.0), 5.0);
        assert_eq!(b, [3.0, 4.0]);
    }

    #[test]
    fn non_finite_norm_is_reported_and_nothing_changes() {
        let mut a = [1.0f32, f32::NAN, 100.0];
        assert!(clip_grad_norm(&mut [&mut a[..]], 1.0).is_nan());
        assert_eq!(a[0], 1.0);
        assert_eq!(a[2], 100.0);
        let mut b = vec![f32::INFINITY, 100.0];
        assert_eq!(clip_grad_norm(&mut [&mut b[..]], 1.0), f32::INFINITY);
        assert_eq!(b, [f32::INFINITY, 100.0]);
    }

    #[test]
    fn large_values_do_not_overflow_the_norm() {
        // Squares near 1e61 would overflow f32 but not the f64 sum.
        let big = 2f32.powi(100);
        let mut a = vec![3.0 * big, 4.0 * big];
        let norm = clip_grad_norm(&mut [&mut a[..]], 1.0);
        assert_eq!(norm, 5.0 * big);
        assert_eq!(a, [0.6, 0.8]);
    }

    #[test]
    #[should_panic]
    fn zero_max_norm_panics() {
        clip_grad_norm(&mut [&mut [1.0f32][..]], 0.0);
    }

    #[test]
    fn value_clipping_is_exact() {
        let mut a = vec![-2.0f32, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, f32::NAN, f32::NEG_INFINITY];
        let mut b = vec![7.0f32];
        let n = clip_grad_value(&mut [&mut a[..], &mut b[..]], 1.0);
        assert_eq!(n, 4);
        assert_eq!(&a[..7], [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0]);
        assert!(a[7].is_nan());
        assert_eq!(a[8], -1.0);
        assert_eq!(b, [1.0]);
        let mut c = vec![0.25f32, -3.0];
        assert_eq!(clip_grad_value(&mut [&mut c[..]], 0.0), 2);
        assert_eq!(c, [0.0, 0.0]);
    }
}
