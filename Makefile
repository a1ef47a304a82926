# edgeden: two commands do everything on a fresh machine --
#   make demo   install, make sample noisy inputs (DNG + PNG) from scikit-image's photos, denoise them
#   make test   run the test suite (installs first unless this checkout is already installed)
PY ?= python3
# true when `import edgeden` already resolves to this checkout (with the test extras present)
INSTALLED = $(shell $(PY) -c "import sys, pathlib, edgeden, pytest, skimage, colour_demosaicing, distributed; sys.exit(pathlib.Path(edgeden.__file__).resolve().parents[1] != pathlib.Path.cwd().resolve())" 2>/dev/null && echo yes)

.PHONY: install demo test bench

install:
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]"

demo: install
	$(PY) -m edgeden.demo demo/inputs
	edgeden denoise demo/inputs -o demo/out
	@echo "outputs in demo/out (denoised files, .preview.jpg renders, .json sidecars)"

test:
ifneq ($(INSTALLED),yes)
	$(MAKE) install
endif
	@start=$$(date +%s); $(PY) -m pytest -p no:cacheprovider; rc=$$?; \
	  echo "test suite wall time: $$(( $$(date +%s) - start )) s"; exit $$rc

bench: install
	$(PY) lab/benchmarks/tiling_memory.py
