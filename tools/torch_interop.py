#!/usr/bin/python3
"""torch_interop.py - rnet checkpoints to and from PyTorch, and a parity check.

    torch_interop.py to-torch   MODEL.rnet WEIGHTS.safetensors OUT.pt
    torch_interop.py from-torch MODEL.rnet STATE.pt OUT.safetensors
    torch_interop.py compare    MODEL.rnet WEIGHTS.safetensors [options]
    torch_interop.py init       resnet18|resnet34|resnet50|preact_resnet18|MODEL.rnet OUT.pt
                                [--seed S] [--random-bn] [--classes N]

The network is whatever `rnetc MODEL.rnet --dump-ir` prints: this script
parses that text (the format of compiler/ir.c's ir_dump) and builds the same
graph out of torch.nn modules, registered under the layer names, so the
state_dict keys are rnet's parameter names (torchvision's, for the
torchvision-shaped models).  When the graph is a torchvision ResNet
(18/34/50/101/152: same names, shapes, strides and paddings), the script's
own copy of torchvision's ResNet (BasicBlock, Bottleneck with the stride on
conv2, downsample = Sequential(conv1x1, bn)) is built as well, so a model
written independently of rnetc is checked too; with torchvision installed,
torchvision's own model is a third.

Checkpoints are rnet's safetensors files (runtime/host/rn_ckpt.c): every tensor
float32 under its name, metadata format "rnet-1", the model's name and the
FNV-1a 64 hash of the .rnet file's bytes as 16 hex digits (source_hash).
They are read and written here with the standard library and numpy; no
safetensors package is needed.  PyTorch's num_batches_tracked counters are
not part of rnet's checkpoints: from-torch drops them, to-torch sets them
to 0.

compare builds the program with rnetc (or takes --program), feeds both it
and the PyTorch model(s) the same inputs in inference mode, and prints the
largest relative difference of the logits, max|a - b| / max|b| with b
PyTorch's (the measure the program's `check` uses); PyTorch in float64 is
shown as well, to tell float32 rounding from a real disagreement.  Inputs:
--random N tensors drawn from N(0, 1) with --seed (fed as they are, through
`predict --raw`), and --idx FILE --count K, the first K images of an IDX
file (normalised by the program with the model's mean and std, and here
with the values `info` prints).  The exit status is 1 when a difference
exceeds --tol.
"""
import argparse
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNETC = os.environ.get("RNETC") or os.path.join(ROOT, "out", "rnetc")
PROG = "torch_interop.py"


class Error(Exception):
    """a user-facing failure: printed as one line, exit status 1"""


def torch_or_die():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise Error("PyTorch is not importable by %s (Debian: apt-get install python3-torch)"
                    % sys.executable)
    return torch


# ---- the .rnet model: IR text, hash -------------------------------------

