//! Weights packed once into the tile kernel's panel format.

use super::hugebuf::HugeBuf;

/// Output units per block: one 8-lane vector.
pub(crate) const UNITS: usize = 8;

/// Vectors of 8 units per row of a wide panel ([`Packed::plain`], [`Packed::wide_rows`]): 32
/// units, so a 512-bit tile holds two registers per row and is bound by its multiply-adds,
/// not by its loads (one register per row needs a broadcast per multiply-add).
pub(crate) const WIDE: usize = 4;

/// Vectors of 8 units per panel row for `gates` gates: the block of a panel holds
/// `sub(gates) * 8` units of every gate, so a row has `gates * sub` vectors, four or six —
/// two or three 512-bit registers, so the tile's multiply-adds all run on full registers and
/// outnumber its loads (a lone 8-lane gate would run its FMAs at half width, and one register
/// per row needs a broadcast per multiply-add).
pub(crate) const fn sub_blocks(gates: usize) -> usize {
    match gates {
        1 => WIDE,
        2 | 3 => 2,
        _ => 1,
    }
}

/// A `K × (G·U)` right-hand operand packed for [`super::tile::tile`]: for every block `b` of
/// `S * 8` output units (`S` = [`sub_blocks`]`(G)`), a contiguous panel of `K` rows, each
/// row holding, gate by gate, the block's units in runs of 8:
/// `panel(b)[(kk * G + g) * S * 8 + s * 8 + l] = B(kk, g, (b * S + s) * 8 + l)`. Vector `v` of a
/// row is run `s = v % S` of gate `v / S`. One output tile of the kernel therefore holds every
/// gate of the same hidden units, which is what lets the cell's gate math run on it in
/// registers. Units past `U` are zero. A one-gate weight ([`Packed::plain`],
/// [`Packed::wide_rows`]) is the case `G = 1`, `S = `[`WIDE`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Packed {
    k: usize,
    g: usize,
    /// `S`: runs of 8 units per gate in a block.
    sub: usize,
    blocks: usize,
    /// The panels, on huge pages where possible (they are streamed through L2 every step).
    data: HugeBuf,
}

impl Packed {
    /// Packs `B(kk, g, u)` for `kk < k`, `g < gates`, `u < units`, in [`sub_blocks`] runs.
    pub(crate) fn from_fn(k: usize, gates: usize, units: usize, b: impl Fn(usize, usize, usize) -> f32) -> Self {
        Self::from_fn_runs(k, gates, units, sub_blocks(gates), b)
    }

    /// As [`Packed::from_fn`], with `sub` runs of 8 units per gate in a block.
    pub(crate) fn from_fn_runs(
        k: usize,
        gates: usize,
        units: usize,
        sub: usize,
        b: impl Fn(usize, usize, usize) -> f32,
    ) -> Self {
        assert!(sub >= 1);
        let width = sub * UNITS;
        let blocks = units.div_ceil(width);
        let mut data = HugeBuf::zeroed(blocks * k * gates * width);
        for (blk, panel) in data.chunks_exact_mut(k * gates * width).enumerate() {
            for kk in 0..k {
                for g in 0..gates {
                    for c in 0..width {
                        let u = blk * width + c;
                        if u < units {
                            panel[(kk * gates + g) * width + c] = b(kk, g, u);
                        }
                    }
                }
            }
        }
        Self {
            k,
            g: gates,
            sub,
            blocks,
            data,
        }
    }

    /// `B = Wᵀ` for `W` `[G*H, K]` row-major with gate blocks of `H` rows (`W_ih`, `W_hh`):
    /// `B(kk, g, u) = W[g*H + u, kk]`.
    pub(crate) fn gate_rows(w: &[f32], gates: usize, h: usize, k: usize) -> Self {
        Self::gate_rows_runs(w, gates, h, k, sub_blocks(gates))
    }

    /// As [`Packed::gate_rows`], with `sub` runs of 8 units per gate in a block.
    pub(crate) fn gate_rows_runs(w: &[f32], gates: usize, h: usize, k: usize, sub: usize) -> Self {
        assert_eq!(w.len(), gates * h * k);
        Self::from_fn_runs(k, gates, h, sub, |kk, g, u| w[(g * h + u) * k + kk])
    }

    /// `K`.
    pub(crate) fn k(&self) -> usize {
        self.k
    }
    /// Number of unit blocks.
    pub(crate) fn blocks(&self) -> usize {
        self.blocks
    }
    /// Elements of all panels.
    pub(crate) fn len(&self) -> usize {
        self.blocks * self.k * self.vecs() * UNITS
    }
    /// 8-lane vectors per panel row: `G * S`.
    pub(crate) fn vecs(&self) -> usize {
        self.g * self.sub
    }
    /// Gate blocks of the output: `G`.
    pub(crate) fn gates_out(&self) -> usize {
        self.g
    }

    /// Where vector `v` of a tile on block `b` goes, for `units` output units: the gate it
    /// belongs to, its first unit and how many of its 8 lanes are real (0 for an empty run at
    /// the end of the last block).
    #[inline(always)]
    pub(crate) fn out_units(&self, b: usize, v: usize, units: usize) -> (usize, usize, usize) {
        let u0 = (b * self.sub + v % self.sub) * UNITS;
        (v / self.sub, u0, units.saturating_sub(u0).min(UNITS))
    }

    /// The panel of block `b`: `K * G * S * 8` elements.
    pub(crate) fn panel(&self, b: usize) -> &[f32] {
        let len = self.k * self.vecs() * UNITS;
        &self.data[b * len..][..len]
    }
}

impl Packed {
    /// A one-gate operand `B(kk, u)`, `u < units`, in panels of `WIDE * 8 = 32` units.
    fn wide(k: usize, units: usize, b: impl Fn(usize, usize) -> f32) -> Self {
        Self::from_fn(k, 1, units, |kk, _, u| b(kk, u))
    }

    /// `B = W` for `W` `[K, H]` row-major (the backward products `dG · W_hh`), wide panels.
    pub(crate) fn plain(w: &[f32], k: usize, h: usize) -> Self {
        assert_eq!(w.len(), k * h);
        Self::wide(k, h, |kk, u| w[kk * h + u])
    }

    /// `B = Wᵀ` for `W` `[H, K]` row-major, wide panels: a one-gate weight (the simple RNN's
    /// `W_ih`, `W_hh`) as a 3 x 32 (AVX2) or 14 x 32 (AVX-512) tile computes it, not an 8 x 8
    /// one, which is load-bound.
    pub(crate) fn wide_rows(w: &[f32], h: usize, k: usize) -> Self {
        assert_eq!(w.len(), h * k);
        Self::wide(k, h, |kk, u| w[u * k + kk])
    }
}
