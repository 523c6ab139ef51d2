# rnet - one Makefile, explicit dependencies, every product under out/.
#
#   make            build out/rnetc and the runtime (installs tools if missing)
#   make test       the whole test suite (what CI runs)
#   make models     compile every model in models/ and print its shape table
#   make data       MNIST digits and Fashion-MNIST as IDX files under data/
#   make mnist      the main job: data, compile models/mnist.rnet, train, evaluate
#   make fashion    the same network on Fashion-MNIST
#   make fuzz       every libFuzzer target, FUZZ_SECONDS (600) each
#   make test-asan  the whole suite with rnetc, the runtime and the programs it
#                   builds under -fsanitize=address,undefined (tools/asan.sh)
#   make interop    PyTorch parity, ResNet-18/50 included (needs python3-torch)

CC      ?= cc
ifeq ($(origin CC),default)
CC      := cc
endif
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wswitch-enum -Wno-error=switch-enum
ALLCFLAGS := $(WARN) $(CFLAGS) -D_POSIX_C_SOURCE=200809L -Icompiler -Iruntime -Iruntime/host -Iout/gen
LDLIBS  := -lz -lm
# the runtime is built for this machine: generated programs link against it
RT_CFLAGS ?= -O3 -march=native -fopenmp

O := out

# the LLVM backend: linked into rnetc only (unit tests and the fuzzer do not
# need LLVM); llvm-c headers as system headers, so -Werror stays ours
LLVM_CONFIG ?= $(shell command -v llvm-config-14 2>/dev/null || echo llvm-config)
LLVM_CFLAGS := $(patsubst -I%,-isystem %,$(shell $(LLVM_CONFIG) --cflags 2>/dev/null))
LLVM_LIBS   := $(shell $(LLVM_CONFIG) --ldflags --libs core analysis target passes bitwriter all-targets --system-libs 2>/dev/null)
LLVM_SRC     := compiler/emit_llvm.c compiler/llvm_target.c
LLVM_OBJ     := $(patsubst compiler/%.c,$(O)/obj/compiler/%.o,$(LLVM_SRC))

