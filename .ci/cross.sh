#!/usr/bin/env bash
# Builds goshim for other targets on this x86_64 Linux machine, as a fresh CI
# machine can (Debian bookworm; registries only: apt, PyPI, crates.io; no
# rustup targets can be added):
#
#   .ci/cross.sh                      every target below
#   .ci/cross.sh aarch64-apple-darwin the ones named
#
# The compiler is Debian's rustc-web (apt-get download + dpkg-deb -x, nothing
# installed), which builds the standard library from rust-web-src for any
# target (RUSTC_BOOTSTRAP=1, -Zbuild-std); zig (PyPI ziglang, through
# cargo-zigbuild) is the C compiler for ring's build script and the linker.
# Both are cached under target/ci-tools/cross; the builds go to target/cross.
#
# What each target proves:
#   *-apple-darwin   compiled up to the link: every crate and goshim's own
#                    objects are built (type check, borrow check, codegen),
#                    and the link fails only because the macOS frameworks
#                    (Security, CoreFoundation) are not on this machine. The
#                    script checks that this is the only error.
#   *-windows-gnu    compiled and linked: target/cross/<target>/debug/goshim.exe,
#                    and the unit tests linked too, as
#                    target/cross/<target>/debug/goshim-unit-tests.exe
#                    (tests/windows_wine.rs runs both under Wine)
# Warnings in goshim's own code fail the build too (clippy -D warnings covers
# Linux only; this covers the other platforms' cfg code).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

say() { echo ".ci/cross.sh: $*" >&2; }
die() {
    say "ERROR: $*"
    exit 1
}

all_targets=(aarch64-apple-darwin x86_64-apple-darwin x86_64-pc-windows-gnu)

# Pinned so that CI is reproducible. Debian's security archive keeps only the
# newest rustc-web; when it moves on, the download fails and says how to bump
# these (apt-cache policy rustc-web libllvm22).
rust_deb_version=1.96.0+dfsg1-1~deb12u2
llvm_deb_version=1:22.1.8-1~deb12u1
debs=(
    "rustc-web=$rust_deb_version"
    "rust-web-src=$rust_deb_version"
    "libstd-rust-web-1.96=$rust_deb_version"
    "libstd-rust-web-dev=$rust_deb_version"
    "libllvm22=$llvm_deb_version"
)
wheels=(ziglang==0.17.1 cargo-zigbuild==0.24.1)

cache=$root/target/ci-tools/cross
target_dir=$root/target/cross
sysroot=$cache/root/usr
# rustc-web's libraries, and the system ones unpacked beside them (some of
# bookworm's are under /lib).
libdirs=$cache/root/usr/lib/x86_64-linux-gnu:$cache/root/lib/x86_64-linux-gnu
py=$cache/py

# --- the toolchain ---------------------------------------------------------

# apt-get download "$@" into the current folder; runs apt-get update once when
# the package lists are missing or stale (a fresh CI machine has none).
apt_download() {
    local as_root=()
    # As root, apt drops to its _apt user, who cannot write here; say it is fine.
    [ "$(id -u)" = 0 ] && as_root=(-o APT::Sandbox::User=root)
    apt-get download -qq "${as_root[@]}" "$@" </dev/null && return 0
    if [ "$(id -u)" = 0 ]; then
        say "apt-get download failed; running apt-get update and trying again"
        apt-get update -qq </dev/null >&2 || true
        apt-get download -qq "${as_root[@]}" "$@" </dev/null && return 0
    fi
    local p
    for p in "$@"; do
        say "apt-cache policy ${p%%=*}:"
        apt-cache policy "${p%%=*}" >&2 || true
    done
    die "apt-get download $* failed. If the pinned version is gone from the archive (the security archive keeps only the newest), set rust_deb_version / llvm_deb_version (and libstd-rust-web-<N>, libllvm<N>) at the top of .ci/cross.sh to the candidate shown above"
}

