//! The benchmark shape table of the speed issue (T steps, N batch, I = H), shared by the
//! criterion benches and the `bench_shapes` example.
#![allow(dead_code)]

use fusedrnn::{Activation, Cell, GruVariant};

/// What a benchmark runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Inference forward.
    Infer,
    /// Training forward + backward (data and weights).
    Train,
}

/// One named shape.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub name: &'static str,
    pub cell: Cell,
    pub t: usize,
    pub n: usize,
    pub h: usize,
    pub mode: Mode,
    /// A variable-length batch: entry `b` has `T >> (b % 6)` steps (T, T/2, T/4, ...).
    pub halving: bool,
    /// A layer-normalized LSTM (`LayerDesc::with_layer_norm`); FLOPs counted as the plain cell's.
    pub layer_norm: bool,
}

impl Shape {
    /// The sequence lengths of a variable-length shape.
    pub fn lengths(&self) -> Option<Vec<usize>> {
        self.halving
            .then(|| (0..self.n).map(|b| (self.t >> (b % 6)).max(1)).collect())
    }

    /// FLOPs: forward `2*T*N*G*H*(I+H)` (`T*N` being the sum of the lengths for a
    /// variable-length batch: padded steps are not work), training counts 3x that.
    pub fn flops(&self) -> u64 {
        let g = self.cell.gates() as u64;
        let steps = self.lengths().map_or(self.t * self.n, |l| l.iter().sum());
        let f = 2 * steps as u64 * g * self.h as u64 * (2 * self.h) as u64;
        match self.mode {
            Mode::Infer => f,
            Mode::Train => 3 * f,
        }
    }
}

const LBR: Cell = Cell::Gru(GruVariant::LinearBeforeReset);

pub const SHAPES: &[Shape] = &[
    Shape {
        name: "lstm-train-64x512",
        cell: Cell::Lstm,
        t: 50,
        n: 64,
        h: 512,
        mode: Mode::Train,
        halving: false,
        layer_norm: false,
    },
    Shape {
        name: "gru-train-64x512",
        cell: LBR,
        t: 50,
        n: 64,
        h: 512,
        mode: Mode::Train,
        halving: false,
        layer_norm: false,
    },
    Shape {
        name: "lstm-train-32x1024",
        cell: Cell::Lstm,
        t: 25,
        n: 32,
        h: 1024,
        mode: Mode::Train,
        halving: false,
        layer_norm: false,
    },
    Shape {
        name: "rnn-train-64x1024",
        cell: Cell::Rnn(Activation::Tanh),
        t: 50,
        n: 64,
        h: 1024,
        mode: Mode::Train,
        halving: false,
        layer_norm: false,
    },
    Shape {
        name: "lstm-infer-1x256",
        cell: Cell::Lstm,
        t: 150,
        n: 1,
        h: 256,
        mode: Mode::Infer,
        halving: false,
        layer_norm: false,
    },
    Shape {
        name: "gru-infer-1x256",
        cell: LBR,
        t: 150,
        n: 1,
        h: 256,
        mode: Mode::Infer,
        halving: false,
        layer_norm: false,
    },
    Shape {
        name: "lstm-infer-4x1024",
        cell: Cell::Lstm,
        t: 25,
        n: 4,
        h: 1024,
        mode: Mode::Infer,
        halving: false,
        layer_norm: false,
    },
    Shape {
        name: "lstm-infer-64x512",
        cell: Cell::Lstm,
        t: 50,
        n: 64,
        h: 512,
        mode: Mode::Infer,
        halving: false,
        layer_norm: false,
    },
    Shape {
        name: "lstm-infer-64x512-varlen",
        cell: Cell::Lstm,
        t: 50,
        n: 64,
        h: 512,
        mode: Mode::Infer,
        halving: true,
        layer_norm: false,
    },
    Shape {
        name: "lstm-train-64x512-varlen",
        cell: Cell::Lstm,
        t: 50,
        n: 64,
        h: 512,
        mode: Mode::Train,
        halving: true,
        layer_norm: false,
    },
    Shape {
        name: "lnlstm-train-64x512",
        cell: Cell::Lstm,
        t: 50,
        n: 64,
        h: 512,
        mode: Mode::Train,
        halving: false,
        layer_norm: true,
    },
    Shape {
        name: "lngru-train-64x512",
        cell: LBR,
        t: 50,
        n: 64,
        h: 512,
        mode: Mode::Train,
        halving: false,
        layer_norm: true,
    },
];
