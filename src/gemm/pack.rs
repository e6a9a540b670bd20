//! Weights packed once into the tile kernel's panel format.

use super::hugebuf::HugeBuf;

/// Output units per block: one 8-lane vector.
pub(crate) const UNITS: usize = 8;

/// Vectors of 8 units per row of a wide panel ([`Packed::plain`], [`Packed::wide_rows`]): 32
/// units, so a 512-bit tile holds two registers per row and is bound by its multiply-adds,
/// not by its loads (one register per row needs a broadcast per multiply-add).
pub(crate) const WIDE: usize = 4;

/// A `K × (G·U)` right-hand operand packed for [`super::tile::tile`]: for every block `b` of
/// [`UNITS`] output units, a contiguous panel of `K` rows, each row holding, gate by gate, the
/// 8 units of the block: `panel(b)[kk * G * 8 + g * 8 + l] = B(kk, g, 8b + l)`. One output tile
/// of the kernel therefore holds every gate of the same hidden units, which is what lets the
/// cell's gate math run on it in registers. Units past `U` are zero.
#[derive(Clone, Debug, Default)]
pub(crate) struct Packed {
    k: usize,
    g: usize,
    blocks: usize,
    /// Whether the panel's "gates" are [`WIDE`] runs of 8 units of one gate ([`Packed::plain`],
    /// [`Packed::wide_rows`]) rather than `G` gates of the same 8 units.
    wide: bool,
    /// The panels, on huge pages where possible (they are streamed through L2 every step).
    data: HugeBuf,
}

impl Packed {
    /// Packs `B(kk, g, u)` for `kk < k`, `g < gates`, `u < units`.
    pub(crate) fn from_fn(k: usize, gates: usize, units: usize, b: impl Fn(usize, usize, usize) -> f32) -> Self {
        let blocks = units.div_ceil(UNITS);
        let mut data = HugeBuf::zeroed(blocks * k * gates * UNITS);
        for (blk, panel) in data.chunks_exact_mut(k * gates * UNITS).enumerate() {
            for kk in 0..k {
                for g in 0..gates {
                    for l in 0..UNITS {
                        let u = blk * UNITS + l;
                        if u < units {
                            panel[(kk * gates + g) * UNITS + l] = b(kk, g, u);
                        }
                    }
                }
            }
        }
        Self {
            k,
            g: gates,
            blocks,
            wide: false,
            data,
        }
    }

    /// `B = Wᵀ` for `W` `[G*H, K]` row-major with gate blocks of `H` rows (`W_ih`, `W_hh`):
    /// `B(kk, g, u) = W[g*H + u, kk]`.
    pub(crate) fn gate_rows(w: &[f32], gates: usize, h: usize, k: usize) -> Self {
        assert_eq!(w.len(), gates * h * k);
        Self::from_fn(k, gates, h, |kk, g, u| w[(g * h + u) * k + kk])
    }

    /// `K`.
    pub(crate) fn k(&self) -> usize {
        self.k
    }
    /// Number of unit blocks.
    pub(crate) fn blocks(&self) -> usize {
        self.blocks
    }
    /// `G`.
    pub(crate) fn gates(&self) -> usize {
        self.g
    }
    /// Gate blocks of the output: `G`, or 1 for wide panels.
    pub(crate) fn gates_out(&self) -> usize {
        if self.wide {
            1
        } else {
            self.g
        }
    }

    /// Where vector `g` of a tile on block `b` goes, for `units` output units: the gate it
    /// belongs to, its first unit and how many of its 8 lanes are real (0 for the empty tail
    /// of a wide panel's last block).
    #[inline(always)]
    pub(crate) fn out_units(&self, b: usize, g: usize, units: usize) -> (usize, usize, usize) {
        if self.wide {
            let u0 = (b * WIDE + g) * UNITS;
            (0, u0, units.saturating_sub(u0).min(UNITS))
        } else {
            let u0 = b * UNITS;
            (g, u0, (units - u0).min(UNITS))
        }
    }

    /// The panel of block `b`: `K * G * 8` elements.
    pub(crate) fn panel(&self, b: usize) -> &[f32] {
        let len = self.k * self.g * UNITS;
        &self.data[b * len..][..len]
    }
}

impl Packed {
    /// Panels of `WIDE * 8 = 32` output units, `B(kk, u)` for `u < units`: "gate" `g` of
    /// block `b` holds units `32b + 8g .. 32b + 8g + 8`, so the kernel keeps four 8-lane
    /// vectors per row. Units past `units` are zero.
    fn wide(k: usize, units: usize, b: impl Fn(usize, usize) -> f32) -> Self {
        let width = WIDE * UNITS;
        let blocks = units.div_ceil(width);
        let mut data = HugeBuf::zeroed(blocks * k * width);
        for (blk, panel) in data.chunks_exact_mut(k * width).enumerate() {
            for kk in 0..k {
                for c in 0..width {
                    let u = blk * width + c;
                    if u < units {
                        panel[kk * width + c] = b(kk, u);
                    }
                }
            }
        }
        Self {
            k,
            g: WIDE,
            blocks,
            wide: true,
            data,
        }
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