def fnv1a64(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def source_hash(path):
    with open(path, "rb") as f:
        return "%016x" % fnv1a64(f.read())


class Node:
    def __init__(self, id, op, inputs, attrs, shape, name):
        self.id, self.op, self.inputs, self.shape, self.name = id, op, inputs, shape, name
        self.kh = self.kw = self.stride = 1
        self.pad, self.groups, self.bias = 0, 1, False
        self.p = 0.0      # dropout
        self.params = []  # (name, shape, is_buffer)
        m = re.fullmatch(r" (\d+)x(\d+)/(\d+) pad (\d+)( groups (\d+))?( bias)?", attrs)
        if m:
            self.kh, self.kw, self.stride, self.pad = (int(m.group(i)) for i in range(1, 5))
            self.groups = int(m.group(6)) if m.group(6) else 1
            self.bias = bool(m.group(7))
        elif re.fullmatch(r" stride (\d+)", attrs):
            self.stride = int(attrs.split()[1])
        elif re.fullmatch(r" p [\d.eE+-]+", attrs):
            self.p = float(attrs.split()[1])
        elif attrs:
            raise Error("cannot read the attributes '%s' of %s in the IR" % (attrs.strip(), name))


class Graph:
    """the graph of --dump-ir: nodes in topological order, the output id"""

    NODE = re.compile(r"  %(\d+) = (\w+)((?: %\d+(?:, %\d+)*)?)(.*?) : (\d+)x(\d+)x(\d+)"
                      r"  # (\S+)(?: \(line \d+\))?")
    PARAM = re.compile(r"      (param |buffer) (\S+) \[([\dx]+)\]( no_decay)?")

    def __init__(self, text, label):
        self.name, self.nodes, self.output = None, [], None
        for line in text.splitlines():
            m = self.NODE.fullmatch(line)
            if m:
                ins = [int(t) for t in re.findall(r"%(\d+)", m.group(3))]
                shape = tuple(int(m.group(i)) for i in (5, 6, 7))
                n = Node(int(m.group(1)), m.group(2), ins, m.group(4), shape, m.group(8))
                if n.id != len(self.nodes):
                    raise Error("%s: node %%%d out of order in the IR" % (label, n.id))
                self.nodes.append(n)
                continue
            m = self.PARAM.fullmatch(line)
            if m and self.nodes:
                shape = tuple(int(d) for d in m.group(3).split("x"))
                self.nodes[-1].params.append((m.group(2), shape, m.group(1) == "buffer"))
                continue
            m = re.fullmatch(r"graph (\S+) \{", line)
            if m:
                self.name = m.group(1)
                continue
            m = re.fullmatch(r"  output %(\d+)", line)
            if m:
                self.output = int(m.group(1))
                continue
            if line != "}":
                raise Error("%s: cannot read this line of the IR: %r" % (label, line))
        if not self.name or not self.nodes or self.nodes[0].op != "input":
            raise Error("%s: the IR has no graph or no input" % label)
        if self.output is None:
            self.output = len(self.nodes) - 1
        self.input_shape = self.nodes[0].shape
        self.classes = self.nodes[self.output].shape[0]

    def params(self):
        """(name, shape, is_buffer) in the checkpoint's order"""
        return [p for n in self.nodes for p in n.params]


def run(cmd, what):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise Error("%s failed (exit %d): %s" % (what, r.returncode,
                                                 (r.stderr or r.stdout).strip()[-2000:]))
    return r.stdout


def load_graph(model_path):
    if not os.path.isfile(RNETC):
        raise Error("%s not found (run make, or set RNETC)" % RNETC)
    return Graph(run([RNETC, model_path, "--dump-ir"], "rnetc --dump-ir " + model_path),
                 model_path)


# ---- safetensors ----------------------------------------------------------

ST_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4",
             "U8": "u1", "I8": "i1"}


