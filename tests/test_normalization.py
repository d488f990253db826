"""BatchNorm1d, BatchNorm2d, LayerNorm and GroupNorm as drop-in twins of torch.nn: initialisation, outputs,
gradients and buffers in training and eval over a seeded grid of options, gradcheck, state_dict, repr, torch's
errors, the hand-written default path, and never a call to torch's own normalisation kernels."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import scratchnn
from scratchnn import functional as SF
from strategies import BACKWARDS, randn
from twin_checks import AtenLog, forbid

DTYPES = (torch.float64, torch.float32)


def _grid(seed: int = 14, per_layer: int = 4) -> list[tuple[str, tuple, dict, tuple]]:
    """(class name, positional args, keyword args, input shape): fixed corner cases plus a seeded random draw."""
    rng = random.Random(seed)
    cases = [
        ("BatchNorm1d", (3,), {}, (4, 3)),
        ("BatchNorm1d", (3,), {"momentum": None}, (2, 3, 5)),
        ("BatchNorm2d", (3,), {"affine": False, "track_running_stats": False}, (2, 3, 4, 4)),
        ("LayerNorm", ((2, 3),), {"bias": False}, (4, 2, 3)),
        ("GroupNorm", (1, 4), {"affine": False}, (2, 4, 3, 3)),
        ("GroupNorm", (2, 4), {}, (3, 4)),
    ]
    for _ in range(per_layer):
        bn = {
            "eps": rng.choice([1e-5, 1e-3]),
            "momentum": rng.choice([0.1, 0.5, None]),
            "affine": rng.random() < 0.7,
            "track_running_stats": rng.random() < 0.7,
            "bias": rng.random() < 0.7,
        }
        C, N = rng.randint(1, 4), rng.randint(2, 4)
        cases.append(("BatchNorm1d", (C,), bn, rng.choice([(N, C), (N, C, rng.randint(1, 4))])))
        cases.append(("BatchNorm2d", (C,), bn, (N, C, rng.randint(1, 4), rng.randint(2, 4))))
        shape = tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 2)))
        ln = {"eps": bn["eps"], "elementwise_affine": bn["affine"], "bias": bn["bias"]}
        normalized = shape[0] if len(shape) == 1 and rng.random() < 0.5 else shape
        cases.append(("LayerNorm", (normalized,), ln, (N, rng.randint(1, 3), *shape)))
        G = rng.randint(1, 3)
        gn = {"eps": bn["eps"], "affine": bn["affine"], "bias": bn["bias"]}
        cases.append(("GroupNorm", (G, G * C), gn, (N, G * C, *rng.choice([(), (3,), (2, 3)]))))
    return cases


GRID = _grid()
GRID_IDS = [f"{name}{args}{kwargs}{shape}" for name, args, kwargs, shape in GRID]


def twins(name: str, args: tuple, kwargs: dict, dtype: torch.dtype, backward: str | None = None):
    """Ours and torch's with the same random affine parameters (so gamma and beta are not 1 and 0)."""
    torch.manual_seed(0)
    ours = getattr(scratchnn, name)(*args, **kwargs, dtype=dtype, backward=backward)
    theirs = getattr(nn, name)(*args, **kwargs, dtype=dtype)
    with torch.no_grad():
        for p in ours.parameters():
            p.uniform_(-2, 2)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def tolerance(dtype: torch.dtype) -> dict:
    """float32: torch's kernels sum in another order, and a small group (two values) scales rounding by rstd."""
    return {} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}


def step(model: nn.Module, x: torch.Tensor):
    """The output, and the gradients of a weighted sum of it w.r.t. the input and every parameter."""
    x = x.detach().clone().requires_grad_()
    out = model(x)
    weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    grads = torch.autograd.grad((out * weights).sum(), [x, *model.parameters()])
    return out.detach(), grads


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), GRID, ids=GRID_IDS)
def test_training_steps_then_eval_match_torch_outputs_gradients_and_buffers(name, args, kwargs, shape, dtype, backward):
    ours, theirs = twins(name, args, kwargs, dtype, backward)
    for seed in range(3):  # three training steps: the running statistics accumulate (momentum=None: their mean)
        x = 3 * randn(shape, seed, dtype) + 1
        torch.testing.assert_close(step(ours, x), step(theirs, x), **tolerance(dtype))
        torch.testing.assert_close(ours.state_dict(), theirs.state_dict(), **tolerance(dtype))
    ours.eval(), theirs.eval()
    x = randn(shape, 7, dtype)
    torch.testing.assert_close(step(ours, x), step(theirs, x), **tolerance(dtype))
    torch.testing.assert_close(
        ours.state_dict(), theirs.state_dict(), **tolerance(dtype)
    )  # eval mode leaves the buffers alone


