"""Shared fixtures: tiny untrained presets (for pipeline mechanics only), the shared data path."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parent
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()

torch.set_num_threads(1)
# exported ONNX graphs (the onnxruntime backend) go to a per-session folder, not the user's cache
os.environ.setdefault("EDGEDEN_CACHE", tempfile.mkdtemp(prefix="edgeden-test-cache-"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def _make_preset(folder: Path, name: str, domain: str, arch: str = "unet-s", **extra) -> None:
    from edgeden.models import create_arch

    torch.manual_seed(0)
    cin = (4 if domain == "raw" else 3) + (1 if extra.get("noise_map") else 0)
    cout = 4 if domain == "raw" else 3
    net = create_arch(arch, in_channels=cin, out_channels=cout)
    # tiny and near-identity: scale the head so outputs stay close to the (residual) input
    head = dict(net.named_modules()).get("head") or dict(net.named_modules()).get("unet.head")
    if head is not None:
        with torch.no_grad():
            head.weight.mul_(0.01)
            head.bias.zero_()
    (folder / "weights").mkdir(parents=True, exist_ok=True)
    wp = folder / "weights" / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(wp))
    sha = hashlib.sha256(wp.read_bytes()).hexdigest()
    doc = {"name": name, "arch": arch, "domain": domain, "weights": wp.name, "sha256": sha,
           "tile": 64, "overlap": 16, "description": "test-only tiny untrained model", **extra}
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc))


@pytest.fixture(scope="session")
def tiny_preset_dir(tmp_path_factory) -> Path:
    """A folder with two tiny test presets: ``tiny-srgb`` (noise map) and ``tiny-raw`` (k-sigma)."""
    d = tmp_path_factory.mktemp("presets")
    _make_preset(d, "tiny-srgb", "srgb", noise_map=True)
    _make_preset(d, "tiny-raw", "raw", ksigma=True, k_ref=0.004)
    _make_preset(d, "tiny-dcnet", "srgb", arch="dcnet", classifier={
        "class_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        "class_list": "cifar10", "temperature": 1.5, "input_size": 32})
    return d


@pytest.fixture()
def tiny_presets(tiny_preset_dir, monkeypatch) -> Path:
    """Make the tiny presets visible through $EDGEDEN_PRESET_PATH for one test."""
    monkeypatch.setenv("EDGEDEN_PRESET_PATH", str(tiny_preset_dir))
    return tiny_preset_dir


# --------------------------------------------------------------------------- test tiers
#: Tiers, applied as markers at collection (select with ``pytest -m``; CI runs them all):
#:   unit     pure functions, tiny untrained models, synthetic files (no shipped weights, no data)
#:   weights  needs the shipped preset weights (edgeden/presets/weights)
#:   shared   needs ../shared/data (skips cleanly without it)
#:   slow     trains or evaluates tiny models for seconds (training loop, lab experiments)
WEIGHTS_MODULES = {"test_presets.py", "test_pipeline.py", "test_array.py", "test_classify_photos.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(str(item.fspath))
        marks = set()
        if "shared_data" in getattr(item, "fixturenames", ()):
            marks.add("shared")
        if path.name in WEIGHTS_MODULES:
            marks.add("weights")
        if "training" in path.parts or "lab" in path.parts:
            marks.add("slow")
        for m in marks or {"unit"}:
            item.add_marker(getattr(pytest.mark, m))


# --------------------------------------------------------------------------- reliability table
#: Tests marked ``@pytest.mark.reliability(case, expected)`` are the rows of docs/reliability.md:
#: ``python -m pytest -m reliability --reliability-table docs/reliability.md`` runs them and
#: writes the table (case, expected, observed, test) from what actually happened.
_RELIABILITY: list[dict] = []


def pytest_addoption(parser):
    parser.addoption("--reliability-table", default=None, metavar="PATH",
                     help="write the reliability table (markdown) of the tests marked reliability")


def pytest_runtest_makereport(item, call):
    m = item.get_closest_marker("reliability")
    if m is None or call.when != "call":
        return
    case = m.kwargs.get("case") or (m.args[0] if m.args else item.name)
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        case = f"{case} ({callspec.id})"
    expected = m.kwargs.get("expected") or (m.args[1] if len(m.args) > 1 else "")
    if call.excinfo is None:
        observed = "as expected"
        note = dict(item.user_properties).get("observed")
        if note:
            observed += f": {note}"
    elif call.excinfo.errisinstance(pytest.skip.Exception):
        observed = f"not run here ({str(call.excinfo.value).splitlines()[0]})"
    else:
        observed = f"**FAILED**: {str(call.excinfo.value).splitlines()[0][:160]}"
    _RELIABILITY.append({"case": case, "expected": expected, "observed": observed, "test": item.nodeid})


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--reliability-table", default=None)
    if not path or not _RELIABILITY:
        return
    rows = sorted(_RELIABILITY, key=lambda r: r["test"])
    lines = ["# Reliability under hostile input and faults", "",
             "Generated by the test suite: `python -m pytest -m reliability --reliability-table "
             "docs/reliability.md`. Each row is one test; *observed* is what the run saw.", "",
             "| case | expected | observed | test |", "|---|---|---|---|"]
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines += [f"| {esc(r['case'])} | {esc(r['expected'])} | {esc(r['observed'])} | `{r['test']}` |" for r in rows]
    Path(path).write_text("\n".join(lines) + "\n")
