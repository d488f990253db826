"""The scratch models compile whole (``fullgraph=True``, inductor) under both engines: a compiled training step
equals the eager one, and the compiled program calls scratchnn's custom ops rather than tracing into them."""

import pytest
import torch
import torch.nn.functional as F

import scratchnn
from scratchnn.models import CNN, MLP


def training_step(model, forward, x, y):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = F.cross_entropy(forward(x), y)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.step()
    return loss.detach(), grads, [p.detach().clone() for p in model.parameters()]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["manual", "autograd"])
@pytest.mark.parametrize("cls", [CNN, MLP])
def test_compiled_training_step_equals_eager(cls, engine):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)
    torch.manual_seed(0)
    eager = cls("scratch")
    torch.manual_seed(0)
    compiled = cls("scratch")
    torch._dynamo.reset()
    with scratchnn.use_backward(engine):
        expected = training_step(eager, eager, x, y)
        actual = training_step(compiled, torch.compile(compiled, fullgraph=True), x, y)
    torch.testing.assert_close(actual[0], expected[0])
    for a, e in zip(actual[1] + actual[2], expected[1] + expected[2], strict=True):
        torch.testing.assert_close(a, e)
