#!/usr/bin/env bash
# Builds a lean copy of the FFmpeg libraries milnce links against (Debian 12's FFmpeg 5.1.9, the
# same version and ABI, from Debian's source) for `make package`: every decoder and demuxer, but
# only the encoders and muxers milnce writes with (libx264, libvpx-vp9, mpeg4, PNG; MP4, Matroska,
# WebM, AVI), and no filters, devices, network or hardware back-ends. Debian's own build links ~120
# codec, font, TLS and graphics libraries (about 200 MB); this one needs zlib, bzip2, lzma,
# libx264, libvpx and libdav1d (about 10 MB). Installs into $1 (default .build/lean-ffmpeg);
# safe to run again (an existing build is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$(realpath -m "${1:-.build/lean-ffmpeg}")"
version=5.1.9
sha256=d9b593bb2ba93d4b50f74177e0cdcd41747e708596367deed0c30348a71dd176
url="http://deb.debian.org/debian-security/pool/updates/main/f/ffmpeg/ffmpeg_${version}.orig.tar.xz"

if [ -e "$prefix/lib/libavcodec.so.59" ]; then
    echo "lean FFmpeg already built in $prefix"
    exit 0
fi
installed="$(pkg-config --modversion libavcodec 2>/dev/null || true)"
if [ "$installed" != "59.37.100" ]; then
    echo "lean-ffmpeg.sh: the system's libavcodec is '$installed', not FFmpeg $version's 59.37.100; the lean build must match it" >&2
    exit 1
fi

sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
missing=""
for package in curl xz-utils nasm libx264-dev libvpx-dev libdav1d-dev zlib1g-dev libbz2-dev liblzma-dev; do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! curl -fsSL -o "$work/ffmpeg.tar.xz" "$url"; then
    echo "lean-ffmpeg.sh: cannot download $url (Debian may have moved to a newer FFmpeg 5.1 release:" >&2
    echo "  update version and sha256 here from its .dsc, or pack the system's FFmpeg with MILNCE_PACKAGE_SYSTEM_FFMPEG=1)" >&2
    exit 1
fi
echo "$sha256  $work/ffmpeg.tar.xz" | sha256sum -c --quiet
tar -C "$work" -xf "$work/ffmpeg.tar.xz"
cd "$work/ffmpeg-$version"
./configure --prefix="$prefix" --enable-shared --disable-static --disable-programs --disable-doc \
    --disable-debug --disable-avdevice --disable-avfilter --disable-postproc --disable-network \
    --disable-autodetect --enable-pthreads --enable-zlib --enable-bzlib --enable-lzma \
    --enable-gpl --enable-libx264 --enable-libvpx --enable-libdav1d \
    --disable-encoders --enable-encoder=libx264,libvpx_vp9,mpeg4,png,rawvideo \
    --disable-muxers --enable-muxer=mp4,mov,matroska,webm,avi,rawvideo \
    --disable-hwaccels --disable-outdevs --disable-indevs > "$work/configure.log"
make -j"$(nproc)" > "$work/make.log"
make install > /dev/null
echo "lean FFmpeg $version in $prefix: $(du -sh "$prefix/lib" | cut -f1)"
