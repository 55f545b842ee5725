#!/usr/bin/env bash
# Build goshim and install it as <prefix>/bin/goshim with the shim <prefix>/shims/go
# and <prefix>/shims/goshim (the management CLI, reachable from the same PATH line).
# Run ./install.sh --help for the options.
set -euo pipefail

prog=install.sh
usage() {
    cat <<EOF
usage: ./install.sh [--prefix DIR] [--no-static] [--uninstall] [--help]

Builds goshim (cargo build --release --locked) and installs
  DIR/bin/goshim     the binary
  DIR/shims/go       a symlink to ../bin/goshim: put DIR/shims first on PATH
  DIR/shims/goshim   a symlink to ../bin/goshim, so 'goshim status' works from that PATH
Re-running replaces them atomically.

options:
  --prefix DIR, --prefix=DIR   where to install (default: ~/.goshim)
  --no-static                  build a normal dynamically linked binary; by default
                               a static binary is built on x86_64/aarch64 Linux with
                               glibc (it starts faster), falling back to a normal build
  --uninstall                  remove DIR/bin/goshim, DIR/shims/go, DIR/shims/goshim
                               (and those folders and DIR when left empty) and
                               goshim's cache (health snapshot, go env cache, locks);
                               your config file is kept
  -h, --help                   show this help
EOF
}

die() { # die CODE MESSAGE
    echo "$prog: $2" >&2
    exit "$1"
}

prefix=""
uninstall=0
static=1
while [ $# -gt 0 ]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --uninstall) uninstall=1 ;;
        --no-static) static=0 ;;
        --prefix)
            [ $# -ge 2 ] && [ -n "$2" ] || die 2 "--prefix needs a directory (--prefix DIR or --prefix=DIR)"
            prefix=$2
            shift
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            [ -n "$prefix" ] || die 2 "--prefix needs a directory (--prefix DIR or --prefix=DIR)"
            ;;
        *) die 2 "unknown option '$1'; run '$0 --help' for the options" ;;
    esac
    shift
done

if [ -z "$prefix" ]; then
    [ -n "${HOME:-}" ] || die 1 "HOME is not set; pass --prefix DIR"
    prefix="$HOME/.goshim"
fi
# '--prefix=~/x' reaches us with the tilde unexpanded.
# shellcheck disable=SC2088
case "$prefix" in
    "~") prefix=${HOME:?} ;;
    "~/"*) prefix="${HOME:?}/${prefix#"~/"}" ;;