@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"])
def test_same_seed_same_parameters_buffers_and_generator_state(name):
    args = {"LayerNorm": ((3, 4),), "GroupNorm": (2, 4)}.get(name, (4,))
    torch.manual_seed(3)
    ours, after_ours = getattr(scratchnn, name)(*args), torch.randn(3)
    torch.manual_seed(3)
    theirs, after_theirs = getattr(nn, name)(*args), torch.randn(3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())
    torch.testing.assert_close(after_ours, after_theirs)  # the same random draws were consumed (none)


def test_batch_norm_by_hand():
    """One channel, x = [1, 2, 3, 6]: mean 3, biased var 3.5, unbiased 14/3; gamma 2, beta 1."""
    bn = scratchnn.BatchNorm1d(1, eps=0.0 + 1e-12, momentum=0.5)
    with torch.no_grad():
        bn.weight.fill_(2), bn.bias.fill_(1)
    x = torch.tensor([[1.0], [2.0], [3.0], [6.0]], dtype=torch.float64, requires_grad=True)
    bn.double()
    y = bn(x)
    xhat = torch.tensor([-2.0, -1.0, 0.0, 3.0], dtype=torch.float64) / 3.5**0.5
    torch.testing.assert_close(y.detach().flatten(), 2 * xhat + 1)
    torch.testing.assert_close(bn.running_mean, torch.tensor([0.5 * 3.0], dtype=torch.float64))
    torch.testing.assert_close(bn.running_var, torch.tensor([0.5 + 0.5 * 14 / 3], dtype=torch.float64))
    # dL/dx for L = y[0]: rstd * gamma * ([1,0,0,0] - 1/4 - xhat * xhat[0] / 4)
    (grad,) = torch.autograd.grad(y[0, 0], x)
    expected = 2 / 3.5**0.5 * (torch.tensor([1.0, 0, 0, 0], dtype=torch.float64) - 0.25 - xhat * xhat[0] / 4)
    torch.testing.assert_close(grad.flatten(), expected)
    assert bn.num_batches_tracked.item() == 1


@pytest.mark.parametrize(
    ("build", "shape"),
    [(lambda: scratchnn.LayerNorm(4, eps=1e-12), (1, 4)), (lambda: scratchnn.GroupNorm(1, 2, eps=1e-12), (1, 2, 2))],
    ids=["LayerNorm", "GroupNorm"],
)
def test_layer_and_group_norm_by_hand(build, shape):
    """The same four values [1, 2, 3, 6] in one group: mean 3, var 3.5; gamma 1, beta 0 (the initial values)."""
    x = torch.tensor([1.0, 2.0, 3.0, 6.0], dtype=torch.float64).reshape(shape).requires_grad_()
    y = build().double()(x)
    xhat = torch.tensor([-2.0, -1.0, 0.0, 3.0], dtype=torch.float64) / 3.5**0.5
    torch.testing.assert_close(y.detach().flatten(), xhat)
    (grad,) = torch.autograd.grad(y.flatten()[3], x)  # rstd * ([0,0,0,1] - 1/4 - xhat * xhat[3] / 4)
    expected = (torch.tensor([0.0, 0, 0, 1], dtype=torch.float64) - 0.25 - xhat * xhat[3] / 4) / 3.5**0.5
    torch.testing.assert_close(grad.flatten(), expected)


# --------------------------------------------------------------------------------------- gradcheck

RUNNING = (torch.tensor([0.5, -1.0]), torch.tensor([0.7, 2.0]))  # batch norm's running mean and variance in eval
FUNCTIONAL = {  # name: (functional op taking (x, weight, bias), input shape, parameter shape)
    "batch_norm-train": (lambda x, w, b, **k: SF.batch_norm(x, None, None, w, b, True, **k), (3, 2, 4), (2,)),
    "batch_norm-eval": (
        lambda x, w, b, **k: SF.batch_norm(x, RUNNING[0].to(x.dtype), RUNNING[1].to(x.dtype), w, b, **k),
        (3, 2, 2, 2),
        (2,),
    ),
    "layer_norm": (lambda x, w, b, **k: SF.layer_norm(x, (2, 3), w, b, **k), (4, 2, 3), (2, 3)),
    "group_norm": (lambda x, w, b, **k: SF.group_norm(x, 2, w, b, **k), (2, 4, 3), (4,)),
}


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", FUNCTIONAL)
def test_gradcheck_and_gradgradcheck(name, backward, affine):
    op, shape, pshape = FUNCTIONAL[name]
    torch.manual_seed(1)
    x = randn(shape, 1, torch.float64).requires_grad_()
    params = [randn(pshape, s, torch.float64).requires_grad_() if affine else None for s in (2, 3)]

    def f(x, *params):
        return op(x, *params, backward=backward)

    inputs = (x, *params) if affine else (x, None, None)
    assert torch.autograd.gradcheck(f, inputs, fast_mode=True)
    assert torch.autograd.gradgradcheck(f, inputs, fast_mode=True)


