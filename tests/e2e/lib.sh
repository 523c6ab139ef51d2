# lib.sh - helpers shared by the end-to-end scripts (sourced, not run).
set -u
cd "$(dirname "$0")/../.." || exit 2
RNETC=${RNETC:-out/rnetc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
say() { printf '%s\n' "$*"; }
fail() { say "FAIL: $*"; fails=$((fails + 1)); }
# expect STATUS PATTERN CMD...: run CMD, want exit STATUS and PATTERN in its stderr
expect() {
    want=$1 pat=$2
    shift 2
    "$@" >"$T/stdout" 2>"$T/stderr"
    st=$?
    if [ "$st" != "$want" ]; then
        fail "$* -> exit $st, want $want"; tail -3 "$T/stderr"
    elif ! grep -q -- "$pat" "$T/stderr"; then
        fail "$* -> stderr lacks '$pat':"; cat "$T/stderr"
    fi
}
finish() { [ "$fails" = 0 ] && say "ok" ; exit "$fails"; }
