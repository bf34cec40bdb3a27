#!/usr/bin/env bash
# make bench-state: the state-management figures of the state issue.
#  1. --lm-prefix on the homophone set (tests/bench/make_homophones.py): WER
#     with no prefix, an in-domain prefix (sentences of the LM-training split
#     of the same fortunes corpus) and an off-domain one (counting words), for
#     the 3-gram ARPA and the tiny RWKV-7.
#  2. State storage on the same set with the tiny RWKV-7: fp32, fp16, bf16
#     (the live state cache, --state-dtype) and int8 with one fp32 scale per
#     row (RD_STATE_INT8_SIM=1: every state the model writes is rounded as
#     int8 storage at rest would give it back): bytes per slot and WER.
#  3. Streaming: the real LibriSpeech emission decoded with --stream in
#     chunks of 1, 7 and 50 frames vs the whole decode (final JSON line,
#     text and scores), with the ARPA and with the tiny RWKV-7.
#  4. Warm states: rwkv-lm state save of a prefix, decode with --lm-state vs
#     --lm-prefix (JSON identical), and save -> load round trips (fp32 exact).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/bench/homophones
W=build/bench/state
mkdir -p "$W"
THREADS=${THREADS:-$(nproc)}
BEAM=${BEAM:-16}
H=${H:-4}
RWKV=${RWKV_MODEL:-$D/rwkv/tiny-rwkv-7v0-834K-FP32.bin}
[ -f "$RWKV" ] || { echo "bench-state: $RWKV not found" >&2; exit 1; }
[ -d /usr/share/games/fortunes ] || { echo "bench-state: needs Debian's fortunes package" >&2; exit 1; }
python3 tests/bench/make_homophones.py --shared "$D" --out "$OUT" >/dev/null
IN_DOMAIN=$(head -n 3 "$OUT/lm-train.txt" | tr '\n' ' ')
OFF_DOMAIN="one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"

decode() { # tag extra-args... -> "wer hom_ok hom_total seconds"
  local tag=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  bin/rwkv-decode --list "$OUT/test.list" --tokens "$OUT/tokens.txt" --lexicon "$OUT/lexicon.txt" \
    --beam "$BEAM" --homophones "$H" --threads "$THREADS" "$@" > "$W/$tag.hyp" 2> "$W/$tag.err"
  t1=$(date +%s.%N)
  echo "$(python3 tests/bench/score_homophones.py "$OUT/test.ref" "$W/$tag.hyp" "$OUT/lexicon.txt") $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")"
}
row() { # label tag args...
  local label=$1 tag=$2; shift 2
  read -r wer hc ht secs < <(decode "$tag" "$@")
  printf '%-34s %7s%% %9s %8s\n' "$label" "$wer" "$(awk "BEGIN{printf \"%.1f%%\", 100*$hc/$ht}")" "$secs"
}

echo "== 1. --lm-prefix (test split, beam $BEAM, H $H, $THREADS threads)"
echo "in-domain prefix: $IN_DOMAIN" | cut -c1-150
echo "off-domain prefix: $OFF_DOMAIN"
printf '%-34s %8s %9s %8s\n' "LM, prefix" WER homophone seconds
ARPA=(--lm "$OUT/lm.arpa" --lm-weight 0.5 --word-score 2)
TINY=(--lm "$RWKV" --lm-weight 0.25 --word-score 2)
row "arpa, none" arpa.none "${ARPA[@]}"
row "arpa, in-domain" arpa.in "${ARPA[@]}" --lm-prefix "$IN_DOMAIN"
row "arpa, off-domain" arpa.off "${ARPA[@]}" --lm-prefix "$OFF_DOMAIN"
row "rwkv tiny, none" rwkv.none "${TINY[@]}"
row "rwkv tiny, in-domain" rwkv.in "${TINY[@]}" --lm-prefix "$IN_DOMAIN"
row "rwkv tiny, off-domain" rwkv.off "${TINY[@]}" --lm-prefix "$OFF_DOMAIN"

