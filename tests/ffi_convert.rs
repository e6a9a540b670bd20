//! The C ABI's ONNX converters with extra weights (`frnn_convert_{from,to}_onnx_ex`: LSTM
//! peepholes in `P`), and the statuses for what ONNX and Keras cannot hold (projection, layer
//! normalization, cell clipping; Keras: every LSTM option), exercised from a C11 program
//! (`ffi-tests/convert_ex.c`) against the shared and the static library, natively and under
//! valgrind.
//!
//! Expected numbers come from a fixture written here with the Rust API
//! (`fusedrnn::convert::onnx`): the C results must equal them bit for bit (both are pure
//! permutations of the same numbers).

mod ffi_support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ffi_support::*;
use fusedrnn::convert::onnx;
use fusedrnn::rng::SplitMix64;
use fusedrnn::{Cell, LayerDesc, Weights};

/// `(directions, peepholes, gate clip, input_forget)` of each LSTM case, `I = 3`, `H = 4`.
const CASES: [(usize, bool, f32, bool); 4] = [
    (2, true, 0.0, false),
    (1, true, 2.5, true),
    (2, false, 0.0, false),
    (1, false, 1.5, false),
];

fn desc_of(peep: bool, clip: f32, input_forget: bool) -> LayerDesc {
    let mut d = LayerDesc::new(Cell::Lstm, 3, 4).unwrap();
    if peep {
        d = d.with_peepholes().unwrap();
    }
    if clip > 0.0 {
        d = d.with_clip(clip).unwrap();
    }
    if input_forget {
        d = d.with_input_forget().unwrap();
    }
    d
}

fn fixture() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = setup().build_dir.join("convert_ex");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::from("fusedrnn-fixture 1\n");
        for (k, &(dirs, peep, clip, fgt)) in CASES.iter().enumerate() {
            let d = desc_of(peep, clip, fgt);
            let mut rng = SplitMix64::new(300 + k as u64);
            let ws: Vec<Weights> = (0..dirs)
                .map(|j| {
                    let w = Weights::init_uniform(&d, 10 * k as u64 + j as u64);
                    let [a, b, c, e] = w.buffers().map(<[f32]>::to_vec);
                    let p = peep.then(|| uniform(12, 0.5, &mut rng));
                    Weights::new_lstm(&d, a, b, c, e, None, p).unwrap()
                })
                .collect();
            let t = onnx::to_onnx(&ws).unwrap();
            // The Rust converter round-trips: what C is held to is self-consistent.
            assert_eq!(onnx::from_onnx(&d, dirs, t.tensors()).unwrap(), ws);
            text.push_str("case 0 0 0 3 4 1 1\n");
            put(
                &mut text,
                "meta",
                &[dirs as f64, peep as u8 as f64, clip as f64, fgt as u8 as f64],
            );
            for (j, w) in ws.iter().enumerate() {
                for (name, b) in ["w_ih", "w_hh", "b_ih", "b_hh"].into_iter().zip(w.buffers()) {
                    put(&mut text, &format!("{name}.{j}"), b);
                }
                if peep {
                    put(&mut text, &format!("peep.{j}"), w.peepholes());
                }
            }
            put(&mut text, "W", &t.w);
            put(&mut text, "R", &t.r);
            put(&mut text, "B", &t.b);
            // ONNX's P: the peepholes, or zeros for an LSTM without.
            let p = if peep { t.p.clone() } else { vec![0.0; dirs * 12] };
            put(&mut text, "P", &p);
            text.push_str("endcase\n");
        }
        text.push_str("end\n");
        let path = dir.join("fixture.txt");
        let tmp = dir.join(format!("fixture.txt.tmp{}", std::process::id()));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
}

#[test]
fn c_onnx_conversions_with_peepholes_match_rust_bitwise() {
    let fx = fixture().to_str().unwrap().to_owned();
    for link in LINKS {
        let out = run(&compile("ffi-tests/convert_ex.c", link), &[&fx], &[]);
        assert!(out.contains(&format!("convert_ex: {} cases OK", CASES.len())), "{out}");
    }
}