COMPILER_SRC := $(filter-out compiler/main.c $(LLVM_SRC),$(wildcard compiler/*.c))
COMPILER_OBJ := $(patsubst compiler/%.c,$(O)/obj/compiler/%.o,$(COMPILER_SRC)) \
                $(O)/obj/gen/rnet.tab.o $(O)/obj/gen/rnet.lex.o
# runtime/ is what generated code calls (kernels, the optimizer step, the
# model descriptor; out/librnet_kernels.a alone); runtime/host/ the program
# around it (command line, training loop, data, checkpoints, logging, bench,
# check).  out/librnet.a holds both.
KERNEL_SRC   := $(wildcard runtime/*.c)
KERNEL_OBJ   := $(patsubst runtime/%.c,$(O)/obj/runtime/%.o,$(KERNEL_SRC))
RUNTIME_SRC  := $(KERNEL_SRC) $(wildcard runtime/host/*.c)
RUNTIME_OBJ  := $(patsubst runtime/%.c,$(O)/obj/runtime/%.o,$(RUNTIME_SRC))
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
UNIT_BIN     := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))

.PHONY: all setup test unit models data fuzz clean mnist fashion interop torture test-asan
all: $(O)/rnetc $(O)/librnet.a $(O)/librnet_kernels.a

setup:
	@tools/setup.sh

$(O)/gen/rnet.tab.c $(O)/gen/rnet.tab.h &: grammar/rnet.y | setup
	@mkdir -p $(O)/gen
	bison -Wall -Werror --defines=$(O)/gen/rnet.tab.h -o $(O)/gen/rnet.tab.c $<

$(O)/gen/rnet.lex.c $(O)/gen/rnet.lex.h &: grammar/rnet.l | setup
	@mkdir -p $(O)/gen
	flex --header-file=$(O)/gen/rnet.lex.h -o $(O)/gen/rnet.lex.c $<

$(O)/obj/gen/%.o: $(O)/gen/%.c $(O)/gen/rnet.tab.h $(O)/gen/rnet.lex.h $(wildcard compiler/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -Wno-unused-function -Wno-sign-compare -c -o $@ $<

$(O)/obj/compiler/%.o: compiler/%.c $(wildcard compiler/*.h) $(O)/gen/rnet.tab.h $(O)/gen/rnet.lex.h
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(LLVM_OBJ): $(O)/obj/compiler/%.o: compiler/%.c $(wildcard compiler/*.h) $(O)/gen/rnet.tab.h $(O)/gen/rnet.lex.h
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LLVM_CFLAGS) -c -o $@ $<

$(O)/obj/runtime/%.o: runtime/%.c $(wildcard runtime/*.h runtime/*.inc runtime/host/*.h runtime/host/*.inc) | setup
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(RT_CFLAGS) -c -o $@ $<

$(O)/librnetc.a: $(COMPILER_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/librnet.a: $(RUNTIME_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/librnet_kernels.a: $(KERNEL_OBJ)
	@rm -f $@
	ar rcs $@ $^

# rnetc links the two runtime files that hold facts both sides need: the op
# table and the convolution geometry (sizes and index tables)
RNETC_RT := $(O)/obj/runtime/rn_ops.o $(O)/obj/runtime/rn_geom.o
$(O)/rnetc: compiler/main.c $(LLVM_OBJ) $(O)/librnetc.a $(RNETC_RT)
	$(CC) $(ALLCFLAGS) -o $@ $< $(LLVM_OBJ) $(O)/librnetc.a $(RNETC_RT) $(LDLIBS) $(LLVM_LIBS)

$(O)/tests/%: tests/unit/%.c tests/unit/check.h $(O)/librnetc.a $(O)/librnet.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(RT_CFLAGS) -Itests/unit -o $@ $< $(O)/librnetc.a $(O)/librnet.a $(LDLIBS)

unit: $(UNIT_BIN)

# the ImageNet-size PyTorch comparisons (about a minute) are `make interop`
test: all unit
	@RNET_INTEROP_QUICK=1 tests/run.sh

interop: all
	sh tests/e2e/interop.sh

models: all
	@for m in models/*.rnet; do echo "== $$m"; $(O)/rnetc $$m --print-shapes || exit 1; done

data:
	@tools/fetch_data.sh

THREADS ?= 2
mnist: all
	@tools/fetch_data.sh mnist
	$(O)/rnetc models/mnist.rnet -o $(O)/mnist
	$(O)/mnist train --data data/mnist --threads $(THREADS) --log-dir runs/mnist
	$(O)/mnist eval --data data/mnist --threads $(THREADS) --weights runs/mnist/model.safetensors

fashion: all
	@tools/fetch_data.sh fashion-mnist
	$(O)/rnetc models/mnist.rnet -o $(O)/mnist
	$(O)/mnist train --data data/fashion-mnist --threads $(THREADS) --log-dir runs/fashion
	$(O)/mnist eval --data data/fashion-mnist --threads $(THREADS) --weights runs/fashion/model.safetensors

# make cross: the cross targets (docs/cross.md).  Installs Debian's cross
# compilers, qemu-user and wasm-ld (tools/setup.sh --cross), runs the
# runtime's unit tests under qemu, compares models/mnist.rnet's predictions
# with the host's under qemu with both backends, on every test digit for
# aarch64 and on CROSS_RV_DIGITS for riscv64 (qemu's RISC-V floating point
# is slow: about 0.5 s a digit), and builds the wasm32 and Cortex-M4F
# inference-only objects (sizes; the wasm32 one runs in node).
CROSS_DIGITS    ?= 0
CROSS_RV_DIGITS ?= 200
.PHONY: cross
cross: all
	@tools/setup.sh --cross
	@tools/fetch_data.sh mnist
	tools/cross.sh unit aarch64-linux-gnu riscv64-linux-gnu
	tools/cross.sh test --triples aarch64-linux-gnu --digits $(CROSS_DIGITS)
	tools/cross.sh test --triples riscv64-linux-gnu --digits $(CROSS_RV_DIGITS)
	tools/cross.sh small

# 200 kills at random instants of training and saving, each resumed
torture: all
	FAULT_KILLS=$${FAULT_KILLS:-200} sh tests/e2e/faults.sh

# every fuzz target for FUZZ_SECONDS each (tools/fuzz.sh --all); findings
# are kept in tests/fuzz/crashers*/ and fail the run
FUZZ_SECONDS ?= 600
fuzz: | setup
	@tools/fuzz.sh --all $(FUZZ_SECONDS)

test-asan: | setup
	@tools/asan.sh

# the speed benchmark: rnet against PyTorch on this machine, alternating runs,
# medians, the speed bars, per-layer GFLOP/s against the measured peak
# (bench/bench.sh; BENCH_THREADS, BENCH_REPS, BENCH_SECONDS shorten or change it)
.PHONY: bench bench-quick bench-passes
bench: all
	sh bench/bench.sh
bench-quick: all
	BENCH_REPS=$${BENCH_REPS:-3} BENCH_SECONDS=$${BENCH_SECONDS:-1} sh bench/bench.sh
# the passes against no passes, side by side, and the memory plans
bench-passes: all
	sh bench/passes.sh

clean:
	rm -rf $(O)