def read_safetensors(path):
    """-> (dict name -> numpy array, metadata dict)"""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise Error("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise Error("%s: header length %d runs past the end of the file" % (path, n))
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Error("%s: the header is not JSON: %s" % (path, e))
    meta = header.pop("__metadata__", {}) or {}
    body = data[8 + n:]
    out = {}
    for name, t in header.items():
        dt = ST_DTYPES.get(t.get("dtype"))
        if dt is None:
            raise Error("%s: tensor '%s' has dtype %s, which this script does not read"
                        % (path, name, t.get("dtype")))
        b, e = t["data_offsets"]
        count = int(np.prod(t["shape"], dtype=np.int64))
        if not 0 <= b <= e <= len(body) or e - b != count * np.dtype(dt).itemsize:
            raise Error("%s: tensor '%s' has bad data_offsets %s" % (path, name, [b, e]))
        out[name] = np.frombuffer(body, dtype=dt, count=count, offset=b).reshape(t["shape"])
    return out, meta


def _crc32c_table():
    t = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t[i] = c
    return t


def crc32c(data):
    """CRC-32C (Castagnoli) of bytes, as rn_crc32c(0, data, n), vectorised:
    the reflected register without its initial and final inversion is
    linear, so the data (its first four bytes inverted, which is what the
    initial value does) is cut into chunks, front-padded with zeros (which
    leave a zero register unchanged), all chunks are run side by side, and
    the chunks' registers are combined with the linear map that L zero
    bytes apply to a register."""
    t = _crc32c_table()
    m = np.frombuffer(data, dtype=np.uint8).copy()
    if len(m) < 4:
        c = 0xFFFFFFFF
        for b in m:
            c = int(t[(c ^ int(b)) & 0xFF]) ^ (c >> 8)
        return c ^ 0xFFFFFFFF
    m[:4] ^= 0xFF
    L = 1 << 14
    m = np.concatenate([np.zeros(-len(m) % L, dtype=np.uint8), m]).reshape(-1, L)
    regs = np.zeros(m.shape[0], dtype=np.uint32)
    units = np.array([1 << b for b in range(32)], dtype=np.uint32)  # the map of L zero bytes
    for j in range(L):
        regs = t[(regs ^ m[:, j]) & 0xFF] ^ (regs >> 8)
        units = t[units & 0xFF] ^ (units >> 8)
    units = [int(u) for u in units]
    shift = [[0] * 256 for _ in range(4)]  # per byte of a register, its image
    for k in range(4):
        for v in range(256):
            r = 0
            for b in range(8):
                if v >> b & 1:
                    r ^= units[8 * k + b]
            shift[k][v] = r
    acc = 0
    for r in regs.tolist():
        acc = (shift[0][acc & 0xFF] ^ shift[1][acc >> 8 & 0xFF] ^ shift[2][acc >> 16 & 0xFF]
               ^ shift[3][acc >> 24]) ^ r
    return acc ^ 0xFFFFFFFF


def write_safetensors(path, tensors, meta):
    """tensors: list of (name, float32 numpy array), written in that order,
    with the CRC-32C of their data as rnet records it (tensors_crc32c:
    every load checks it)"""
    header, off, blobs = {"__metadata__": dict(meta)}, 0, []
    for name, a in tensors:
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"]["tensors_crc32c"] = "%08x" % crc32c(b"".join(blobs))
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise Error("cannot write %s: %s" % (path, e))


def check_checkpoint(graph, tensors, meta, model_path, path):
    """refuse what rnet itself would refuse; warn where it would warn"""
    if meta.get("format", "rnet-1") != "rnet-1":
        raise Error("%s: checkpoint format '%s', expected 'rnet-1'" % (path, meta["format"]))
    if meta.get("model", graph.name) != graph.name:
        raise Error("%s: these are weights of model '%s', %s is model '%s'"
                    % (path, meta["model"], model_path, graph.name))
    h = meta.get("source_hash")
    if h and h != source_hash(model_path):
        print("%s: warning: %s was saved from a different source of model '%s'"
              % (PROG, path, graph.name), file=sys.stderr)
    for name, shape, _ in graph.params():
        if name not in tensors:
            raise Error("%s: no tensor '%s'" % (path, name))
        if tuple(tensors[name].shape) != shape:
            raise Error("%s: tensor '%s' has shape %s, model '%s' needs %s"
                        % (path, name, list(tensors[name].shape), graph.name, list(shape)))


# ---- PyTorch models ----------------------------------------------------------

def ir_model(graph):
    """the graph as an nn.Module whose state_dict keys are rnet's names"""
    torch = torch_or_die()
    nn, F = torch.nn, torch.nn.functional

    class IRNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.graph = graph
            for n in graph.nodes:
                m = self._module(n)
                if m is not None:
                    self._put(n.name, m)

        def _module(self, n):
            src = graph.nodes[n.inputs[0]].shape if n.inputs else None
            if n.op == "conv":
                w = dict((p[0].rsplit(".", 1)[1], p[1]) for p in n.params)["weight"]
                return nn.Conv2d(w[1] * n.groups, w[0], (n.kh, n.kw), n.stride, n.pad,
                                 groups=n.groups, bias=n.bias)
            if n.op == "bn":
                return nn.BatchNorm2d(n.shape[0], eps=1e-5, momentum=0.1)
            if n.op == "fc":
                return nn.Linear(src[0] * src[1] * src[2], n.shape[0])
            return None

        def _put(self, path, m):
            parent, parts = self, path.split(".")
            for p in parts[:-1]:
                if p not in parent._modules:
                    parent.add_module(p, nn.Module())
                parent = parent._modules[p]
            parent.add_module(parts[-1], m)

        def _get(self, path):
            m = self
            for p in path.split("."):
                m = m._modules[p]
            return m

        def forward(self, x):
            v = []
            for n in self.graph.nodes:
                a = [v[i] for i in n.inputs]
                if n.op == "input":
                    y = x
                elif n.op in ("conv", "bn"):
                    y = self._get(n.name)(a[0])
                elif n.op == "fc":
                    y = self._get(n.name)(a[0].flatten(1))[:, :, None, None]
                elif n.op == "relu":
                    y = F.relu(a[0])
                elif n.op == "dropout":  # another mask than rnet's when training
                    y = F.dropout(a[0], n.p, self.training)
                elif n.op == "maxpool":
                    y = F.max_pool2d(a[0], (n.kh, n.kw), n.stride, n.pad)
                elif n.op == "avgpool":
                    y = F.avg_pool2d(a[0], (n.kh, n.kw), n.stride, n.pad, count_include_pad=True)
                elif n.op == "gap":
                    y = a[0].mean(dim=(2, 3), keepdim=True)
                elif n.op == "add":
                    y = a[0] + a[1]
                elif n.op == "concat":
                    y = torch.cat([a[0], a[1]], dim=1)
                elif n.op == "padshort":
                    s = a[0][:, :, ::n.stride, ::n.stride]
                    lo = (n.shape[0] - s.shape[1]) // 2
                    y = F.pad(s, (0, 0, 0, 0, lo, n.shape[0] - s.shape[1] - lo))
                else:
                    raise Error("op '%s' (%s) has no PyTorch counterpart here" % (n.op, n.name))
                v.append(y)
            return v[self.graph.output].flatten(1)

    return IRNet()


def torchvision_resnet(depth, num_classes=1000, in_channels=3):
    """torchvision's ResNet-<depth>, same module names, structure and
    initialisation (torchvision/models/resnet.py, v1.5: the bottleneck
    strides in its 3x3 conv)"""
    torch = torch_or_die()
    nn = torch.nn

    def conv3x3(i, o, stride=1):
        return nn.Conv2d(i, o, 3, stride, 1, bias=False)

    def conv1x1(i, o, stride=1):
        return nn.Conv2d(i, o, 1, stride, bias=False)

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv3x3(inplanes, planes, stride)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = conv3x3(planes, planes)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            return self.relu(out + identity)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = conv1x1(inplanes, planes)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = conv3x3(planes, planes, stride)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = conv1x1(planes, planes * self.expansion)
            self.bn3 = nn.BatchNorm2d(planes * self.expansion)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            return self.relu(out + identity)

    block, layers = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
                     50: (Bottleneck, [3, 4, 6, 3]), 101: (Bottleneck, [3, 4, 23, 3]),
                     152: (Bottleneck, [3, 8, 36, 3])}[depth]

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.layer1 = self._make_layer(64, layers[0])
            self.layer2 = self._make_layer(128, layers[1], 2)
            self.layer3 = self._make_layer(256, layers[2], 2)
            self.layer4 = self._make_layer(512, layers[3], 2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * block.expansion, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def _make_layer(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                           nn.BatchNorm2d(planes * block.expansion))
            ls = [block(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * block.expansion
            for _ in range(1, blocks):
                ls.append(block(self.inplanes, planes))
            return nn.Sequential(*ls)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return ResNet()


def preact_resnet(depth, num_classes=10, in_channels=3):
    """the pre-activation ResNet-<depth> of the PyTorch CIFAR implementations
    (kuangliu/pytorch-cifar's PreActResNet, written here again): a 3x3 stem
    conv alone; blocks bn1, relu, conv1 (strided), bn2, relu, conv2, and
    the add with nothing after it; where the shape changes a 1x1 conv
    without a bn, reading relu(bn1(x)); a final bn and relu, global average
    pooling, a linear layer.  Module names follow rnet's (torchvision's)
    spelling: downsample.0 for the shortcut conv, bn1 for the final bn, fc
    for the linear layer."""
    torch = torch_or_die()
    nn, F = torch.nn, torch.nn.functional
    layers = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[depth]

    class PreActBlock(nn.Module):
        def __init__(self, inplanes, planes, stride):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(inplanes)
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False))

        def forward(self, x):
            out = F.relu(self.bn1(x))
            shortcut = self.downsample(out) if self.downsample is not None else x
            out = self.conv1(out)
            out = self.conv2(F.relu(self.bn2(out)))
            return out + shortcut

    class PreActResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
            inplanes = 64
            for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
                blocks = []
                for j in range(n):
                    blocks.append(PreActBlock(inplanes, planes, 2 if i and not j else 1))
                    inplanes = planes
                self.add_module("layer%d" % (i + 1), nn.Sequential(*blocks))
            self.bn1 = nn.BatchNorm2d(512)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            out = self.conv1(x)
            out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
            out = F.relu(self.bn1(out))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))

    return PreActResNet()


