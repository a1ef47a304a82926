"""Peer denoisers for side-by-side measurement in ``edgeden eval --compare``: published weights of
FFDNet (colour), CDnCNN-B / DnCNN-B (colour / grey, blind) and PMRID (packed RGGB raw).

The weights are *not* part of edgeden: they are read, for measuring only, from a peers folder
(``$EDGEDEN_PEERS``; else a ``shared/peers`` folder beside the current folder or one of its
parents; else beside a source checkout; or ``--peers-dir``), loaded with ``safetensors`` only and
checked against the folder's ``index.json`` sha256 when it has one. The networks below are plain
torch modules written from the folder's README (architectures) and index.json (tensor names).

How each is run (:func:`run_ffdnet`, :func:`run_dncnn`, :func:`run_pmrid`):

* FFDNet: non-blind; sRGB in [0, 1] plus a constant noise-level map sigma (in [0, 1] units).
* DnCNN: blind; output = input - network(input). The grey model runs on each channel alone.
* PMRID: packed RGGB raw in [0, 1] with noise variance S*x + O; the exact (S, O) go through
  PMRID's k-sigma transform (k = S*V, s = O*V^2, V = 959, anchored at ISO 1600).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from edgeden.io.common import sha256_file

#: ``--compare`` name -> weights files (stems in the peers folder) it may use.
PEER_FILES: dict[str, tuple[str, ...]] = {
    "ffdnet": ("ffdnet_color",),
    "dncnn": ("dncnn_color_blind", "dncnn_gray_blind"),
    "pmrid": ("pmrid",),
}
#: Which domain each peer denoises: sRGB images or packed RGGB raw.
PEER_DOMAIN = {"ffdnet": "srgb", "dncnn": "srgb", "pmrid": "raw"}


class PeerUnavailable(Exception):
    """A peer cannot be run here (folder or file absent, checksum mismatch, unreadable file)."""


# --------------------------------------------------------------------------- where the weights are
def _candidates() -> list[Path]:
    cwd = Path.cwd().resolve()
    out = [cwd / "shared" / "peers", cwd.parent / "shared" / "peers"]
    out += [d / "shared" / "peers" for d in cwd.parents]
    pkg_root = Path(__file__).resolve().parents[1]
    if (pkg_root / "pyproject.toml").exists():  # running from a source checkout
        out.append(pkg_root.parent / "shared" / "peers")
    return list(dict.fromkeys(out))


def find_peers_dir(explicit: str | os.PathLike | None = None) -> tuple[Path | None, str]:
    """The peers folder and a description of where it was looked for.

    ``explicit`` (``--peers-dir``) wins, then ``$EDGEDEN_PEERS``, then the first existing
    ``shared/peers`` of :func:`_candidates`. Returns (folder or None when none exists, "where").
    """
    if explicit is not None:
        p = Path(explicit)
        return (p if p.is_dir() else None), f"--peers-dir {p}"
    env = os.environ.get("EDGEDEN_PEERS")
    if env:
        p = Path(env)
        return (p if p.is_dir() else None), f"$EDGEDEN_PEERS={p}"
    cands = _candidates()
    for c in cands:
        if c.is_dir():
            return c, str(c)
    return None, "$EDGEDEN_PEERS (unset), " + ", ".join(str(c) for c in cands)


# --------------------------------------------------------------------------- architectures
class DnCNN(nn.Module):
    """DnCNN (Zhang et al., TIP 2017) as in KAIR: ``model.{0,2,..,38}``, 3x3 convs, batch norm
    folded into the biases; predicts the noise. x: (N, C, H, W) in [0, 1] -> same shape."""

    def __init__(self, channels: int = 3, features: int = 64, depth: int = 20):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            cin = channels if i == 0 else features
            cout = channels if i == depth - 1 else features
            layers.append(nn.Conv2d(cin, cout, 3, padding=1))
            if i < depth - 1:
                layers.append(nn.ReLU(inplace=True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.model(x)


class FFDNet(nn.Module):
    """FFDNet (Zhang et al., TIP 2018) as in KAIR: pixel-unshuffle by 2 + a sigma channel,
    ``model.{0,2,..,22}`` 3x3 convs (96 wide), pixel-shuffle back; outputs the clean image.
    x: (N, C, H, W) in [0, 1]; sigma: float or (N,) noise std in [0, 1] units -> (N, C, H, W)."""

    def __init__(self, channels: int = 3, features: int = 96, depth: int = 12):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(depth):
            cin = 4 * channels + 1 if i == 0 else features
            cout = 4 * channels if i == depth - 1 else features
            layers.append(nn.Conv2d(cin, cout, 3, padding=1))
            if i < depth - 1:
                layers.append(nn.ReLU(inplace=True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if (h % 2 or w % 2) else x
        x = F.pixel_unshuffle(x, 2)
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        m = s.expand(x.shape[0], 1, x.shape[-2], x.shape[-1])
        y = F.pixel_shuffle(self.model(torch.cat([x, m], 1)), 2)
        return y[..., :h, :w]


class _Sep(nn.Module):
    """Depthwise k x k (no bias) + pointwise 1x1 (bias)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, k, stride=stride, padding=k // 2, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class _Conv(nn.Module):
    """Plain 3x3 conv stored as ``.conv`` (PMRID's conv0 / out1)."""

    def __init__(self, cin: int, cout: int, relu: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.relu = relu

    def forward(self, x):
        y = self.conv(x)
        return F.relu(y) if self.relu else y


class _EncBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        mid = cout // 4
        self.conv1 = _Sep(cin, mid, 5, stride)
        self.conv2 = _Sep(mid, cout, 5)
        self.proj = _Sep(cin, cout, 3, stride) if (stride != 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(y + self.proj(x))


class _ResBlock(nn.Module):
    """Two separable 3x3 convs (ReLU between) plus the input."""

    def __init__(self, c: int):
        super().__init__()
        self.conv0 = _Sep(c, c, 3)
        self.conv1 = _Sep(c, c, 3)

    def forward(self, x):
        return x + self.conv1(F.relu(self.conv0(x)))


class _DecStage(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.decode_conv = _ResBlock(cin)
        self.upsample = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.proj_conv = _Sep(cskip, cout, 3)

    def forward(self, x, skip):
        return self.upsample(self.decode_conv(x)) + F.relu(self.proj_conv(skip))


class PMRID(nn.Module):
    """PMRID (Wang et al., ECCV 2020): U-Net on packed RGGB in PMRID's k-sigma space (network
    units: see :func:`run_pmrid`). x: (N, 4, h, w), h and w multiples of 16 -> same shape."""

    def __init__(self):
        super().__init__()
        self.conv0 = _Conv(4, 16, relu=True)
        self.enc1 = self._stage(16, 64, 2)
        self.enc2 = self._stage(64, 128, 2)
        self.enc3 = self._stage(128, 256, 4)
        self.enc4 = self._stage(256, 512, 4)
        self.encdec = _Sep(512, 64, 3)
        self.dec1 = _DecStage(64, 256, 64)
        self.dec2 = _DecStage(64, 128, 32)
        self.dec3 = _DecStage(32, 64, 32)
        self.dec4 = _DecStage(32, 16, 16)
        self.out0 = _ResBlock(16)
        self.out1 = _Conv(16, 4, relu=False)

    @staticmethod
    def _stage(cin: int, cout: int, n: int) -> nn.Sequential:
        return nn.Sequential(_EncBlock(cin, cout, 2), *[_EncBlock(cout, cout, 1) for _ in range(n - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c0 = self.conv0(x)
        c1 = self.enc1(c0)
        c2 = self.enc2(c1)
        c3 = self.enc3(c2)
        c5 = F.relu(self.encdec(self.enc4(c3)))
        y = self.dec4(self.dec3(self.dec2(self.dec1(c5, c3), c2), c1), c0)
        return x + self.out1(self.out0(y))


#: weights file stem -> network constructor.
ARCHS = {
    "ffdnet_color": lambda: FFDNet(3),
    "dncnn_color_blind": lambda: DnCNN(3),
    "dncnn_gray_blind": lambda: DnCNN(1),
    "pmrid": PMRID,
}


# --------------------------------------------------------------------------- loading
def load_peer(stem: str, folder: Path) -> tuple[nn.Module, dict]:
    """Build ``ARCHS[stem]`` and load ``folder/stem.safetensors`` into it (strict).

    The file's sha256 is checked against ``folder/index.json`` when that lists it. Returns
    (network in eval mode, {"file", "sha256", "sha256_checked", "params"}). Raises
    PeerUnavailable with a one-line reason when the file is absent, mismatched or unreadable.
    """
    from safetensors.torch import load_file

    path = Path(folder) / f"{stem}.safetensors"
    if not path.is_file():
        raise PeerUnavailable(f"{path} not found")
    digest = sha256_file(path)
    expected = None
    index = Path(folder) / "index.json"
    if index.is_file():
        try:
            expected = json.loads(index.read_text()).get(stem, {}).get("sha256")
        except (OSError, ValueError, AttributeError) as e:
            raise PeerUnavailable(f"{index}: unreadable ({e})") from None
    if expected and expected.lower() != digest:
        raise PeerUnavailable(f"{path}: sha256 {digest[:12]}... does not match index.json ({expected[:12]}...)")
    net = ARCHS[stem]()
    try:
        net.load_state_dict(load_file(str(path)), strict=True)
    except Exception as e:  # noqa: BLE001 -- safetensors errors, key or shape mismatches
        raise PeerUnavailable(f"{path}: cannot load ({str(e).splitlines()[0][:160]})") from None
    info = {"file": str(path), "sha256": digest, "sha256_checked": bool(expected),
            "params": sum(p.numel() for p in net.parameters())}
    return net.eval(), info


# --------------------------------------------------------------------------- running
def run_ffdnet(net: nn.Module, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """FFDNet on sRGB x (1, 3, H, W) with noise std ``sigma`` in [0, 1] units (sigma/255)."""
    with torch.inference_mode():
        return net(x.float(), float(sigma))


def run_dncnn(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """DnCNN on x (1, C, H, W). A grey network (1 input channel) denoises each channel alone."""
    cin = net.model[0].in_channels
    with torch.inference_mode():
        if cin == x.shape[1]:
            return net(x.float())
        return torch.cat([net(x[:, c:c + 1].float()) for c in range(x.shape[1])], 1)


#: PMRID's value scale (white - black of its camera) and its noise anchor ISO.
PMRID_V = 959.0
PMRID_ANCHOR_ISO = 1600.0


def pmrid_k(iso: float) -> float:
    """PMRID's camera: shot coefficient k at ``iso`` (variance = k*x + s, x in V units)."""
    return 0.0005995267 * iso + 0.00868861


def pmrid_s(iso: float) -> float:
    """PMRID's camera: read variance s at ``iso`` (V units)."""
    return 7.11772e-7 * iso * iso + 6.514934e-4 * iso + 0.11492713


def pmrid_ksigma(shot: float, read: float) -> tuple[float, float]:
    """(scale, offset) of PMRID's k-sigma map for noise variance S*x + O on [0, 1] data:
    network input = (x01 * V * scale + offset) / V * 256 with k = S*V, s = O*V^2 and the anchor
    ka, sa = k(1600), s(1600): scale = ka / k, offset = (s / k^2 - sa / ka^2) * ka."""
    k = max(float(shot), 1e-12) * PMRID_V
    s = float(read) * PMRID_V ** 2
    ka, sa = pmrid_k(PMRID_ANCHOR_ISO), pmrid_s(PMRID_ANCHOR_ISO)
    return ka / k, (s / k ** 2 - sa / ka ** 2) * ka


def run_pmrid(net: nn.Module, packed: torch.Tensor, shot: float, read: float) -> torch.Tensor:
    """PMRID on packed RGGB (1, 4, h, w) in [0, 1] with noise variance ``shot * x + read``:
    into k-sigma network units, padded (edge replication) to a multiple of 32, the network,
    cropped, and mapped back exactly. Returns (1, 4, h, w) float32 in [0, 1] units (not clipped)."""
    scale, offset = pmrid_ksigma(shot, read)
    h, w = packed.shape[-2:]
    inp = (packed.float() * PMRID_V * scale + offset) / PMRID_V * 256.0
    ph, pw = (-h) % 32, (-w) % 32
    if ph or pw:
        inp = F.pad(inp, (0, pw, 0, ph), mode="replicate")
    with torch.inference_mode():
        out = net(inp)[..., :h, :w]
    return (out / 256.0 * PMRID_V - offset) / scale / PMRID_V
