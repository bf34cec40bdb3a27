#!/usr/bin/env bash
# make bench-homophone-groups: what one huge homophone group costs (issue 17
# item 6). Lexicons of 100k and 1M words all spelled "a b", a 6-frame
# emission reading "ab ab", no LM; seconds and peak RSS with the whole group
# (--homophones 0) and with the default cap (32). Needs python3 + numpy.
set -euo pipefail
cd "$(dirname "$0")/../.."
W=build/bench/homophone-groups
mkdir -p "$W"
PY=${BENCH_VENV:+$BENCH_VENV/bin/}python3
"$PY" - "$W" <<'PYEOF'
import sys, numpy as np
w = sys.argv[1]
for n, name in ((100000, "100k"), (1000000, "1m")):
    with open(f"{w}/lex-{name}.txt", "w") as f:
        f.writelines(f"w{i} a b |\n" for i in range(n))
open(f"{w}/tokens.txt", "w").write("<blank>\n|\na\nb\n")
lp = np.full((6, 4), np.log(0.01), dtype=np.float32)
for t, u in enumerate([2, 3, 1, 2, 3, 1]):
    lp[t, u] = np.log(0.97)
np.save(f"{w}/x.npy", lp)
PYEOF
echo "| homophones in the group | --homophones | seconds | peak RSS MB | text |"
echo "|---|---|---|---|---|"
for n in 100k 1m; do
  for h in 0 32; do
    /usr/bin/time -f "%e %M" -o "$W/time" bin/rwkv-decode --logits "$W/x.npy" --tokens "$W/tokens.txt" \
      --lexicon "$W/lex-$n.txt" --homophones $h --quiet > "$W/out" || true
    read -r s kb < "$W/time"
    echo "| $n | $h | $s | $((kb / 1024)) | $(cut -f2 "$W/out") |"
  done
done
