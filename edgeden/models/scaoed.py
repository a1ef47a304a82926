"""ScaoedNet and a CPU-sized ScaoedNet-lite, after Ren, Pan, Huang, "Enhanced Latent Space Blind
Model for Real Image Denoising via Alternative Optimization", NeurIPS 2022 (papers/004, poster text).

The model (poster Eq. 2) alternates, in a learned latent space, a reconstruction sub-problem
(z-Net, ``Z``) and a degradation-estimation sub-problem (u-Net, ``U``) with self-correction
(each update also sees the previous estimate)::

    e      = E(y)                        latent encoding of the noisy image y
    u0, Q  = U_ini(y)                    initial noise map + noise features (NFAE enhanced)
    z0     = e
    for i = 0 .. K-1:
        if i > 0:  u_i = U(z_i, Q, u_{i-1})          (residual update of the noise map)
        g_i      = G(u_i)                             guidance generator
        z_{i+1}  = a * Z(z_i, e, u_i, g_i) + b * e    (T FM2ARB attention blocks inside Z)
    x_hat  = D(z_K)

So K stages run K z-Nets and K-1 u-Nets; one set of weights serves every stage, which is why the
paper's parameter count (about 3 M) does not depend on K while its FLOPs grow linearly with K
(212 G / 640 G / 1071 G for K = 1 / 3 / 5 at 512x512).

Choices where the poster is silent (the structure follows the authors' public release,
github.com/chaoren88/ScaoedNet, re-implemented here, with the differences listed):
  * latent space: E = 2x2 pixel-unshuffle + 3x3 conv to ``nf`` = 64 channels (half resolution),
    D = 3x3 conv + pixel-shuffle. Inputs of odd size are reflect-padded to even and cropped back.
  * the noise map u has ``noise_channels`` = 1 channel at full resolution (as in the release);
    it is an unconstrained real-valued map (no activation), learned end to end.
  * FM2ARB block (Feature Multiple-Modulation Attention Residual Block): ``block_convs`` = 4
    3x3 convs, then the FSM module (a channel-information-guided spatial attention and a
    spatial-information-guided channel attention, fused by a 1x1 conv), modulated by the DEM
    gate sigmoid(1x1-ReLU-1x1(g)) from the guidance g, plus the block input.
  * NFAE (noise feature adaptive enhancement) is the parameter-free variance gate of
    :func:`nfae`, applied at the end of U_ini and U.
  * learned scalars a, b (init 1) weight the z update, as in the release.
  * separate 1x1 fusion convs in Z (the release re-uses one conv for two fusions).
  * ``residual=True`` (default) adds the input to D's output (global residual, speeds CPU
    training, as in edgeden's UNet); ``residual=False`` is the paper's plain mapping.

Complexity (edgeden.models.complexity, conv/linear MACs, 3x512x512 input, K=5, T=16):
3.38 M params and 1054 GMACs; K=1: 207, K=3: 630 GMACs. Paper: "about 3 M" params and 212 / 640 /
1071 G "FLOPs" for K = 1 / 3 / 5: our MAC counts match all three to about 2 %, so the paper's
FLOPs are MACs (thop style), and its constant per-stage cost confirms weights shared over stages.
``scaoed-lite`` (K=2, T=4, nf=32, 2 convs per block and sub-net): 0.23 M params and 100 GMACs per
megapixel of input (0.1 M MACs per pixel; DN-ResNet-13: 149, UNet-M: 35). Measured on the 2-core
CPU, one thread, batch 4x96x96: training about 5x slower per pixel than UNet-M; ``nf=24``
(0.13 M params, 57 GMACs/MP) trains about 1.6x faster than nf=32.

Output: a tuple ``(x_hat, u)``: x_hat (N, out_channels, H, W) float32 denoised image (use
:func:`edgeden.models.primary_output`), u (N, noise_channels, H, W) float32 last noise-map
estimate (the one the last z-Net used).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edgeden.models.common import crop_to, pad_to_multiple
from edgeden.models.registry import register_arch

__all__ = ["nfae", "FM2ARB", "ScaoedNet"]


# ----------------------------------------------------------------------------- pure functions
def nfae(x: torch.Tensor, gain: float = 10.0, eps: float = 1e-12) -> torch.Tensor:
    """Noise-feature adaptive enhancement (NFAE): a parameter-free variance gate.

    v = (x - spatial mean of x)^2 per channel; the gate is
    sigmoid(gain * v / spatial mean of v) * sigmoid(gain * v / channel mean of v), so features
    that deviate strongly from their mean (noise/structure evidence) are kept and flat ones halved.

    Args:
        x: (N, C, H, W) float tensor, any range.
    Returns:
        (N, C, H, W) float tensor, x times a gate in (0, 1).
    Reference: papers/004 (Table 5, "NFAE layer"); form as in the authors' release.
    """
    v = (x - x.mean(dim=(2, 3), keepdim=True)).pow(2)
    w_spatial = torch.sigmoid(gain * v / (v.mean(dim=(2, 3), keepdim=True) + eps))
    w_channel = torch.sigmoid(gain * v / (v.mean(dim=1, keepdim=True) + eps))
    return x * w_spatial * w_channel


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def _conv_relu_stack(nf: int, n: int, last_relu: bool) -> nn.Sequential:
    """``n`` 3x3 nf->nf convs with ReLU between (and after the last when ``last_relu``)."""
    layers: list[nn.Module] = []
    for i in range(n):
        layers.append(_conv(nf, nf))
        if i < n - 1 or last_relu:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- attention parts
class CIGSpatialAttention(nn.Module):
    """Channel-information-guided spatial attention (CIG SA of the FSM module).

    Spatial descriptors: channel mean, channel max and a learned 1x1 projection to 2 maps;
    mixed by a 3x3 conv, re-weighted by a tiny channel attention over the 4 descriptor maps,
    reduced to one map and passed through a sigmoid.
    forward(x): (N, C, H, W) -> (N, C, H, W), x times a spatial weight in (0, 1).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, 2, 1)
        self.mix = _conv(4, 4)
        self.desc_ca = nn.Conv2d(4, 4, 1)
        self.out = nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True), self.proj(x)], dim=1)
        a = self.mix(d)
        a = a + a * torch.sigmoid(self.desc_ca(a.mean(dim=(2, 3), keepdim=True)))
        return x * torch.sigmoid(self.out(a))


