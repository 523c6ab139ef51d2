# rnet - one Makefile, explicit dependencies, every product under out/.
#
#   make            build out/rnetc and the runtime (installs tools if missing)
#   make test       the whole test suite (what CI runs)
#   make models     compile every model in models/ and print its shape table
#   make data       MNIST digits and Fashion-MNIST as IDX files under data/
#   make mnist      the main job: data, compile models/mnist.rnet, train, evaluate
#   make fashion    models/fashion.rnet on Fashion-MNIST, 10 epochs
#   make fuzz       every libFuzzer target, FUZZ_SECONDS (600) each
#   make test-asan  the whole suite with rnetc, the runtime and the programs it
#                   builds under -fsanitize=address,undefined (tools/asan.sh)
#   make interop    PyTorch parity, ResNet-18/50 included (needs python3-torch)
#   make install    PREFIX (/usr/local), DESTDIR; make uninstall; make deb
#   make demo       the browser demo in out/demo (make demo-test: in Chromium)

# every product under $(O) (make O=DIR builds a second tree, as make deb does)
O       := out
CC      ?= cc
ifeq ($(origin CC),default)
CC      := cc
endif
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wswitch-enum
ALLCFLAGS := $(WARN) $(CFLAGS) -D_POSIX_C_SOURCE=200809L -Icompiler -Iruntime -Iruntime/host -I$(O)/gen
LDLIBS  := -lz -lm
# the runtime is built for this machine: generated programs link against it
RT_CFLAGS ?= -O3 -march=native -fopenmp


# --version (runtime/host/rn_version.c): the version, the git revision
VERSION := 0.1.0
# make install: where (rnetc also looks for its runtime in PREFIX when it is
# not beside it)
PREFIX  ?= /usr/local
DESTDIR ?=
GIT_REV := $(or $(shell (git rev-parse --short=12 HEAD && (git diff --quiet HEAD -- || echo -dirty)) 2>/dev/null | tr -d '\n'),unknown)

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

# rewritten only when its content changes, so that a commit rebuilds two
# objects, not the tree
.PHONY: FORCE
$(O)/gen/rn_version_gen.h: FORCE
	@mkdir -p $(O)/gen
	@{ printf '#define RN_VERSION "%s"\n' '$(VERSION)'; \
	   printf '#define RN_GIT_REV "%s"\n' '$(GIT_REV)'; \
	   printf '#define RN_BUILD_CC "%s"\n' "$$($(CC) --version 2>/dev/null | head -1 | tr -d '"\\')"; \
	   printf '#define RN_RT_CFLAGS "%s"\n' '$(RT_CFLAGS)'; \
	   printf '#define RN_LLVM_VERSION "%s"\n' "$$($(LLVM_CONFIG) --version 2>/dev/null)"; \
	   printf '#define RNET_PREFIX "%s"\n' '$(PREFIX)'; } >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(O)/obj/runtime/host/rn_version.o $(O)/obj/compiler/driver.o: $(O)/gen/rn_version_gen.h

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
RNETC_RT := $(O)/obj/runtime/rn_ops.o $(O)/obj/runtime/rn_geom.o $(O)/obj/runtime/host/rn_version.o
$(O)/rnetc: compiler/main.c $(LLVM_OBJ) $(O)/librnetc.a $(RNETC_RT) $(O)/gen/rn_version_gen.h
	$(CC) $(ALLCFLAGS) -o $@ $< $(LLVM_OBJ) $(O)/librnetc.a $(RNETC_RT) $(LDLIBS) $(LLVM_LIBS)

$(O)/tests/%: tests/unit/%.c tests/unit/check.h $(O)/librnetc.a $(O)/librnet.a
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(RT_CFLAGS) -Itests/unit -o $@ $< $(O)/librnetc.a $(O)/librnet.a $(LDLIBS)

unit: $(UNIT_BIN)

# the ImageNet-size PyTorch comparisons (about a minute) are `make interop`
# (as root, tools/setup.sh --test installs python3-torch for the parity tests)
test: all unit
	@tools/setup.sh --test
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
	$(O)/rnetc models/fashion.rnet -o $(O)/fashion
	$(O)/fashion train --data data/fashion-mnist --threads $(THREADS) --log-dir runs/fashion
	$(O)/fashion eval --data data/fashion-mnist --threads $(THREADS) --weights runs/fashion/model.safetensors

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

