"""Staged training programs: the papers' training ideas that change the network while it trains.

A recipe's ``stages`` list runs one stage after another; each stage first applies an op to the
network (optional for the first: it applies to the recipe's network, after ``init``), then trains it with a fresh optimiser and its own learning-rate
schedule::

    stages:
      - {steps: 600}                              # train the start network
      - {op: grow, steps: 400, plateau: {window: 150, min_rel: 0.02}}
      - {op: esl, index: 0, steps: 200}          # step 0 of the TSDN ESL plan
      - {op: ds_all, steps: 800}                 # every ResBlock -> DS-ResBlock at once

Ops (on the network built from the recipe's ``arch``):
  * ``grow`` -- DN-ResNet cascade training (papers/003 Sec. 3.1): one ResBlock inserted before
    the last layer, new weights ~ N(0, 0.001) (``edgeden.models.dnresnet.grow``).
  * ``evolve`` -- DS-DN-ResNet incremental evolution (Sec. 3.2): the last remaining ResBlock
    becomes a DS-ResBlock (tail first).
  * ``ds_all`` -- the plain alternative to evolution: every ResBlock replaced at once.
  * ``esl`` -- one step of TSDN's Expand-Shrink plan (papers/002 Sec. III-C; ``index`` into
    ``edgeden.models.tsdn.esl_plan`` of the start network: CSL steps with INIT1, LSL with INIT2).

A stage with ``plateau`` ends early when its mean loss over the last ``window`` steps improved by
less than ``min_rel`` (relative) over the window before ("add a block when the loss stops
improving"); such a stage trains at a constant learning rate so that the plateau is the
network's and not the schedule's. The steps a stage does not use go to the last stage, so the
whole program always runs exactly the recipe's total steps: the equal budget of a comparison.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import torch

STAGE_KEYS = {"op", "steps", "plateau", "index", "lr"}
OPS = ("grow", "evolve", "ds_all", "esl")


def validate_stages(stages: list[dict[str, Any]], where: str) -> None:
    """Raise ValueError naming ``where`` for a malformed ``stages`` list."""
    if not isinstance(stages, list) or not stages:
        raise ValueError(f"{where}: stages must be a non-empty list")
    for i, st in enumerate(stages):
        if not isinstance(st, dict):
            raise ValueError(f"{where}: stage {i} must be a mapping")
        bad = set(st) - STAGE_KEYS
        if bad:
            raise ValueError(f"{where}: stage {i}: unknown keys {', '.join(sorted(bad))}")
        if int(st.get("steps", 0)) <= 0:
            raise ValueError(f"{where}: stage {i}: steps must be > 0")
        op = st.get("op")
        if i > 0 and op is None:
            raise ValueError(f"{where}: stage {i}: needs an op")
        if op is not None and op not in OPS:
            raise ValueError(f"{where}: stage {i}: unknown op {op!r} (one of {', '.join(OPS)})")
        if op == "esl" and "index" not in st:
            raise ValueError(f"{where}: stage {i}: op esl needs an index into the ESL plan")


def apply_op(model: torch.nn.Module, stage: dict[str, Any], plan: list | None, gen: torch.Generator) -> torch.nn.Module:
    """The network after ``stage``'s op (same object for in-place ops, a new one for ESL)."""
    from edgeden.models import dnresnet, tsdn

    op = stage.get("op")
    if op is None:
        return model
    if op == "grow":
        return dnresnet.grow(model, generator=gen)
    if op == "evolve":
        if not dnresnet.evolve_one(model, generator=gen):
            raise ValueError("evolve: no standard ResBlock left to replace")
        return model
    if op == "ds_all":
        while dnresnet.evolve_one(model, generator=gen):
            pass
        return model
    if op == "esl":
        if plan is None:
            raise ValueError("esl: the start network is not a TSDN")
        return tsdn.apply_esl_step(model, plan[int(stage["index"])])
    raise ValueError(f"unknown stage op {op!r}")


