#!/usr/bin/env bash
# Writes .gpu/milnce.tar.xz (the folder `make package` makes) and .gpu/golden.tar.xz (a golden
# fixture folder) for `bench/gpu.sh --bundle .gpu OUT_DIR`: the whole GPU check in one call on a
# machine that receives only this repository's files and the .gpu folder (about 31 MB; .gpu is
# ignored by git).
#
#   scripts/gpu-bundle.sh [FIXTURE_DIR]
#
# FIXTURE_DIR defaults to MILNCE_GOLDEN_DIR, else $MILNCE_SHARED/golden/s3d-plain (MILNCE_SHARED
# defaults to ../shared). MILNCE_BUNDLE_PACKAGE=0 packs dist/milnce as it is, without rebuilding it.
set -euo pipefail
cd "$(dirname "$0")/.."

fixture="${1:-${MILNCE_GOLDEN_DIR:-${MILNCE_SHARED:-../shared}/golden/s3d-plain}}"
if [ ! -f "$fixture/meta.json" ]; then
    echo "gpu-bundle: no golden fixture at $fixture (no meta.json); pass its folder as the argument" >&2
    exit 2
fi
if [ "${MILNCE_BUNDLE_PACKAGE:-1}" != 0 ]; then
    scripts/package.sh
fi
if [ ! -x dist/milnce/milnce ]; then
    echo "gpu-bundle: dist/milnce holds no milnce binary; run \`make package\` first" >&2
    exit 2
fi

mkdir -p .gpu
rm -f .gpu/milnce.tar.xz .gpu/golden.tar.xz
tar -cJf .gpu/milnce.tar.xz -C dist milnce
fixture="$(cd "$fixture" && pwd)"
tar -cJf .gpu/golden.tar.xz -C "$(dirname "$fixture")" "$(basename "$fixture")"
du -h .gpu/milnce.tar.xz .gpu/golden.tar.xz
cat <<'USAGE'
On the GPU machine, from this repository's root with .gpu beside it:
  bench/gpu.sh --bundle .gpu OUT_DIR
OUT_DIR then holds gpu.md, gpu.json and logs.tar.gz.
USAGE
