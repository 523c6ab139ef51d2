#!/bin/sh
# parity.sh - generated code against the reference interpreter (`check`):
# forward in both modes, every parameter gradient, running statistics and
# optimizer updates within 1e-4, for every model small enough to run, built
# the way users build them (default flags), and once with other compilers
# and flags.
. "$(dirname "$0")/lib.inc"
for m in tiny mnist cifar_resnet20; do
    $RNETC models/$m.rnet -o "$T/$m" || { fail "build $m"; continue; }
    "$T/$m" check --seed 3 >"$T/out" 2>&1 || { fail "check $m"; cat "$T/out"; }
done
# the 56-layer CIFAR network (at -O1: its generated C takes ~35 s at -O3)
$RNETC models/cifar_resnet56.rnet -o "$T/c56" -O1 || fail "build cifar_resnet56"
"$T/c56" check --batch 2 >"$T/out" 2>&1 || { fail "check cifar_resnet56"; cat "$T/out"; }
# same generated code through other compilers and flags
for cfg in "--no-native -O2" "-O0 --no-openmp" "--cc clang"; do
    $RNETC models/tiny.rnet -o "$T/tiny2" $cfg || { fail "build tiny $cfg"; continue; }
    "$T/tiny2" check --batch 3 >"$T/out" 2>&1 || { fail "check tiny $cfg"; cat "$T/out"; }
done
# option A, concat join, shortcut C, groups and an avgpool stem in one model
$RNETC tests/e2e/mix.rnet -o "$T/mix" && "$T/mix" check --batch 3 >"$T/out" 2>&1 || { fail "check mix"; cat "$T/out"; }
# pre-activation blocks (post none, a fork, projections with and without a
# bn, a bn + relu in the head), both backends, at the direct convolutions'
# batch and below it
for be in c llvm; do
    $RNETC tests/golden/ir/preact.rnet --backend $be -o "$T/preact.$be" || { fail "build preact ($be)"; continue; }
    for b in 3 17; do
        "$T/preact.$be" check --batch $b >"$T/out" 2>&1 || { fail "check preact ($be), batch $b"; cat "$T/out"; }
    done
done
finish
