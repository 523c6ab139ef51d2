#!/usr/bin/env python3
"""restate.py STATE KEY=VALUE... - rewrite metadata of an rnet state file
(NAME.state.safetensors) and record the CRC-32C its contents then give, as
rn_ckpt_state_save does: a state file that is damaged on purpose but whose
checksum is right, to test the bounds checked after the checksum.
The keys, in the order the checksum covers them, are read from
runtime/host/rn_ckpt.c (state_keys)."""
import json, re, struct, sys, os

def crc32c(crc, data, table=[]):
    if not table:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
keys = re.findall(r'SK\("([a-z_0-9]+)"', open(os.path.join(root, "runtime/host/rn_ckpt.c")).read())
path = sys.argv[1]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
data = raw[8 + n:]
meta = head["__metadata__"]
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    if k not in meta:
        sys.exit("restate.py: no key '%s' in %s" % (k, path))
    meta[k] = v
crc = 0
for k in keys:
    crc = crc32c(crc, meta[k].encode() + b"\0")
tensors = sorted((t for name, t in head.items() if name != "__metadata__"),
                 key=lambda t: t["data_offsets"][0])
for t in tensors:
    a, b = t["data_offsets"]
    crc = crc32c(crc, data[a:b])
meta["state_crc32c"] = "%08x" % crc
h = json.dumps(head, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
