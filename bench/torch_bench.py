#!/usr/bin/python3
"""torch_bench.py - the PyTorch side of `make bench`: the same network, data
and measures as the built program's `bench` subcommand.

    torch_bench.py MODEL.rnet --data DIR [--mode train|infer|latency]
                   [--path eager|best] [--batch N] [--seconds S | --steps K]
                   [--warmup K] [--threads T] [--program PROG] [--csv]

The network is built from the .rnet file by tools/torch_interop.py (imported,
not copied): torchvision's ResNet when the graph is one (same names, shapes,
strides), else the graph of `rnetc --dump-ir` as torch.nn modules.  The
training settings (normalisation, optimizer, learning rate, weight decay and
its exclusions, label smoothing) are read from `PROG info` when --program is
given, so both sides run the model's train section.

  train    PyTorch's normal eager loop over shuffled real batches (a fresh
           permutation each epoch, whole batches only): index the batch out
           of the normalised training set, zero_grad(), forward, cross
           entropy, backward(), SGD step.  Each step is timed whole.
  infer    forward in inference mode over real test batches in file order,
           the batch prepared before the clock starts.  --path best (the
           default): torch.jit.trace + torch.jit.freeze +
           torch.jit.optimize_for_inference under torch.no_grad(); --path
           eager: the module in eval mode under torch.no_grad().
  latency  the same at batch 1: median and 90th-percentile milliseconds.

PyTorch keeps its defaults except the thread count (torch.set_num_threads).
Output: the records of the program's `bench --csv` (meta, result), with side
"torch-eager" or "torch-best"; without --csv a short report.  Under
bench/bench.sh's allocation counter (LD_PRELOAD) the malloc-family calls of
the timed steps are counted too.
"""
import argparse
import ctypes
import gzip
import os
import re
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import torch_interop as ti  # noqa: E402

PROG = "torch_bench.py"


class Error(Exception):
    """a user-facing failure: one line, exit status 1"""


# ---- data ------------------------------------------------------------------

def find_split(d, train):
    """the image and label files of a split, as rn_dataset_load finds them
    (the plain file wins over .gz)"""
    stem = "train" if train else "t10k"
    out = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        base = os.path.join(d, "%s-%s" % (stem, kind))
        for p in (base, base + ".gz"):
            if os.path.isfile(p):
                out.append(p)
                break
        else:
            raise Error("%s: no %s or %s.gz" % (d, base, base))
    return out


def read_idx(path):
    """an IDX file of unsigned bytes -> (dims, bytes)"""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 8 or not 1 <= data[3] <= 4:
        raise Error("%s: not an IDX file of unsigned bytes" % path)
    nd = data[3]
    dims = struct.unpack(">%dI" % nd, data[4:4 + 4 * nd])
    n = 1
    for v in dims:
        n *= v
    if len(data) != 4 + 4 * nd + n:
        raise Error("%s: %d bytes of data, the header says %d" % (path, len(data) - 4 - 4 * nd, n))
    return dims, data[4 + 4 * nd:]


def load_split(torch, d, train, shape, mean, std):
    """(x float32 (n, C, H, W) normalised as the program does, y int64 (n))"""
    import numpy as np
    ip, lp = find_split(d, train)
    dims, px = read_idx(ip)
    ldims, lab = read_idx(lp)
    chw = (1,) + tuple(dims[1:]) if len(dims) == 3 else tuple(dims[1:])
    if chw != tuple(shape):
        raise Error("%s: images are %s, the model takes %s" % (ip, "x".join(map(str, chw)),
                                                              "x".join(map(str, shape))))
    if ldims[0] != dims[0]:
        raise Error("%s has %d labels for %d images" % (lp, ldims[0], dims[0]))
    x = np.frombuffer(px, np.uint8).reshape((dims[0],) + chw).astype(np.float32) / np.float32(255)
    C = chw[0]
    m = np.array((mean * C)[:C] if len(mean) == 1 else mean, np.float32)[None, :, None, None]
    s = np.array((std * C)[:C] if len(std) == 1 else std, np.float32)[None, :, None, None]
    x = ((x - m) / s).astype(np.float32)
    y = np.frombuffer(lab, np.uint8).astype(np.int64)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.copy()), ip


