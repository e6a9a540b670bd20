//! Bad input gets a typed error — never a panic — and leaves the outputs untouched.

mod common;

use common::uniform;
use fusedrnn::*;

fn lstm(i: usize, h: usize) -> Layer {
    Layer::new(Weights::init_uniform(&LayerDesc::new(Cell::Lstm, i, h).unwrap(), 3))
}

#[test]
fn descriptor_sizes() {
    assert_eq!(LayerDesc::new(Cell::Lstm, 0, 4), Err(Error::ZeroSize { what: "I" }));
    assert_eq!(LayerDesc::new(Cell::Lstm, 4, 0), Err(Error::ZeroSize { what: "H" }));
    assert!(matches!(
        LayerDesc::new(Cell::Lstm, 4, usize::MAX / 2),
        Err(Error::Overflow { .. })
    ));
    assert!(matches!(
        LayerDesc::new(Cell::Gru(GruVariant::ResetBeforeLinear), usize::MAX, 3),
        Err(Error::Overflow { .. })
    ));
}

#[test]
fn weight_lengths_name_the_buffer() {
    let d = LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 2, 3).unwrap();
    let e = Weights::new(&d, vec![0.0; 18], vec![0.0; 26], vec![0.0; 9], vec![0.0; 9]).unwrap_err();
    assert_eq!(
        e,
        Error::LengthMismatch {
            what: "W_hh",
            expected: 27,
            got: 26
        }
    );
    assert_eq!(e.to_string(), "W_hh: expected 27 elements, got 26");
}

#[test]
fn forward_shape_errors() {
    let layer = lstm(3, 4);
    let x = vec![0.0; 2 * 5 * 3];
    let mut y = vec![7.0; 2 * 5 * 4];
    let s = SeqShape::new(2, 5);
    let e = |r: Result<()>| r.unwrap_err();
    assert_eq!(
        e(layer.forward(SeqShape::new(0, 5), SeqInput::new(&x), SeqOutput::new(&mut y))),
        Error::ZeroSize { what: "T" }
    );
    assert_eq!(
        e(layer.forward(SeqShape::new(2, 0), SeqInput::new(&x), SeqOutput::new(&mut y))),
        Error::ZeroSize { what: "N" }
    );
    assert!(matches!(
        e(layer.forward(SeqShape::new(usize::MAX, 2), SeqInput::new(&x), SeqOutput::new(&mut y))),
        Error::Overflow { .. }
    ));
    assert_eq!(
        e(layer.forward(s, SeqInput::new(&x[1..]), SeqOutput::new(&mut y))),
        Error::LengthMismatch {
            what: "x",
            expected: 30,
            got: 29
        }
    );
    assert_eq!(
        e(layer.forward(s, SeqInput::new(&x), SeqOutput::new(&mut y[..39]))),
        Error::LengthMismatch {
            what: "y",
            expected: 40,
            got: 39
        }
    );
    let short = vec![0.0; 19];
    assert_eq!(
        e(layer.forward(s, SeqInput::new(&x).h0(&short), SeqOutput::new(&mut y))),
        Error::LengthMismatch {
            what: "h0",
            expected: 20,
            got: 19
        }
    );
    let mut hn = vec![0.0; 21];
    assert_eq!(
        e(layer.forward(s, SeqInput::new(&x), SeqOutput::new(&mut y).h_n(&mut hn))),
        Error::LengthMismatch {
            what: "h_n",
            expected: 20,
            got: 21
        }
    );
    assert!(y.iter().all(|&v| v == 7.0), "a refused call wrote its output");

    let gru = Layer::new(Weights::zeros(
        &LayerDesc::new(Cell::Gru(GruVariant::LinearBeforeReset), 3, 4).unwrap(),
    ));
    let c = vec![0.0; 20];
    assert_eq!(
        e(gru.forward(s, SeqInput::new(&x).c0(&c), SeqOutput::new(&mut y))),
        Error::Unexpected { what: "c0" }
    );
    let mut cn = vec![0.0; 20];
    assert_eq!(
        e(gru.forward(s, SeqInput::new(&x), SeqOutput::new(&mut y).c_n(&mut cn))),
        Error::Unexpected { what: "c_n" }
    );
}

