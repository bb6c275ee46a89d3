#!/usr/bin/env bash
# Installs what the project needs on Debian 12 with Swift 6.3: FFmpeg's and LIBLINEAR's
# development packages, Gloo's headers, the ffmpeg command (a test oracle), and a project-local
# Python environment (.venv) holding PyPI's torch (libtorch) and the test oracles.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libavcodec-dev libavformat-dev libswscale-dev libavutil-dev liblinear-dev libgloo-dev
              ffmpeg pkg-config python3-venv zlib1g-dev)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

requirements=scripts/requirements.txt
stamp=.venv/.requirements-installed
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating the Python environment .venv"
    python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || ! cmp -s "$requirements" "$stamp"; then
    echo "setup: installing $(grep -c '==' "$requirements") Python packages into .venv (torch is about 4.6 GB; a few minutes)"
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
fi