echo
echo "== 2. state storage (tiny RWKV-7, test split)"
printf '%-34s %8s %9s %8s %14s\n' "storage" WER homophone seconds "bytes/slot"
for dt in fp32 fp16 bf16; do
  line=$(row "$dt (state cache)" "rwkv.$dt" "${TINY[@]}" --state-dtype "$dt")
  per=$(sed -n 's/.*states x \([0-9]*\) bytes.*/\1/p' "$W/rwkv.$dt.err" | head -1)
  printf '%s %14s\n' "$line" "$per"
done
line=$(RD_STATE_INT8_SIM=1 row "int8 + row scales (simulated)" rwkv.int8 "${TINY[@]}")
fp32=$(sed -n 's/.*states x \([0-9]*\) bytes.*/\1/p' "$W/rwkv.fp32.err" | head -1)
per=$(python3 - "$RWKV" "$fp32" <<'PY'
import struct, sys
# rwkv.cpp .bin header: magic, version, n_vocab, n_embed, n_layer, data_type (int32 each)
h = struct.unpack('<6i', open(sys.argv[1], 'rb').read(24))
C, L = h[3], h[4]
N = (int(sys.argv[2]) // (4 * L) - 2 * C) // C  # head size, from fp32 = 4 L (2C + C N)
# int8: every row (a shift vector of C, or one wkv matrix row of N) + a 4-byte scale
print(L * (2 * (C + 4) + C * (N + 4)))
PY
)
printf '%s %14s\n' "$line" "$per"

echo
echo "== 3. streaming vs whole (real LibriSpeech emission)"
E=$D/emissions/librispeech-121-121726-0000.wav2vec2.npy
for lm in arpa rwkv; do
  if [ $lm = arpa ]; then L=(--lexicon "$D/lexicon/librispeech-lm-vocab.lst" --lm "$D/lm/librispeech-3gram-pruned.arpa");
  else L=(--lexicon "$D/lexicon/librispeech-lm-vocab.lst" --lm "$RWKV"); fi
  bin/rwkv-decode --logits "$E" "${L[@]}" --format json --quiet > "$W/whole.$lm.json"
  for c in 1 7 50; do
    bin/rwkv-decode --stream --chunk-frames $c --logits "$E" "${L[@]}" --format json > "$W/stream.$lm.$c.json" 2> "$W/stream.$lm.$c.err"
    if tail -1 "$W/stream.$lm.$c.json" | cmp -s - "$W/whole.$lm.json"; then same=identical; else same=DIFFERENT; fi
    printf '%-5s chunk %-3s final line %-9s (%d partial lines) %s\n' $lm $c $same \
      "$(($(wc -l < "$W/stream.$lm.$c.json") - 1))" "$(sed -n 's/.*: streamed/streamed/p' "$W/stream.$lm.$c.err")"
  done
done
tail -1 "$W/whole.arpa.json" | cut -c1-200

echo
echo "== 4. warm states"
if bin/rwkv-lm state --help >/dev/null 2>&1; then
  P="the meaning of life is"
  bin/rwkv-lm state save --model "$RWKV" --text "$P" -o "$W/prefix.state"
  bin/rwkv-decode --logits "$E" --lexicon "$D/lexicon/librispeech-lm-vocab.lst" --lm "$RWKV" --format json --quiet \
    --lm-prefix "$P" > "$W/prefix.json"
  bin/rwkv-decode --logits "$E" --lexicon "$D/lexicon/librispeech-lm-vocab.lst" --lm "$RWKV" --format json --quiet \
    --lm-state "$W/prefix.state" > "$W/state.json"
  if cmp -s "$W/prefix.json" "$W/state.json"; then echo "--lm-state == --lm-prefix: identical JSON"; else echo "--lm-state != --lm-prefix: DIFFERENT"; diff "$W/prefix.json" "$W/state.json" | head; fi
  for dt in fp32 fp16 bf16 int8; do
    bin/rwkv-lm state save --model "$RWKV" --text "$P" --dtype $dt -o "$W/p.$dt.state"
    printf '%-5s %8d bytes  diff vs fp32: %s\n' $dt "$(stat -c %s "$W/p.$dt.state")" \
      "$(bin/rwkv-lm state diff "$W/prefix.state" "$W/p.$dt.state" | tail -1)"
  done
else
  echo "rwkv-lm state: not built"
fi
