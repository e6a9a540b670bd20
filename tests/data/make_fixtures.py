"""Makes the fixtures of tests/convert.rs: weights saved by PyTorch and by hand in ONNX layout,
with the outputs (and, for one LSTM, the gradients) that PyTorch and the ONNX reference
evaluator compute from them.

Run by hand, not in CI:

    /opt/venv/bin/python tests/data/make_fixtures.py

(made with torch 2.15, onnx 1.23, onnxruntime 1.31, numpy 2.4, safetensors 0.8, keras 3.15
on its torch backend).

Every weight and input is drawn in float32 and stored as float32. The expected outputs are
computed by the framework in float64 from those same float32 values (exactly representable),
then rounded to float32, so the stored references carry no float32 error of their own; the
script also prints how far the framework's own float32 run is from them, for scale.

Files (all safetensors, all tensors row-major float32):
- pt_<name>.safetensors: `safetensors.torch.save_file(model.state_dict())` of the float32 model;
- pt_<name>_io.safetensors: x [T, N, I] and PyTorch's y [T, N, D*H], h_n [L*D, N, H] (and c_n);
  the gradient cases also h0, c0, the upstream gradient g (loss = sum(y * g)) and
  d_<parameter name>, dx, dh0, dc0 (the *_grad cases of 2 bidirectional layers: LSTM with
  proj_size 4, so y is [T, N, 2P] and h states [L*D, N, P]; GRU; RNN tanh);
- onnx_<name>.safetensors: the operator's inputs W, R, B (P, initial_h), X and the reference
  evaluator's Y [T, dirs, N, H], Y_h (and Y_c) [dirs, N, H]; lstm_peep_clip_if (peepholes,
  clip = 0.6, input_forget = 1) takes them from onnxruntime in float32 instead, since the
  reference evaluator ignores clip and input_forget;
- keras_<name>.safetensors: a Keras layer's kernel, recurrent_kernel, bias (Keras layouts),
  x [N, T, I] (batch-major, as Keras takes it) and Keras' y [N, T, U].
"""

import copy
import os
import zlib

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from safetensors.numpy import save_file as save_np
from safetensors.torch import save_file as save_pt

OUT = os.path.dirname(os.path.abspath(__file__))
T, N, I, H = 4, 3, 5, 7


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def pytorch_forward(name, make):
    torch.manual_seed(zlib.crc32(name.encode()))
    model = make().float()
    # PyTorch's default init (uniform in +-1/sqrt(H)) for the weights; inputs in [-1.5, 1.5].
    x = (torch.rand(T, N, I) * 3.0 - 1.5).float()
    save_pt({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, f"pt_{name}.safetensors"))

    m64 = copy.deepcopy(model).double()
    x64 = x.double()
    y64, state64 = m64(x64)
    y32, state32 = model(x)
    io = {"x": f32(x), "y": f32(y64.detach())}
    if isinstance(state64, tuple):
        io["h_n"] = f32(state64[0].detach())
        io["c_n"] = f32(state64[1].detach())
    else:
        io["h_n"] = f32(state64.detach())
    save_np(io, os.path.join(OUT, f"pt_{name}_io.safetensors"))
    print(f"pt_{name}: PyTorch float32 vs float64 max |dy| = {(y32.double() - y64).abs().max().item():.2e}")


def pytorch_lstm_grad():
    name = "lstm_grad"
    torch.manual_seed(7)
    model = torch.nn.LSTM(I, H).float()
    x = (torch.rand(T, N, I) * 3.0 - 1.5).float()
    h0 = (torch.rand(1, N, H) - 0.5).float()
    c0 = (torch.rand(1, N, H) - 0.5).float()
    g = (torch.rand(T, N, H) * 2.0 - 1.0).float()
    save_pt({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, f"pt_{name}.safetensors"))

    m64 = copy.deepcopy(model).double()
    x64 = x.double().requires_grad_(True)
    h064 = h0.double().requires_grad_(True)
    c064 = c0.double().requires_grad_(True)
    y64, (hn64, cn64) = m64(x64, (h064, c064))
    (y64 * g.double()).sum().backward()
    io = {
        "x": f32(x),
        "h0": f32(h0[0]),
        "c0": f32(c0[0]),
        "g": f32(g),
        "y": f32(y64.detach()),
        "h_n": f32(hn64.detach()),
        "c_n": f32(cn64.detach()),
        "dx": f32(x64.grad),
        "dh0": f32(h064.grad[0]),
        "dc0": f32(c064.grad[0]),
    }
    for k, p in m64.named_parameters():
        io[f"d_{k}"] = f32(p.grad)
    save_np(io, os.path.join(OUT, f"pt_{name}_io.safetensors"))

    # float32 PyTorch, for scale.
    x32 = x.clone().requires_grad_(True)
    y32, _ = model(x32, (h0, c0))
    (y32 * g).sum().backward()
    print(f"pt_{name}: PyTorch float32 vs float64 max |dx| = {(x32.grad.double() - x64.grad).abs().max().item():.2e}")


