"""``scratchnn compare --preset resnet`` on a few embedded digits: the ResNet twins alone, no control, a report;
and the twins' first-step probe leaves batch norm's running statistics as they were."""

import json
from pathlib import Path

import torch

from scratchnn.cli.main import main
from scratchnn.models import ResNet
from scratchnn.study.twins import loss_and_grads

TINY = ["--dataset", "mnist", "--train-size", "100", "--test-size", "50", "--epochs", "1", "--batch-size", "50"]


def test_resnet_preset_trains_the_resnet_twins_without_a_control(tmp_path, capsys):
    assert main(["compare", "--preset", "resnet", *TINY, "--out", str(tmp_path), "--quiet"]) == 0
    run_dir = Path(capsys.readouterr().out.strip())
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["models"], config["control"], config["resnet_lr"]) == (["resnet"], False, 0.001)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["summary"]) == {"resnet-scratch", "resnet-torch"}
    assert metrics["summary"]["resnet-scratch"]["params"] == 78_042
    assert metrics["controls"] == {}
    assert "No control was run" in metrics["twins"]["resnet"]["verdict"]["text"]
    assert "a ResNet-8 with batch norm (78,042 parameters)" in (run_dir / "report.md").read_text()


def test_first_step_probe_restores_the_running_statistics():
    model = ResNet("scratch", widths=(4, 8, 8))
    before = {name: b.clone() for name, b in model.named_buffers()}
    loss, grads = loss_and_grads(model, torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    assert loss > 0 and len(grads) == len(list(model.parameters()))
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before[name]), name
    assert all(p.grad is None for p in model.parameters())
