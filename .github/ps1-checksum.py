#!/usr/bin/env python3
"""Adds a SHA-256 check of the downloaded archive to cargo-dist's PowerShell
installer, in place: python3 .github/ps1-checksum.py [target/distrib]

cargo-dist 0.34's goshim-installer.ps1 downloads the Windows .zip and unpacks
it without checking it (axodotdev/cargo-dist#2397; its shell installer does
check). This embeds each archive's SHA-256, read from the <archive>.sha256
file that dist wrote beside it, into the installer's platform table, and
checks it with Get-FileHash right after the download, before Expand-Archive.
A mismatch fails that download like a network error does: the installer
tries its next URL, then stops with "failed to download binaries".

Run by the release workflow (build-global-artifacts) after
`dist build --artifacts=global`; see docs/releasing.md. Fails, changing
nothing, when the installer does not look as expected (a newer cargo-dist):
then the release stops rather than ship an installer that checks nothing.
"""

import re
import sys
from pathlib import Path

MARK = "# goshim: SHA-256 check"

DOWNLOAD = "  Invoke-DownloadFile -client $wc -url $url -path $dir_path\n"
CHECK = f"""\
  {MARK} of the archive, embedded at release time (.github/ps1-checksum.py)
  $expected_sha256 = $info["sha256"]
  if (-not $expected_sha256) {{
    throw "no SHA-256 for $artifact_name in this installer"
  }}
  $actual_sha256 = (Get-FileHash -Algorithm SHA256 -LiteralPath $dir_path).Hash.ToLowerInvariant()
  if ($actual_sha256 -ne $expected_sha256) {{
    Remove-Item -LiteralPath $dir_path -Force -ErrorAction SilentlyContinue
    throw "SHA-256 mismatch for ${{url}}: expected $expected_sha256, got $actual_sha256"
  }}
  Write-Verbose "  SHA-256 $actual_sha256 checked"
"""
SYNOPSIS_ANCHOR = "then unpacks the binaries and installs them to\n"
SYNOPSIS = "checks its SHA-256 against the one embedded in this script,\n"
ARTIFACT = re.compile(r'^(\s*)"artifact_name" = "([^"]+)"\n', re.M)


def die(msg):
    print(f"ps1-checksum.py: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def sha256_of(distrib, archive):
    f = distrib / f"{archive}.sha256"
    try:
        text = f.read_text(encoding="utf-8")
    except OSError as e:
        die(f"no checksum for {archive}: {e}")
    m = re.fullmatch(r"([0-9a-f]{64}) [ *]?(\S+)\s*", text)
    if not m or m.group(2) != archive:
        die(f"{f} is not '<sha256> *{archive}': {text!r}")
    return m.group(1)


def patch(text, distrib):
    if MARK in text:
        die("the installer already has the SHA-256 check")
    if text.count(DOWNLOAD) != 1:
        die("the download line of the installer was not found once (a new cargo-dist?): "
            "update .github/ps1-checksum.py")
    if text.count(SYNOPSIS_ANCHOR) != 1:
        die("the installer's description was not found once: update .github/ps1-checksum.py")
    archives = set()

    def add_hash(m):
        indent, archive = m.group(1), m.group(2)
        archives.add(archive)
        return f'{m.group(0)}{indent}"sha256" = "{sha256_of(distrib, archive)}"\n'

    text = ARTIFACT.sub(add_hash, text)
    if not archives:
        die("no artifact_name in the installer's platform table: update .github/ps1-checksum.py")
    text = text.replace(DOWNLOAD, DOWNLOAD + CHECK)
    text = text.replace(SYNOPSIS_ANCHOR, SYNOPSIS_ANCHOR.replace("then ", SYNOPSIS + "then "))
    return text, sorted(archives)


def main():
    distrib = Path(sys.argv[1] if len(sys.argv) > 1 else "target/distrib")
    installer = distrib / "goshim-installer.ps1"
    try:
        text = installer.read_text(encoding="utf-8")
    except OSError as e:
        die(f"cannot read the installer: {e}")
    text, archives = patch(text, distrib)
    tmp = installer.with_suffix(".ps1.tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(installer)
    print(f"ps1-checksum.py: {installer} checks the SHA-256 of {', '.join(archives)}")


if __name__ == "__main__":
    main()
