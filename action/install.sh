#!/bin/sh
# The install step of goshim's GitHub Action (action.yml): the release's
# shell installer (checksum checked, no Rust, no build) into
# $RUNNER_TEMP/goshim/bin without touching shell profiles; that folder goes
# into GITHUB_PATH, which puts it ahead of every folder added before it (run
# this after actions/setup-go), and goshim's cache folder into GITHUB_ENV and
# the step's outputs, for actions/cache.
#
# Inputs (environment): GOSHIM_VERSION (default latest), GOSHIM_REPOSITORY
# (default goshim/goshim); for tests and mirrors, GOSHIM_INSTALLER_URL and
# the installer's own GOSHIM_DOWNLOAD_URL.
set -eu

say() { echo "goshim action: $*" >&2; }
die() {
    say "$*"
    exit 1
}

[ -n "${GITHUB_PATH:-}" ] || die "GITHUB_PATH is not set: this script runs as a GitHub Actions step"
[ -n "${GITHUB_ENV:-}" ] || die "GITHUB_ENV is not set: this script runs as a GitHub Actions step"
command -v curl >/dev/null 2>&1 || die "curl is needed to download goshim"

version=${GOSHIM_VERSION:-latest}
repo=${GOSHIM_REPOSITORY:-goshim/goshim}
case $version in
    latest) base="https://github.com/$repo/releases/latest/download" ;;
    *) base="https://github.com/$repo/releases/download/v${version#v}" ;;
esac
installer=${GOSHIM_INSTALLER_URL:-$base/goshim-installer.sh}
root=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/goshim
dir=$root/bin
cache=${GOSHIM_CACHE_DIR:-$root/cache}

script=$(curl -LsSf --retry 3 "$installer") || die "cannot download $installer"
printf '%s\n' "$script" | GOSHIM_INSTALL_DIR="$dir" GOSHIM_NO_MODIFY_PATH=1 sh ||
    die "the installer failed (see above)"
[ -x "$dir/go" ] || die "the installer left no $dir/go"

mkdir -p "$cache"
echo "$dir" >>"$GITHUB_PATH"
echo "GOSHIM_CACHE_DIR=$cache" >>"$GITHUB_ENV"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "cache-dir=$cache" >>"$GITHUB_OUTPUT"
    echo "bin-dir=$dir" >>"$GITHUB_OUTPUT"
fi
say "installed $("$dir/goshim" --version); $dir comes first on PATH from the next step"
