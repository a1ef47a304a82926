#!/usr/bin/env bash
# DC-NAS study driver (issue 23 points 3-4): two workers of one thread each, run side by side.
#   bash lab/benchmarks/dcnas_study.sh S   # the searches, one after the other, then train one found net
#   bash lab/benchmarks/dcnas_study.sh T   # train the three UNets and the found nets as they come
#   bash lab/benchmarks/dcnas_study.sh C   # after both: idle latency of every net, then Kodak24 / CBSD68 evals
#   (2026-12-07) J and K side by side: the joint search at dcnet's latency and both joint nets'
#   trainings; D: the --widths auto search at UNet-M b16's latency and its training; E after them.
# Targets: latency of UNet-S / UNet-M b16 / UNet-M b24 (= unet-m-srgb) per 256x256 sRGB image at
# 1 thread, measured idle on 2026-12-03 (39.0 / 141.7 / 306.8 ms). Spaces widened so that each
# target lies inside the space's range (docs/search.md).
# While a search measures (its latency table at the start, its candidates at the end) every
# `edgeden train` and `edgeden eval` process is paused (SIGSTOP): a training on the other core
# made every network measure 1.6x slower here, which a table or a fit must not see (first T3 search, 2026-12-03).
set -euo pipefail
cd "$(dirname "$0")/../.."
S=lab/scratch/dcnas
mkdir -p "$S"
pause_trainings() { pkill -STOP -f "edgeden (train|eval)" || true; }
resume_trainings() { pkill -CONT -f "edgeden (train|eval)" || true; }
search() {  # name target(ms, or a network for --target-like) widths hours [task]
  local tgt=(--target-ms "$2")
  [[ $2 =~ ^[a-z] ]] && tgt=(--target-like "$2")
  edgeden search "${tgt[@]}" --size 256x256 --widths "$3" --budget-hours "$4" --threads 1 --out "$S/$1" \
    --task "${5:-denoise}" \
    > "$S/$1.out" 2>&1 &
  local pid=$! quiet=1
  trap resume_trainings EXIT
  pause_trainings
  while kill -0 $pid 2> /dev/null; do
    if [ $quiet = 1 ] && grep -q "space spans" "$S/$1.out"; then quiet=0; resume_trainings; fi
    if [ $quiet = 0 ] && grep -q "candidate networks" "$S/$1.out"; then quiet=2; pause_trainings; fi
    [ $quiet = 2 ] && pause_trainings  # a training started meanwhile
    sleep 2
  done
  resume_trainings
  wait $pid
  python lab/benchmarks/dcnas_study.py recipe "$S/$1" "study-dcnas-$1"
  cp -r "$S/$1" lab/results/dcnas/study-search-$1  # scratch does not survive a cut session
}
evals() {  # results-folder err-tag study-name...: the named study runs beside unet-m-srgb, one eval per set
  local R=$1 tag=$2 names=() n
  shift 2
  for n in "$@"; do
    python lab/benchmarks/candidate_preset.py "runs/dcnas-study/study-$n" > /dev/null
    names+=("cand-study-$n")
  done
  local cmp
  cmp=$(IFS=,; echo "${names[*]}")
  for set in kodak24 cbsd68; do
    EDGEDEN_PRESET_PATH=lab/scratch/presets edgeden eval unet-m-srgb --data "$set" --threads 1 \
      --noise awgn:15 --noise awgn:25 --noise awgn:50 --noise camera:0.004 --compare "$cmp" --json \
      > "$R/study_eval_$set.json" 2> "$S/$tag-$set.err" &
  done
  wait
}
wait_for() { while [ ! -f "lab/recipes/dcnas-study/study-$1.yaml" ]; do sleep 20; done; }
train() { edgeden train "lab/recipes/dcnas-study/study-$1.yaml" --threads 1 --out runs/dcnas-study > "$S/train-$1.out" 2>&1; }
case "$1" in
  # T3's search ran before the pausing existed (lab/scratch/dcnas/t3): its table was measured with
  # the other core still loading data, its candidates with it training, so its study recipe takes
  # the fit at the table's scale:
  #   search t3 306.8 48,72,120,240 0.5   (then) dcnas_study.py recipe ... --row "fit x1.0 (table scale)"
  S) search t2 141.7 24,40,64,128 0.4; search t1 39.0 8,12,20,40 0.2; train dcnas-t2 ;;
  # B: the UNet-M b16 target again on the next session's machine (2026-12-06, also "AMD EPYC",
  # AVX2): there UNet-M b16 measured 66.0 ms idle but the t2 network, found at UNet-M's latency
  # on the first machine, 99.5 ms (dense convs ran 2.1x faster, depthwise ones only 1.45x).
  # Widths chosen so that the space brackets 66 ms there.
  B) search t2b 66.0 20,32,52,104 0.4; train dcnas-t2b ;;
  # L: the same target as B given as a network (--target-like), measured beside the candidates.
  # It found the t2b network again (lab/results/dcnas/study-search-t2c/), so its recipe is not kept.
  L) search t2c unet-m:b=16 20,32,52,104 0.25 ;;
  # J: the joint task (issue 23 point 3, joint dcnas vs dcnet): searched at the latency of the
  # shipped dcnet (UNet-M b24 + its classifier branch) in t3's space; the found network's
  # denoiser trains as the study's, then its classifier branch on the frozen denoiser as
  # dcnet's does (recipes study-*-cls); dcnet's branch on study-unet-m24 the same way (K).
  J) search tj dcnet 48,72,120,240 0.5 joint; train dcnas-tj; train dcnas-tj-cls ;;
  K) train dcnet-cls ;;
  # D: UNet-M b16's latency again (--target-like), the space scaled to reach it by --widths auto
  # (t2b / t2c on the 2026-12-06 machine: the fixed 20,32,52,104 space's slowest network was 15-20%
  # faster than UNet-M b16); then its study training.
  D) search t2d unet-m:b=16 auto 0.25; train dcnas-t2d ;;
  # E (after J, K, D): the joint pair's accuracy by noise level on the CIFAR-10 test split, and the
  # new denoisers beside their UNets on Kodak24 / CBSD68 (same seeded noise as the earlier runs).
  E)
    R=lab/results/dcnas/joint
    python lab/benchmarks/dcnas_study.py joint "$R/joint_cifar_test.json" \
      runs/dcnas-study/study-dcnet-cls runs/dcnas-study/study-dcnas-tj-cls > "$S/joint.out" 2>&1 &
    evals "$R" eval4 unet-m24 dcnas-tj unet-m16 dcnas-t2d
    # then, with nothing else running, three idle latency runs of every study network
    for i in 1 2 3; do python lab/benchmarks/dcnas_study.py latency "$R/latency_256px_idle_run$i.json"; sleep 20; done ;;
  T) for n in unet-m24 unet-m16 unet-s dcnas-t3 dcnas-t1; do
       grep -q '"step": 3000,' "runs/dcnas-study/study-$n/log.jsonl" 2> /dev/null && continue  # done
       wait_for "$n"; train "$n"
     done ;;
  C)
    python lab/benchmarks/dcnas_study.py latency lab/results/dcnas/study_latency_256px_idle.json
    evals lab/results/dcnas eval $(cd runs/dcnas-study && ls -d study-* | sed 's/^study-//') ;;
esac
echo "worker $1 done $(date)"
