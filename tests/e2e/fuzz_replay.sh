#!/bin/sh
# fuzz_replay.sh - every fuzz target's seeds, corpus and crashers replayed
# under AddressSanitizer and UBSan (gcc; no fuzzer runtime needed): the
# inputs fuzzing found or was seeded with stay regression tests.
cd "$(dirname "$0")/../.." || exit 2
command -v bison >/dev/null && command -v flex >/dev/null || { echo "skip: no bison/flex"; exit 0; }
tools/fuzz.sh --replay