def preact_depth(graph):
    """the depth of the pre-activation ResNet (preact_resnet) with this
    graph's parameters and shapes, or None; whether the graph computes the
    same function is what compare then checks"""
    if not any(n.op == "add" for n in graph.nodes) or graph.nodes[1].op != "conv":
        return None
    want = {name: shape for name, shape, _ in graph.params()}
    for depth in (18, 34):
        if state_shapes(preact_resnet(depth, graph.classes, graph.input_shape[0])) == want:
            return depth
    return None


def state_shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def torchvision_depth(graph):
    """the torchvision ResNet depth whose model this graph is, or None:
    the same parameters and shapes, and the same kernel, stride and padding
    on every conv and on the stem's pool"""
    blocks = {}
    for n in graph.nodes:
        m = re.match(r"layer(\d+)\.(\d+)\.", n.name)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    counts = [len(blocks.get(s, ())) for s in (1, 2, 3, 4)]
    bottleneck = any(n.name.endswith(".conv3") for n in graph.nodes)
    table = {(False, (2, 2, 2, 2)): 18, (False, (3, 4, 6, 3)): 34, (True, (3, 4, 6, 3)): 50,
             (True, (3, 4, 23, 3)): 101, (True, (3, 8, 36, 3)): 152}
    depth = table.get((bottleneck, tuple(counts)))
    if depth is None or len(blocks) != 4:
        return None
    model = torchvision_resnet(depth, graph.classes, graph.input_shape[0])
    want = {name: shape for name, shape, _ in graph.params()}
    if state_shapes(model) != want:
        return None
    mods = dict(model.named_modules())
    ops = [n.op for n in graph.nodes]
    expect = ["input", "conv", "bn", "relu", "maxpool"]
    if ops[:5] != expect or ops[-2:] != ["gap", "fc"]:
        return None
    for n in graph.nodes:
        m = mods.get(n.name)
        if n.op == "conv" and (m.kernel_size != (n.kh, n.kw) or m.stride != (n.stride,) * 2 or
                               m.padding != (n.pad,) * 2 or m.groups != n.groups):
            return None
        if n.op == "maxpool" and (n.kh, n.kw, n.stride, n.pad) != (3, 3, 2, 1):
            return None
    return depth


