#!/usr/bin/env bash
# The start-up budget: counts the instructions goshim runs at start-up and
# fails when a count is more than 10% over bench/startup-budget.txt.
#
# Instruction counts (valgrind --tool=callgrind, user-space instructions of the
# goshim process, the dynamic loader included) are deterministic where times
# are not: a CI machine shared with other work gives the same count every run.
# Measured:
#   goshim-version   goshim --version (the management CLI)
#   go-version       go version through the shim, passed through to a "real go"
#                    that is a no-op (GOSHIM_GO): the shim's work up to its exec
#                    of go. valgrind does not follow the exec, so the no-op
#                    itself is not counted.
#   NAME-own         of NAME's instructions, those in goshim's executable (Rust
#                    code, std included): not the dynamic loader's or libc's,
#                    which are most of the total and move with the glibc version.
#
# usage: bench/startup-budget.sh [--update] [BINARY]
#   BINARY    default target/release/goshim (cargo build --release)
#   --update  write the measured counts to bench/startup-budget.txt (after a
#             deliberate change; commit the file with the change)
# Needs valgrind: installed with apt-get when missing and run as root, else the
# check is skipped with a warning.
set -euo pipefail

say() { echo "startup-budget: $*" >&2; }
die() {
    say "$*"
    exit 1
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
budget_file="$root/bench/startup-budget.txt"
tolerance=10 # percent over budget that fails

update=0
bin=""
for arg in "$@"; do
    case "$arg" in
        --update) update=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option '$arg'; usage: bench/startup-budget.sh [--update] [BINARY]" ;;
        *) bin=$arg ;;
    esac
done
[ -n "$bin" ] || bin="$root/target/release/goshim"
[ -x "$bin" ] || die "$bin not found: build it first (cargo build --release)"
bin=$(cd "$(dirname "$bin")" && pwd -P)/$(basename "$bin")

if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing valgrind with apt-get"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends valgrind; } >/dev/null 2>&1 ||
            say "apt-get install valgrind failed"
    fi
    if ! command -v valgrind >/dev/null 2>&1; then
        say "##################################################################"
        say "SKIPPED: valgrind is not installed, the start-up budget is NOT checked"
        say "(install valgrind: apt-get install valgrind)"
        say "##################################################################"
        exit 0
    fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The "real go": a static no-op. It runs natively (valgrind does not trace
# across exec), so any executable would do; without gcc, true(1) stands in.
mkdir -p "$tmp/fakego" "$tmp/shims" "$tmp/home"
echo 'int main(void){return 0;}' >"$tmp/noop.c"
if ! gcc -O2 -static -o "$tmp/fakego/go" "$tmp/noop.c" 2>/dev/null; then
    cp "$(command -v true)" "$tmp/fakego/go"
fi
ln -s "$bin" "$tmp/shims/go"
ln -s "$bin" "$tmp/shims/goshim"

# A fixed, minimal environment and working directory: the counts depend a
# little on both (about 1% for the -own figures).
cd "$tmp/home"
run_env=(env -i PATH="$tmp/shims:/usr/bin:/bin" HOME="$tmp/home" LANG=C
    GOSHIM_GO="$tmp/fakego/go" GOSHIM_CACHE_DIR="$tmp/cache"
    GOSHIM_CONFIG="$tmp/no-config.toml" GOTOOLCHAIN=local)

# count NAME ARGV...: prints "TOTAL OWN", the instructions of one run, all
# and those in goshim's own code (its executable, not the dynamic loader's or
# libc's). callgrind writes its counts when the process exits, which a shim that
# execs go never does: so it also dumps them just before execve (--dump-before,
# which zeroes the counters), and the counts are summed over every dump.
count() {
    local out="$tmp/$1.cg" log="$tmp/$1.log"
    shift
    rm -f "$out" "$out".*
    "${run_env[@]}" valgrind --tool=callgrind --dump-before=execve \
        --callgrind-out-file="$out" --log-file="$log" "$@" >/dev/null 2>"$tmp/stderr" ||
        { cat "$log" "$tmp/stderr" >&2; die "$* failed under valgrind"; }
    local f
    for f in "$out" "$out".*; do [ ! -f "$f" ] || cat "$f"; done |
        awk -v exe="$bin" -f <(cat <<'AWK'
# Self cost per object: "ob=" names the object of the functions that follow
# ("(N) path" defines id N, "(N)" reuses it; cob= lines define ids too), a
# cost line is "position Ir", and the line after "calls=" is a call's
# inclusive cost, not self cost.
function object(s,    id) {
    if (match(s, /^\([0-9]+\)/)) {
        id = substr(s, 1, RLENGTH)
        if (length(s) > RLENGTH) names[id] = substr(s, RLENGTH + 2)
        return names[id]
    }
    return s
}
/^ob=/ { ob = object(substr($0, 4)); next }
/^cob=/ { object(substr($0, 5)); next }
/^calls=/ { skip = 1; next }
/^totals:/ { total += $2; seen = 1; next }
/^[0-9+*-]/ { if (skip) skip = 0; else if (ob == exe) own += $2; next }
END { if (!seen) exit 1; print total, own + 0 }
AWK
        ) || { cat "$log" >&2; die "no instruction count in callgrind's output for $*"; }
}

# measure NAME ARGV...: the medians of three runs (after one that fills caches),
# as NAME (all instructions) and NAME-own (goshim's own code).
declare -A measured
measure() {
    local name=$1
    shift
    count "$name" "$@" >/dev/null
    local runs
    runs=$(for _ in 1 2 3; do count "$name" "$@"; done)
    measured[$name]=$(cut -d' ' -f1 <<<"$runs" | sort -n | sed -n 2p)
    measured[$name-own]=$(cut -d' ' -f2 <<<"$runs" | sort -n | sed -n 2p)
    say "$name: all/own $(tr '\n' ' ' <<<"$runs")"
}
measure goshim-version "$tmp/shims/goshim" --version
measure go-version "$tmp/shims/go" version

names=(goshim-version goshim-version-own go-version go-version-own)
if [ "$update" = 1 ]; then
    {
        sed -n '/^#/p' "$budget_file" 2>/dev/null || true
        for name in "${names[@]}"; do echo "$name ${measured[$name]}"; done
    } >"$budget_file.new"
    mv "$budget_file.new" "$budget_file"
    say "wrote $budget_file; update the date/commit comment in it and commit it"
    exit 0
fi

[ -f "$budget_file" ] || die "$budget_file not found; create it with bench/startup-budget.sh --update"
failed=0
printf '%-20s %10s %10s %8s\n' name budget measured change >&2
for name in "${names[@]}"; do
    budget=$(awk -v n="$name" '!/^#/ && $1 == n { print $2 }' "$budget_file")
    [ -n "$budget" ] || die "no budget for $name in $budget_file"
    now=${measured[$name]}
    pct=$(awk -v a="$now" -v b="$budget" 'BEGIN { printf "%+.1f%%", (a - b) * 100 / b }')
    verdict=ok
    if ((now * 100 > budget * (100 + tolerance))); then
        verdict="OVER BUDGET (more than +$tolerance%)"
        failed=1
    elif ((now * 100 < budget * (100 - tolerance))); then
        verdict="well under budget: consider lowering it"
    fi
    printf '%-20s %10s %10s %8s  %s\n' "$name" "$budget" "$now" "$pct" "$verdict" >&2
done
if [ "$failed" = 1 ]; then
    say "start-up got more expensive. If that is deliberate, run bench/startup-budget.sh --update and commit bench/startup-budget.txt with the change."
    exit 1
fi
say "within budget (+$tolerance% allowed)"