# ---- the model's training settings -------------------------------------------

def train_settings(program):
    """the train section as `PROG info` prints it; PyTorch-like defaults
    without a program"""
    s = {"optimizer": "sgd", "momentum": 0.9, "nesterov": False, "lr": 0.1, "weight_decay": 0.0,
         "no_decay_bn_bias": False, "label_smoothing": 0.0, "mean": [0.0], "std": [1.0],
         "from": "defaults (no --program)"}
    if not program:
        return s
    r = subprocess.run([program, "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise Error("%s info failed: %s" % (program, r.stderr.strip()))
    t = r.stdout
    m = re.search(r"^\s*optimizer\s+(\w+)(.*)$", t, re.M)
    if m:
        s["optimizer"] = m.group(1)
        mm = re.search(r"momentum ([-\d.eE+]+)", m.group(2))
        s["momentum"] = float(mm.group(1)) if mm else 0.0
        s["nesterov"] = "nesterov" in m.group(2)
    m = re.search(r"^\s*lr\s+([-\d.eE+]+)", t, re.M)
    if m:
        s["lr"] = float(m.group(1))
    m = re.search(r"^\s*decay\s+([-\d.eE+]+)(.*)$", t, re.M)
    if m:
        s["weight_decay"] = float(m.group(1))
        s["no_decay_bn_bias"] = "not on batch norm" in m.group(2)
    m = re.search(r"^\s*smoothing\s+([-\d.eE+]+)", t, re.M)
    if m:
        s["label_smoothing"] = float(m.group(1))
    mean, std = ti.model_norm(program)
    if mean:
        s["mean"], s["std"] = mean, std
    s["from"] = "%s info" % program
    return s


def make_optimizer(torch, model, s):
    if s["optimizer"] != "sgd":
        print("%s: warning: the model's optimizer is %s; PyTorch runs SGD with momentum"
              % (PROG, s["optimizer"]), file=sys.stderr)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        bn_or_bias = p.ndim == 1  # batch-norm weights and biases, every bias
        (no_decay if s["no_decay_bn_bias"] and bn_or_bias else decay).append(p)
    groups = [{"params": decay, "weight_decay": s["weight_decay"]}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return torch.optim.SGD(groups, lr=s["lr"], momentum=s["momentum"],
                           nesterov=s["nesterov"] and s["momentum"] > 0)


# ---- what the machine is doing --------------------------------------------------

def alloc_counter():
    """bench.sh's LD_PRELOAD counter of malloc-family calls, or None"""
    try:
        f = ctypes.CDLL(None).rn_alloc_calls
    except (AttributeError, OSError):
        return None
    f.restype = ctypes.c_ulong
    f.argtypes = []
    return f


def denormals(torch):
    """whether this thread flushes subnormal inputs (DAZ): 1e-39 * 1 == 0"""
    v = (torch.tensor([1e-39], dtype=torch.float32) * 1.0).item()
    return "flushed (DAZ on)" if v == 0.0 else "not flushed (PyTorch's default)"


def config_summary(torch):
    """what torch.__config__.show() says about oneDNN, OpenMP, BLAS and the
    CPU capability, joined with '; '"""
    keep = []
    for line in torch.__config__.show().splitlines():
        for item in line.strip(" -").split(", "):
            item = re.sub(r"^Build settings: ", "", item.strip())
            if re.match(r"(BLAS_INFO|LAPACK_INFO|USE_MKLDNN|USE_MKL|USE_OPENMP)=", item) or \
                    re.match(r"(Intel\(R\) MKL-DNN|oneDNN|OpenMP \d|CPU capability)", item):
                keep.append(item)
    return "; ".join(dict.fromkeys(keep)) or "unknown"


def env_summary():
    keys = sorted(k for k in os.environ
                  if re.match(r"(MALLOC_|GLIBC_TUNABLES|LD_PRELOAD|OMP_|KMP_|GOMP_|DNNL_|ONEDNN_|"
                              r"MKL|TORCH_|PYTORCH_)", k))
    return "; ".join("%s=%s" % (k, os.environ[k]) for k in keys) or "none set"


# ---- the measurements -------------------------------------------------------------

def quantile(ts, q):
    ts = sorted(ts)
    n = len(ts)
    if q == 0.5:
        return ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])
    import math
    k = max(0, min(n - 1, int(math.ceil(q * n)) - 1))
    return ts[k]


def timed(step, warmup, seconds, steps, counter):
    """run step() warmup times, then timed until seconds pass or steps are
    done: (times, allocations or None)"""
    for _ in range(warmup):
        step()
    times = []
    a0 = counter() if counter else None
    wall0 = time.perf_counter()
    while True:
        times.append(step())
        if steps:
            if len(times) >= steps:
                break
        elif time.perf_counter() - wall0 >= seconds:
            break
    a1 = counter() if counter else None
    return times, (a1 - a0 if counter else None)


def main(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="the .rnet file")
    p.add_argument("--data", required=True, metavar="DIR", help="directory with the IDX files")
    p.add_argument("--mode", choices=["train", "infer", "latency"], default="train")
    p.add_argument("--path", choices=["eager", "best"], default=None,
                   help="infer/latency: best (trace+freeze+optimize_for_inference, the default) "
                        "or eager; train is always eager")
    p.add_argument("--batch", type=int, default=0, help="0: 64 (train), 256 (infer); latency 1")
    p.add_argument("--seconds", type=float, default=0, help="timed seconds; 0: 3 unless --steps")
    p.add_argument("--steps", type=int, default=0, help="time exactly K steps")
    p.add_argument("--warmup", type=int, default=-1, help="untimed steps; -1: 3 (latency 20)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads; 0: default")
    p.add_argument("--program", help="the program rnetc built from MODEL (its info gives the "
                                     "training settings)")
    p.add_argument("--csv", action="store_true", help="machine-readable records")
    a = p.parse_args(argv)
    if a.mode == "train" and a.path == "best":
        p.error("--path best is for infer and latency; training runs eager")
    if a.mode == "latency" and a.batch > 1:
        p.error("--batch: latency is measured at batch 1")
    if a.batch < 0 or a.steps < 0 or a.seconds < 0 or a.warmup < -1 or a.threads < 0:
        p.error("--batch, --steps, --seconds, --threads must not be negative")
    if a.seconds and a.steps:
        p.error("give --seconds or --steps, not both")
    path = "eager" if a.mode == "train" else (a.path or "best")
    N = 1 if a.mode == "latency" else a.batch or (64 if a.mode == "train" else 256)
    warmup = a.warmup if a.warmup >= 0 else (20 if a.mode == "latency" else 3)
    seconds = a.seconds or 3.0

    torch = ti.torch_or_die()
    if a.threads:
        torch.set_num_threads(a.threads)
    g = ti.load_graph(a.model)
    s = train_settings(a.program)
    torch.manual_seed(1)
    depth = ti.torchvision_depth(g)
    if depth:
        model, built = ti.torchvision_resnet(depth, g.classes, g.input_shape[0]), \
            "torchvision-style ResNet-%d (tools/torch_interop.py)" % depth
    else:
        model, built = ti.ir_model(g), "graph of rnetc --dump-ir (tools/torch_interop.py)"
        for m in model.modules():  # rnet's initialisation
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    x_all, y_all, src = load_split(torch, a.data, a.mode == "train", g.input_shape, s["mean"],
                                   s["std"])
    n = x_all.shape[0]
    if a.mode == "train" and n < N:
        raise Error("%s has %d images, fewer than one batch of %d" % (src, n, N))
    counter = alloc_counter()
    side = "torch-" + path

    if a.mode == "train":
        model.train()
        opt = make_optimizer(torch, model, s)
        lossf = torch.nn.CrossEntropyLoss(label_smoothing=s["label_smoothing"])
        gen = torch.Generator().manual_seed(1)
        state = {"perm": torch.randperm(n, generator=gen), "k": 0, "losses": []}
        per_epoch = n // N

        def step():
            t0 = time.perf_counter()
            if state["k"] == per_epoch:
                state["perm"], state["k"] = torch.randperm(n, generator=gen), 0
            idx = state["perm"][state["k"] * N:(state["k"] + 1) * N]
            state["k"] += 1
            xb, yb = x_all[idx], y_all[idx]
            opt.zero_grad()
            loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()
            t = time.perf_counter() - t0
            state["losses"].append(loss.detach())
            return t
    else:
        model.eval()
        state = {"pos": 0}

        def next_batch():
            idx = torch.arange(state["pos"], state["pos"] + N) % n
            state["pos"] = (state["pos"] + N) % n
            return x_all[idx].contiguous()

        with torch.no_grad():
            if path == "best":
                traced = torch.jit.trace(model, next_batch())
                fn = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
            else:
                fn = model

        def step():
            xb = next_batch()
            with torch.no_grad():
                t0 = time.perf_counter()
                fn(xb)
                return time.perf_counter() - t0

    times, allocs = timed(step, warmup, seconds, a.steps, counter)
    if a.mode == "train":
        last = torch.stack(state["losses"][-len(times):])
        if not bool(torch.isfinite(last).all()):
            raise Error("training diverged: the loss is not finite")
    total = sum(times)
    ips = len(times) * N / total if total > 0 else 0.0
    med, p90 = 1e3 * quantile(times, 0.5), 1e3 * quantile(times, 0.9)
    name = g.name

    if a.csv:
        print("# meta,side,model,key,value")
        meta = [("version", "torch %s (%s)" % (torch.__version__, torch.__file__)),
                ("threads", "%d (intra-op; inter-op %d)" % (torch.get_num_threads(),
                                                            torch.get_num_interop_threads())),
                ("network", built),
                ("path", {"eager": "eager (nn.Module%s)" % (", train mode" if a.mode == "train"
                                                             else " in eval mode, no_grad"),
                          "best": "torch.jit.trace + torch.jit.freeze + "
                                  "torch.jit.optimize_for_inference, no_grad"}[path]),
                ("denormals", denormals(torch)),
                ("allocator", "PyTorch's default CPU allocator (c10 alloc_cpu: posix_memalign "
                              "per tensor, no caching); env: " + env_summary()),
                ("build", config_summary(torch))]
        if a.mode == "train":
            meta.append(("optimizer", "sgd momentum %g%s weight_decay %g%s lr %g constant "
                                      "label_smoothing %g (from %s)"
                         % (s["momentum"], " nesterov" if s["nesterov"] else "",
                            s["weight_decay"], " (not on bn and biases)"
                            if s["no_decay_bn_bias"] else "", s["lr"], s["label_smoothing"],
                            s["from"])))
        meta.append(("data", "%s (%d images)" % (src, n)))
        if allocs is not None:
            meta.append(("allocations_in_timed_steps", "%d in %d steps" % (allocs, len(times))))
        for k, v in meta:
            print("meta,%s,%s,%s,%s" % (side, name, k, v.replace("\n", " ")))
        print("# result,side,model,mode,batch,threads,steps,seconds,images_per_s,median_ms,"
              "p90_ms")
        print("result,%s,%s,%s,%d,%d,%d,%.3f,%.1f,%.4f,%.4f"
              % (side, name, a.mode, N, torch.get_num_threads(), len(times), total, ips, med,
                 p90))
    else:
        print("torch bench %s (%s): %s, %s, batch %d, %d threads" %
              (name, built, a.mode, path, N, torch.get_num_threads()))
        print("  denormals   %s" % denormals(torch))
        if allocs is not None:
            print("  allocations %d malloc-family calls in the %d timed steps" % (allocs, len(times)))
        if a.mode == "latency":
            print("  timed       %d single-image calls in %.2f s: median %.3f ms, p90 %.3f ms "
                  "(%.0f img/s)" % (len(times), total, med, p90, ips))
        else:
            print("  timed       %d steps in %.2f s: %.1f img/s; per step median %.2f ms, p90 "
                  "%.2f ms" % (len(times), total, ips, med, p90))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (Error, ti.Error) as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        sys.exit(1)