# ------------------------------------------------------------------------------------- state and repr


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), GRID[:12], ids=GRID_IDS[:12])
def test_state_dict_loads_both_ways_and_repr_matches(name, args, kwargs, shape):
    ours, theirs = twins(name, args, kwargs, torch.float32)
    theirs.train()(randn(shape, 1))  # move torch's running statistics; ours must take them
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())
    ours(randn(shape, 2))
    theirs.load_state_dict(ours.state_dict())
    torch.testing.assert_close(theirs.state_dict(), ours.state_dict())
    assert repr(ours) == repr(theirs)


def test_state_dict_without_num_batches_tracked_loads_as_torch_does():
    old = nn.BatchNorm2d(3).state_dict()
    del old["num_batches_tracked"]
    old._metadata[""]["version"] = 1
    ours = scratchnn.BatchNorm2d(3)
    ours.num_batches_tracked.fill_(5)
    ours.load_state_dict(old)
    assert ours.num_batches_tracked.item() == 0


@pytest.mark.filterwarnings("ignore:var_mean")  # the statistics of no values
@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4)])
def test_an_empty_batch_counts_but_leaves_the_running_statistics_as_torch(shape):
    ours, theirs = twins("BatchNorm1d", (3,), {}, torch.float32)
    x = randn(shape, 0)
    torch.testing.assert_close(step(ours, x), step(theirs, x))
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())


def test_reset_running_stats_and_parameters():
    bn = scratchnn.BatchNorm1d(3)
    bn(randn((4, 3), 0))
    with torch.no_grad():
        bn.weight.fill_(3)
    bn.reset_running_stats()
    assert (bn.running_mean == 0).all() and (bn.running_var == 1).all() and bn.num_batches_tracked.item() == 0
    assert (bn.weight == 3).all()
    bn.reset_parameters()
    assert (bn.weight == 1).all()


# ------------------------------------------------------------------------- the hand-written default path

LAYERS = {
    "BatchNorm1d": (lambda b: scratchnn.BatchNorm1d(3, backward=b), (4, 3)),
    "BatchNorm2d": (lambda b: scratchnn.BatchNorm2d(3, backward=b), (2, 3, 4, 4)),
    "BatchNorm2d-eval": (lambda b: scratchnn.BatchNorm2d(3, backward=b).eval(), (2, 3, 4, 4)),
    "LayerNorm": (lambda b: scratchnn.LayerNorm((3, 4), backward=b), (2, 3, 4)),
    "GroupNorm": (lambda b: scratchnn.GroupNorm(3, 6, backward=b), (2, 6, 3, 3)),
}
TORCH_KERNELS = {  # torch's own normalisation; scratchnn must reach none of them
    TF: ["batch_norm", "layer_norm", "group_norm", "instance_norm"],
    torch: ["batch_norm", "layer_norm", "group_norm", "native_batch_norm", "native_layer_norm", "native_group_norm"],
}


def _graph(out: torch.Tensor) -> set[str]:
    """The names of every node of ``out``'s backward graph."""
    names, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and type(node).__name__ not in names:
            names.add(type(node).__name__)
            stack.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize("name", LAYERS)
def test_default_path_is_the_hand_written_function_and_the_switch_changes_it(name):
    build, shape = LAYERS[name]
    function = "FrozenNormFunctionBackward" if name.endswith("eval") else "NormalizeFunctionBackward"
    x = randn(shape, 0).requires_grad_()
    assert function in _graph(build(None)(x))
    with scratchnn.use_backward("autograd"):
        assert function not in _graph(build(None)(x))
    assert function not in _graph(build("autograd")(x))
    assert function in _graph(build("manual")(x))


@pytest.mark.parametrize("backward", BACKWARDS)
def test_torch_normalisation_kernels_are_never_called(monkeypatch, backward):
    forbid(monkeypatch, TORCH_KERNELS, "scratchnn called one of torch's normalisation kernels")
    with pytest.raises(AssertionError):  # the patch is live: torch's own layer now fails
        nn.BatchNorm1d(3)(randn((4, 3), 0))
    for build, shape in LAYERS.values():
        x = randn(shape, 0).requires_grad_()
        build(backward)(x).sum().backward()
        assert x.grad is not None


@pytest.mark.parametrize("backward", BACKWARDS)
def test_no_aten_normalisation_kernel_runs(backward):
    """Below Python as well: no ATen batch/layer/group norm kernel runs, in forward or backward."""
    with AtenLog() as log:
        for build, shape in LAYERS.values():
            build(backward)(randn(shape, 0).requires_grad_()).sum().backward()
    assert {"sum", "addcmul"} <= log.ops, sorted(log.ops)  # the log sees our statistics and normalisation
    assert sorted(op for op in log.ops if "norm" in op) == []
