#!/bin/sh
# faults.sh - what survives a crash, a full disk and a read-only target.
#
# A short run (3 epochs of 4 steps, a checkpoint after each epoch) is killed
# (SIGKILL, RN_FAULT_KILL=K) at every fault point it passes in turn: each
# training step and every write, fsync and rename of each of its saves.
# After each kill the checkpoint on disk must load, `train --resume` (or a
# fresh start when no checkpoint was complete yet) must reach weights
# byte-identical to an uninterrupted run's, and no temporary may be left.
# FAULT_KILLS=N (make torture) adds N kills at random instants of a longer
# run, timed from outside (up to three in one run's life, then a resume to
# its end, compared with an uninterrupted run).
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist >/dev/null || { fail "fetch mnist"; finish; }

alpha_model "$T/a.rnet"
$RNETC "$T/a.rnet" -o "$T/a" || { fail "build"; finish; }
RUN="--data data/mnist --epochs 3 --limit 256 --batch 64 --threads 1 --save-every 1"
W="$T/w.safetensors"
S="$T/w.state.safetensors"

# the uninterrupted run, and the fault points it passes
RN_FAULT_TRACE=1 "$T/a" train $RUN --save "$T/ref.safetensors" >/dev/null 2>"$T/trace" ||
    { fail "reference run"; finish; }
npoints=$(grep -c "^fault point" "$T/trace")
for what in step write fsync rename fsync-dir; do
    grep -q "^fault point [0-9]*: $what\$" "$T/trace" || fail "no '$what' fault point traced"
done
[ "$npoints" -ge 20 ] || fail "only $npoints fault points"

tmps() { find "$T" -maxdepth 1 -name '*.tmp.*' | wc -l; }
# after a kill: resume (or start again) and compare with the reference
recover() { # LABEL
    if [ -f "$W" ]; then
        "$T/a" eval --data data/mnist --weights "$W" >/dev/null 2>"$T/err" ||
            { fail "$1: the checkpoint left does not load: $(cat "$T/err")"; return; }
        # (a kill in the last save after its weights were in place leaves
        # a finished run: nothing to resume, the weights are final)
        "$T/a" train --resume "$W" >/dev/null 2>"$T/err" || grep -q "has finished its" "$T/err" ||
            { fail "$1: resume failed: $(cat "$T/err")"; return; }
    else
        "$T/a" train $RUN --save "$W" >/dev/null 2>"$T/err" ||
            { fail "$1: the fresh start failed: $(cat "$T/err")"; return; }
    fi
    cmp -s "$W" "$T/ref.safetensors" || fail "$1: resumed weights differ from the uninterrupted run's"
    [ "$(tmps)" = 0 ] || fail "$1: temporaries left: $(find "$T" -name '*.tmp.*')"
}

kills=0 completed=0
k=1
while [ "$k" -le "$npoints" ]; do
    rm -f "$W" "$S"
    RN_FAULT_KILL=$k "$T/a" train $RUN --save "$W" >/dev/null 2>&1
    st=$?
    what=$(sed -n "s/^fault point $k: //p" "$T/trace")
    if [ "$st" != 137 ]; then
        fail "kill at point $k ($what): exit $st, want 137 (SIGKILL)"
    else
        kills=$((kills + 1))
        recover "kill at point $k ($what)"
        # a kill between the two renames is completed on resume
        grep -q "completed the save cut short" "$T/err" && completed=$((completed + 1))
    fi
    k=$((k + 1))
done
say "faults: $kills kills at $npoints fault points, each resumed to the uninterrupted weights"
[ "$completed" -ge 1 ] || fail "no kill fell between the two renames of a save"

# kills at random instants of a longer run, timed from outside (make torture)
n=${FAULT_KILLS:-0}
if [ "$n" -gt 0 ]; then
    LONG="--data data/mnist --epochs 4 --limit 2048 --batch 32 --threads 1 --save-every 1"
    "$T/a" train $LONG --save "$T/lref.safetensors" >/dev/null 2>&1 || fail "long reference run"
    t0=$(date +%s%N)
    "$T/a" train $LONG --save "$T/lref2.safetensors" >/dev/null 2>&1
    ms=$((($(date +%s%N) - t0) / 1000000))
    lost=0 badres=0 stale=0 i=0 kills=0
    while [ "$kills" -lt "$n" ]; do
        rm -f "$W" "$S"
        # up to three kills in one run's life, then a resume to the end
        j=0
        while [ "$j" -lt 3 ]; do
            d=$(awk -v s="$i$j" -v ms="$ms" 'BEGIN { srand(s); printf "%.3f", rand() * ms / 1000 }')
            if [ -f "$W" ]; then
                timeout -s KILL "$d" "$T/a" train --resume "$W" >/dev/null 2>"$T/err"
            else
                timeout -s KILL "$d" "$T/a" train $LONG --save "$W" >/dev/null 2>"$T/err"
            fi
            st=$?
            if [ "$st" = 0 ] || grep -q "has finished its" "$T/err"; then
                break # the run reached its end before the kill
            elif [ "$st" != 137 ]; then
                badres=$((badres + 1)); say "kill $i.$j: exit $st: $(cat "$T/err")"
            fi
            [ "$st" = 137 ] && kills=$((kills + 1))
            if [ -f "$W" ] && ! "$T/a" eval --data data/mnist --weights "$W" >/dev/null 2>&1; then
                lost=$((lost + 1)); say "kill $i.$j: the checkpoint does not load"
            fi
            j=$((j + 1))
        done
        if [ -f "$W" ]; then
            "$T/a" train --resume "$W" >/dev/null 2>"$T/err" || grep -q "has finished its" "$T/err" ||
                { badres=$((badres + 1)); say "run $i: resume failed: $(cat "$T/err")"; }
        else
            "$T/a" train $LONG --save "$W" >/dev/null 2>&1
        fi
        cmp -s "$W" "$T/lref.safetensors" || { badres=$((badres + 1)); say "run $i: weights differ"; }
        s=$(tmps)
        [ "$s" = 0 ] || { say "run $i: left $(find "$T" -maxdepth 1 -name '*.tmp.*' | sed 's|.*/||')"; for p in $(find "$T" -maxdepth 1 -name '*.tmp.*' | sed 's/.*tmp.//'); do ps -o pid,stat,lstart,args -p $p; done; }
        stale=$((stale + s))
        i=$((i + 1))
    done
    say "torture: $kills kills at random instants (run length $ms ms): $lost lost checkpoints, $badres failed resumes, $stale stale temporaries"
    [ "$lost" = 0 ] && [ "$badres" = 0 ] && [ "$stale" = 0 ] || fail "torture"
