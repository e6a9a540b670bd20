#!/usr/bin/env python3
"""Side-by-side timing of fusedrnn, PyTorch (oneDNN LSTM; native GRU/RNN) and onnxruntime on the
speed issue's shapes, all with the same thread count, alternating between libraries in rounds.

Run by hand, never in CI, from a virtual environment outside the repository:

    python3 -m venv /opt/venv && /opt/venv/bin/pip install torch onnxruntime onnx numpy matplotlib
    cargo build --release --example bench_shapes
    /opt/venv/bin/python benches/compare.py [--threads 2] [--rounds 3] [--repeat 4] [--only lstm-infer] [--interleave] [--png ratios.png]

fusedrnn is timed by the `bench_shapes` example, PyTorch and onnxruntime in this process.
Each round takes the shapes one after another. By default each shape is one `bench_shapes`
process (`--runs` runs), then `--runs` runs of PyTorch, then of onnxruntime. With
`--interleave` one `bench_shapes --serve` process runs beside this one, and each shape
alternates the three libraries `--runs` times, each turn one untimed run (its caches warm
again after the others') and one timed run, a pause between libraries (so threads spinning
after one library's call have gone to sleep before the next one's): the times behind one
ratio are then taken within a second or two of each other. (On the development guest both
schemes gave ratios of the same spread.) Prints a table of milliseconds and ratios (>1 means fusedrnn is faster) and optionally writes a bar chart of the ratios. Before the first
measurement and after the last it prints the machine's limits of the moment (`bench_shapes
--limits`: FMA peak, L2 and L3 read bandwidth, on 1 and on the given threads), to read the
GFLOP/s against.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

SHAPES = [
    # name, cell, T, N, H, mode
    ("lstm-train-64x512", "lstm", 50, 64, 512, "train"),
    ("gru-train-64x512", "gru", 50, 64, 512, "train"),
    ("lstm-train-32x1024", "lstm", 25, 32, 1024, "train"),
    ("rnn-train-64x1024", "rnn", 50, 64, 1024, "train"),
    ("lstm-infer-1x256", "lstm", 150, 1, 256, "infer"),
    ("gru-infer-1x256", "gru", 150, 1, 256, "infer"),
    ("lstm-infer-4x1024", "lstm", 25, 4, 1024, "infer"),
    ("lstm-infer-64x512", "lstm", 50, 64, 512, "infer"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


STAT = "median"


def median_time(fn, runs):
    fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts) if STAT == "min" else statistics.median(ts)


def torch_runner(torch, cell, t, n, h, mode):
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](h, h)
    x = torch.randn(t, n, h)
    if mode == "infer":
        mod.eval()

        def run():
            with torch.inference_mode():
                mod(x)
    else:
        xg = x.clone().requires_grad_(True)

        def run():
            y, _ = mod(xg)
            y.sum().backward()
    return mod, x, run


def ort_runner(torch, ort, mod, x, threads):
    path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    torch.onnx.export(mod, (x,), path, input_names=["x"], dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    xn = x.numpy()
    return lambda: sess.run(None, {"x": xn})


def ours(threads, runs, shape):
    """fusedrnn's time for one shape, from a `bench_shapes` process."""
    exe = os.path.join(ROOT, "target", "release", "examples", "bench_shapes")
    out = subprocess.run([exe, "--threads", str(threads), "--runs", str(runs), "--shape", shape],
                         check=True, capture_output=True, text=True).stdout
    col = 3 if STAT == "min" else 1
    return {line.split()[0]: float(line.split()[col]) / 1e3 for line in out.splitlines() if line.strip()}


