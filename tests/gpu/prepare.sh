#!/usr/bin/env bash
# tests/gpu/prepare.sh - run HERE (the machine without a GPU) before the
# device call: fills .carry/ (git-ignored) with what the GPU machine lacks:
#   .carry/data/   the shared test data the GPU tests read (RWKV models,
#                  emissions, the LibriSpeech lexicon and 3-gram), ~27 MB
#   .carry/deb/    Debian packages unpacked there when its compiler lacks the
#                  headers: cmocka, zlib, liblzma, libbz2 (runtime and -dev)
# Then: the device tool's run with carry [".carry"] (tests/gpu/README.md).
set -eu -o pipefail
cd "$(dirname "$0")/../.."
DATA=${RD_SHARED_DATA:-../shared/data}
[ -d "$DATA/rwkv" ] || { echo "prepare.sh: no shared data at $DATA (set RD_SHARED_DATA)" >&2; exit 1; }
rm -rf .carry/data .carry/deb
mkdir -p .carry/data/rwkv .carry/data/emissions .carry/data/lexicon .carry/data/lm .carry/deb
cp "$DATA"/rwkv/tiny-rwkv-*-FP32.bin "$DATA"/rwkv/expected-logits-*.bin .carry/data/rwkv/
cp "$DATA"/emissions/* .carry/data/emissions/
cp "$DATA"/lexicon/librispeech-lm-vocab.lst .carry/data/lexicon/
cp "$DATA"/lm/librispeech-3gram-pruned.arpa .carry/data/lm/
(cd .carry/deb && apt-get download -q libcmocka0 libcmocka-dev zlib1g zlib1g-dev liblzma5 liblzma-dev \
    libbz2-1.0 libbz2-dev 2>&1 | grep -v "unsandboxed" >&2 || true)
n=$(ls .carry/deb/*.deb | wc -l)
[ "$n" = 8 ] || { echo "prepare.sh: apt-get download got $n of the 8 packages" >&2; exit 1; }
du -sh .carry
echo "prepare.sh: .carry ready; working tree + .carry must stay under 64 MiB"
