#!/usr/bin/env python3
"""tbread.py - read TensorBoard event files independently of rnet's writer.

    tools/tbread.py [--raw] [--pb DIR] PATH...

Each PATH is an event file or a directory whose events.out.tfevents.*
files are read in name order (the order TensorBoard reads them).  Every
record's framing is checked - u64 length, masked CRC-32C of the length,
the data, masked CRC-32C of the data - with a CRC-32C written here, and
every record is parsed as an Event with Python code that protoc generated
from tools/proto/event.proto and summary.proto (TensorBoard's field
numbers).  The first event of a file must carry file_version
"brain.Event:2"; every other one a step and either a summary of
simple_value scalars or a SessionLog.

Output, CSV on stdout:

    step,tag,value          what TensorBoard shows: a SessionLog START at
                            step S drops the points at steps >= S read
                            before it (a resumed run's restart)
    file,step,tag,value     with --raw: every point of every file, as written

A line on stderr sums up ("2 files, 57 records, CRCs valid").  Exit status
0 when everything is valid, 1 on the first bad record (the message names
file, record, byte offset and what is wrong), 2 on a usage error or when
the protobuf code cannot be had.

--pb DIR names a directory holding event_pb2.py and summary_pb2.py; by
default they are generated with protoc into a temporary directory.  Needs
python3-protobuf and protobuf-compiler (Debian), nothing of TensorFlow.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- CRC-32C (Castagnoli), table-driven --------------------------------------


def _crc_table():
    table = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283

# ---- protobuf code ------------------------------------------------------------


class Bad(Exception):
    pass


def reexec_with_system_python():
    """Debian's python3-protobuf serves /usr/bin/python3 only; another
    python3 first in PATH (pyenv, a virtualenv) lacks it: run with that one."""
    try:
        import google.protobuf  # noqa: F401
        return
    except ImportError:
        pass
    system = "/usr/bin/python3"
    if (os.path.exists(system) and os.path.realpath(sys.executable) != os.path.realpath(system)
            and not os.environ.get("TBREAD_REEXEC")):
        os.environ["TBREAD_REEXEC"] = "1"
        os.execv(system, [system] + sys.argv)


def load_protos(pb_dir):
    """Import event_pb2 from pb_dir, or from a fresh protoc run."""
    tmp = None
    if pb_dir is None:
        protoc = shutil.which("protoc")
        if not protoc:
            raise Bad("protoc not found (apt-get install protobuf-compiler)")
        tmp = tempfile.mkdtemp(prefix="tbread.")
        src = os.path.join(HERE, "proto")
        r = subprocess.run([protoc, "-I", src, "--python_out=" + tmp,
                            os.path.join(src, "event.proto"), os.path.join(src, "summary.proto")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Bad("protoc failed: " + r.stderr.strip())
        pb_dir = tmp
    sys.path.insert(0, pb_dir)
    try:
        import event_pb2  # noqa: E402  (generated)
    except ImportError as e:
        raise Bad("cannot import the generated protobuf code from %s: %s "
                  "(apt-get install python3-protobuf)" % (pb_dir, e))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return event_pb2

# ---- reading ------------------------------------------------------------------


def records(path):
    """Yield (index, offset, data) for each record, checking the framing."""
    with open(path, "rb") as f:
        blob = f.read()
    pos, k = 0, 0
    while pos < len(blob):
        where = "%s: record %d at byte %d" % (path, k, pos)
        if len(blob) - pos < 12:
            raise Bad("%s: truncated: %d bytes where a 12-byte header should be"
                      % (where, len(blob) - pos))
        head = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", head)
        (stored,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        if stored != masked_crc(head):
            raise Bad("%s: length CRC mismatch (stored %08x, computed %08x)"
                      % (where, stored, masked_crc(head)))
        if length > len(blob) - pos - 16:
            raise Bad("%s: truncated: the record says %d bytes of data, %d remain"
                      % (where, length, max(0, len(blob) - pos - 16)))
        data = blob[pos + 12:pos + 12 + length]
        (stored,) = struct.unpack("<I", blob[pos + 12 + length:pos + 16 + length])
        if stored != masked_crc(data):
            raise Bad("%s: data CRC mismatch (stored %08x, computed %08x)"
                      % (where, stored, masked_crc(data)))
        yield k, pos, data
        pos += 16 + length
        k += 1


def read_file(path, event_pb2):
    """[(kind, step, tag, value)] with kind 'scalar' or 'start'."""
    out = []
    n = 0
    for k, pos, data in records(path):
        where = "%s: record %d at byte %d" % (path, k, pos)
        ev = event_pb2.Event()
        try:
            ev.ParseFromString(data)
        except Exception as e:  # google.protobuf.message.DecodeError
            raise Bad("%s: not an Event: %s" % (where, e))
        what = ev.WhichOneof("what")
        if k == 0:
            if what != "file_version" or not ev.file_version.startswith("brain.Event:"):
                raise Bad("%s: the first event must be file_version brain.Event:N, not %s"
                          % (where, what))
            if ev.file_version != "brain.Event:2":
                raise Bad("%s: file_version %r, expected 'brain.Event:2'" % (where, ev.file_version))
        elif what == "summary":
            if not ev.summary.value:
                raise Bad("%s: an empty summary" % where)
            for v in ev.summary.value:
                if not v.tag or v.WhichOneof("value") != "simple_value":
                    raise Bad("%s: value %r is not a tagged simple_value" % (where, v.tag))
                out.append(("scalar", ev.step, v.tag, v.simple_value))
        elif what == "session_log":
            if ev.session_log.status != event_pb2.SessionLog.START:
                raise Bad("%s: unexpected SessionLog status %d" % (where, ev.session_log.status))
            out.append(("start", ev.step, None, None))
        else:
            raise Bad("%s: unexpected event kind %s" % (where, what))
        if k > 0 and not (ev.wall_time > 1e9):
            raise Bad("%s: wall_time %r is not a time" % (where, ev.wall_time))
        n += 1
    if n == 0:
        raise Bad("%s: empty file (no file_version record)" % path)
    return out, n


def event_files(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            names = sorted(x for x in os.listdir(p) if x.startswith("events.out.tfevents."))
            if not names:
                raise Bad("%s: no events.out.tfevents.* files" % p)
            files += [os.path.join(p, x) for x in names]
        else:
            files.append(p)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", metavar="PATH")
    ap.add_argument("--raw", action="store_true", help="every point of every file, unmerged")
    ap.add_argument("--pb", metavar="DIR", help="directory with the generated event_pb2.py")
    args = ap.parse_args()
    reexec_with_system_python()
    try:
        event_pb2 = load_protos(args.pb)
    except Bad as e:
        print("tbread: %s" % e, file=sys.stderr)
        return 2
    try:
        files = event_files(args.paths)
        view = []                  # (step, tag, value) as TensorBoard shows them
        nrec = 0
        print("file,step,tag,value" if args.raw else "step,tag,value")
        for path in files:
            points, n = read_file(path, event_pb2)
            nrec += n
            for kind, step, tag, value in points:
                if kind == "start":
                    view = [p for p in view if p[0] < step]
                    continue
                if args.raw:
                    print("%s,%d,%s,%r" % (path, step, tag, value))
                view.append((step, tag, value))
        if not args.raw:
            for step, tag, value in view:
                print("%d,%s,%r" % (step, tag, value))
    except (Bad, OSError) as e:
        print("tbread: %s" % e, file=sys.stderr)
        return 1
    print("tbread: %d file%s, %d records, CRCs valid" % (len(files), "" if len(files) == 1 else "s",
                                                          nrec), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
