//! [`Dense`]: a fully connected layer `y = x Wᵀ + b`, forward and backward, used as the output
//! head of a recurrent stack.

use crate::GradMode;

/// A fully connected layer `y = x Wᵀ + b` with `W` `[outputs, inputs]` and `b` `[outputs]`,
/// row-major (PyTorch's `nn.Linear` layout). The same type holds its gradients.
///
/// Runs on the calling thread in a fixed order (it is small next to the recurrent layers), so
/// results never depend on the thread count.
///
/// ```
/// use fusedrnn::train::Dense;
/// let d = Dense::from_parts(2, 1, vec![1.0, -2.0], vec![0.5]);
/// let mut y = [0.0f32; 2];
/// d.forward(&[1.0, 1.0, 3.0, 0.0], &mut y); // a batch of two rows
/// assert_eq!(y, [-0.5, 3.5]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    inputs: usize,
    outputs: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Dense {
    /// Weights and bias uniform in `[-1/sqrt(inputs), 1/sqrt(inputs)]` (PyTorch's default)
    /// from a generator seeded by `seed`.
    ///
    /// # Panics
    /// When `inputs` or `outputs` is 0.
    pub fn new(inputs: usize, outputs: usize, seed: u64) -> Self {
        let mut d = Self::zeros(inputs, outputs);
        let bound = 1.0 / (inputs as f32).sqrt();
        let mut rng = crate::rng::SplitMix64::new(seed);
        for b in d.buffers_mut() {
            for x in b.iter_mut() {
                *x = bound * (2.0 * rng.next_f32() - 1.0);
            }
        }
        d
    }

    /// All zeros (a gradient buffer).
    ///
    /// # Panics
    /// When `inputs` or `outputs` is 0.
    pub fn zeros(inputs: usize, outputs: usize) -> Self {
        assert!(inputs > 0 && outputs > 0, "Dense: sizes must be at least 1");
        Self {
            inputs,
            outputs,
            w: vec![0.0; outputs * inputs],
            b: vec![0.0; outputs],
        }
    }

    /// From `W` `[outputs, inputs]` and `b` `[outputs]`.
    ///
    /// # Panics
    /// When a size is 0 or a length does not match.
    pub fn from_parts(inputs: usize, outputs: usize, w: Vec<f32>, b: Vec<f32>) -> Self {
        assert!(inputs > 0 && outputs > 0, "Dense: sizes must be at least 1");
        assert_eq!(w.len(), outputs * inputs, "Dense: W must be [outputs, inputs]");
        assert_eq!(b.len(), outputs, "Dense: b must be [outputs]");
        Self { inputs, outputs, w, b }
    }

    /// The number of input features.
    pub fn inputs(&self) -> usize {
        self.inputs
    }
    /// The number of outputs.
    pub fn outputs(&self) -> usize {
        self.outputs
    }
    /// `W`, `[outputs, inputs]`.
    pub fn w(&self) -> &[f32] {
        &self.w
    }
    /// `b`, `[outputs]`.
    pub fn b(&self) -> &[f32] {
        &self.b
    }
    /// `W` and `b`.
    pub fn buffers(&self) -> [&[f32]; 2] {
        [&self.w, &self.b]
    }
    /// `W` and `b`, mutable.
    pub fn buffers_mut(&mut self) -> [&mut [f32]; 2] {
        [&mut self.w, &mut self.b]
    }

    fn rows(&self, x: &[f32]) -> usize {
        assert_eq!(x.len() % self.inputs, 0, "Dense: x is not [N, inputs]");
        x.len() / self.inputs
    }

    /// `y = x Wᵀ + b` for a batch: `x` `[N, inputs]`, `y` `[N, outputs]`.
    ///
    /// # Panics
    /// When the lengths do not match.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        let n = self.rows(x);
        assert_eq!(y.len(), n * self.outputs, "Dense: y is not [N, outputs]");
        for (xr, yr) in x.chunks_exact(self.inputs).zip(y.chunks_exact_mut(self.outputs)) {
            for ((yo, wo), &bo) in yr.iter_mut().zip(self.w.chunks_exact(self.inputs)).zip(&self.b) {
                *yo = bo + xr.iter().zip(wo).map(|(a, b)| a * b).sum::<f32>();
            }
        }
    }

    /// Backward: from `dy` `[N, outputs]` and the forward input `x` `[N, inputs]`, the
    /// gradients `dW`, `db` into `grads` (overwritten or accumulated by `mode`) and, when
    /// given, `dx = dy W` `[N, inputs]` (overwritten).
    ///
    /// # Panics
    /// When the lengths or `grads`' sizes do not match.
    pub fn backward(&self, x: &[f32], dy: &[f32], dx: Option<&mut [f32]>, grads: &mut Dense, mode: GradMode) {
        let n = self.rows(x);
        assert_eq!(dy.len(), n * self.outputs, "Dense: dy is not [N, outputs]");
        assert!(
            grads.inputs == self.inputs && grads.outputs == self.outputs,
            "Dense: grads have other sizes"
        );
        if mode == GradMode::Overwrite {
            grads.w.fill(0.0);
            grads.b.fill(0.0);
        }
        for (xr, dyr) in x.chunks_exact(self.inputs).zip(dy.chunks_exact(self.outputs)) {
            for ((gw, gb), &d) in grads.w.chunks_exact_mut(self.inputs).zip(&mut grads.b).zip(dyr) {
                *gb += d;
                for (g, &a) in gw.iter_mut().zip(xr) {
                    *g += d * a;
                }
            }
        }
        if let Some(dx) = dx {
            assert_eq!(dx.len(), n * self.inputs, "Dense: dx is not [N, inputs]");
            for (dxr, dyr) in dx.chunks_exact_mut(self.inputs).zip(dy.chunks_exact(self.outputs)) {
                dxr.fill(0.0);
                for (wo, &d) in self.w.chunks_exact(self.inputs).zip(dyr) {
                    for (g, &w) in dxr.iter_mut().zip(wo) {
                        *g += d * w;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn uniform(n: usize, seed: u64) -> Vec<f32> {
        let mut r = SplitMix64::new(seed);
        (0..n).map(|_| 2.0 * r.next_f32() - 1.0).collect()
    }

    /// Loss `L = Σ c ⊙ y` (so `dL/dy = c`), evaluated in f64 from f32 parameters.
    fn loss(d: &Dense, x: &[f64], c: &[f64]) -> f64 {
        let (i, o) = (d.inputs, d.outputs);
        let mut l = 0.0;
        for (r, xr) in x.chunks(i).enumerate() {
            for k in 0..o {
                let y: f64 = d.b[k] as f64 + (0..i).map(|j| xr[j] * d.w[k * i + j] as f64).sum::<f64>();
                l += c[r * o + k] * y;
            }
        }
        l
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (n, i, o) = (5, 7, 3);
        let d = Dense::new(i, o, 11);
        let x = uniform(n * i, 1);
        let c = uniform(n * o, 2);
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let c64: Vec<f64> = c.iter().map(|&v| v as f64).collect();
        let mut g = Dense::zeros(i, o);
        let mut dx = vec![f32::NAN; n * i];
        d.backward(&x, &c, Some(&mut dx), &mut g, GradMode::Overwrite);
        // The loss is linear in every parameter: central differences are exact up to rounding.
        let eps = 1e-2f32;
        for which in 0..2 {
            for k in 0..d.buffers()[which].len() {
                let mut p = d.clone();
                p.buffers_mut()[which][k] += eps;
                let lp = loss(&p, &x64, &c64);
                let mut m = d.clone();
                m.buffers_mut()[which][k] -= eps;
                let lm = loss(&m, &x64, &c64);
                // The actual perturbation after f32 rounding.
                let h = p.buffers()[which][k] as f64 - m.buffers()[which][k] as f64;
                let fd = (lp - lm) / h;
                let an = g.buffers()[which][k] as f64;
                assert!((fd - an).abs() < 1e-5, "buffer {which}[{k}]: fd {fd} vs {an}");
            }
        }
        // dx by finite differences on x.
        for k in 0..n * i {
            let h = 1e-3;
            let mut xp = x64.clone();
            xp[k] += h;
            let mut xm = x64.clone();
            xm[k] -= h;
            let fd = (loss(&d, &xp, &c64) - loss(&d, &xm, &c64)) / (2.0 * h);
            assert!((fd - dx[k] as f64).abs() < 1e-5, "dx[{k}]: fd {fd} vs {}", dx[k]);
        }
    }

    #[test]
    fn backward_of_the_mse_matches_finite_differences() {
        // Through a nonlinear loss: L = mean((y - t)²), dL/dy = 2 (y - t) / (N·O).
        let (n, i, o) = (4, 6, 2);
        let d = Dense::new(i, o, 5);
        let x = uniform(n * i, 3);
        let t = uniform(n * o, 4);
        let mse = |d: &Dense| -> f64 {
            let mut y = vec![0.0f32; n * o];
            d.forward(&x, &mut y);
            y.iter().zip(&t).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum::<f64>() / (n * o) as f64
        };
        let mut y = vec![0.0f32; n * o];
        d.forward(&x, &mut y);
        let dy: Vec<f32> = y.iter().zip(&t).map(|(a, b)| 2.0 * (a - b) / (n * o) as f32).collect();
        let mut g = Dense::zeros(i, o);
        d.backward(&x, &dy, None, &mut g, GradMode::Overwrite);
        for which in 0..2 {
            for k in 0..d.buffers()[which].len() {
                let eps = 1e-2f32;
                let mut p = d.clone();
                p.buffers_mut()[which][k] += eps;
                let mut m = d.clone();
                m.buffers_mut()[which][k] -= eps;
                let fd = (mse(&p) - mse(&m)) / (2.0 * eps as f64);
                let an = g.buffers()[which][k] as f64;
                assert!(
                    (fd - an).abs() < 2e-4 * (1.0 + an.abs()),
                    "buffer {which}[{k}]: {fd} vs {an}"
                );
            }
        }
    }

    #[test]
    fn accumulate_adds_and_overwrite_replaces() {
        let (n, i, o) = (3, 4, 2);
        let d = Dense::new(i, o, 1);
        let x = uniform(n * i, 7);
        let dy = uniform(n * o, 8);
        let mut once = Dense::zeros(i, o);
        d.backward(&x, &dy, None, &mut once, GradMode::Overwrite);
        let mut g = Dense::from_parts(i, o, vec![f32::NAN; o * i], vec![f32::NAN; o]);
        d.backward(&x, &dy, None, &mut g, GradMode::Overwrite);
        assert_eq!(g, once);
        d.backward(&x, &dy, None, &mut g, GradMode::Accumulate);
        for (a, b) in g.w().iter().chain(g.b()).zip(once.w().iter().chain(once.b())) {
            assert!((a - 2.0 * b).abs() <= 1e-6 * b.abs(), "{a} vs 2 * {b}");
        }
    }

    #[test]
    fn forward_by_hand() {
        let d = Dense::from_parts(3, 2, vec![1.0, 2.0, 3.0, -1.0, 0.0, 1.0], vec![0.5, -0.5]);
        let mut y = [0.0f32; 2];
        d.forward(&[1.0, 1.0, 1.0], &mut y);
        assert_eq!(y, [6.5, -0.5]);
        let mut dx = [0.0f32; 3];
        let mut g = Dense::zeros(3, 2);
        d.backward(
            &[1.0, 1.0, 1.0],
            &[1.0, 2.0],
            Some(&mut dx),
            &mut g,
            GradMode::Overwrite,
        );
        assert_eq!(dx, [-1.0, 2.0, 5.0]);
        assert_eq!(g.w(), [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        assert_eq!(g.b(), [1.0, 2.0]);
    }
}
