#!/usr/bin/env bash
# Packs `milnce` into dist/milnce: the release binary (Swift's runtime linked in) and every shared
# library it needs beyond the C/C++ runtime and libtorch (a lean build of FFmpeg's and LIBLINEAR's,
# with theirs), found through an rpath relative to the binary: about 40 MB. On another Linux x86-64 machine the folder then
# needs only a PyTorch 2.11 install: `dist/milnce/milnce.sh` finds its torch/lib (or set
# MILNCE_TORCH_LIB), or run `LD_LIBRARY_PATH=.../torch/lib dist/milnce/milnce`.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release --product milnce --static-swift-stdlib \
    -Xlinker --disable-new-dtags -Xlinker -rpath -Xlinker '$ORIGIN/lib'
binary=.build/release/milnce

# FFmpeg's libraries as Debian builds them link about 120 codec, font, TLS and graphics libraries
# (200 MB); a lean build of the same version and ABI needs six small ones (scripts/lean-ffmpeg.sh).
# MILNCE_PACKAGE_SYSTEM_FFMPEG=1 packs the system's instead.
search_path=""
if [ "${MILNCE_PACKAGE_SYSTEM_FFMPEG:-0}" != 1 ]; then
    bash scripts/lean-ffmpeg.sh .build/lean-ffmpeg
    search_path="$(pwd)/.build/lean-ffmpeg/lib"
fi
destination=dist/milnce
rm -rf "$destination"
mkdir -p "$destination/lib"
cp "$binary" "$destination/milnce"

# Every library ldd resolves, except the C/C++ runtime (present wherever PyTorch runs) and
# libtorch with its CUDA companions (taken from the target's PyTorch).
LD_LIBRARY_PATH="$search_path" ldd "$binary" | awk '/=> \// { print $1, $3 }' | while read -r name path; do
    case "$name" in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libutil.so*|libresolv.so*|ld-linux*|libgcc_s.so*|libstdc++.so*) continue ;;
        libtorch*|libc10*|libgomp*|libcudart*|libcupti*|libnvrtc*|libcublas*|libcudnn*|libnccl*|libnvToolsExt*) continue ;;
    esac
    case "$path" in */torch/lib/*|*/nvidia/*) continue ;; esac
    cp -L "$path" "$destination/lib/"
done

strip "$destination/milnce"
strip --strip-unneeded "$destination"/lib/*

cat > "$destination/milnce.sh" <<'LAUNCHER'
#!/usr/bin/env bash
# Runs milnce against this machine's PyTorch (MILNCE_TORCH_LIB, else python3's torch/lib, else
# a folder of LD_LIBRARY_PATH that holds libtorch).
here="$(cd "$(dirname "$0")" && pwd)"
torch_lib="${MILNCE_TORCH_LIB:-$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)}"
if [ -z "$torch_lib" ]; then
    # Else a folder of LD_LIBRARY_PATH that holds libtorch.
    IFS=: read -r -a folders <<< "${LD_LIBRARY_PATH:-}"
    for folder in "${folders[@]}"; do
        if [ -e "$folder/libtorch_cpu.so" ]; then torch_lib="$folder"; break; fi
    done
fi
if [ -z "$torch_lib" ] || [ ! -e "$torch_lib/libtorch_cpu.so" ]; then
    echo "milnce.sh: no PyTorch found; set MILNCE_TORCH_LIB to a PyTorch 2.11 install's torch/lib" >&2
    exit 1
fi
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/milnce" "$@"
LAUNCHER
chmod +x "$destination/milnce.sh"

echo "packed $(du -sh "$destination" | cut -f1) into $destination ($(ls "$destination/lib" | wc -l) libraries)"
