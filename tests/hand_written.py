"""The layers whose default path is a hand-written ``torch.autograd.Function``: one table for the tests that prove
it (``test_layers.py``: the Function that made the output, and no torch layer kernel reached;
``test_backward_proof.py``: no autograd node of the forward's own ops in the graph)."""

import scratchnn
from scratchnn import autograd as SA
from scratchnn import functional as SF

# name: (build(backward), an input shape, the Function of the hand-written path); activations have no switch
LAYERS = {
    "Conv2d": (lambda b: scratchnn.Conv2d(2, 4, 3, padding=1, backward=b), (2, 2, 6, 5), SF.Conv2dFunction),
    "Conv2d-reflect": (
        lambda b: scratchnn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect", backward=b),
        (2, 2, 6, 5),
        SF.Conv2dFunction,
    ),
    "Linear": (lambda b: scratchnn.Linear(5, 3, backward=b), (2, 5), SF.LinearFunction),
    "MaxPool2d": (lambda b: scratchnn.MaxPool2d(2, padding=1, backward=b), (2, 2, 6, 5), SF.MaxPool2dFunction),
    "AvgPool2d": (lambda b: scratchnn.AvgPool2d(3, 2, 1, backward=b), (2, 2, 6, 5), SF.AvgPool2dFunction),
    "ReLU": (lambda b: scratchnn.ReLU(), (2, 5), SA.ReLUFunction),
    "LeakyReLU": (lambda b: scratchnn.LeakyReLU(), (2, 5), SA.LeakyReLUFunction),
    "Sigmoid": (lambda b: scratchnn.Sigmoid(), (2, 5), SA.SigmoidFunction),
    "Tanh": (lambda b: scratchnn.Tanh(), (2, 5), SA.TanhFunction),
    "SiLU": (lambda b: scratchnn.SiLU(), (2, 5), SA.SiLUFunction),
    "Square": (lambda b: scratchnn.Square(), (2, 5), SA.SquareFunction),
}
# the layers with a backward switch: "manual" (hand-written) or "autograd" (differentiating the forward's ops)
SWITCHED = ["Conv2d", "Conv2d-reflect", "Linear", "MaxPool2d", "AvgPool2d"]
