//! [`Adam`]: the Adam optimizer (Kingma & Ba, 2015) over a set of `f32` buffers.

/// The Adam optimizer over a fixed list of `f32` parameter buffers, in PyTorch's formulation:
///
/// ```text
/// m ← β₁ m + (1 - β₁) g
/// v ← β₂ v + (1 - β₂) g²
/// p ← p - lr · (m / (1 - β₁ᵗ)) / (sqrt(v / (1 - β₂ᵗ)) + ε)
/// ```
///
/// The moment buffers are created at the first [`Adam::step`] from the lengths of the buffers
/// passed; later steps must pass the same buffers in the same order. Everything runs on the
/// calling thread in a fixed order, so results never depend on the thread count.
///
/// ```
/// use fusedrnn::train::Adam;
/// let mut w = vec![1.0f32, -1.0];
/// let mut b = vec![0.0f32];
/// let mut opt = Adam::new(0.1);
/// opt.step(&mut [&mut w[..], &mut b[..]], &[&[0.5, -2.0], &[0.0]]);
/// // The first step moves each parameter by about lr against the sign of its gradient.
/// assert!((w[0] - 0.9).abs() < 1e-6 && (w[1] + 0.9).abs() < 1e-6 && b[0] == 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    t: u64,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Adam {
    /// Adam with learning rate `lr` and the usual defaults `β₁ = 0.9`, `β₂ = 0.999`,
    /// `ε = 1e-8`.
    pub fn new(lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// With other decay rates of the first and second moments.
    pub fn with_betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// With another `ε` (added to the denominator).
    pub fn with_eps(mut self, eps: f32) -> Self {
        self.eps = eps;
        self
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Sets the learning rate (for a schedule); the moments are kept.
    pub fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    /// How many steps have been taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Forgets the moments and the step count.
    pub fn reset(&mut self) {
        self.t = 0;
        self.m.clear();
        self.v.clear();
    }

    /// The lengths of the buffers whose moments it keeps, in order: what every later
    /// [`Adam::step`] must pass. `None` before the first step (after [`Adam::new`] or
    /// [`Adam::reset`]), when any buffers are taken.
    pub(crate) fn moment_lens(&self) -> Option<Vec<usize>> {
        (!(self.m.is_empty() && self.t == 0)).then(|| self.m.iter().map(Vec::len).collect())
    }

    /// One update of `params` from `grads` (same count, same lengths, pairwise).
    ///
    /// # Panics
    /// When the counts or lengths differ from each other or from the first step's.
    pub fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]]) {
        assert_eq!(params.len(), grads.len(), "Adam::step: params and grads counts differ");
        if self.m.is_empty() && self.t == 0 {
            self.m = params.iter().map(|p| vec![0.0; p.len()]).collect();
            self.v = self.m.clone();
        }
        assert_eq!(self.m.len(), params.len(), "Adam::step: the number of buffers changed");
        self.t += 1;
        let (b1, b2) = (self.beta1 as f64, self.beta2 as f64);
        let t = self.t.min(i32::MAX as u64) as i32;
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        let step_size = (self.lr as f64 / bc1) as f32;
        let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        for (k, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let (m, v) = (&mut self.m[k], &mut self.v[k]);
            assert_eq!(p.len(), m.len(), "Adam::step: buffer {k} changed length");
            assert_eq!(g.len(), m.len(), "Adam::step: gradient {k} has the wrong length");
            for (((p, &g), m), v) in p.iter_mut().zip(g.iter()).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *p -= step_size * *m / (v.sqrt() * inv_sqrt_bc2 + eps);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps computed by hand in f64 from the formulas.
    #[test]
    fn matches_hand_computed_steps() {
        let (lr, b1, b2, eps) = (0.01f64, 0.9f64, 0.999f64, 1e-8f64);
        let g1 = [0.5f64, -2.0, 0.0, 1e-3];
        let g2 = [0.25f64, 1.0, 3.0, 1e-3];
        let p0 = [1.0f64, -1.0, 0.5, 2.0];
        let mut p = p0;
        let (mut m, mut v) = ([0.0f64; 4], [0.0f64; 4]);
        for (t, g) in [g1, g2].iter().enumerate() {
            let t = t as i32 + 1;
            for k in 0..4 {
                m[k] = b1 * m[k] + (1.0 - b1) * g[k];
                v[k] = b2 * v[k] + (1.0 - b2) * g[k] * g[k];
                let mh = m[k] / (1.0 - b1.powi(t));
                let vh = v[k] / (1.0 - b2.powi(t));
                p[k] -= lr * mh / (vh.sqrt() + eps);
            }
        }
        // Parameter 0 by hand. Step 1 (g = 0.5): m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25.
        // Step 2 (g = 0.25): m = 0.9·0.05 + 0.1·0.25 = 0.07,
        // v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225, 1 - β₁² = 0.19, 1 - β₂² = 0.001999.
        let p1 = 1.0 - 0.01 * 0.5 / (0.5 + 1e-8);
        let p2 = p1 - 0.01 * (0.07 / 0.19) / ((0.00031225f64 / 0.001999).sqrt() + 1e-8);
        assert!((p2 - 0.980_678_204_047_746).abs() < 1e-12);
        assert!((p[0] - p2).abs() < 1e-12);
        let mut w: Vec<f32> = p0[..2].iter().map(|&x| x as f32).collect();
        let mut u: Vec<f32> = p0[2..].iter().map(|&x| x as f32).collect();
        let mut opt = Adam::new(lr as f32);
        for g in [g1, g2] {
            let g: Vec<f32> = g.iter().map(|&x| x as f32).collect();
            opt.step(&mut [&mut w[..], &mut u[..]], &[&g[..2], &g[2..]]);
        }
        assert_eq!(opt.steps(), 2);
        for (got, want) in w.iter().chain(&u).zip(&p) {
            assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn zero_gradient_leaves_parameters_alone() {
        let mut w = vec![0.25f32; 3];
        let mut opt = Adam::new(1.0);
        opt.step(&mut [&mut w[..]], &[&[0.0; 3]]);
        assert_eq!(w, [0.25; 3]);
    }

    #[test]
    fn lr_can_change_and_reset_forgets() {
        let mut w = [0.0f32];
        let mut opt = Adam::new(0.1).with_betas(0.5, 0.5).with_eps(0.0);
        opt.step(&mut [&mut w[..]], &[&[4.0]]);
        assert!((w[0] + 0.1).abs() < 1e-7);
        opt.set_lr(0.2);
        assert_eq!(opt.lr(), 0.2);
        // Same-sign gradient: m̂/sqrt(v̂) stays 1, so the step is lr.
        opt.step(&mut [&mut w[..]], &[&[4.0]]);
        assert!((w[0] + 0.3).abs() < 1e-6, "{}", w[0]);
        opt.reset();
        assert_eq!(opt.steps(), 0);
        let mut a = [0.0f32; 2];
        opt.step(&mut [&mut a[..]], &[&[1.0, -1.0]]);
        assert!((a[0] + 0.2).abs() < 1e-6 && (a[1] - 0.2).abs() < 1e-6);
    }

    #[test]
    fn moment_lens_are_those_of_the_first_step() {
        let mut opt = Adam::new(0.1);
        assert_eq!(opt.moment_lens(), None);
        opt.step(&mut [&mut [0.0f32; 2][..], &mut [0.0f32; 0][..]], &[&[1.0, 1.0], &[]]);
        assert_eq!(opt.moment_lens(), Some(vec![2, 0]));
        opt.reset();
        assert_eq!(opt.moment_lens(), None);
        // A first step over no buffers fixes that too.
        opt.step(&mut [], &[]);
        assert_eq!(opt.moment_lens(), Some(vec![]));
    }

    #[test]
    #[should_panic]
    fn changing_the_buffers_panics() {
        let mut opt = Adam::new(0.1);
        opt.step(&mut [&mut [0.0f32; 2][..]], &[&[1.0, 1.0]]);
        opt.step(&mut [&mut [0.0f32; 3][..]], &[&[1.0, 1.0, 1.0]]);
    }
}