# The Debian package that has the shared library $1 (what rustc or libLLVM
# need from the system; a slim bookworm image may lack some).
package_of_lib() {
    case $1 in
    libz3.so.*) echo libz3-4 ;;
    libxml2.so.*) echo libxml2 ;;
    libedit.so.*) echo libedit2 ;;
    libffi.so.8) echo libffi8 ;;
    libicuuc.so.* | libicudata.so.*) echo libicu72 ;;
    libzstd.so.*) echo libzstd1 ;;
    libz.so.*) echo zlib1g ;;
    libbsd.so.*) echo libbsd0 ;;
    libmd.so.*) echo libmd0 ;;
    libtinfo.so.*) echo libtinfo6 ;;
    liblzma.so.*) echo liblzma5 ;;
    *) return 1 ;;
    esac
}

missing_libs() {
    LD_LIBRARY_PATH=$1/usr/lib/x86_64-linux-gnu:$1/lib/x86_64-linux-gnu ldd "$1/usr/bin/rustc" "$1"/usr/lib/x86_64-linux-gnu/libLLVM.so.* |
        awk '/not found/ { print $1 }' | sort -u
}

# Fills $cache (atomically: built in $cache.new, then renamed) unless it holds
# exactly the pinned versions already.
fetch_toolchain() {
    local want="${debs[*]} ${wheels[*]}"
    if [ -f "$cache/ready" ] && [ "$(cat "$cache/ready")" = "$want" ]; then
        say "toolchain: cached in ${cache#"$root/"} (rustc-web $rust_deb_version, ${wheels[*]})"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "no apt-get: this script needs Debian (bookworm) for rustc-web"
    local new=$cache.new started=$SECONDS
    rm -rf "$new"
    mkdir -p "$new/debs" "$new/root"
    say "toolchain: downloading ${debs[*]} (about 145 MB)"
    (cd "$new/debs" && apt_download "${debs[@]}")
    local deb
    for deb in "$new"/debs/*.deb; do
        dpkg-deb -x "$deb" "$new/root"
    done
    # System libraries libLLVM needs (libz3, libxml2, libedit, ...), unpacked
    # beside it when this machine lacks them; a few rounds for their own needs.
    local round missing lib pkg pkgs
    for round in 1 2 3; do
        missing=$(missing_libs "$new/root")
        [ -z "$missing" ] && break
        pkgs=()
        for lib in $missing; do
            pkg=$(package_of_lib "$lib") ||
                die "rustc-web needs $lib, which this machine lacks and .ci/cross.sh does not know the package of: install it (apt-get install), or add it to package_of_lib"
            pkgs+=("$pkg")
        done
        mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
        say "toolchain: this machine lacks $(echo "$missing" | tr '\n' ' ')- unpacking ${pkgs[*]} beside rustc (round $round)"
        mkdir -p "$new/syslibs"
        (cd "$new/syslibs" && apt_download "${pkgs[@]}")
        for deb in "$new"/syslibs/*.deb; do
            dpkg-deb -x "$deb" "$new/root"
        done
        rm -f "$new"/syslibs/*.deb
    done
    missing=$(missing_libs "$new/root")
    [ -z "$missing" ] || die "rustc-web still lacks $(echo "$missing" | tr '\n' ' ')"
    rm -rf "$new/debs" "$new/syslibs"

    say "toolchain: pip install ${wheels[*]} (PyPI)"
    ensure_pip
    python3 -m pip install --quiet --disable-pip-version-check --no-input \
        --target "$new/py" "${wheels[@]}" </dev/null ||
        die "pip install ${wheels[*]} failed"

    LD_LIBRARY_PATH=$new/root/usr/lib/x86_64-linux-gnu:$new/root/lib/x86_64-linux-gnu "$new/root/usr/bin/rustc" -vV >/dev/null ||
        die "the unpacked rustc-web does not run"
    "$new/py/ziglang/zig" version >/dev/null || die "the zig from PyPI does not run"
    echo "$want" >"$new/ready"
    rm -rf "$cache"
    mv "$new" "$cache"
    say "toolchain: ready in ${cache#"$root/"} ($((SECONDS - started)) s)"
}

ensure_pip() {
    command -v python3 >/dev/null 2>&1 || die "no python3 to install zig and cargo-zigbuild from PyPI"
    python3 -m pip --version >/dev/null 2>&1 && return 0
    python3 -m ensurepip --upgrade >/dev/null 2>&1 || true
    if ! python3 -m pip --version >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        say "python3 has no pip; installing python3-pip with apt-get"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip; } </dev/null >/dev/null 2>&1 || true
    fi
    python3 -m pip --version >/dev/null 2>&1 || die "python3 has no pip (apt-get install python3-pip)"
}

# --- the builds ------------------------------------------------------------

# Reads cargo's JSON messages ($1) for target $2 and says whether the build
# did what the target is meant to: "link" (goshim.exe made) or "to-link"
# (everything compiled, then only the missing macOS frameworks failed the
# link). Prints the diagnostics that matter.
judge() {
    python3 - "$1" "$2" "$3" "$root/Cargo.toml" <<'EOF'
import json, re, sys

log, target, mode, manifest = sys.argv[1:]
errors, own_warnings, exe, finished = [], [], None, None
for line in open(log, encoding="utf-8", errors="replace"):
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    reason = m.get("reason")
    if reason == "build-finished":
        finished = m["success"]
    elif reason == "compiler-artifact" and m.get("manifest_path") == manifest and m.get("executable"):
        exe = m["executable"]
    elif reason == "compiler-message":
        d = m["message"]
        own = m.get("manifest_path") == manifest
        if d["level"] in ("error", "error: internal compiler error"):
            errors.append((m, d))
        elif d["level"] == "warning" and own:
            # Expected: there is no macOS SDK here for rustc to ask xcrun about.
            if "xcrun" in d["message"] and "MacOSX.sdk" in d["message"]:
                continue
            own_warnings.append(d)

def fail(why):
    print(f".ci/cross.sh: FAILED {target}: {why}", file=sys.stderr)
    sys.exit(1)

def show(ds):
    for d in ds:
        print(d.get("rendered") or d["message"], file=sys.stderr)

if finished is None:
    fail(f"cargo stopped before building (no build-finished message in {log}; see the output above)")
if mode == "link":
    show(d for _, d in errors)
    show(own_warnings)
    if errors or not finished:
        fail(f"{len(errors)} compile error(s)")
    if not exe:
        fail("cargo reported no goshim executable")
    with open(exe, "rb") as f:
        if f.read(2) != b"MZ":
            fail(f"{exe} is not a Windows executable")
    if own_warnings:
        fail(f"{len(own_warnings)} warning(s) in goshim's code")
    print(f".ci/cross.sh: {target}: built and linked {exe}", file=sys.stderr)
else:
    if finished:
        fail("the build linked, which was not expected without the macOS frameworks: update .ci/cross.sh")
    link = [(m, d) for m, d in errors
            if m.get("manifest_path") == manifest and d["message"].startswith("linking with")]
    other = [d for m, d in errors if (m, d) not in link]
    if other:
        show(other)
        show(own_warnings)
        fail(f"{len(other)} compile error(s) before the link")
    if len(link) != 1:
        fail(f"expected one link error for goshim, got {len(link)}")
    note = link[0][1].get("rendered") or ""
    # zig's own "error: ..." lines in the linker's output: only the missing
    # frameworks are acceptable.
    linker_errors = re.findall(r"^\s*(?:= note: )?error: (.*)$", note, re.M)
    unexpected = [e for e in linker_errors
                  if not e.startswith(("linking with", "unable to find system framework"))]
    if not linker_errors or unexpected:
        print(note, file=sys.stderr)
        fail("the link failed for another reason than the missing macOS frameworks")
    show(own_warnings)
    if own_warnings:
        fail(f"{len(own_warnings)} warning(s) in goshim's code")
    frameworks = ", ".join(sorted(set(re.findall(r'framework "(\w+)"', note))))
    print(f".ci/cross.sh: {target}: compiled; the link failed only for the missing macOS "
          f"frameworks ({frameworks}), as expected here", file=sys.stderr)
EOF
}

build_target() {
    local target=$1 mode
    case $target in
    *-apple-darwin) mode=to-link ;;
    *-windows-gnu) mode=link ;;
    *) die "unsupported target $target (supported: ${all_targets[*]})" ;;
    esac
    local locked=()
    [ "${CI:-}" = true ] && locked=(--locked)
    mkdir -p "$target_dir"
    local log=$target_dir/$target.messages.json started=$SECONDS
    local target_env=()
    if [ "$target" = x86_64-pc-windows-gnu ]; then
        # rustc's windows-gnu target links -lssp_nonshared -lssp (MinGW's
        # stack protector, see its late-link-args), which zig's MinGW does not
        # ship. Nothing here is built with -fstack-protector, so empty
        # archives satisfy the linker; a symbol that is really missing still
        # fails the link. (RUSTFLAGS for this target only.)
        local stubs=$cache/mingw-ssp-stubs
        mkdir -p "$stubs"
        printf '!<arch>\n' >"$stubs/libssp.a"
        printf '!<arch>\n' >"$stubs/libssp_nonshared.a"
        target_env=("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS=-L native=$stubs")
    fi
    if [ "$mode" = to-link ]; then
        say "$target: cargo zigbuild -Zbuild-std into ${target_dir#"$root/"}, up to the link (cargo's 'could not compile goshim' for the link is expected; judged below)"
    else
        say "$target: cargo zigbuild -Zbuild-std into ${target_dir#"$root/"}, linked"
    fi
    # cargo's progress goes to stderr; its JSON messages to the log, judged
    # below.
    zig_cargo zigbuild "${locked[@]}" --target "$target" </dev/null >"$log" || true
    local verdict=0
    judge "$log" "$target" "$mode" || verdict=$?
    if [ "$verdict" = 0 ] && [ "$mode" = link ]; then
        unit_tests "$target" || verdict=1
    fi
    say "$target: $((SECONDS - started)) s"
    return "$verdict"
}

# cargo-zigbuild <subcommand> with the cached toolchain, for the target named
# in the arguments; the per-target environment in target_env. The host's
# RUSTFLAGS are not the target's (and would override the per-target flags).
zig_cargo() {
    env -u CARGO_TARGET_DIR -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
        LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        RUSTC="$sysroot/bin/rustc" \
        RUSTC_BOOTSTRAP=1 \
        CARGO_ZIGBUILD_ZIG_PATH="$py/ziglang/zig" \
        CARGO_ZIGBUILD_CACHE_DIR="$cache/zigbuild" \
        ZIG_GLOBAL_CACHE_DIR="$cache/zig-cache" \
        "${target_env[@]}" \
        "$py/bin/cargo-zigbuild" "$@" \
        -Zbuild-std=std,panic_abort --target-dir "$target_dir" --message-format=json
}

# The unit tests for a target that links, as <target>/debug/goshim-unit-tests.exe.
unit_tests() {
    local target=$1 log=$target_dir/$1.unit-tests.json
    say "$target: the unit tests (cargo zigbuild test --no-run --bins), linked"
    if ! zig_cargo test --no-run --bins "${locked[@]}" --target "$target" </dev/null >"$log"; then
        say "$target: the unit tests do not build (cargo's JSON in ${log#"$root/"})"
        return 1
    fi
    local exe
    exe=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    m = json.loads(line) if line.startswith("{") else {}
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m.get("profile", {}).get("test"):
        print(m["executable"])' "$log" | tail -n 1)
    [ -n "$exe" ] || { say "$target: no unit-test executable in ${log#"$root/"}"; return 1; }
    cp "$exe" "$target_dir/$target/debug/goshim-unit-tests.exe"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    case $t in
    *-apple-darwin | *-windows-gnu) ;;
    *) die "unsupported target $t (supported: ${all_targets[*]})" ;;
    esac
done

fetch_toolchain
failed=()
for t in "${targets[@]}"; do
    build_target "$t" || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
    die "the cross build failed for: ${failed[*]} (messages above; cargo's JSON in ${target_dir#"$root/"}/<target>.messages.json)"
fi
say "all good: ${targets[*]}"
