# edgeden: two commands do everything on a fresh machine --
#   make demo   install, make sample noisy inputs (DNG + PNG) from scikit-image's photos, denoise them
#   make test   install and run the test suite (what CI runs)
PY ?= python3

.PHONY: install demo test bench

install:
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]"

demo: install
	$(PY) -m edgeden.demo demo/inputs
	edgeden denoise demo/inputs -o demo/out
	@echo "outputs in demo/out (denoised files, .preview.jpg renders, .json sidecars)"

test: install
	$(PY) -m pytest -p no:cacheprovider tests

bench: install
	$(PY) lab/benchmarks/tiling_memory.py
