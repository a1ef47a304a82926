"""Noise Subrange Model Array (FA-Net, papers/001 Sec. 3.3): n copies of one architecture, each
trained on one part of the noise range, the member picked per image from its noise parameters.

The range of log S (shot noise) is cut into n parts at ``shot_bounds`` (n + 1 increasing values,
UPI's [1e-4, 0.012] cut evenly in log for the shipped array). An image's noise (S, O) is mapped
to an *equivalent shot* ``max(S, S_O)``, where S_O is the shot whose mean read noise on UPI's
regression (log O = 2.18 log S + 1.20) is O -- so read-noise-dominated images (S ~ 0) go to the
member trained for that noise, not the cleanest one -- and the member whose part contains it
(the first or last outside the range) denoises the image.

The array is one module so that one weights file (keys ``members.<i>.*``) and one sha256 hold it;
``select(params)`` picks the member that ``forward`` uses.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from edgeden.core.noise import equivalent_shot, subrange_index

__all__ = ["SubrangeArray", "equivalent_shot"]


class SubrangeArray(nn.Module):
    """n denoisers of one architecture, one per noise subrange.

    Args:
        members: the n networks (same input/output contract).
        shot_bounds: n + 1 increasing shot values delimiting the subranges.

    forward(x): the selected member's output for x (see the member's contract); ``select``
    first (default: member 0).
    """

    def __init__(self, members: Sequence[nn.Module], shot_bounds: Sequence[float]):
        super().__init__()
        if len(shot_bounds) != len(members) + 1 or any(b <= a for a, b in zip(shot_bounds, shot_bounds[1:])):
            raise ValueError(f"shot_bounds must be {len(members) + 1} increasing values, got {list(shot_bounds)}")
        self.members = nn.ModuleList(members)
        self.shot_bounds = [float(b) for b in shot_bounds]
        self.index = 0

    def member_for(self, shot: float, read: float = 0.0) -> int:
        """Index of the member for an image with noise (S, O) (mean over planes)."""
        return subrange_index(self.shot_bounds, shot, read)

    def select(self, shot: float, read: float = 0.0) -> int:
        """Make ``forward`` use the member for (S, O); returns its index."""
        self.index = self.member_for(shot, read)
        return self.index

    def forward(self, x: torch.Tensor):
        return self.members[self.index](x)
