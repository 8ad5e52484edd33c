#!/bin/sh
# Add this labdeck bundle to your desktop's application menu, for you alone (no root):
# ~/.local/bin/labdeck -> this bundle's executable, the .desktop entry, the icons and the
# AppStream file under ~/.local/share. Run it again after moving the bundle.
# Usage: install-desktop-entry.sh [--uninstall]
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
BIN="$HOME/.local/bin"
SIZES="16 22 24 32 48 64 128 256 512"
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$BIN/labdeck" "$DATA/applications/labdeck.desktop" \
    "$DATA/metainfo/io.github.labdeck.labdeck.metainfo.xml" "$DATA/icons/hicolor/scalable/apps/labdeck.svg"
  for n in $SIZES; do rm -f "$DATA/icons/hicolor/${n}x$n/apps/labdeck.png"; done
  echo "labdeck removed from the application menu (the bundle itself is untouched)"
  exit 0
fi
mkdir -p "$BIN" "$DATA/applications" "$DATA/metainfo" "$DATA/icons"
ln -sfn "$HERE/labdeck" "$BIN/labdeck"
# The menu entry runs this bundle by its absolute path: ~/.local/bin need not be on PATH.
sed "s|^Exec=labdeck|Exec=\"$HERE/labdeck\"|" "$HERE/share/applications/labdeck.desktop" \
  > "$DATA/applications/labdeck.desktop"
cp "$HERE/share/metainfo/io.github.labdeck.labdeck.metainfo.xml" "$DATA/metainfo/"
cp -R "$HERE/share/icons/hicolor" "$DATA/icons/"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$DATA/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
echo "labdeck added to the application menu; command: $BIN/labdeck"
