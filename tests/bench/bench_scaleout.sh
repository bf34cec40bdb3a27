#!/bin/bash
# make bench-scaleout: the README's scale-out recipes run as written, each
# giving output identical to one run (sorted by id).
#
#   1. GNU parallel (Debian package `parallel`): the README block starting
#      "# GNU parallel" is extracted and run verbatim, rwkv-decode on PATH.
#   2. Slurm array job: a one-node Slurm (Debian `slurm-wlm` + `munge`) is
#      started on this machine (munged, slurmctld, slurmd on localhost, state
#      under $WORK), the README's decode.sh is extracted verbatim and submitted
#      with `sbatch --array=1-32 --wait`, then every daemon is stopped.
#      Needs root (slurmd); skipped with a message when not root or when the
#      packages are absent (the script says which).
#
# Data: ../shared/data (the LibriSpeech wav2vec2 emission and the pyctcdecode
# sample, 40 utterances alternating; lexicon and pruned 3-gram). Environment:
# WORK (default /tmp/rd-scaleout), DATA (default ../shared/data).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=$(cd "${DATA:-$ROOT/../shared/data}" && pwd)
WORK=${WORK:-/tmp/rd-scaleout}
rm -rf "$WORK"; mkdir -p "$WORK/run"
export PATH="$ROOT/bin:$PATH"
cd "$WORK/run"
E1=$DATA/emissions/librispeech-121-121726-0000.wav2vec2.npy
E2=$DATA/emissions/librispeech-pyctcdecode-sample.npy
ln -s "$DATA/emissions/librispeech-121-121726-0000.wav2vec2.tokens.txt" tokens.txt
ln -s "$DATA/lexicon/librispeech-words.lst" lex.txt
ln -s "$DATA/lm/librispeech-3gram-pruned.arpa" lm.arpa
# the sample has 29 units where tokens.txt lists 32: it fails, as a bad
# utterance would in a real list (--keep-going in the recipes goes on)
for i in $(seq -w 0 39); do printf 'u%s\t%s\n' "$i" "$([ $((10#$i % 8)) = 7 ] && echo "$E2" || echo "$E1")"; done > test.tsv

rwkv-decode --list test.tsv --tokens tokens.txt --lexicon lex.txt --lm lm.arpa --keep-going --quiet 2>/dev/null \
    | sort > "$WORK/one.tsv" || true
echo "bench-scaleout: one run: $(wc -l < "$WORK/one.tsv") lines"

extract() { # prints the README lines from the one matching $1 to the one matching $2
  awk -v a="$1" -v b="$2" 'index($0, a) == 1 {on = 1} on {print} on && index($0, b) == 1 {exit}' "$ROOT/README.md"
}

status=0
# ---- GNU parallel
if command -v parallel >/dev/null; then
  extract '# GNU parallel' 'sort part.' > parallel.sh
  echo "bench-scaleout: running the README's GNU parallel recipe:"; sed 's/^/    /' parallel.sh
  rm -f part.*.tsv
  t0=$(date +%s.%N)
  bash parallel.sh 2>/dev/null
  t1=$(date +%s.%N)
  if cmp -s out.tsv "$WORK/one.tsv"; then
    echo "bench-scaleout: GNU parallel: identical to one run ($(wc -l < out.tsv) lines, $(echo "$t1 - $t0" | bc) s)"
  else
    echo "bench-scaleout: GNU parallel: DIFFERS from one run"; diff out.tsv "$WORK/one.tsv" | head; status=1
  fi
else
  echo "bench-scaleout: GNU parallel not installed (apt-get install parallel): skipped"
fi

# ---- Slurm, one node on localhost
if [ "$(id -u)" != 0 ] || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "bench-scaleout: Slurm skipped (needs root and the slurm-wlm and munge packages)"
  exit $status
fi
S=$WORK/slurm; mkdir -p "$S/state" "$S/spool" "$S/munge" "$S/log"
HOST=$(hostname)
dd if=/dev/urandom of="$S/munge/munge.key" bs=1024 count=1 2>/dev/null; chmod 600 "$S/munge/munge.key"
cat > "$S/slurm.conf" <<CONF
ClusterName=rdbench
SlurmctldHost=$HOST
AuthType=auth/munge
AuthInfo=socket=$S/munge/socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmdParameters=config_overrides
ReturnToService=2
MaxArraySize=1001
NodeName=$HOST CPUs=8 State=UNKNOWN
PartitionName=bench Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF
export SLURM_CONF=$S/slurm.conf MUNGE_SOCKET=$S/munge/socket
cleanup() {
  [ -f "$S/slurmd.pid" ] && kill "$(cat "$S/slurmd.pid")" 2>/dev/null || true
  [ -f "$S/slurmctld.pid" ] && kill "$(cat "$S/slurmctld.pid")" 2>/dev/null || true
  [ -f "$S/munged.pid" ] && kill "$(cat "$S/munged.pid")" 2>/dev/null || true
}
trap cleanup EXIT
munged --key-file="$S/munge/munge.key" --socket="$S/munge/socket" --pid-file="$S/munged.pid" \
  --log-file="$S/log/munged.log" --seed-file="$S/munge/seed" --force
slurmctld -f "$S/slurm.conf" -i
slurmd -f "$S/slurm.conf"
for i in $(seq 1 60); do sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)' && break; sleep 1; done
sinfo -h -o '%P %T %c' || { echo "bench-scaleout: Slurm did not come up"; tail -5 "$S/log/"*.log; exit 1; }
extract '#!/bin/bash' '    --resume' > decode.sh
echo "bench-scaleout: submitting the README's decode.sh with sbatch --array=1-32 --wait:"; sed 's/^/    /' decode.sh
rm -f part.*.tsv out.tsv
t0=$(date +%s.%N)
sbatch --array=1-32 --wait -o "$S/log/job-%a.out" -e "$S/log/job-%a.err" decode.sh >/dev/null || true
t1=$(date +%s.%N)
sort part.*.tsv > out.tsv
if cmp -s out.tsv "$WORK/one.tsv"; then
  echo "bench-scaleout: Slurm array (32 tasks, one node): identical to one run ($(wc -l < out.tsv) lines, $(echo "$t1 - $t0" | bc) s)"
else
  echo "bench-scaleout: Slurm array: DIFFERS from one run"; diff out.tsv "$WORK/one.tsv" | head; tail -3 "$S/log/"*.log; status=1
fi
exit $status
