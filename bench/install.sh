#!/usr/bin/env bash
# How long the one-line installer takes, and how big what it downloads is.
#
# Serves target/distrib (the release archive for this machine and
# goshim-installer.sh, as the release workflow builds them: `dist build`, see
# tests/release.rs, which leaves them there) from a loopback HTTP server, then
# times with hyperfine, from an empty HOME each run:
#   curl -LsSf http://127.0.0.1:<port>/goshim-installer.sh | sh
# (GOSHIM_DOWNLOAD_URL points the installer at the loopback server; profile
# edits happen, in the throwaway HOME). Prints the median and the archive and
# binary sizes; hyperfine's JSON goes to target/bench/install.json.
#
# usage: bench/install.sh   (run tests/release.rs first if target/distrib is missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "bench: $*" >&2; }
die() {
    say "$*"
    exit 1
}

distrib=$PWD/target/distrib
archive=$(ls "$distrib"/goshim-x86_64-unknown-linux-*.tar.xz 2>/dev/null | head -n 1) ||
    true
[ -n "$archive" ] && [ -f "$distrib/goshim-installer.sh" ] ||
    die "no release archive in $distrib: build it with 'cargo nextest run --test release' (needs cargo-dist)"
command -v hyperfine >/dev/null || die "hyperfine is missing (apt-get install hyperfine)"

port_file=$(mktemp)
python3 - "$distrib" "$port_file" <<'EOF' &
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
handler = functools.partial(Quiet, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
open(sys.argv[2], "w").write(str(server.server_address[1]))
server.serve_forever()
EOF
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$port_file" "${home:-}"' EXIT
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(cat "$port_file")
base=http://127.0.0.1:$port

home=$(mktemp -d)
mkdir -p target/bench
# shellcheck disable=SC2016 # expanded by the shell hyperfine starts
hyperfine --warmup 1 --runs 10 --export-json target/bench/install.json \
    --prepare "rm -rf '$home' && mkdir -p '$home'" \
    "curl -LsSf $base/goshim-installer.sh | HOME='$home' GOSHIM_DOWNLOAD_URL=$base sh >/dev/null 2>&1"
"$home/.goshim/bin/goshim" --version >/dev/null || die "the installed goshim does not run"

median=$(python3 -c 'import json,sys; print("%.0f ms" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' target/bench/install.json)
size() { python3 -c 'import os,sys; print("%.1f MiB" % (os.path.getsize(sys.argv[1])/2**20))' "$1"; }
echo
echo "| one-line install from 127.0.0.1 (median of 10) | archive ($(basename "$archive")) | binary |"
echo "| ---: | ---: | ---: |"
echo "| $median | $(size "$archive") | $(size "$home/.goshim/bin/goshim") |"
