"""The commands' progress display: a tqdm bar on a terminal, plain lines in a log, nothing when quiet."""

import io
import re

from scratchnn.cli._common import Progress

METRICS = {"train_loss": 0.5, "train_accuracy": 0.9, "test_loss": 0.25, "test_accuracy": 0.95}


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _run(stream, total=40, quiet=False):
    progress = Progress(total, quiet, stream)
    for epoch in range(1, total + 1):
        progress.update("cnn-scratch seed 0", {"epoch": epoch, **METRICS})
    return stream.getvalue()


def test_a_log_gets_plain_lines_with_progress_eta_loss_and_accuracy():
    lines = _run(io.StringIO()).splitlines()
    assert len(lines) == 20 and "\r" not in "".join(lines)  # about every 5 % of the work, no redraws
    assert lines[-1].startswith("100% 40/40 [")
    assert re.search(r"\d+/40 \[\d\d:\d\d<\d\d:\d\d", lines[0])  # elapsed < ETA, as tqdm writes them
    assert lines[-1].endswith("cnn-scratch seed 0 epoch 40: loss 0.5000 acc 0.900 | test loss 0.2500 acc 0.950")


def test_a_terminal_gets_a_redrawn_bar():
    out = _run(Terminal())
    assert out.count("\r") >= 2 and re.search(r"100%\|[#█]+\| 40/40", out)
    assert "cnn-scratch seed 0 epoch 40: loss 0.5000" in out and out.endswith("\n")


def test_quiet_shows_nothing():
    assert _run(io.StringIO(), quiet=True) == "" and _run(Terminal(), quiet=True) == ""