esac
case "$prefix" in
    /*) ;;
    *) prefix="$PWD/$prefix" ;;
esac
prefix=${prefix%/}
[ -n "$prefix" ] || die 2 "refusing to install into /"

bin="$prefix/bin/goshim"
links="go goshim" # in $prefix/shims, each a symlink to ../bin/goshim

# goshim's cache folder and config file, found as goshim finds them
# (src/settings/paths.rs): $1 if set, else $2/$3, else $HOME/$4.
goshim_path() {
    local own=${!1:-} xdg=${!2:-}
    if [ -n "$own" ]; then
        echo "$own"
    elif [ -n "$xdg" ]; then
        echo "$xdg/$3"
    elif [ -n "${HOME:-}" ]; then
        echo "$HOME/$4"
    fi
}
cache_dir() { goshim_path GOSHIM_CACHE_DIR XDG_CACHE_HOME goshim .cache/goshim; }
config_file() { goshim_path GOSHIM_CONFIG XDG_CONFIG_HOME goshim/config.toml .config/goshim/config.toml; }

if [ "$uninstall" = 1 ]; then
    removed=0
    # A link only when it is ours: a symlink to ../bin/goshim.
    for name in $links; do
        link="$prefix/shims/$name"
        if [ -L "$link" ] && [ "$(readlink "$link")" = "../bin/goshim" ]; then
            rm -f "$link" && echo "removed $link" && removed=1
        elif [ -e "$link" ] || [ -L "$link" ]; then
            echo "$prog: left $link alone: it is not the symlink to ../bin/goshim that install.sh makes" >&2
        fi
    done
    if [ -f "$bin" ]; then
        rm -f "$bin" && echo "removed $bin" && removed=1
    fi
    rm -f "$prefix"/bin/.goshim.tmp.* "$prefix"/shims/.go.tmp.* "$prefix"/shims/.goshim.tmp.* 2>/dev/null || true
    for d in "$prefix/shims" "$prefix/bin" "$prefix"; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null && echo "removed empty $d/"
    done
    # goshim's own state, by name only: GOSHIM_CACHE_DIR may be a shared folder.
    cache=$(cache_dir)
    if [ -n "$cache" ] && [ -d "$cache" ]; then
        cleaned=0
        for f in health.json health.lock goenv.json metrics.json metrics.lock probe.lock \
            .health.json.*.tmp .goenv.json.*.tmp .metrics.json.*.tmp .doctor.*.tmp; do
            for path in "$cache"/$f; do
                [ -f "$path" ] && rm -f "$path" && cleaned=1
            done
        done
        if rmdir "$cache" 2>/dev/null; then
            echo "removed goshim's cache $cache/" && removed=1
        elif [ "$cleaned" = 1 ]; then
            echo "removed goshim's files from $cache/ (the folder holds other files: left it)" && removed=1
        fi
    fi
    [ "$removed" = 1 ] || echo "nothing to remove under $prefix"
    config=$(config_file)
    if [ -n "$config" ] && [ -e "$config" ]; then
        echo "kept your config file $config (delete it yourself if you no longer need it)"
    fi
    echo "remove the line export PATH=\"$prefix/shims:\$PATH\" from your shell profile if you added it"
    exit 0
fi

# Build from the repository this script lives in, whatever the current directory.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
cd "$root"

cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -x "${CARGO_HOME:-${HOME:-/nonexistent}/.cargo}/bin/cargo" ]; then
    cargo="${CARGO_HOME:-$HOME/.cargo}/bin/cargo" # rustup's usual place, when PATH lacks it
fi
[ -n "$cargo" ] || die 1 "cargo not found: install Rust with rustup (curl https://sh.rustup.rs -sSf | sh, see https://rustup.rs) or your package manager (apt-get install cargo), then re-run"

target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

# A static binary skips the dynamic loader: measurably faster to start, and the shim
# starts on every go call. Only for glibc on x86_64/aarch64 Linux, where
# +crt-static is supported and tested; --target keeps the flag off build scripts.
static_target=""
if [ "$static" = 1 ] && [ "$(uname -s)" = Linux ] && getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
    host=$("$cargo" -vV 2>/dev/null | sed -n 's/^host: //p' || true)
    [ -n "$host" ] || host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p' || true)
    case "$host" in
        x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) static_target=$host ;;
    esac
fi

built=""
kind=""
if [ -n "$static_target" ]; then
    echo "building goshim (static, $static_target)..."
    if RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
        "$cargo" build --release --locked --target "$static_target"; then
        candidate="$target_dir/$static_target/release/goshim"
        # Keep it only if it really is static and runs.
        if [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1 &&
            ! { command -v ldd >/dev/null && ldd "$candidate" 2>&1 | grep -q '=>'; }; then
            built=$candidate
            kind=static
        else
            echo "$prog: the static build does not run or is not static; building a normal one" >&2
        fi
    else
        echo "$prog: the static build failed; building a normal one" >&2
    fi
fi
if [ -z "$built" ]; then
    echo "building goshim..."
    "$cargo" build --release --locked
    built="$target_dir/release/goshim"
    kind=dynamic
fi
[ -x "$built" ] || die 1 "the build finished but $built is missing"
version=$("$built" --version) || die 1 "$built does not run"

mkdir -p "$prefix/bin" "$prefix/shims"
tmp_bin="$prefix/bin/.goshim.tmp.$$"
tmp_link=""
trap 'rm -f "$tmp_bin" ${tmp_link:+"$tmp_link"}' EXIT
# Copy under a temporary name, then rename over the old one: a go call running
# meanwhile sees the old binary or the new one, never a half-written file.
cp "$built" "$tmp_bin"
chmod 755 "$tmp_bin"
mv -f "$tmp_bin" "$bin"
# The name picks the personality: 'go' is the shim, 'goshim' the management CLI.
for name in $links; do
    link="$prefix/shims/$name"
    tmp_link="$prefix/shims/.$name.tmp.$$"
    ln -s ../bin/goshim "$tmp_link"
    mv -fT "$tmp_link" "$link" 2>/dev/null || mv -f "$tmp_link" "$link" # -T: never into a folder
done
trap - EXIT

echo "installed $version ($kind) as $bin"
echo "shims: $prefix/shims/go and $prefix/shims/goshim -> ../bin/goshim"
echo "put it first on PATH: add this line to your shell profile (~/.bashrc, ~/.zshrc, ~/.profile):"
echo
echo "export PATH=\"$prefix/shims:\$PATH\""
echo
case ":${PATH:-}:" in
    *":$prefix/shims:"*) echo "($prefix/shims is already on PATH in this shell)" ;;
esac