def load_into(model, tensors, label):
    """tensors (name -> array) into model; strict but for num_batches_tracked"""
    torch = torch_or_die()
    sd = model.state_dict()
    missing = [k for k in sd if k not in tensors and not k.endswith("num_batches_tracked")]
    if missing:
        raise Error("%s lacks %s%s" % (label, ", ".join(missing[:5]),
                                        " ..." if len(missing) > 5 else ""))
    new = {}
    for k, v in sd.items():
        if k in tensors:
            t = torch.as_tensor(np.array(tensors[k]))
            if tuple(t.shape) != tuple(v.shape):
                raise Error("%s: '%s' has shape %s, the model needs %s"
                            % (label, k, list(t.shape), list(v.shape)))
            new[k] = t.to(v.dtype)
        else:
            new[k] = torch.zeros_like(v)
    model.load_state_dict(new, strict=True)
    return model


def read_torch_state(path):
    """a state_dict from a .pt file: a dict of tensors, a module, or a dict
    holding one under 'state_dict' or 'model'; DataParallel's 'module.'
    prefix removed"""
    torch = torch_or_die()
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many kinds
        raise Error("%s: cannot load with torch.load: %s" % (path, e))
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise Error("%s: not a state_dict (a dict of tensors)" % path)
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


# ---- the commands -----------------------------------------------------------