class CIGChannelAttention(nn.Module):
    """Spatial-information-guided channel attention (CIG CA of the FSM module).

    Per channel four descriptors: global mean and max of x, and global mean and max of x
    weighted by a learned spatial map (3x3 conv + sigmoid). A shared bottleneck MLP
    (C -> ``hidden`` -> C) maps each descriptor; a learned linear mix of the four gives the
    channel weight through a sigmoid.
    forward(x): (N, C, H, W) -> (N, C, H, W), x times a channel weight in (0, 1).
    """

    def __init__(self, channels: int, hidden: int = 4):
        super().__init__()
        self.spatial = _conv(channels, 1)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))
        self.mix = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xw = x * torch.sigmoid(self.spatial(x))
        d = torch.stack([x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), xw.mean(dim=(2, 3)), xw.amax(dim=(2, 3))], dim=-1)
        d = self.mlp(d.unsqueeze(-1)).squeeze(-1)  # (N, C, 4): descriptors as a 4x1 "image"
        return x * torch.sigmoid(self.mix(d)).unsqueeze(-1)


class FM2ARB(nn.Module):
    """Feature Multiple-Modulation Attention Residual Block (papers/004, "FM2ARB").

    forward(a, g): a, g (N, C, h, w) latent features and guidance -> (N, C, h, w):
    a + fuse(CIG_CA(f), CIG_SA(f)) * DEM(g), with f = ``n_convs`` 3x3 convs of a and
    DEM(g) = sigmoid(1x1-ReLU-1x1(g)).
    """

    def __init__(self, channels: int, n_convs: int = 4):
        super().__init__()
        self.body = _conv_relu_stack(channels, n_convs, last_relu=False)
        self.cca = CIGChannelAttention(channels)
        self.csa = CIGSpatialAttention(channels)
        self.fuse = nn.Conv2d(2 * channels, channels, 1)
        self.dem = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(channels, channels, 1), nn.Sigmoid())

    def forward(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        f = self.body(a)
        m = self.fuse(torch.cat([self.cca(f), self.csa(f)], dim=1))
        return a + m * self.dem(g)


# ----------------------------------------------------------------------------- sub-networks
class InitialNoiseNet(nn.Module):
    """U_ini: initial noise-map estimate from the noisy image.

    forward(y): y (N, C_in, H, W), H and W even -> (u0 (N, noise_channels, H, W),
    Q (N, nf, H/2, W/2) NFAE-enhanced noise features re-used by every U stage).
    """

    def __init__(self, in_channels: int, nf: int, noise_channels: int, n_convs: int):
        super().__init__()
        self.head = nn.Sequential(_conv(4 * in_channels, nf), nn.ReLU(inplace=True))
        self.body = _conv_relu_stack(nf, n_convs - 1, last_relu=True)
        self.out = _conv(nf, 4 * noise_channels)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = nfae(self.body(self.head(F.pixel_unshuffle(y, 2))))
        return F.pixel_shuffle(self.out(q), 2), q


class DegradationNet(nn.Module):
    """U (u-Net, degradation estimation with self-correction).

    forward(z, q, u): latent z (N, nf, h, w), noise features q (N, nf, h, w), previous noise map
    u (N, noise_channels, 2h, 2w) -> corrected noise map u + delta, same shape as u.
    """

    def __init__(self, nf: int, noise_channels: int, n_convs: int):
        super().__init__()
        self.embed_u = _conv(4 * noise_channels, nf)
        self.embed_q = _conv(nf, nf)
        self.fuse_qz = nn.Conv2d(2 * nf, nf, 1)
        self.fuse = nn.Conv2d(2 * nf, nf, 1)
        self.body = _conv_relu_stack(nf, n_convs, last_relu=True)
        self.out = _conv(nf, 4 * noise_channels)

    def forward(self, z: torch.Tensor, q: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        qz = self.fuse_qz(torch.cat([self.embed_q(q), z], dim=1))
        h = self.body(self.fuse(torch.cat([self.embed_u(F.pixel_unshuffle(u, 2)), qz], dim=1)))
        return u + F.pixel_shuffle(self.out(nfae(h)), 2)


class GuidanceGenerator(nn.Module):
    """G: guidance features g from the noise map.

    forward(u): (N, noise_channels, H, W) -> g (N, nf, H/2, W/2).
    """

    def __init__(self, nf: int, noise_channels: int, n_convs: int):
        super().__init__()
        self.embed = _conv(4 * noise_channels, nf)
        self.body = _conv_relu_stack(nf, n_convs, last_relu=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.body(self.embed(F.pixel_unshuffle(u, 2)))


class ReconstructionNet(nn.Module):
    """Z (z-Net, reconstruction with guidance and self-correction).

    forward(z, e, u, g): previous latent z (N, nf, h, w), latent of the noisy image e
    (N, nf, h, w), noise map u (N, noise_channels, 2h, 2w), guidance g (N, nf, h, w)
    -> new latent (N, nf, h, w). Body: ``T`` FM2ARB blocks, then a 3x3 conv gated by a
    3x3-ReLU-3x3-sigmoid DEM of g, plus the embedded z, then a 3x3 tail conv.
    """

    def __init__(self, nf: int, noise_channels: int, T: int, block_convs: int):
        super().__init__()
        self.embed_z = _conv(nf, nf)
        self.embed_e = _conv(nf, nf)
        self.embed_u = _conv(4 * noise_channels, nf)
        self.fuse_eu = nn.Conv2d(2 * nf, nf, 1)
        self.fuse = nn.Conv2d(2 * nf, nf, 1)
        self.blocks = nn.ModuleList([FM2ARB(nf, block_convs) for _ in range(T)])
        self.post = _conv(nf, nf)
        self.dem = nn.Sequential(_conv(nf, nf), nn.ReLU(inplace=True), _conv(nf, nf), nn.Sigmoid())
        self.tail = _conv(nf, nf)

    def forward(self, z: torch.Tensor, e: torch.Tensor, u: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        zf = self.embed_z(z)
        eu = self.fuse_eu(torch.cat([self.embed_e(e), self.embed_u(F.pixel_unshuffle(u, 2))], dim=1))
        b = self.fuse(torch.cat([zf, eu], dim=1))
        for blk in self.blocks:
            b = blk(b, g)
        return self.tail(self.post(b) * self.dem(g) + zf)


# ----------------------------------------------------------------------------- the network
class ScaoedNet(nn.Module):
    """ScaoedNet blind real-noise denoiser (papers/004); see the module docstring for the scheme.

    Args:
        in_channels: C_in (1 grey, 3 RGB, 4 packed RGGB raw, +1 with a noise-level map).
        out_channels: C_out, default C_in.
        K: stages (z-Net passes; K-1 u-Net passes). Paper: 5.
        T: FM2ARB blocks in the z-Net. Paper: 16.
        nf: latent width. block_convs, de_convs, ini_convs, g_convs: 3x3 convs per FM2ARB
            block, in U, in U_ini and in G.
        noise_channels: channels of the noise map u.
        residual: add the input to the output (global residual).
    forward(x): x (N, C_in, H, W) float32, any H, W >= 1, nominally [0, 1] ->
        (x_hat (N, C_out, H, W) float32, u (N, noise_channels, H, W) float32 noise map).

    Example:
        >>> net = ScaoedNet(3, K=2, T=2, nf=16)
        >>> [t.shape for t in net(torch.zeros(1, 3, 17, 23))]
        [torch.Size([1, 3, 17, 23]), torch.Size([1, 1, 17, 23])]
    """

    def __init__(self, in_channels: int = 3, out_channels: int | None = None, K: int = 5, T: int = 16,
                 nf: int = 64, block_convs: int = 4, de_convs: int = 4, ini_convs: int = 4, g_convs: int = 4,
                 noise_channels: int = 1, residual: bool = True):
        super().__init__()
        if K < 1 or T < 0:
            raise ValueError(f"need K >= 1 and T >= 0, got K={K}, T={T}")
        out_channels = out_channels or in_channels
        self.K, self.T, self.out_channels = K, T, out_channels
        self.residual = residual and out_channels <= in_channels
        self.encoder = _conv(4 * in_channels, nf)                      # E (after pixel-unshuffle)
        self.decoder = _conv(nf, 4 * out_channels)                     # D (before pixel-shuffle)
        self.u_ini = InitialNoiseNet(in_channels, nf, noise_channels, ini_convs)
        self.u_net = DegradationNet(nf, noise_channels, de_convs) if K > 1 else None
        self.guidance = GuidanceGenerator(nf, noise_channels, g_convs)
        self.z_net = ReconstructionNet(nf, noise_channels, T, block_convs)
        self.a = nn.Parameter(torch.ones(1))
        self.b = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xp, hw = pad_to_multiple(x, 2)
        e = self.encoder(F.pixel_unshuffle(xp, 2))
        u, q = self.u_ini(xp)
        z = e
        for i in range(self.K):
            if i > 0:
                u = self.u_net(z, q, u)
            z = self.a * self.z_net(z, e, u, self.guidance(u)) + self.b * e
        y = F.pixel_shuffle(self.decoder(z), 2)
        if self.residual:
            y = y + xp[:, : self.out_channels]
        return crop_to(y, hw), crop_to(u, hw)


_SCAOED_PAPER = {
    "params": 3_000_000,
    "gmacs": 1071.0,
    "input": [3, 512, 512],
    "source": "papers/004 (NeurIPS 2022 poster), 'Computational Cost': about 3M params (Fig. 7); "
              "1071G FLOPs at 512x512 output with K=5 (212G / 640G for K=1 / 3)",
    "note": "paper FLOPs read as MACs (thop convention): our MAC counts reproduce the paper's K=1/3/5 "
            "figures to ~2%, twice that would not fit; 'about 3M' is read off a plot",
}


@register_arch("scaoed", paper=_SCAOED_PAPER)
def scaoed(in_channels: int = 3, out_channels: int | None = None, **kw) -> ScaoedNet:
    """ScaoedNet as in the paper: K=5 stages, T=16 FM2ARB blocks, 64-channel latent."""
    return ScaoedNet(in_channels, out_channels, **{"K": 5, "T": 16, "nf": 64, **kw})


@register_arch("scaoed-lite", paper={
    "params": None, "gmacs": None, "input": None, "source": "edgeden variant of papers/004 (not in the paper)",
    "note": "K=2, T=4, nf=32, 2 convs per block/sub-net: 0.23M params, 100 GMACs per megapixel"})
def scaoed_lite(in_channels: int = 3, out_channels: int | None = None, **kw) -> ScaoedNet:
    """ScaoedNet-lite for CPU training: K=2, T=4, nf=32, 2 convs per FM2ARB block and sub-net."""
    return ScaoedNet(in_channels, out_channels, **{"K": 2, "T": 4, "nf": 32, "block_convs": 2, "de_convs": 2,
                                                   "ini_convs": 2, "g_convs": 2, **kw})
