"""The study's verdict: a broken layer is reported from epoch 1, the real layers agree with torch.nn within the
rounding control's envelope, and the numbers behind both are in metrics.json."""

import json
import sys
from pathlib import Path

import pytest
import torch

import scratchnn
import scratchnn.functional as SF
from scratchnn.data import prepare_data
from scratchnn.models import build_model
from scratchnn.study.config import study_config
from scratchnn.study.run import metrics, run_study
from scratchnn.study.verdict import FACTOR, FIRST_STEP_BOUND, verdict

sys.path.insert(0, str(Path(__file__).parents[1] / "fixtures"))
from broken_layers import PermutedConv2d

INFO = {"dataset": "mnist", "source": "embedded", "train_size": 512, "test_size": 200}


class BiasOffConv2d(scratchnn.Conv2d):
    """A scratch conv (with ReLU) whose forward uses its bias plus 1e-3: a small, deliberate error."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, activation="relu", **kwargs)

    def forward(self, input):
        out = SF.conv2d(
            input,
            self.weight,
            self.bias + 1e-3,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            padding_mode=self.padding_mode,
            backward=self.backward,
        )
        return self.activation(out)


class PermutedConvReLU(PermutedConv2d):
    """The batch-mixing ``permute`` bug of ``broken_layers``, followed by the ReLU the scratch CNN's conv applies."""

    def forward(self, x):
        return torch.relu(super().forward(x))


def with_broken_conv1(layer):
    """A model builder whose scratch CNN has ``layer(1, 8, 3, padding=2)`` as its first convolution, loaded with
    conv1's initial weights so that the twins still start from identical weights."""

    def build(name, impl, activation):
        model = build_model(name, impl, activation)
        if name == "cnn" and impl == "scratch":
            broken = layer(1, 8, 3, padding=2)
            broken.load_state_dict(model.conv1.state_dict())
            model.conv1 = broken
        return model

    return build


@pytest.fixture(scope="module")
def small_data():
    return prepare_data("mnist", None, False, 512, 200)[0]


def _study(data, build=build_model, **overrides):
    config = study_config("quick", **{"epochs": 2, "batch_size": 128, "train_size": 512, "test_size": 200, **overrides})
    return run_study(config, data, INFO, build=build)


@pytest.mark.parametrize("layer", [BiasOffConv2d, PermutedConvReLU], ids=["bias-off-by-1e-3", "batch-mixing-permute"])
def test_a_broken_layer_disagrees_from_epoch_1(small_data, layer):
    result = _study(small_data, with_broken_conv1(layer))
    cnn, mlp = (result["twins"][arch]["verdict"] for arch in ("cnn", "mlp"))
    assert not cnn["agrees"] and cnn["first_epoch_off"] == 1
    assert cnn["first_step_grad"] > 10 * FIRST_STEP_BOUND  # far above rounding, not at the edge
    assert cnn["text"].startswith("Disagrees with torch.nn from epoch 1") and "scratchnn check" in cnn["text"]
    assert mlp["agrees"]  # the MLP has no conv: its twins still agree
    saved = json.loads(json.dumps(metrics(result)))  # what compare writes to metrics.json
    assert saved["twins"]["cnn"]["verdict"]["first_epoch_off"] == 1
    assert saved["twins"]["cnn"]["seeds"][0]["first_step"]["scratch"]["grad"] == cnn["first_step_grad"]


def test_the_real_layers_agree_on_the_quick_schedule(small_data):
    result = _study(small_data)
    for arch in ("cnn", "mlp"):
        v = result["twins"][arch]["verdict"]
        assert v["agrees"], v["text"]
        assert v["first_step_grad"] < FIRST_STEP_BOUND and all(r <= FACTOR for r in v["ratio"].values())
        assert v["text"].startswith("Consistent with rounding")
        gaps = result["twins"][arch]["seeds"][0]["gaps"]
        assert set(gaps) == {"scratch", "control"}
        assert all(len(gaps[role][m]) == 2 for role in gaps for m in gaps[role])
    assert set(result["controls"]) == {"cnn-control", "mlp-control"}


@pytest.mark.slow
def test_the_real_layers_agree_on_a_shortened_seed_schedule():
    """The seed preset's full-batch Adam (lr 0.01 for the CNN), 25 epochs on 2,000 images."""
    data, _ = prepare_data("mnist", None, False, 2000, 500)
    config = study_config("seed", epochs=25, train_size=2000, test_size=500)
    result = run_study(config, data, {**INFO, "train_size": 2000, "test_size": 500})
    for arch in ("cnn", "mlp"):
        v = result["twins"][arch]["verdict"]
        assert v["agrees"], v["text"]


def test_without_control_only_the_first_step_is_judged(small_data):
    result = _study(small_data, epochs=1, control=False)
    v = result["twins"]["cnn"]["verdict"]
    assert v["agrees"] and v["envelope"] is None and "No control was run" in v["text"]
    assert "controls" not in metrics(result) or not metrics(result)["controls"]


def _seed(scratch: list[float], control: list[float], first: float = 1e-6) -> dict:
    def gaps(values):
        return {"test_loss": values, "train_loss": values, "test_accuracy": [0.0] * len(values), "max_abs_dw": values}

    return {
        "seed": 0,
        "first_step": {"scratch": {"loss": 0.0, "grad": first}, "control": {"loss": 0.0, "grad": 1e-6}},
        "gaps": {"scratch": gaps(scratch), "control": gaps(control)},
    }


def test_the_verdict_names_the_first_epoch_outside_the_envelope():
    control = [1e-6, 1e-5, 1e-4, 1e-3]
    inside = verdict([_seed([2e-6, 3e-5, 2e-3, 9e-3], control)], test_size=1000)
    assert inside["agrees"] and inside["ratio"]["test_loss"] == pytest.approx(9.0)
    outside = verdict([_seed([2e-6, 3e-5, 2e-2, 1e-3], control)], test_size=1000)
    assert not outside["agrees"] and outside["first_epoch_off"] == 3
    assert "from epoch 3" in outside["text"] and "2.0e-02" in outside["text"]


def test_the_control_envelope_never_falls_below_rounding_resolution():
    zero = verdict([_seed([5e-6, 5e-6], [0.0, 0.0])], test_size=1000)  # 5e-6 is within 10x the 1e-6 floor
    assert zero["agrees"] and zero["envelope"]["test_loss"] == 1e-6 and zero["envelope"]["test_accuracy"] == 1e-3
    first = verdict([_seed([0.0, 0.0], [0.0, 0.0], first=2 * FIRST_STEP_BOUND)], test_size=1000)
    assert not first["agrees"] and first["first_epoch_off"] == 1 and "from epoch 1" in first["text"]


def test_first_step_gap_of_the_control_is_rounding_sized(small_data):
    result = _study(small_data, epochs=1)
    first = result["twins"]["cnn"]["seeds"][0]["first_step"]
    assert first["control"]["grad"] < FIRST_STEP_BOUND / 10 and first["control"]["loss"] < 1e-6