# make install / uninstall (docs/install.md): rnetc, the runtime library
# and its headers, the models, the example, man pages, pkg-config files,
# bash completion; PREFIX (default /usr/local) and DESTDIR as usual.  The
# installed rnetc finds the runtime beside it (PREFIX/lib/rnet).
BINDIR   = $(DESTDIR)$(PREFIX)/bin
RTLIBDIR = $(DESTDIR)$(PREFIX)/lib/rnet
PCDIR    = $(DESTDIR)$(PREFIX)/lib/pkgconfig
INCDIR   = $(DESTDIR)$(PREFIX)/include/rnet
SHAREDIR = $(DESTDIR)$(PREFIX)/share/rnet
MAN1DIR  = $(DESTDIR)$(PREFIX)/share/man/man1
BASHCDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
RT_HEADERS := $(wildcard runtime/*.h runtime/host/*.h) runtime/host/rn_kernels_decl.inc
.PHONY: install uninstall
install: all
	install -d $(BINDIR) $(RTLIBDIR) $(PCDIR) $(INCDIR) $(SHAREDIR)/models $(SHAREDIR)/example \
	    $(MAN1DIR) $(BASHCDIR)
	install -m 755 $(O)/rnetc $(BINDIR)/rnetc
	install -m 644 $(O)/librnet.a $(O)/librnet_kernels.a $(RTLIBDIR)/
	install -m 644 $(RT_HEADERS) $(INCDIR)/
	install -m 644 models/*.rnet $(SHAREDIR)/models/
	install -m 644 docs/example/Makefile docs/example/classify.c $(SHAREDIR)/example/
	install -m 644 docs/man/rnetc.1 docs/man/rnet-program.1 $(MAN1DIR)/
	sed 's|@PREFIX@|$(PREFIX)|; s|@VERSION@|$(VERSION)|' tools/rnet.pc.in >$(PCDIR)/rnet.pc
	sed 's|@PREFIX@|$(PREFIX)|; s|@VERSION@|$(VERSION)|' tools/rnet-kernels.pc.in >$(PCDIR)/rnet-kernels.pc
	install -m 644 tools/rnetc.bash-completion $(BASHCDIR)/rnetc

# what install wrote and the directories that are rnet's own; under a
# DESTDIR also the directories left empty, up to DESTDIR (never the shared
# ones of a real prefix, such as /usr/local/bin)
uninstall:
	rm -f $(BINDIR)/rnetc $(PCDIR)/rnet.pc $(PCDIR)/rnet-kernels.pc $(BASHCDIR)/rnetc \
	    $(MAN1DIR)/rnetc.1 $(MAN1DIR)/rnet-program.1
	rm -rf $(RTLIBDIR) $(INCDIR) $(SHAREDIR)
	$(if $(DESTDIR),@for d in $(BINDIR) $(PCDIR) $(MAN1DIR) $(BASHCDIR) $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/share; do \
	    while [ "$$d" != "$(DESTDIR)" ] && [ -d "$$d" ] && rmdir "$$d" 2>/dev/null; do d=$$(dirname "$$d"); done; \
	done)

# make demo: out/demo/, the browser page (draw a digit) with models/mnist.rnet
# as wasm32 (tools/demo.sh; trains it with make mnist when runs/mnist has no
# weights).  make demo-test: Chromium (apt) and playwright-core (npm, into
# out/demo-node) drive it headless against the native program, with the
# screenshot in out/demo/screenshot.png (tests/e2e/demo.sh)
PLAYWRIGHT_VERSION ?= 1.49.1
.PHONY: demo demo-test
demo: all
	@tools/demo.sh
demo-test: all
	@tools/setup.sh --demo-test
	@[ -d out/demo-node/node_modules/playwright-core ] || \
	    npm install --prefix out/demo-node --no-audit --no-fund playwright-core@$(PLAYWRIGHT_VERSION)
	@tools/demo.sh
	DEMO_DIR=out/demo DEMO_WEIGHTS=runs/mnist/model.safetensors DEMO_DIGITS=20 sh tests/e2e/demo.sh

# make deb: out/rnet_VERSION_ARCH.deb (tools/deb.sh); make deb-test (root):
# install it, build and train mnist.rnet with it from /tmp, remove it
.PHONY: deb deb-test
deb:
	@tools/deb.sh
deb-test:
	@tools/deb.sh --test

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
.PHONY: bench bench-quick bench-passes bench-backends bench-load
bench: all
	sh bench/bench.sh
bench-quick: all
	BENCH_REPS=$${BENCH_REPS:-3} BENCH_SECONDS=$${BENCH_SECONDS:-1} sh bench/bench.sh
# the passes against no passes, side by side, and the memory plans
bench-passes: all
	sh bench/passes.sh

# C and LLVM builds of the same models side by side (bench/backends.sh)
bench-backends: all
	sh bench/backends.sh

# training with one competing busy process (bench/load.sh)
bench-load: all
	sh bench/load.sh

clean:
	rm -rf $(O)
