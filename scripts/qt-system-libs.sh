#!/usr/bin/env bash
# The Debian packages that PyQt5's Qt (the `screens` extra: beamline-screens, tests/test_screens.py)
# needs to render offscreen (QT_QPA_PLATFORM=offscreen): OpenGL (libGL, libEGL), fonts
# (fontconfig, FreeType, DejaVu: without a font every label renders empty), GLib, and
# libxkbcommon and D-Bus, which Qt's platform plugins load. Installs the missing ones when
# run as root (CI), else prints the command. Run by the Makefile's set-up.
#
# A window on an X desktop (the xcb platform) needs more, which desktops have:
#   apt-get install libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-xinerama0 libxkbcommon-x11-0
set -euo pipefail
command -v dpkg-query >/dev/null || exit 0   # not Debian: the system's own packages are the user's business

packages=(libgl1 libegl1 libfontconfig1 libfreetype6 fonts-dejavu-core libxkbcommon0 libdbus-1-3)
# GLib's library package was renamed in Debian 13 (64-bit time_t).
if dpkg-query -W -f='${Status}' libglib2.0-0t64 2>/dev/null | grep -q "ok installed"; then
    packages+=(libglib2.0-0t64)
elif dpkg-query -W -f='${Status}' libglib2.0-0 2>/dev/null | grep -q "ok installed"; then
    packages+=(libglib2.0-0)
else
    packages+=(libglib2.0-0)   # resolved below from what apt offers
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "qt-system-libs.sh: Qt needs these Debian packages for beamline-screens and its tests:" >&2
    echo "    sudo apt-get install ${missing[*]}" >&2
    exit 0
fi
echo "installing for Qt (apt-get install ${missing[*]}) ..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [[ " ${missing[*]} " == *" libglib2.0-0 "* ]] && ! apt-cache show libglib2.0-0 >/dev/null 2>&1; then
    missing=("${missing[@]/libglib2.0-0/libglib2.0-0t64}")
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