def cmd_to_torch(a):
    torch = torch_or_die()
    g = load_graph(a.model)
    tensors, meta = read_safetensors(a.weights)
    check_checkpoint(g, tensors, meta, a.model, a.weights)
    depth, pdepth = torchvision_depth(g), None
    if depth:
        model = torchvision_resnet(depth, g.classes, g.input_shape[0])
    else:
        pdepth = preact_depth(g)
        model = preact_resnet(pdepth, g.classes, g.input_shape[0]) if pdepth else ir_model(g)
    load_into(model, tensors, a.weights)
    sd = model.state_dict()
    tmp = "%s.tmp.%d" % (a.out, os.getpid())
    torch.save(sd, tmp)
    os.replace(tmp, a.out)
    print("%s: %d tensors of model '%s' (%s) -> %s" % (
        PROG, len(sd), g.name, "torchvision ResNet-%d" % depth if depth else
        "pre-activation ResNet-%d" % pdepth if pdepth else "graph from the IR",
        a.out))


def cmd_from_torch(a):
    g = load_graph(a.model)
    sd = read_torch_state(a.state)
    want = g.params()
    names = {n for n, _, _ in want}
    extra = [k for k in sd if k not in names and not k.endswith("num_batches_tracked")]
    if extra and not a.allow_extra:
        raise Error("%s: tensors that model '%s' does not have: %s%s (--allow-extra ignores them)"
                    % (a.state, g.name, ", ".join(extra[:5]), " ..." if len(extra) > 5 else ""))
    out = []
    for name, shape, _ in want:
        if name not in sd:
            raise Error("%s: no tensor '%s' (model '%s' needs it)" % (a.state, name, g.name))
        t = sd[name]
        if tuple(t.shape) != shape:
            raise Error("%s: tensor '%s' has shape %s, model '%s' needs %s"
                        % (a.state, name, list(t.shape), g.name, list(shape)))
        if not t.is_floating_point():
            raise Error("%s: tensor '%s' is %s, not floating point" % (a.state, name, t.dtype))
        out.append((name, t.detach().to("cpu").float().numpy()))
    meta = {"format": "rnet-1", "model": g.name, "source_hash": source_hash(a.model),
            "backend": "pytorch", "converted_from": os.path.basename(a.state)}
    write_safetensors(a.out, out, meta)
    print("%s: %d tensors of model '%s' -> %s" % (PROG, len(out), g.name, a.out))


def cmd_init(a):
    torch = torch_or_die()
    torch.manual_seed(a.seed)
    if a.arch.endswith(".rnet"):
        model, what = ir_model(load_graph(a.arch)), "model of " + a.arch
        for m in model.modules():  # the initialisation rnet's programs use
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    elif re.fullmatch(r"preact_resnet(18|34)", a.arch):
        depth = int(a.arch[len("preact_resnet"):])
        model = preact_resnet(depth, a.classes)
        what = "pre-activation ResNet-%d (PyTorch's initialisation)" % depth
    else:
        m = re.fullmatch(r"resnet(18|34|50|101|152)", a.arch)
        if not m:
            raise Error("unknown architecture '%s' (expected resnet18, resnet34, resnet50, "
                        "resnet101, resnet152, preact_resnet18, preact_resnet34 or a .rnet "
                        "file)" % a.arch)
        model = torchvision_resnet(int(m.group(1)), a.classes)
        what = "torchvision-style ResNet-" + m.group(1)
    if a.random_bn:
        # eval-mode batch norm that is not the identity: random affine
        # parameters and running statistics
        g = torch.Generator().manual_seed(a.seed + 1)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.data = torch.rand(c, generator=g) + 0.5
                m.bias.data = torch.randn(c, generator=g) * 0.1
                m.running_mean = torch.randn(c, generator=g) * 0.1
                m.running_var = torch.rand(c, generator=g) + 0.5
    torch.save(model.state_dict(), a.out)
    print("%s: %s, seed %d%s -> %s"
          % (PROG, what, a.seed, ", random batch-norm statistics" if a.random_bn else "", a.out))


