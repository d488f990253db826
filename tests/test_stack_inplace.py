"""Stack rows give each layer its own copy of the input: a layer that changes its input in place (an in-place
dropout or activation) changes neither the other layer's input nor the next row's."""

import torch
from torch import nn

from scratchnn.testing import check_layer


class ZeroesItsInput(nn.Module):
    """Returns ``x + 1`` and zeroes ``x`` in place: a later call on the same tensor sees zeros."""

    def forward(self, x):
        out = x + 1
        with torch.no_grad():
            x.zero_()
        return out


def test_in_place_layers_see_the_same_input_in_every_row():
    rows = ["pickle / save / deepcopy", "meta device + to_empty"]
    report = check_layer(ZeroesItsInput(), ZeroesItsInput(), (2, 3), stack=rows, gradcheck=False)
    stack = [r for r in report.rows if r.check in rows]
    assert len(stack) == 2 and all(r.passed for r in stack), report.format()
