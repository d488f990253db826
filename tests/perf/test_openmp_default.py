"""The ``scratchnn`` console script sets OpenMP's spin count before torch loads, unless the user set how OpenMP
threads wait; the bench records and shows the setting in force. (``python -m scratchnn`` imports torch first
and changes nothing.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("scratchnn")


@pytest.mark.skipif(not SCRIPT.exists(), reason=f"the console script is not installed beside {sys.executable}")
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"GOMP_SPINCOUNT": "10000", "OMP_WAIT_POLICY": None}),
        ({"GOMP_SPINCOUNT": "500"}, {"GOMP_SPINCOUNT": "500", "OMP_WAIT_POLICY": None}),
        ({"OMP_WAIT_POLICY": "PASSIVE"}, {"GOMP_SPINCOUNT": None, "OMP_WAIT_POLICY": "PASSIVE"}),
    ],
    ids=["default", "user-spin-count", "user-wait-policy"],
)
def test_console_script_sets_the_spin_count_unless_the_user_did(given, expected, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")} | given
    out = tmp_path / "bench.json"
    command = [str(SCRIPT), "bench", "--device", "cpu", "--quick", "--cases", "mlp.relu", "--json", str(out)]
    shown = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.splitlines()[0]
    recorded = json.loads(out.read_text())["openmp"]
    assert {name: recorded[name] for name in expected} == expected
    for name, value in expected.items():
        assert (f"{name}={value}" in shown) == (value is not None), shown
