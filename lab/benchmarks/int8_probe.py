"""Issue 21 point 4 probe: does ONNX Runtime int8 (static QDQ, per-channel int8 weights, uint8
activations calibrated on three demo photos at S 2e-3) make fanet-nsma faster on this CPU?

Measured 2026-12-07 on the 2-core AMD EPYC (AVX2, no VNNI), one thread, a training on the other
core, one 512x512 packed tile of member 2, alternating, two runs: fp32 0.308 / 0.253 and
0.387 / 0.282 s, int8 0.318 / 0.372 and 0.334 / 0.356 s. Not faster (MLAS runs these 16-channel group convolutions as small int8 GEMMs), so
quality was not measured and nothing ships. Run: python lab/benchmarks/int8_probe.py
(needs the cached graph of a previous `edgeden denoise -m fanet-nsma` run).
"""
import glob
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from edgeden.demo import make_noisy_raw, skimage_photo
from edgeden.models.onnx_backend import cache_dir
from edgeden.pipeline import pack_raw
from edgeden.presets import get_preset

pr = get_preset("fanet-nsma")
spec = pr.spec
src = sorted(glob.glob(f"{cache_dir()}/fanet-nsma-{pr.sha256[:16]}-m2-*.onnx"))[0]
tmp = tempfile.mkdtemp(prefix="int8-")
PRE, Q = tmp + "/pre.onnx", tmp + "/q.onnx"
xs = []
for name, seed in (("astronaut", 0), ("coffee", 1), ("chelsea", 2)):
    raw, _ = make_noisy_raw(skimage_photo(name), shot=2e-3, seed=seed)
    p, _ = pack_raw(raw)
    s, o = np.float32([2e-3] * 4), np.float32([2e-5] * 4)
    g = float(spec.gain(p).reshape(-1)[0])
    xs.append(np.ascontiguousarray(spec.to_model(p, s, o, g)[:, :, :128, :128]))


class Calibration(CalibrationDataReader):
    def __init__(self):
        self.it = iter([{"x": x} for x in xs])

    def get_next(self):
        return next(self.it, None)


quant_pre_process(src, PRE, skip_symbolic_shape=True)
quantize_static(PRE, Q, Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
so = ort.SessionOptions()
so.intra_op_num_threads = 1
x = np.random.default_rng(0).random((1, 5, 512, 512), dtype=np.float32) * 0.3
for f in (PRE, Q, PRE, Q):
    sess = ort.InferenceSession(f, so, providers=["CPUExecutionProvider"])
    sess.run(None, {"x": x})
    t = time.time()
    for _ in range(3):
        sess.run(None, {"x": x})
    print("int8" if f == Q else "fp32", round((time.time() - t) / 3, 3), "s per 512x512 tile")
