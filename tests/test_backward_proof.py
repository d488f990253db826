"""The default backward really is hand-written: autograd never differentiates through unfold and friends."""

import pytest
import torch
import torch.nn.functional as F

from hand_written import LAYERS, SWITCHED

THROUGH_THE_FORWARD = {
    "Im2ColBackward0",
    "UnfoldBackward0",
    "ConstantPadNdBackward0",
    "ReflectionPad2DBackward0",
    "BmmBackward0",
    "MmBackward0",
    "AddmmBackward0",
    "MaxBackward0",
    "GatherBackward0",
    "SumBackward1",
    "UnsafeViewBackward0",
    "ViewBackward0",
}


def graph(out: torch.Tensor) -> set[str]:
    """Names of every autograd node between ``out`` and the leaves."""
    seen, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or type(node).__name__ in seen:
            continue
        seen.add(type(node).__name__)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return seen


@pytest.mark.parametrize("name", SWITCHED)
def test_default_graph_is_one_hand_written_node(name):
    build, shape, function = LAYERS[name]
    out = build(None)(torch.randn(shape, requires_grad=True))
    nodes = graph(out)
    assert {n for n in nodes if n.endswith("FunctionBackward")} == {f"{function.__name__}Backward"}
    assert not nodes & THROUGH_THE_FORWARD, nodes
    assert graph(build("autograd")(torch.randn(shape, requires_grad=True))) & THROUGH_THE_FORWARD


def _raising_on_backward(original):
    def patched(*args, **kwargs):
        out = original(*args, **kwargs)
        if out.requires_grad:  # only when autograd records it: make differentiating through it fail
            out.register_hook(lambda grad: (_ for _ in ()).throw(AssertionError("autograd went through unfold")))
        return out

    return patched


@pytest.mark.parametrize("name", [name for name in SWITCHED if name != "Linear"])  # Linear unfolds nothing
def test_autograd_through_unfold_raising_does_not_touch_the_default_path(monkeypatch, name):
    monkeypatch.setattr(F, "unfold", _raising_on_backward(F.unfold))
    monkeypatch.setattr(torch.Tensor, "unfold", _raising_on_backward(torch.Tensor.unfold))
    build, shape, _ = LAYERS[name]
    x = torch.randn(shape, requires_grad=True)
    build(None)(x).sum().backward()  # hand-written: nothing to differentiate through
    assert x.grad is not None
    with pytest.raises(AssertionError, match="autograd went through unfold"):
        build("autograd")(torch.randn(shape, requires_grad=True)).sum().backward()
