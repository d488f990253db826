"""The study's verdict: does the scratch twin drift from torch.nn more than float rounding explains?

Two numbers decide it, both measured by :mod:`.twins`:

1. **The first step.** From identical weights on the same batch, the scratch model's gradients must match
   torch.nn's to rounding level: ``max|g - g_torch| / max|g_torch| <= FIRST_STEP_BOUND`` for every parameter
   tensor. Why 1e-3: float32 keeps 24 bits (ε = 1.2e-7), and a sum of K products computed in another order moves
   by about √K·ε of its terms' size. The longest sums of a step here are the first convolution's weight gradient
   over a full batch of 4,000 images (K = 4,000 × 30 × 30 = 3.6e6, √K·ε ≈ 2.3e-4); 1e-3 leaves a margin of four
   over that. A layer that computes something else fails by far more: a convolution whose bias is off by 1e-3 moves
   the first gradients by 3e-2 of their size. A bug is deterministic, so it shows here, at epoch 1.
2. **The envelope.** Training amplifies any difference, rounding included (full-batch Adam steps by about lr times
   the gradient's sign, so a component near zero that flips sign moves by 2·lr), and the gap then grows with the run
   whatever its source. The control - torch.nn trained again with only the order of its sums changed - measures that
   growth. Its envelope is its largest gap to the torch.nn run over every epoch and seed, per metric (test loss,
   train loss, test accuracy, largest weight difference), never below the metric's resolution (``FLOORS``; one test
   image for the accuracy). Training amplifies a difference in proportion to its size, and the scratch layers
   compute with other algorithms than torch.nn (an unfold and a matrix product instead of a direct convolution), so
   their first difference can be larger than a mere reordering's (4.5 times on a full batch of 4,000 images). The
   envelope is therefore scaled by the ratio of the two first-step gaps when it exceeds one, and the scratch
   twin's gap must stay within ``FACTOR`` (10) times that scaled envelope at every epoch.

Otherwise the verdict names the first epoch at which the scratch gap left these bounds.
"""

from __future__ import annotations

FIRST_STEP_BOUND = 1e-3
FACTOR = 10.0
FLOORS = {"test_loss": 1e-6, "train_loss": 1e-6, "max_abs_dw": 1e-6}  # about ten float32 ulps of a value near one
LABELS = {
    "test_loss": "test loss",
    "train_loss": "train loss",
    "test_accuracy": "test accuracy",
    "max_abs_dw": "largest weight difference",
}
CHECK = "run `scratchnn check` to find the layer"


def _envelope(seeds: list[dict], test_size: int) -> dict[str, float] | None:
    """The control's largest gap per metric over every epoch and seed, never below the metric's floor."""
    if any("control" not in s["gaps"] for s in seeds):
        return None
    floors = {**FLOORS, "test_accuracy": 1 / test_size}
    return {metric: max(floor, *(max(s["gaps"]["control"][metric]) for s in seeds)) for metric, floor in floors.items()}


def _first_exit(seeds: list[dict], envelope: dict[str, float], scale: float) -> dict | None:
    """The earliest epoch (and its seed and metric) where the scratch gap exceeds ``FACTOR * scale`` times the
    envelope."""
    worst = None
    for s in seeds:
        for metric, bound in envelope.items():
            for epoch, gap in enumerate(s["gaps"]["scratch"][metric], start=1):
                if gap > FACTOR * scale * bound:
                    if worst is None or epoch < worst["epoch"]:
                        worst = {"epoch": epoch, "seed": s["seed"], "metric": metric, "gap": gap, "bound": bound}
                    break
    return worst


def verdict(seeds: list[dict], test_size: int) -> dict:
    """Judge one architecture from its per-seed ``{"seed", "first_step", "gaps"}`` entries (see :mod:`.twins`).

    Returns a dict with ``agrees`` (bool), ``first_epoch_off`` (None or the first epoch outside the bounds),
    the numbers behind them (``first_step_grad``, ``first_step_bound``, ``control_first_step_grad``,
    ``first_step_ratio`` (the envelope's scale), ``factor``,
    ``envelope``, ``scratch_max``, ``ratio``, ``exit``) and ``text``, the sentence the report shows.
    """
    first = max(s["first_step"]["scratch"]["grad"] for s in seeds)
    controls = [s["first_step"]["control"]["grad"] for s in seeds if "control" in s["first_step"]]
    control_first = max(controls, default=None)
    envelope = _envelope(seeds, test_size)
    scale = max(1.0, first / control_first) if control_first else 1.0
    scratch_max = {m: max(max(s["gaps"]["scratch"][m]) for s in seeds) for m in LABELS}
    result = {
        "first_step_grad": first,
        "first_step_bound": FIRST_STEP_BOUND,
        "control_first_step_grad": control_first,
        "first_step_ratio": scale,
        "factor": FACTOR,
        "envelope": envelope,
        "scratch_max": scratch_max,
        "ratio": {m: scratch_max[m] / envelope[m] for m in envelope} if envelope else None,
        "exit": None,
    }
    if first > FIRST_STEP_BOUND:
        result["exit"] = {"epoch": 1, "metric": "first_step_grad", "gap": first, "bound": FIRST_STEP_BOUND}
    elif envelope is not None:
        result["exit"] = _first_exit(seeds, envelope, scale)
    result["agrees"] = result["exit"] is None
    result["first_epoch_off"] = result["exit"]["epoch"] if result["exit"] else None
    result["text"] = _text(result)
    return result


def _text(v: dict) -> str:
    """The verdict in words, every number taken from ``v``."""
    first = (
        f"the first step's gradients differ from torch.nn's by {v['first_step_grad']:.1e} of their size "
        f"(rounding bound {v['first_step_bound']:.0e}"
        + (f"; the control: {v['control_first_step_grad']:.1e})" if v["control_first_step_grad"] is not None else ")")
    )
    exit = v["exit"]
    if exit is not None and exit["metric"] == "first_step_grad":
        return f"Disagrees with torch.nn from epoch 1: {first}, more than rounding explains; {CHECK}."
    if v["envelope"] is None:
        return f"Consistent with rounding at the first step: {first}. No control was run, so later gaps are not judged."
    ratios = ", ".join(f"{LABELS[m]} {r:.2g}×" for m, r in v["ratio"].items())
    allowed = f"{v['factor']:g}× the control's largest" + (
        f" scaled by the first-step ratio {v['first_step_ratio']:.2g}" if v["first_step_ratio"] > 1 else ""
    )
    if exit is None:
        return (
            f"Consistent with rounding: {first}, and over the run every gap stays within {allowed} "
            f"(scratch gap / control envelope: {ratios})."
        )
    return (
        f"Disagrees with torch.nn from epoch {exit['epoch']}: {first}, but at epoch {exit['epoch']} (seed "
        f"{exit['seed']}) the {LABELS[exit['metric']]} gap reached {exit['gap']:.1e}, more than {allowed}, "
        f"{exit['bound']:.1e}; {CHECK}."
    )