fi

# the weights file checks itself: a flipped byte in a tensor, a NaN
cp "$T/ref.safetensors" "$T/flip.safetensors"
size=$(wc -c <"$T/flip.safetensors")
printf '\377' | dd of="$T/flip.safetensors" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
expect 1 "flip.safetensors: damaged: its tensors give CRC-32C" \
    "$T/a" eval --data data/mnist --weights "$T/flip.safetensors"
expect 1 "damaged" "$T/a" predict --weights "$T/flip.safetensors" data/mnist/t10k-images-idx3-ubyte.gz
cp "$T/flip.safetensors" "$T/w2.safetensors"
cp "$T/ref.state.safetensors" "$T/w2.state.safetensors"
expect 1 "damaged" "$T/a" train --resume "$T/w2.safetensors" --epochs 4
# the same weights without the checksum (as PyTorch writes them), and with
# a NaN in their first tensor besides
unchecksum() { # SRC DST [nan]
    python3 - "$@" <<'P'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
del head["__metadata__"]["tensors_crc32c"]
data = bytearray(raw[8 + n:])
if sys.argv[3:] == ["nan"]:
    name = sorted(k for k in head if k != "__metadata__")[0]
    a = head[name]["data_offsets"][0]
    data[a:a + 4] = struct.pack("<f", float("nan"))
h = json.dumps(head, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + bytes(data))
P
}
unchecksum "$T/ref.safetensors" "$T/nan.safetensors" nan
expect 1 "nan.safetensors: tensor '.*' has 1 non-finite value" \
    "$T/a" eval --data data/mnist --weights "$T/nan.safetensors"
# without the checksum and finite: loads, with a note
unchecksum "$T/ref.safetensors" "$T/old.safetensors"
expect 0 "old.safetensors: no tensors_crc32c checksum" \
    "$T/a" eval --data data/mnist --weights "$T/old.safetensors"

# stale temporaries of dead processes are removed at the next start
cp "$T/ref.safetensors" "$W"
cp "$T/ref.state.safetensors" "$S"
: >"$W.tmp.999999999"
: >"$S.tmp.999999998"
: >"$W.tmp.$$" # a live process's: kept
expect 0 "removed 2 temporaries" "$T/a" train --resume "$W" --epochs 4
[ -f "$W.tmp.$$" ] || fail "a live process's temporary was removed"
rm -f "$W.tmp.$$"

# a read-only target is refused before the first step
mkdir -p "$T/ro"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m,ro tmpfs "$T/ro" 2>/dev/null; then
    expect 1 "ro/w.safetensors: cannot save there: Read-only file system" \
        "$T/a" train $RUN --save "$T/ro/w.safetensors"
    grep -q "epoch 1" "$T/stdout" && fail "read-only target: trained before refusing"
    umount "$T/ro"
elif [ "$(id -u)" != 0 ]; then
    chmod 555 "$T/ro"
    expect 1 "ro/w.safetensors: cannot save there: Permission denied" \
        "$T/a" train $RUN --save "$T/ro/w.safetensors"
    chmod 755 "$T/ro"
else
    say "skip: read-only target (cannot mount a tmpfs here)"
fi

# a full disk: the save fails, the previous checkpoint still resumes
mkdir -p "$T/full"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=256k tmpfs "$T/full" 2>/dev/null; then
    F="$T/full/w.safetensors"
    "$T/a" train $RUN --epochs 2 --save "$F" >/dev/null 2>&1 || fail "full disk: first save"
    sum=$(cat "$F" "$T/full/w.state.safetensors" | cksum)
    # fill the file system, leaving less than a checkpoint's room
    dd if=/dev/zero of="$T/full/fill" bs=1k count=4096 2>/dev/null
    rm -f "$T/full/fill"
    free=$(df -k "$T/full" | awk 'NR == 2 { print $4 }')
    dd if=/dev/zero of="$T/full/fill" bs=1k count=$((free - 4)) 2>/dev/null
    expect 1 "No space left on device" "$T/a" train --resume "$F" --epochs 3
    [ "$(cat "$F" "$T/full/w.state.safetensors" | cksum)" = "$sum" ] ||
        fail "full disk: the previous checkpoint changed"
    [ -z "$(find "$T/full" -name '*.tmp.*')" ] || fail "full disk: temporaries left"
    rm -f "$T/full/fill"
    "$T/a" train --resume "$F" --epochs 3 >/dev/null 2>"$T/err" ||
        fail "full disk: the previous checkpoint does not resume: $(cat "$T/err")"
    umount "$T/full"
else
    say "skip: full disk (cannot mount a tmpfs here)"
fi
finish
