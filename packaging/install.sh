#!/bin/sh
# Installs SDR Agent Desk from this unpacked tarball for one user (~/.local), or for everyone
# (--prefix /opt/... as root). Installing a newer tarball the same way replaces the previous version;
# --uninstall removes it.
# Needs nothing but a POSIX shell and coreutils: the app carries its own Python and Qt.
set -eu

APP_ID=io.github.sdr_agent_desk.SDRAgentDesk
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX="${HOME}/.local"
SERVER=""
ACTION=install

usage() {
    cat <<EOF
usage: $0 [--prefix DIR] [--server URL] [--uninstall]

  --prefix DIR   install under DIR (default: ~/.local; e.g. /opt/sdr-agent-desk as root for every user)
  --server URL   the team's chat server (wss://chat.example.com): the launcher opens sign-in there
  --uninstall    remove what a previous install put under DIR (settings, cache and keychain stay)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=${2:?--prefix needs a folder}; shift 2 ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        --server) SERVER=${2:?--server needs a URL}; shift 2 ;;
        --server=*) SERVER=${1#--server=}; shift ;;
        --uninstall) ACTION=uninstall; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

case "$SERVER" in
    ""|ws://?*|wss://?*|http://?*|https://?*) ;;
    *) echo "--server: expected ws://host:port or wss://host, got '$SERVER'" >&2; exit 2 ;;
esac
case "$SERVER" in
    # scheme://host[:port][/path] only: it goes into the launcher's Exec line, where % and quotes mean more.
    *[!A-Za-z0-9:/._-]*) echo "--server: unexpected characters in '$SERVER'" >&2; exit 2 ;;
esac

LIB="$PREFIX/lib/sdr-agent-desk"
BIN="$PREFIX/bin/sdr-agent-desk"
APPS="$PREFIX/share/applications"
DESKTOP="$APPS/$APP_ID.desktop"
ICON="$PREFIX/share/icons/hicolor/scalable/apps/$APP_ID.svg"
METAINFO="$PREFIX/share/metainfo/$APP_ID.metainfo.xml"

refresh_caches() {
    # Optional desktop tools: menus, the sdr-agent-desk:// handler and the icon theme pick the change up.
    command -v update-desktop-database >/dev/null 2>&1 &&
        update-desktop-database -q "$APPS" 2>/dev/null || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 &&
        gtk-update-icon-cache -q -t "$PREFIX/share/icons/hicolor" 2>/dev/null || true
}

if [ "$ACTION" = uninstall ]; then
    rm -rf "$LIB" "$LIB.new"
    rm -f "$BIN" "$DESKTOP" "$ICON" "$METAINFO"
    refresh_caches
    echo "SDR Agent Desk removed from $PREFIX (settings, cache and the keychain entry are kept)."
    exit 0
fi

if [ ! -x "$HERE/sdr-agent-desk/sdr-agent-desk" ]; then
    echo "run install.sh from the unpacked tarball" >&2
    exit 1
fi
mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$APPS" "$(dirname "$ICON")" "$(dirname "$METAINFO")"

# Copy next to the old version, then swap: a running app keeps its (deleted) files until it quits.
rm -rf "$LIB.new"
cp -R "$HERE/sdr-agent-desk" "$LIB.new"
rm -rf "$LIB"
mv "$LIB.new" "$LIB"
ln -sf "$LIB/sdr-agent-desk" "$BIN"

# The launcher runs the installed binary by absolute path: ~/.local/bin is not on every session's PATH.
EXEC="$LIB/sdr-agent-desk"
[ -n "$SERVER" ] && EXEC="$EXEC --server $SERVER"
sed -e "s|^Exec=sdr-agent-desk|Exec=$EXEC|" -e "s|^TryExec=.*|TryExec=$LIB/sdr-agent-desk|" \
    "$HERE/share/applications/$APP_ID.desktop" > "$DESKTOP"
cp "$HERE/share/icons/hicolor/scalable/apps/$APP_ID.svg" "$ICON"
cp "$HERE/share/metainfo/$APP_ID.metainfo.xml" "$METAINFO"
refresh_caches
# sdr-agent-desk://conversation/<id> links open in the app (this user only, and only if xdg-mime exists).
if [ "$PREFIX" = "${HOME}/.local" ] && command -v xdg-mime >/dev/null 2>&1; then
    xdg-mime default "$APP_ID.desktop" x-scheme-handler/sdr-agent-desk 2>/dev/null || true
fi

echo "SDR Agent Desk $(cat "$HERE/VERSION" 2>/dev/null || echo) installed in $LIB"
echo "Start it from the applications menu, or run: $BIN"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "(add $PREFIX/bin to PATH to run it by name)" ;; esac
