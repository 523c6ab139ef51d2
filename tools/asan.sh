#!/bin/sh
# asan.sh - make test-asan: the whole test suite with rnetc, the runtime
# library, the unit programs and every program rnetc builds compiled with
# -fsanitize=address,undefined.
#
# The sources are copied to out/asan/src (out/ itself keeps the normal
# build), built there with CFLAGS="-O1 -g $SAN" (the runtime keeps its -O3,
# with the sanitizers), and tests/run.sh runs in that copy with
# RNET_CFLAGS="-g $SAN", which rnetc adds to its compile and link commands
# (C and LLVM backends), so the programs the tests build are sanitized too;
# the tests that run the C compiler themselves add $RNET_CFLAGS.
# Every sanitizer report is fatal (halt_on_error, -fno-sanitize-recover,
# exit status 99); leaks count.  A report makes the failing command's test
# fail, is written to out/asan/reports/ (log_path; not to stderr, which the
# tests compare) and is counted at the end: the job passes only with no
# failed test and no report.
#
#   tools/asan.sh          build the copy and run the suite under it
#   SAN=... tools/asan.sh  other sanitizer flags (default below)
set -eu
cd "$(dirname "$0")/.."
root=$PWD
A=$root/out/asan
S=$A/src
SAN=${SAN:--fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer}

rm -rf "$S" "$A/reports"
mkdir -p "$S" "$A/reports"
# the tracked sources, without the build products, the data and the runs
tar cf - --exclude=./out --exclude=./data --exclude=./runs --exclude=./.git . | tar xf - -C "$S"
[ -d data ] && ln -s "$root/data" "$S/data"

echo "asan: building rnetc, the runtime and the unit programs with $SAN"
# exported: a make the tests run in the copy (make install) builds with them too
export CFLAGS="-O1 -g $SAN"
make -C "$S" -s all unit >"$A/build.log" 2>&1 ||
    { tail -30 "$A/build.log"; echo "asan: the sanitized build failed (out/asan/build.log)"; exit 1; }

export RNET_CFLAGS="-g $SAN"
R="log_path=$A/reports/san:log_exe_name=1:exitcode=99"
# (not detect_stack_use_after_return: its fake frames are 32-byte aligned,
# and GCC stores 64-byte vectors with aligned moves into the tile arrays it
# aligned to 64 in the kernels: a false SEGV at every spilled tile)
export ASAN_OPTIONS="$R:halt_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="$R:halt_on_error=1:print_stacktrace=1"
# libgomp keeps its thread pool's memory until exit: not ours to free
printf 'leak:libgomp\n' >"$A/lsan.supp"
export LSAN_OPTIONS="$R:suppressions=$A/lsan.supp:print_suppressions=0"
export RNET_ASAN=1
cd "$S"
set +e
RNET_INTEROP_QUICK=1 sh tests/run.sh 2>&1 | tee "$A/test.log"
st=$(tail -1 "$A/test.log" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
n=$(ls "$A/reports" | wc -l)
echo "asan: $n sanitizer reports (out/asan/reports/), suite output in out/asan/test.log"
for f in "$A/reports"/*; do [ -e "$f" ] && { echo "== $f"; head -20 "$f"; }; done
[ "${st:-1}" = 0 ] && [ "$n" = 0 ]
