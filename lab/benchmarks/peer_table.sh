#!/usr/bin/env bash
# Every shipped preset beside the peers (FFDNet, CDnCNN-B, PMRID) on the same seeded noise, one
# `edgeden eval` run per domain and set, one thread unless THREADS says; JSON into lab/results/peers/
# (each JSON records its threads and precision; a finished one is skipped whatever they were).
# Usage: bash lab/benchmarks/peer_table.sh [raw|fast|srgb|dcnet|camera]...   (default: raw srgb camera)
# fast: a raw candidate not shipped (lab/recipes/unet-raw.yaml, made a local preset by
#   python lab/benchmarks/candidate_preset.py runs/unet-raw --name cand-unet-raw --tile 1024 --overlap 64)
#   beside PMRID, fanet-nsma and tsdn: run with EDGEDEN_PRESET_PATH=lab/scratch/presets.
# cand: an sRGB candidate (CAND=name, default cand-unet-ps-srgb, a local preset made by
#   candidate_preset.py) beside FFDNet, CDnCNN-B and the default on AWGN, and beside FFDNet and the
#   default on camera noise saved as JPEG; run with EDGEDEN_PRESET_PATH=lab/scratch/presets.
# THREADS=n runs every evaluation on n threads (default 1); PRECISION=fp32|bf16|auto (default fp32).
# RAW_EXTRA=a,b adds presets to the raw part's --compare (e.g. a local preset of a raw preset's
#   previous weights, with EDGEDEN_PRESET_PATH=lab/scratch/presets).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=lab/results/peers
mkdir -p "$out"
run() {  # name, then edgeden eval args
  local name=$1; shift
  [ -s "$out/$name.json" ] && { echo "skip $name (done)"; return; }
  echo "$(date -u +%FT%TZ) start $name"
  edgeden eval "$@" --threads "${THREADS:-1}" --precision "${PRECISION:-fp32}" --json > "$out/$name.json.part"
  mv "$out/$name.json.part" "$out/$name.json"
  echo "$(date -u +%FT%TZ) done $name"
}
for part in "${@:-raw srgb camera}"; do
  for p in $part; do
    case $p in
      raw) for d in kodak24 cbsd68; do
             run raw-$d tsdn --data $d --noise raw:0.001 --noise raw:0.004 --noise raw:0.012 \
               --compare pmrid,fanet-nsma,scaoed-lite${RAW_EXTRA:+,$RAW_EXTRA}
           done ;;
      fast) for d in kodak24 cbsd68; do
              run raw-unet-raw-$d cand-unet-raw --data $d --noise raw:0.001 --noise raw:0.004 --noise raw:0.012 \
                --compare pmrid,fanet-nsma,tsdn
            done ;;
      srgb) for d in kodak24 cbsd68; do
              run srgb-$d unet-m-srgb --data $d --noise awgn:15 --noise awgn:25 --noise awgn:50 \
                --compare ffdnet,dncnn,dnresnet-srgb,dsdnresnet-srgb
            done ;;
      dcnet) for d in kodak24 cbsd68; do  # the joint presets' denoisers beside the peers
               run srgb-dcnet-$d dcnet --data $d --noise awgn:15 --noise awgn:25 --noise awgn:50 \
                 --compare dcnet-seq,ffdnet,dncnn
             done ;;
      cand) c=${CAND:-cand-unet-ps-srgb}
            for d in kodak24 cbsd68; do
              run srgb-$c-$d "$c" --data $d --noise awgn:15 --noise awgn:25 --noise awgn:50 \
                --compare ffdnet,dncnn,unet-m-srgb
              run camera-$c-$d "$c" --data $d --noise camera:0.001:q90 --noise camera:0.004:q85 \
                --noise camera:0.012:q75 --compare unet-m-srgb,ffdnet
            done ;;
      camera) run camera-kodak24 unet-m-srgb --data kodak24 --noise camera:0.001 --noise camera:0.004 \
                --noise camera:0.012 --compare ffdnet,dncnn,dnresnet-srgb,dsdnresnet-srgb ;;
    esac
  done
done
