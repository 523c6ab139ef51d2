#!/bin/sh
# setup.sh - make sure the tools rnet builds with are installed.
#
#   tools/setup.sh           the build's tools (flex, bison, zlib, LLVM 14)
#   tools/setup.sh --cross   and the cross compilers, qemu-user, wasm-ld
#   tools/setup.sh --test    and, as root, python3-torch for the parity tests
#   tools/setup.sh --demo    and lld-14 (wasm-ld); --demo-test also chromium
#
# Quiet and quick when everything is present.  As root it runs
# `apt-get update` once and installs what is missing; otherwise it prints the
# exact command to run and fails.
set -eu

missing=""
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need_file() { [ -e "$1" ] || missing="$missing $2"; }

need_cmd flex flex
need_cmd bison bison
need_file /usr/include/zlib.h zlib1g-dev
need_cmd llvm-config-14 llvm-dev
need_file /usr/include/llvm-c-14/llvm-c/Core.h llvm-dev

# --cross (make cross): Debian's cross compilers (they bring the cross libc,
# libgcc and libgomp; there is no cross zlib; the armhf one links the
# Cortex-M4F object into a program qemu-arm runs), qemu-user to run what
# they build, and lld for wasm-ld (linking the wasm32 module)
if [ "${1:-}" = --cross ]; then
    need_cmd aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
    need_cmd riscv64-linux-gnu-gcc gcc-riscv64-linux-gnu
    need_cmd arm-linux-gnueabihf-gcc gcc-arm-linux-gnueabihf
    need_cmd qemu-aarch64 qemu-user
    need_cmd qemu-riscv64 qemu-user
    need_cmd wasm-ld-14 lld-14
fi

# --demo (make demo): wasm-ld to link the wasm32 module; --demo-test (make
# demo-test) also Chromium, driven headless by the test
case "${1:-}" in
--demo) need_cmd wasm-ld-14 lld-14 ;;
--demo-test) need_cmd wasm-ld-14 lld-14; need_cmd chromium chromium ;;
esac

# --test (make test): PyTorch for the parity tests (tests/e2e/interop.sh),
# installed only as root; otherwise interop.sh is skipped with its note
if [ "${1:-}" = --test ] && [ "$(id -u)" = 0 ] &&
    ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    missing="$missing python3-torch python3-numpy"
fi

[ -z "$missing" ] && exit 0

# de-duplicate
pkgs=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
if [ "$(id -u)" != 0 ]; then
    echo "rnet: missing packages:$missing" >&2
    echo "rnet: run as root:  apt-get update && apt-get install -y $pkgs" >&2
    exit 1
fi
echo "rnet: installing $pkgs" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >&2
