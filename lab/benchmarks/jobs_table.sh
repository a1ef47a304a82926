#!/usr/bin/env bash
# Files in flight: `edgeden bench --folder N --jobs J` for J = 1, 2, 3, interleaved and repeated
# (this machine's speed drifts by +-15% between minutes), at all cores; JSON into lab/results/jobs/.
# Usage: bash lab/benchmarks/jobs_table.sh PRESET [N copies of the 24 MP raw, default 4] [repeats, default 2]
set -euo pipefail
cd "$(dirname "$0")/../.."
preset=${1:?preset}; n=${2:-4}; reps=${3:-2}
mkdir -p lab/results/jobs
for r in $(seq 1 "$reps"); do
  for j in 1 2 3; do
    f=lab/results/jobs/$preset-j$j-r$r.json
    edgeden bench -m "$preset" --synthetic '' --folder "$n" --jobs "$j" --json > "$f"
    python - "$f" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); c = r["cases"][0]
print(f"{c['preset']} jobs {c['jobs']}: {c['per_image_s']:.2f} s/image ({c['mp_per_s']:.2f} MP/s), inference "
      f"{c['stages_s']['inference']:.2f} s, peak RSS {c['peak_rss_mb']:.0f} MB, conv peak {r['conv_peak_gflops']}")
PY
  done
done