#[test]
fn workspace_misuse() {
    let mut layer = lstm(3, 4);
    let other = lstm(3, 4);
    let s = SeqShape::new(2, 5);
    let x = uniform(30, 1.0, 1);
    let dy = uniform(40, 1.0, 2);
    let mut y = vec![0.0; 40];
    let mut grads = Weights::zeros(layer.desc());
    let mut ws = TrainWorkspace::new();
    let ws_err = |r: Result<()>| matches!(r, Err(Error::Workspace { .. }));

    assert!(ws_err(layer.backward_data(
        &mut ws,
        GradOutput::new(&dy),
        GradInput::none()
    )));
    layer
        .forward_train(s, SeqInput::new(&x), SeqOutput::new(&mut y), &mut ws)
        .unwrap();
    assert!(ws_err(other.backward_data(
        &mut ws,
        GradOutput::new(&dy),
        GradInput::none()
    )));
    assert!(
        ws_err(layer.backward_weights(&mut ws, &x, &mut grads, GradMode::Overwrite)),
        "weights before data"
    );
    assert_eq!(
        layer.backward_data(&mut ws, GradOutput::new(&dy[1..]), GradInput::none()),
        Err(Error::LengthMismatch {
            what: "dy",
            expected: 40,
            got: 39
        })
    );
    layer
        .backward_data(&mut ws, GradOutput::new(&dy), GradInput::none())
        .unwrap();
    let mut wrong = Weights::zeros(&LayerDesc::new(Cell::Lstm, 3, 5).unwrap());
    assert!(matches!(
        layer.backward_weights(&mut ws, &x, &mut wrong, GradMode::Overwrite),
        Err(Error::InvalidValue { .. })
    ));
    layer
        .backward_weights(&mut ws, &x, &mut grads, GradMode::Overwrite)
        .unwrap();

    // Changing the weights invalidates what forward-training saved.
    layer.weights_mut().buffers_mut()[0][0] += 1.0;
    assert!(ws_err(layer.backward_data(
        &mut ws,
        GradOutput::new(&dy),
        GradInput::none()
    )));
    assert!(layer
        .set_weights(Weights::zeros(&LayerDesc::new(Cell::Lstm, 3, 5).unwrap()))
        .is_err());
}

#[test]
fn workspace_size_query_matches_use() {
    let layer = lstm(3, 4);
    let s = SeqShape::new(6, 2);
    let need = layer.workspace_len(s).unwrap();
    let mut ws = TrainWorkspace::for_layer(&layer, s).unwrap();
    assert_eq!(ws.len(), need);
    let x = vec![0.5; 36];
    let mut y = vec![0.0; 48];
    layer
        .forward_train(s, SeqInput::new(&x), SeqOutput::new(&mut y), &mut ws)
        .unwrap();
    assert_eq!(ws.len(), need, "a pre-sized workspace must not grow");
}

#[test]
fn nan_inputs_propagate_without_panicking() {
    for cell in common::CELLS {
        let d = LayerDesc::new(cell, 4, 6).unwrap();
        let layer = Layer::new(Weights::init_uniform(&d, 9));
        let s = SeqShape::new(5, 2);
        let mut x = uniform(5 * 2 * 4, 1.0, 4);
        x[2 * 2 * 4] = f32::NAN; // t = 2, batch entry 0
        let mut y = vec![0.0; 5 * 2 * 6];
        let mut ws = TrainWorkspace::new();
        layer
            .forward_train(s, SeqInput::new(&x), SeqOutput::new(&mut y), &mut ws)
            .unwrap();
        let row = |t: usize, b: usize| &y[(t * 2 + b) * 6..][..6];
        assert!(
            row(1, 0).iter().all(|v| v.is_finite()),
            "{cell:?}: NaN before it was fed"
        );
        assert!(row(2, 0).iter().any(|v| v.is_nan()), "{cell:?}: NaN not propagated");
        assert!(
            row(4, 1).iter().all(|v| v.is_finite()),
            "{cell:?}: NaN leaked into another batch entry"
        );
        let dy = vec![1.0; y.len()];
        let mut dx = vec![0.0; x.len()];
        let mut g = Weights::zeros(&d);
        layer
            .backward(
                &mut ws,
                &x,
                GradOutput::new(&dy),
                GradInput::none().dx(&mut dx),
                &mut g,
                GradMode::Overwrite,
            )
            .unwrap();
        assert!(
            g.w_ih().iter().any(|v| v.is_nan()),
            "{cell:?}: NaN not propagated to dW_ih"
        );
    }
}
