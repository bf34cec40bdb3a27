#!/usr/bin/env bash
# make bench-threads-rss: what a thread costs (issue 15 item 2). Decodes 4
# utterances (the LibriSpeech wav2vec2 emission 4 times) with the 200k-word
# lexicon and an RWKV model (the tiny 834K test model and the trained 2.1M
# one) at --threads 1, 2 and 4; prints peak RSS, wall seconds and the state
# cache each thread holds (from the LM line). BEFORE=path/to/rwkv-decode adds
# the same rows for another binary, run side by side. Outputs of every run
# must be identical (checked). Needs ../shared/data (skipped without it).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
E=$D/emissions/librispeech-121-121726-0000.wav2vec2.npy
LEX=$D/lexicon/librispeech-lm-vocab.lst
for f in "$E" "$LEX"; do [ -f "$f" ] || { echo "bench-threads-rss: $f not found: skipped"; exit 0; }; done
W=build/bench/threads-rss
mkdir -p "$W"
for i in 1 2 3 4; do printf 'u%d\t%s\n' "$i" "$E"; done >"$W/four.list"
BINS=("after:${AFTER:-bin/rwkv-decode}")
[ -n "${BEFORE:-}" ] && BINS=("before:$BEFORE" "${BINS[@]}")
echo "| binary | model | threads | peak RSS MB | RSS / 1 thread | wall s | state cache per thread |"
echo "|---|---|---|---|---|---|---|"
fail=0
for model in tiny-rwkv-7v0-834K-FP32.bin english-rwkv7-2m-bytes.pth; do
  M=$D/rwkv/$model
  [ -f "$M" ] || { echo "| - | $model | not found: skipped |"; continue; }
  for b in "${BINS[@]}"; do
    name=${b%%:*} bin=${b#*:}
    one=
    for t in 1 2 4; do
      /usr/bin/time -f "%e %M" -o "$W/time" "$bin" --list "$W/four.list" --tokens "${E%.npy}.tokens.txt" \
        --lexicon "$LEX" --lm "$M" --threads "$t" >"$W/out.$name.$t" 2>"$W/err"
      read -r s kb <"$W/time"
      mb=$((kb / 1024))
      [ -z "$one" ] && one=$mb
      cache=$(sed -n 's/.*state cache per thread: .* = \([0-9.]* MB\).*/\1/p' "$W/err" | head -1)
      echo "| $name | $model | $t | $mb | $(awk -v a="$mb" -v b="$one" 'BEGIN{printf "%.2f", a / b}') | $s | $cache |"
      if ! cmp -s "$W/out.$name.$t" "$W/out.${BINS[0]%%:*}.1"; then echo "bench-threads-rss: $name --threads $t output differs" >&2; fail=1; fi
    done
  done
done
exit $fail
