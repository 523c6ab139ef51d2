#!/bin/sh
# deb.sh - make deb: a Debian package of rnet, out/rnet_VERSION_ARCH.deb.
#
# Builds a second tree in out/deb/build (make O=out/deb/build PREFIX=/usr)
# with the runtime compiled for the architecture's baseline (x86-64-v2 on
# amd64) instead of -march=native: the package runs on other processors
# (its kernels still pick their AVX2 or AVX-512 copies at run time, and
# the generated code is compiled with -march=native on the machine that
# runs rnetc).  Installs it into out/deb/root with DESTDIR, compresses the
# man pages, writes DEBIAN/control and runs dpkg-deb.
#
#   apt-get install -y ./out/rnet_*.deb      installs it (with its dependencies)
#
# tools/deb.sh --test (make deb-test, as root) then installs the package
# with apt-get, builds /usr/share/rnet/models/mnist.rnet from /tmp with the
# installed rnetc, trains it for a few steps, predicts a digit, and removes
# the package again.
set -eu
test=0
[ "${1:-}" = --test ] && test=1
cd "$(dirname "$0")/.."
command -v dpkg-deb >/dev/null || { echo "deb.sh: dpkg-deb is not installed" >&2; exit 1; }
arch=$(dpkg --print-architecture)
case "$arch" in
amd64) march="-march=x86-64-v2 -mtune=generic" ;;
*) march="" ;;
esac
version=$(sed -n 's/^VERSION := //p' Makefile)
B=out/deb/build
S=out/deb/root
rm -rf "$S"
# the same variables for both: install rebuilds what they change
make -s O=$B PREFIX=/usr RT_CFLAGS="-O3 $march -fopenmp" all
make -s O=$B PREFIX=/usr RT_CFLAGS="-O3 $march -fopenmp" DESTDIR="$PWD/$S" install >/dev/null
gzip -9n "$S"/usr/share/man/man1/*.1
mkdir -p "$S/usr/share/doc/rnet" "$S/DEBIAN"
cp README.md "$S/usr/share/doc/rnet/"
cp docs/install.md "$S/usr/share/doc/rnet/"
# what rnetc itself loads (LLVM 14, zlib, libc), and what the programs it
# builds need to compile and link: a C compiler with OpenMP, zlib's and
# libc's development files
llvm=$(ldd "$S/usr/bin/rnetc" | sed -n 's/.*libLLVM-14.*/libllvm14/p' | head -1)
cat >"$S/DEBIAN/control" <<C
Package: rnet
Version: $version
Architecture: $arch
Maintainer: rnet developers <rnet@example.org>
Section: devel
Priority: optional
Installed-Size: $(du -sk "$S/usr" | cut -f1)
Depends: libc6, zlib1g, ${llvm:+$llvm, }gcc | c-compiler, libgomp1, libc6-dev, zlib1g-dev
Recommends: pkg-config
Description: ahead-of-time compiler for residual networks
 rnetc compiles a ResNet described in a small language (.rnet files) into
 a native program that trains the network (forward, backward, optimizer)
 and runs inference, through generated C or LLVM IR, against a small
 runtime. The package holds rnetc, the runtime library and headers, the
 example models, man pages, pkg-config files and bash completion.
C
out=out/rnet_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$S" "$out" >/dev/null
echo "deb.sh: $out ($(du -k "$out" | cut -f1) KiB)"

[ "$test" = 1 ] || exit 0
[ "$(id -u)" = 0 ] || { echo "deb.sh --test: installs a package, so it runs as root" >&2; exit 1; }
tools/fetch_data.sh mnist >/dev/null
data=$PWD/data/mnist
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$out" >/dev/null
t=$(mktemp -d)
trap 'rm -rf "$t"; DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq rnet >/dev/null' EXIT
cd /tmp
rnetc --version
rnetc /usr/share/rnet/models/mnist.rnet -o "$t/m"
"$t/m" train --data "$data" --epochs 1 --limit 256 --no-progress --save "$t/w.safetensors"
"$t/m" predict --weights "$t/w.safetensors" "$data/t10k-images-idx3-ubyte.gz:0"
man -w rnetc >/dev/null && pkg-config --exists rnet
echo "deb.sh --test: the installed package builds, trains and predicts"