def esl_plan_for(model: torch.nn.Module) -> list | None:
    """The ESL plan of a TSDN start network (None for other networks)."""
    from edgeden.models import tsdn

    return tsdn.esl_plan(model) if isinstance(model, tsdn.TSDN) else None


class Program:
    """Where a staged run is: stage index, the step it started at, and the plateau detector.

    ``bounds(step)`` gives (start, nominal end) of the current stage; the last stage ends at the
    run's total. State is a plain dict (``state()`` / ``Program(stages, total, state)``) so
    checkpoints can carry it.
    """

    def __init__(self, stages: list[dict[str, Any]], total: int, state: dict | None = None):
        self.stages, self.total = stages, total
        st = state or {}
        self.index, self.start = int(st.get("index", 0)), int(st.get("start", 0))
        self.history: list[int] = list(st.get("history", []))  # step at which each later stage began
        self._losses: deque[float] = deque(maxlen=2 * self.window or 1)

    @property
    def stage(self) -> dict[str, Any]:
        return self.stages[self.index]

    @property
    def last(self) -> bool:
        return self.index == len(self.stages) - 1

    @property
    def window(self) -> int:
        p = self.stage.get("plateau")
        return int(p["window"]) if p else 0

    def end(self) -> int:
        """Nominal last step (exclusive) of the current stage."""
        return self.total if self.last else min(self.total, self.start + int(self.stage["steps"]))

    def lr_opts(self, optim: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(step offset, optim dict) for ``trainer.lr_at`` in the current stage: warm-up then
        cosine over the stage, or constant (after warm-up) for a plateau stage."""
        o = {**optim, "steps": self.end() - self.start}
        if "lr" in self.stage:
            o["lr"] = float(self.stage["lr"])
        o["warmup"] = min(int(optim.get("warmup", 200)), max(1, (self.end() - self.start) // 10))
        if self.stage.get("plateau"):
            o["min_lr"] = o.get("lr", 1e-3)
        return self.start, o

    def observe(self, loss: float) -> None:
        if self.window:
            self._losses.append(loss)

    def should_advance(self, step: int) -> bool:
        """True when the current stage is over at ``step`` (its steps are used, or it plateaued)."""
        if self.last:
            return False
        if step >= self.end():
            return True
        w = self.window
        if w and len(self._losses) == 2 * w and (step - self.start) % w == 0:
            ls = list(self._losses)
            before, after = sum(ls[:w]) / w, sum(ls[w:]) / w
            return (before - after) < float(self.stage["plateau"].get("min_rel", 0.01)) * before
        return False

    def advance(self, step: int) -> dict[str, Any]:
        """Move to the next stage starting at ``step``; returns it."""
        self.index += 1
        self.start = step
        self.history.append(step)
        self._losses = deque(maxlen=2 * self.window or 1)
        return self.stage

    def state(self) -> dict[str, Any]:
        return {"index": self.index, "start": self.start, "history": list(self.history)}


def describe(model: torch.nn.Module, arch: str, arch_args: dict[str, Any]) -> dict[str, Any] | None:
    """``{"arch", "arch_args"}`` that build ``model``'s architecture after a staged program (what
    ``export`` needs when growth, evolution or ESL changed it), or None if no registered
    architecture matches (a half-evolved DN-ResNet)."""
    from edgeden.models import dnresnet, tsdn

    if isinstance(model, dnresnet.DNResNet):
        kinds = {type(b) for b in model.blocks}
        args = {**arch_args, "num_blocks": len(model.blocks)}
        args.pop("ds", None)
        if kinds <= {dnresnet.ResBlock}:
            return {"arch": "dnresnet", "arch_args": args}
        if kinds == {dnresnet.DSResBlock}:
            return {"arch": "dsdnresnet", "arch_args": args}
        return None
    if isinstance(model, tsdn.TSDN):
        ref = tsdn.tsdn_stage_spec([16, 32, 64, 128])
        if all(sp == ref for sp in model.specs.values()):
            return {"arch": "tsdn", "arch_args": {}}
        return None
    return {"arch": arch, "arch_args": arch_args}
