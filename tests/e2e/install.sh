#!/bin/sh
# install.sh - make install into a temporary DESTDIR, then use the
# installed rnet as a user would, from another directory: rnetc finds its
# runtime beside itself (the copy in another prefix too, never the
# checkout), compiles the installed models/mnist.rnet, the program trains a
# few steps and predicts; the man pages render; pkg-config finds the
# library and the installed example (classify.c, its Makefile's .rnet ->
# object rule) builds against it and agrees with the program; --version
# answers; make uninstall leaves nothing behind.
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist >/dev/null || { fail "fetch mnist"; finish; }
ROOT=$PWD
D=$T/root P=/usr/local
make -s install DESTDIR="$D" PREFIX=$P >"$T/log" 2>&1 || { fail "make install"; cat "$T/log"; finish; }
R=$D$P
for f in bin/rnetc lib/rnet/librnet.a lib/rnet/librnet_kernels.a include/rnet/rn_gen.h \
    include/rnet/rn_image.h lib/pkgconfig/rnet.pc lib/pkgconfig/rnet-kernels.pc \
    share/man/man1/rnetc.1 share/man/man1/rnet-program.1 share/bash-completion/completions/rnetc \
    share/rnet/models/mnist.rnet share/rnet/example/classify.c share/rnet/example/Makefile; do
    [ -f "$R/$f" ] || fail "make install did not install $f"
done

# the installed compiler, moved to another prefix: relative to itself
cp -a "$R" "$T/opt"
mkdir "$T/work"
cd "$T/work" || exit 2
unset RNET_HOME
"$T/opt/bin/rnetc" --version >ver 2>&1 || fail "rnetc --version"
grep -q "^rnetc [0-9]" ver && grep -q "^LLVM: " ver && grep -q "^runtime ISA: " ver ||
    { fail "rnetc --version lacks its lines"; cat ver; }
grep -q "^runtime: $T/opt/lib/rnet/librnet.a$" ver || { fail "the moved rnetc does not use its own runtime"; cat ver; }
"$T/opt/bin/rnetc" "$T/opt/share/rnet/models/mnist.rnet" -o mnist -v 2>v.log ||
    { fail "the installed rnetc cannot build mnist.rnet"; cat v.log; }
grep -q -- "-I$T/opt/include/rnet" v.log && grep -q "$T/opt/lib/rnet/librnet.a" v.log ||
    { fail "the build did not use the installed runtime"; cat v.log; }
grep -q "$ROOT" v.log && { fail "the installed rnetc used the checkout"; cat v.log; }
./mnist --version | grep -q "^model: mnist, built by rnetc's c backend" || fail "PROG --version"
./mnist train --data "$ROOT/data/mnist" --epochs 1 --limit 256 --no-progress --save w.safetensors \
    >train.log 2>&1 || { fail "the installed build does not train"; cat train.log; }
# a test digit as a PGM, classified by the program and by the example
python3 - "$ROOT/data/mnist/t10k-images-idx3-ubyte.gz" <<'PY' || fail "writing digit.pgm"
import gzip, sys
d = gzip.open(sys.argv[1]).read()[16:16 + 784]
open('digit.pgm', 'wb').write(b'P5\n28 28\n255\n' + d)
PY
./mnist predict --weights w.safetensors --top 1 digit.pgm >p.log 2>&1 || { fail "predict"; cat p.log; }
want=$(sed -n 's/^digit.pgm: class \([0-9]*\) (\([0-9.]*\)%).*/\1 \2/p' p.log)
[ -n "$want" ] || { fail "predict printed no class"; cat p.log; }

# man pages render, and rnetc.1 names every option rnetc --help lists
for o in $("$ROOT/out/rnetc" --help | grep -o -- '--\?-[a-z][a-z0-9-]*' | sort -u); do
    grep -q -- "$(printf '%s' "$o" | sed 's/-/\\\\-/g')" "$ROOT/docs/man/rnetc.1" ||
        fail "docs/man/rnetc.1 does not mention $o"
done
for m in rnetc rnet-program; do
    MANWIDTH=80 man -l "$T/opt/share/man/man1/$m.1" 2>&1 | grep -q "^NAME" || fail "man -l $m.1 does not render"
done

# bash completion: options from rnetc --help, emit kinds, passes
if command -v bash >/dev/null; then
    c=$(PATH="$T/opt/bin:$PATH" bash -c '. "$1"
        COMP_WORDS=(rnetc --emi); COMP_CWORD=1; _rnetc; echo "${COMPREPLY[*]}"
        COMP_WORDS=(rnetc x.rnet --emit l); COMP_CWORD=3; _rnetc; echo "${COMPREPLY[*]}"
        COMP_WORDS=(rnetc x.rnet --passes win); COMP_CWORD=3; _rnetc; echo "${COMPREPLY[*]}"' \
        _ "$T/opt/share/bash-completion/completions/rnetc" 2>&1)
    [ "$c" = "--emit
llvm
winograd" ] || fail "bash completion gives '$c'"
fi

# pkg-config and the example, against the installed tree (DESTDIR: prefix guessed from the .pc)
PC="pkg-config --define-prefix"
export PKG_CONFIG_PATH="$R/lib/pkgconfig"
$PC --cflags --libs rnet >pc.out 2>&1 || { fail "pkg-config rnet"; cat pc.out; }
grep -q -- "-I$R/include/rnet" pc.out && grep -q "$R/lib/rnet/librnet.a" pc.out ||
    { fail "pkg-config gives $(cat pc.out)"; }
mkdir ex && cp "$R/share/rnet/example/classify.c" "$R/share/rnet/example/Makefile" ex/ &&
    cp w.safetensors ex/mnist.safetensors
# (under make test-asan the runtime is sanitized: the example links with RNET_CFLAGS too)
make -s -C ex RNETC="$R/bin/rnetc" PKG_CONFIG="$PC" PREFIX="$R" CFLAGS="-O2 ${RNET_CFLAGS:-}" \
    LDFLAGS="${RNET_CFLAGS:-}" >ex.log 2>&1 ||
    { fail "the installed example does not build"; cat ex.log; }
ex/classify digit.pgm >c.log 2>&1 || { fail "classify"; cat c.log; }
got=$(awk '/^digit.pgm: / { p = $5; sub(/\)/, "", p); printf "%s %.2f\n", $2, p * 100 }' c.log)
[ "$got" = "$want" ] || fail "classify says '$(cat c.log)', predict '$(cat p.log)' (class, %: '$got' vs '$want')"


# uninstall: nothing left
cd "$ROOT" || exit 2
make -s uninstall DESTDIR="$D" PREFIX=$P >"$T/log" 2>&1 || { fail "make uninstall"; cat "$T/log"; }
left=$(cd "$D" && find . -mindepth 1 | head -5)
[ -z "$left" ] || fail "make uninstall left $left"
finish
