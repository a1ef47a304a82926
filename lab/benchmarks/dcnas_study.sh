#!/usr/bin/env bash
# DC-NAS study driver (issue 23 points 3-4): two workers of one thread each, run side by side.
#   bash lab/benchmarks/dcnas_study.sh A   # search at unet-m-srgb's latency, train it; then at UNet-S's
#   bash lab/benchmarks/dcnas_study.sh B   # train the three UNets; search at UNet-M b16's latency, train it
# Targets: latency of UNet-S / UNet-M b16 / UNet-M b24 (= unet-m-srgb) per 256x256 sRGB image at
# 1 thread, measured idle on 2026-12-03 (39.0 / 141.7 / 306.8 ms). Spaces widened so that each
# target lies inside the space's range (docs/search.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
S=lab/scratch/dcnas
mkdir -p "$S"
search() {  # name target widths hours
  edgeden search --target-ms "$2" --size 256x256 --widths "$3" --budget-hours "$4" --threads 1 --out "$S/$1" \
    > "$S/$1.out" 2>&1
  python lab/benchmarks/dcnas_study.py recipe "$S/$1" "study-dcnas-$1"
}
train() { edgeden train "lab/recipes/dcnas-study/study-$1.yaml" --threads 1 --out runs/dcnas-study > "$S/train-$1.out" 2>&1; }
case "$1" in
  A) search t3 306.8 48,72,120,240 0.5; train dcnas-t3; search t1 39.0 8,12,20,40 0.2; train dcnas-t1 ;;
  B) train unet-m24; train unet-m16; train unet-s; search t2 141.7 24,40,64,128 0.4; train dcnas-t2 ;;
esac
echo "worker $1 done $(date)"