def model_norm(program):
    """the mean and std the program normalises with, from its `info`"""
    info = run([program, "info"], program + " info")
    m = re.search(r"^\s*normalize\s+mean\s+([-\d.eE+ ]+?)\s+std\s+([-\d.eE+ ]+)$", info, re.M)
    if not m:
        return None, None
    return ([float(v) for v in m.group(1).split()], [float(v) for v in m.group(2).split()])


def read_idx_images(path, count):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 8 or data[3] not in (3, 4):
        raise Error("%s: not an IDX file of unsigned bytes with 3 or 4 dimensions" % path)
    nd = data[3]
    dims = struct.unpack(">%dI" % nd, data[4:4 + 4 * nd])
    if count > dims[0]:
        raise Error("%s: has %d images, asked for %d" % (path, dims[0], count))
    chw = (1,) + dims[1:] if nd == 3 else dims[1:]
    n = int(np.prod(chw))
    px = np.frombuffer(data, np.uint8, count * n, 4 + 4 * nd)
    return px.reshape((count,) + tuple(chw))


def parse_logits(text, classes):
    rows = []
    for line in text.splitlines():
        m = re.match(r"^(.*): logits((?: \S+)+)$", line)
        if m:
            rows.append([float(v) for v in m.group(2).split()])
    if any(len(r) != classes for r in rows):
        raise Error("the program printed logits of the wrong length")
    return np.array(rows, dtype=np.float64)


def rel_diff(a, b):
    """max|a - b| / max|b|, the check command's measure (b the reference)"""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-3))


def cmd_compare(a):
    torch = torch_or_die()
    g = load_graph(a.model)
    tensors, meta = read_safetensors(a.weights)
    check_checkpoint(g, tensors, meta, a.model, a.weights)
    if a.torch_state:
        tensors = {k: v.numpy() for k, v in read_torch_state(a.torch_state).items()}
    C, H, W = g.input_shape
    tmp = tempfile.mkdtemp(prefix="rnet-interop.")
    try:
        program = a.program
        if not program:
            program = os.path.join(tmp, g.name)
            t0 = _now()
            opt = ["-O" + a.opt] if a.opt else []
            run([RNETC, a.model, "-o", program] + opt, "rnetc " + a.model)
            print("built %s with rnetc%s in %.1f s" % (g.name, "".join(" " + o for o in opt), _now() - t0))
        # the inputs: x (float32, as the network sees them) and the program's arguments
        xs, args = [], []
        if a.idx:
            px = read_idx_images(a.idx, a.count)
            if px.shape[1:] != (C, H, W):
                raise Error("%s: images are %s, model '%s' takes %dx%dx%d"
                            % (a.idx, "x".join(map(str, px.shape[1:])), g.name, C, H, W))
            mean, std = model_norm(program)
            x = px.astype(np.float32) / np.float32(255)
            if mean:
                m = np.array(mean * (C if len(mean) == 1 else 1), np.float32)[None, :, None, None]
                s = np.array(std * (C if len(std) == 1 else 1), np.float32)[None, :, None, None]
                x = (x - m) / s
            xs.append(x.astype(np.float32))
            args += ["%s:%d" % (a.idx, i) for i in range(a.count)]
        if a.random:
            rng = np.random.default_rng(a.seed)
            x = rng.standard_normal((a.random, C, H, W)).astype(np.float32)
            raw = os.path.join(tmp, "input.f32")
            x.astype("<f4").tofile(raw)
            xs.append(x)
        if not xs:
            raise Error("no inputs: give --random N and/or --idx FILE")
        x = np.concatenate(xs)
        t0 = _now()
        z = np.zeros((0, g.classes))
        if args:
            z = parse_logits(run([program, "predict", "--weights", a.weights, "--logits"] + args,
                                 "predict"), g.classes)
        if a.random:
            z = np.concatenate([z, parse_logits(
                run([program, "predict", "--weights", a.weights, "--logits", "--raw", raw],
                    "predict --raw"), g.classes)])
        t_rnet = _now() - t0
        if len(z) != len(x):
            raise Error("the program printed %d rows of logits for %d inputs" % (len(z), len(x)))
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)

    models = [("graph from the IR", ir_model(g))]
    pdepth = preact_depth(g)
    if pdepth:
        models.append(("pre-activation ResNet-%d (this script)" % pdepth,
                       preact_resnet(pdepth, g.classes, C)))
    depth = torchvision_depth(g)
    if depth:
        models.append(("torchvision-style ResNet-%d (this script)" % depth,
                       torchvision_resnet(depth, g.classes, C)))
        try:
            import torchvision
            tv = getattr(torchvision.models, "resnet%d" % depth)(num_classes=g.classes)
            models.append(("torchvision %s resnet%d" % (torchvision.__version__, depth), tv))
        except ImportError:
            pass
    print("model %s: %d inputs of %dx%dx%d, %d classes; program %.2f s" %
          (g.name, len(x), C, H, W, g.classes, t_rnet))
    worst, ref64 = 0.0, None
    xt = torch.from_numpy(x)
    for label, model in models:
        load_into(model, tensors, a.torch_state or a.weights).eval()
        with torch.no_grad():
            t0 = _now()
            ref = model(xt).double().numpy()
            t_torch = _now() - t0
            if ref64 is None:  # the same function in every model: once is enough
                ref64 = model.double()(xt.double()).numpy()
        d, d64, d_t = rel_diff(z, ref), rel_diff(z, ref64), rel_diff(ref, ref64)
        agree = int(np.sum(np.argmax(z, 1) == np.argmax(ref, 1)))
        print("  %-44s max rel diff %.3g (float64 PyTorch: %.3g; PyTorch float32 vs float64 "
              "%.3g); argmax agrees %d/%d; max|logit| %.3g; %.2f s"
              % (label, d, d64, d_t, agree, len(x), float(np.max(np.abs(ref))), t_torch))
        worst = max(worst, d)
    ok = worst <= a.tol
    print("%s: max relative difference %.3g %s tolerance %g" % ("ok" if ok else "FAIL", worst,
                                                               "within" if ok else "above", a.tol))
    return 0 if ok else 1