class Server:
    """A `bench_shapes --serve` process: `run(shape)` times one run of fusedrnn, in seconds."""

    def __init__(self, threads):
        exe = os.path.join(ROOT, "target", "release", "examples", "bench_shapes")
        self.p = subprocess.Popen([exe, "--threads", str(threads), "--serve"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self, shape):
        """One untimed run (caches warm again after the other libraries'), then a timed one."""
        self.p.stdin.write(f"{shape} 2\n")
        self.p.stdin.flush()
        words = self.p.stdout.readline().split()
        assert words and words[0] == shape, f"bench_shapes --serve answered {words!r}"
        return float(words[2]) / 1e3

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def once(fn):
    """As `Server.run`: one untimed run, then a timed one."""
    fn()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# Pause between two libraries' runs, in seconds: libgomp's and onnxruntime's workers spin for
# a while after a parallel region before they sleep.
SETTLE = 0.2


def limits(threads, when):
    """The machine's limits now, from `bench_shapes --limits` (one line)."""
    exe = os.path.join(ROOT, "target", "release", "examples", "bench_shapes")
    out = subprocess.run([exe, "--threads", str(threads), "--limits"],
                         check=True, capture_output=True, text=True).stdout
    vals = [line.split()[1:4] for line in out.splitlines() if line.startswith("limit ")]
    print(f"limits {when}: " + ", ".join(f"{name} {v} {unit}" for name, v, unit in vals))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default=None)
    ap.add_argument("--png", default=None)
    ap.add_argument("--repeat", type=int, default=1,
                    help="whole measurements to make; prints each, then the median ms and every ratio")
    ap.add_argument("--stat", choices=["median", "min"], default="median",
                    help="per round: the median run, or the fastest (steadier on a noisy VM)")
    ap.add_argument("--interleave", action="store_true",
                    help="alternate single runs of the libraries, fusedrnn in a bench_shapes --serve process")
    a = ap.parse_args()
    global STAT
    STAT = a.stat
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import torch
    torch.set_num_threads(a.threads)
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    shapes = [s for s in SHAPES if not a.only or a.only in s[0]]
    runners = {}
    for s in shapes:
        name, cell, t, n, h, mode = s
        mod, x, run = torch_runner(torch, cell, t, n, h, mode)
        runners[name] = (run, ort_runner(torch, ort, mod, x, a.threads) if ort and mode == "infer" else None)
    pick = min if a.stat == "min" else statistics.median
    print(f"threads={a.threads} stat={a.stat} torch={torch.__version__} ort={ort.__version__ if ort else '-'}")
    # One measurement: `rounds` alternating rounds, each library's pick over them.
    tables = []
    limits(a.threads, "before")
    server = Server(a.threads) if a.interleave else None
    if server:
        # Each library's first (untimed) run of each shape: buffers, packing, sessions.
        for s in shapes:
            server.run(s[0])
            runners[s[0]][0]()
            if runners[s[0]][1]:
                runners[s[0]][1]()
    for rep in range(a.repeat):
        res = {s[0]: {"fusedrnn": [], "torch": [], "ort": []} for s in shapes}
        for _ in range(a.rounds):
            # Shape by shape, the libraries back to back: this guest's speed drifts within
            # seconds, so the times of one ratio are taken as close together as possible.
            for s in shapes:
                name = s[0]
                run_t, run_o = runners[name]
                if server:
                    ts = {"fusedrnn": [], "torch": [], "ort": []}
                    for _ in range(a.runs):
                        ts["fusedrnn"].append(server.run(name))
                        time.sleep(SETTLE)
                        ts["torch"].append(once(run_t))
                        time.sleep(SETTLE)
                        if run_o:
                            ts["ort"].append(once(run_o))
                            time.sleep(SETTLE)
                    for lib, v in ts.items():
                        if v:
                            res[name][lib].append(min(v) if STAT == "min" else statistics.median(v))
                    continue
                res[name]["fusedrnn"].append(ours(a.threads, a.runs, name)[name])
                res[name]["torch"].append(median_time(run_t, a.runs))
                if run_o:
                    res[name]["ort"].append(median_time(run_o, a.runs))
        table = {name: {k: pick(v) if v else None for k, v in r.items()} for name, r in res.items()}
        tables.append(table)
        if a.repeat > 1:
            print(f"-- measurement {rep + 1} of {a.repeat}")
        print_table(shapes, [table])
    if server:
        server.close()
    limits(a.threads, "after")
    if a.repeat > 1:
        print(f"-- median ms of {a.repeat} measurements; ratios of each")
        print_table(shapes, tables)
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(10, 4.5))
        for j, (lib, label) in enumerate([("torch", "vs PyTorch"), ("ort", "vs onnxruntime")]):
            xs, meds, lo, hi = [], [], [], []
            for i, s in enumerate(shapes):
                rs = [t[s[0]][lib] / t[s[0]]["fusedrnn"] for t in tables if t[s[0]][lib]]
                if not rs:
                    continue
                m = statistics.median(rs)
                xs.append(i + (j - 0.5) * 0.38)
                meds.append(m)
                lo.append(m - min(rs))
                hi.append(max(rs) - m)
            ax.bar(xs, meds, 0.38, yerr=[lo, hi], capsize=3, label=label)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks(range(len(shapes)), [s[0] for s in shapes], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("speed-up of fusedrnn (time ratio)")
        what = f"median and range of {a.repeat} measurements" if a.repeat > 1 else "one measurement"
        ax.set_title(f"fusedrnn vs PyTorch {torch.__version__.split('+')[0]} / onnxruntime "
                     f"{ort.__version__ if ort else '-'}, {a.threads} threads ({what})", fontsize=9)
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.png, dpi=110)
        print("wrote", a.png)


def print_table(shapes, tables):
    """Median ms over `tables` (one per measurement) and every measurement's ratios."""
    print(f"{'shape':22} {'fusedrnn ms':>12} {'torch ms':>10} {'ort ms':>9}  vs torch / vs ort")
    for s in shapes:
        name = s[0]
        med = {k: statistics.median([t[name][k] for t in tables]) if tables[0][name][k] else None
               for k in ("fusedrnn", "torch", "ort")}
        vt = " ".join(f"{t[name]['torch'] / t[name]['fusedrnn']:.2f}x" for t in tables)
        vo = " ".join(f"{t[name]['ort'] / t[name]['fusedrnn']:.2f}x" for t in tables) if med["ort"] else "-"
        print(f"{name:22} {med['fusedrnn']*1e3:12.3f} {med['torch']*1e3:10.3f} "
              f"{(med['ort']*1e3 if med['ort'] else float('nan')):9.3f}  {vt} / {vo}")


if __name__ == "__main__":
    sys.exit(main())