def pytorch_stack_grad(name, make, layers, dirs, hw, lstm):
    """A whole module (layers x dirs, h states hw wide): outputs and every gradient, with
    initial states h0 [L*D, N, hw] (and c0 [L*D, N, H] for an LSTM)."""
    torch.manual_seed(zlib.crc32(name.encode()))
    model = make().float()
    x = (torch.rand(T, N, I) * 3.0 - 1.5).float()
    h0 = (torch.rand(layers * dirs, N, hw) - 0.5).float()
    c0 = (torch.rand(layers * dirs, N, H) - 0.5).float()
    g = (torch.rand(T, N, dirs * hw) * 2.0 - 1.0).float()
    save_pt({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(OUT, f"pt_{name}.safetensors"))

    m64 = copy.deepcopy(model).double()
    x64 = x.double().requires_grad_(True)
    h064 = h0.double().requires_grad_(True)
    c064 = c0.double().requires_grad_(True)
    y64, st64 = m64(x64, (h064, c064) if lstm else h064)
    (y64 * g.double()).sum().backward()
    io = {"x": f32(x), "h0": f32(h0), "g": f32(g), "y": f32(y64.detach()), "dx": f32(x64.grad), "dh0": f32(h064.grad)}
    if lstm:
        io.update({"c0": f32(c0), "h_n": f32(st64[0].detach()), "c_n": f32(st64[1].detach()), "dc0": f32(c064.grad)})
    else:
        io["h_n"] = f32(st64.detach())
    for k, p in m64.named_parameters():
        io[f"d_{k}"] = f32(p.grad)
    save_np(io, os.path.join(OUT, f"pt_{name}_io.safetensors"))
    y32, _ = model(x, (h0, c0) if lstm else h0)
    print(f"pt_{name}: PyTorch float32 vs float64 max |dy| = {(y32.double() - y64).abs().max().item():.2e}")


def onnx_model(op, attrs, inputs, outputs, elem):
    """One-node graph: every input (empty name = absent) is a graph input."""
    node = helper.make_node(op, [n for n, _ in inputs], [n for n, _ in outputs], **attrs)
    graph = helper.make_graph(
        [node],
        op,
        [helper.make_tensor_value_info(n, elem, list(a.shape)) for n, a in inputs if n],
        [helper.make_tensor_value_info(n, elem, list(s)) for n, s in outputs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8  # readable by onnxruntime too
    return model


def onnx_case(name, op, attrs, dirs, gates, with_p=False, with_h0=False, p_scale=0.0, expect="reference"):
    """expect = "reference": Y, Y_h, Y_c from the ONNX reference evaluator in float64;
    "onnxruntime": from onnxruntime in float32 (the reference evaluator ignores the LSTM
    attributes clip and input_forget, onnxruntime implements them)."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    bound = 1.0 / np.sqrt(H)
    u = lambda *shape, s=bound: f32(rng.uniform(-s, s, size=shape))  # noqa: E731
    tensors = {
        "X": u(T, N, I, s=1.5),
        "W": u(dirs, gates * H, I),
        "R": u(dirs, gates * H, H),
        "B": u(dirs, 2 * gates * H),
    }
    inputs = [("X", tensors["X"]), ("W", tensors["W"]), ("R", tensors["R"]), ("B", tensors["B"])]
    if with_p or with_h0:
        inputs.append(("", None))  # sequence_lens
    if with_h0:
        tensors["initial_h"] = u(dirs, N, H, s=0.5)
        inputs.append(("initial_h", tensors["initial_h"]))
    if with_p:
        inputs.append(("", None))  # initial_h
        inputs.append(("", None))  # initial_c
        tensors["P"] = u(dirs, 3 * H, s=p_scale) if p_scale > 0 else f32(np.zeros((dirs, 3 * H)))
        inputs.append(("P", tensors["P"]))
    outputs = [("Y", (T, dirs, N, H)), ("Y_h", (dirs, N, H))]
    if op == "LSTM":
        outputs.append(("Y_c", (dirs, N, H)))
    attrs = dict(attrs, hidden_size=H)

    feeds = {n: a for n, a in inputs if n}
    m64 = onnx_model(op, attrs, inputs, outputs, TensorProto.DOUBLE)
    onnx.checker.check_model(m64)
    ref = ReferenceEvaluator(m64).run(None, {k: v.astype(np.float64) for k, v in feeds.items()})
    if expect == "onnxruntime":
        import onnxruntime as ort

        m32 = onnx_model(op, attrs, inputs, outputs, TensorProto.FLOAT)
        sess = ort.InferenceSession(m32.SerializeToString(), providers=["CPUExecutionProvider"])
        ref = [r.astype(np.float64) for r in sess.run(None, feeds)]
    for (n, _), v in zip(outputs, ref):
        tensors[n] = f32(v)
    save_np(tensors, os.path.join(OUT, f"onnx_{name}.safetensors"))
    if expect == "onnxruntime":
        return

    # onnxruntime in float32, for scale (and as a second opinion on the reference).
    try:
        import onnxruntime as ort

        m32 = onnx_model(op, attrs, inputs, outputs, TensorProto.FLOAT)
        sess = ort.InferenceSession(m32.SerializeToString(), providers=["CPUExecutionProvider"])
        got = sess.run(None, feeds)
        diff = max(float(np.abs(g.astype(np.float64) - r).max()) for g, r in zip(got, ref))
        print(f"onnx_{name}: onnxruntime float32 vs reference evaluator float64 max diff = {diff:.2e}")
    except Exception as e:  # noqa: BLE001
        print(f"onnx_{name}: onnxruntime check skipped: {e}")


def keras_case(name, make):
    """A Keras 3 layer (torch backend) with random weights: its kernel, recurrent_kernel and
    bias, a batch-major input x [N, T, I] and Keras' own output y [N, T, U]
    (return_sequences=True), computed in float64 from the float32 values."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = f32(rng.uniform(-1.5, 1.5, size=(N, T, I)))
    keras.config.set_floatx("float64")
    layer = make(keras)
    layer.build((N, T, I))
    weights = [f32(rng.uniform(-0.5, 0.5, size=w.shape)) for w in layer.get_weights()]
    layer.set_weights([w.astype(np.float64) for w in weights])
    y = keras.ops.convert_to_numpy(layer(x.astype(np.float64)))
    keras.config.set_floatx("float32")
    kernel, rk, bias = weights
    save_np(
        {"kernel": kernel, "recurrent_kernel": rk, "bias": bias, "x": x, "y": f32(y)},
        os.path.join(OUT, f"keras_{name}.safetensors"),
    )
    print(f"keras_{name}: keras {keras.__version__}, bias {bias.shape}")


def main():
    pytorch_forward("lstm_2l_bi", lambda: torch.nn.LSTM(I, H, num_layers=2, bidirectional=True))
    pytorch_forward("gru_2l", lambda: torch.nn.GRU(I, H, num_layers=2))
    pytorch_forward("rnn_relu", lambda: torch.nn.RNN(I, H, nonlinearity="relu"))
    pytorch_forward("rnn_tanh_nobias", lambda: torch.nn.RNN(I, H, bias=False))
    pytorch_lstm_grad()
    # 2 layers, bidirectional, every gradient: LSTM with a projection (P = 4), GRU, RNN.
    pytorch_stack_grad(
        "lstm_proj_grad",
        lambda: torch.nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=4),
        2, 2, 4, True,
    )
    pytorch_stack_grad("gru_2l_bi_grad", lambda: torch.nn.GRU(I, H, num_layers=2, bidirectional=True), 2, 2, H, False)
    pytorch_stack_grad("rnn_2l_bi_grad", lambda: torch.nn.RNN(I, H, num_layers=2, bidirectional=True), 2, 2, H, False)

    onnx_case("lstm_bi", "LSTM", {"direction": "bidirectional"}, 2, 4, with_p=True)
    onnx_case("gru_lbr0", "GRU", {"linear_before_reset": 0}, 1, 3)
    onnx_case("gru_lbr1", "GRU", {"linear_before_reset": 1}, 1, 3, with_h0=True)
    onnx_case("rnn_reverse", "RNN", {"direction": "reverse"}, 1, 1)
    onnx_case("lstm_peep", "LSTM", {}, 1, 4, with_p=True, p_scale=1.0)
    onnx_case(
        "lstm_peep_clip_if",
        "LSTM",
        {"clip": 0.6, "input_forget": 1},
        1,
        4,
        with_p=True,
        p_scale=1.0,
        expect="onnxruntime",
    )

    keras_case("lstm", lambda k: k.layers.LSTM(H, return_sequences=True))
    keras_case("gru_reset_after", lambda k: k.layers.GRU(H, return_sequences=True, reset_after=True))
    keras_case("gru_reset_before", lambda k: k.layers.GRU(H, return_sequences=True, reset_after=False))
    keras_case("simple_rnn_relu", lambda k: k.layers.SimpleRNN(H, return_sequences=True, activation="relu"))

    for f in sorted(os.listdir(OUT)):
        if f.endswith(".safetensors"):
            print(f"{f}: {os.path.getsize(os.path.join(OUT, f))} bytes")


if __name__ == "__main__":
    main()
