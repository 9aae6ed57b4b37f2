#!/usr/bin/env bash
# `make package`: the desktop client as a PyInstaller onedir (dist/sdr-agent-desk/) and the Linux tarball
# (dist/sdr-agent-desk-<version>-linux-<arch>.tar.gz + .sha256), built from the locked dependencies.
# Usage: packaging/build.sh PYTHON   (a CPython >= 3.12 with its shared libpython, as the Makefile finds it)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${1:?usage: packaging/build.sh PYTHON}
BUILD=build/package
VENV=$BUILD/venv
APP_ID=io.github.sdr_agent_desk.SDRAgentDesk

# A venv of its own, outside what `make test` uses: the client's runtime dependencies and PyInstaller only,
# exactly as constraints.txt pins them (no test tools, no PySide6-Addons, never keyrings.alt).
stamp=$VENV/.installed
if [[ ! -f $stamp || constraints.txt -nt $stamp || pyproject.toml -nt $stamp ]]; then
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -c constraints.txt -e '.[package]'
    touch "$stamp"
fi
# What must not be in the bundle: refuse to build with it rather than hope the spec's excludes catch it.
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
import sys

bad = []
for dist in ("keyrings.alt", "PySide6-Addons", "PySide6"):
    try:
        bad.append(f"{dist} {md.version(dist)}")
    except md.PackageNotFoundError:
        pass
if bad:
    sys.exit(f"packaging: the build venv has {bad}; only pyside6-essentials, and never keyrings.alt")
EOF

VERSION=$("$VENV/bin/python" -c \
    'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
ARCH=$(uname -m)
NAME=sdr-agent-desk-$VERSION-linux-$ARCH
# Same inputs, same archive: file times from the last commit, no hash randomisation in the build.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH PYTHONHASHSEED=0

"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
    --distpath dist --workpath "$BUILD/work" packaging/sdr-agent-desk.spec

# The tarball: the onedir, the desktop integration files in their share/ places, and install.sh.
stage=$BUILD/stage/$NAME
rm -rf "$BUILD/stage"
mkdir -p "$stage/share/applications" "$stage/share/metainfo" "$stage/share/icons/hicolor/scalable/apps"
cp -R dist/sdr-agent-desk "$stage/sdr-agent-desk"
cp "packaging/$APP_ID.desktop" "$stage/share/applications/"
cp "packaging/$APP_ID.metainfo.xml" "$stage/share/metainfo/"
cp "packaging/$APP_ID.svg" "$stage/share/icons/hicolor/scalable/apps/"
install -m 755 packaging/install.sh "$stage/install.sh"
echo "$VERSION" > "$stage/VERSION"
tarball=dist/$NAME.tar.gz
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$BUILD/stage" -cf - "$NAME" | gzip -n -6 > "$tarball"
(cd dist && sha256sum "$NAME.tar.gz" > "$NAME.tar.gz.sha256")

echo "bundle:  dist/sdr-agent-desk/ ($(du -sh dist/sdr-agent-desk | cut -f1))"
echo "tarball: $tarball ($(du -h "$tarball" | cut -f1)); sha256 in $tarball.sha256"