def _now():
    import time
    return time.perf_counter()


def main(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("to-torch", help="an rnet checkpoint as a PyTorch state_dict (.pt)")
    s.add_argument("model"), s.add_argument("weights"), s.add_argument("out")
    s = sub.add_parser("from-torch", help="a PyTorch state_dict as an rnet checkpoint")
    s.add_argument("model"), s.add_argument("state"), s.add_argument("out")
    s.add_argument("--allow-extra", action="store_true",
                   help="ignore tensors the model does not have")
    s = sub.add_parser("compare", help="the built program against PyTorch on the same inputs")
    s.add_argument("model"), s.add_argument("weights")
    s.add_argument("--random", type=int, default=0, metavar="N", help="N random N(0,1) inputs")
    s.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    s.add_argument("--idx", metavar="FILE", help="an IDX image file: its first --count images")
    s.add_argument("--count", type=int, default=8, metavar="K")
    s.add_argument("--program", metavar="PATH", help="the program built from MODEL (else built)")
    s.add_argument("--opt", choices=["0", "1", "2", "3", "s"],
                   help="rnetc's -O level for the program (default rnetc's, -O3)")
    s.add_argument("--torch-state", metavar="STATE.pt",
                   help="give PyTorch these weights instead of WEIGHTS (e.g. the original of "
                        "a from-torch conversion)")
    s.add_argument("--tol", type=float, default=1e-4, help="largest relative difference accepted")
    s = sub.add_parser("init", help="a randomly initialised PyTorch model as .pt: a "
                                    "torchvision-style ResNet, or the graph of a .rnet file")
    s.add_argument("arch", metavar="resnetN|preact_resnetN|MODEL.rnet")
    s.add_argument("out")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--classes", type=int, default=1000, help="for a resnetN")
    s.add_argument("--random-bn", action="store_true",
                   help="random batch-norm weights, biases and running statistics")
    a = p.parse_args(argv)
    try:
        rc = {"to-torch": cmd_to_torch, "from-torch": cmd_from_torch, "compare": cmd_compare,
              "init": cmd_init}[a.cmd](a)
        return rc or 0
    except Error as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 1
    except OSError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
