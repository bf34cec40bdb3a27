#!/usr/bin/env bash
# tests/check_includes.sh - fails when an #include points back up the layers
# (docs/DESIGN.md, "Modules"). Each folder has a rank; a file may include
# headers of its own folder and of lower ranks only, never of a sibling at
# the same rank (lexicon/kernels, lmstate/ngram vs lmstate/rwkv):
#
#   0 common/
#   1 lexicon/  kernels/
#   2 lmstate/weights/          tensor files
#   3 lmstate/                  the LM interface, state cache, state files
#   4 lmstate/ngram/  lmstate/rwkv/   one folder per LM kind, behind lm_impl.h
#   5 decoder/                  and it includes lmstate/ headers only (no model's)
#   6 cli/
#
# lmstate/lm.c, the factory, reaches the LM kinds through constructors
# declared in lm_impl.h (a link-time, not an include-time, dependency).
# tests/ and tests/fuzz, tests/bench may include anything. Run from the
# project root; `make test` runs it.
set -u
rank() {
    case "$1" in
        common/*) echo "0 common" ;;
        lexicon/*) echo "1 lexicon" ;;
        kernels/*) echo "1 kernels" ;;
        lmstate/weights/*) echo "2 weights" ;;
        lmstate/ngram/*) echo "4 ngram" ;;
        lmstate/rwkv/*) echo "4 rwkv" ;;
        lmstate/*/*) echo "9 unknown-lmstate-folder" ;;
        lmstate/*) echo "3 lmstate" ;;
        decoder/*) echo "5 decoder" ;;
        cli/*) echo "6 cli" ;;
        *) echo "99 other" ;;
    esac
}
bad=0 n=0
for f in $(find common lexicon kernels lmstate decoder cli -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort); do
    read -r fr fg <<<"$(rank "$f")"
    if [ "$fr" = 9 ]; then echo "$f: lmstate/ subfolder without a rank in $0"; bad=1; continue; fi
    while IFS=: read -r line inc; do
        n=$((n + 1))
        read -r ir ig <<<"$(rank "$inc")"
        why=""
        if [ "$ir" -gt "$fr" ]; then why="a lower layer ($fg) includes a higher one ($ig)"
        elif [ "$ir" = "$fr" ] && [ "$ig" != "$fg" ]; then why="sibling layers ($fg, $ig) include each other"
        elif [ "$fg" = decoder ] && [ "$ig" != lmstate ] && [[ "$inc" == lmstate/* ]]; then
            why="the decoder includes a model's header (only lmstate/*.h, the interface)"
        fi
        if [ -n "$why" ]; then echo "$f:$line: #include \"$inc\": $why"; bad=1; fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed -E 's/^([0-9]+):.*"([^"]+)".*/\1:\2/')
done
if [ "$bad" = 0 ]; then echo "check_includes: $n project includes, none points back up the layers"; fi
exit "$bad"
