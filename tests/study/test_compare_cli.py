"""``scratchnn compare`` end to end: the run directory's files, the report in a browser, the quick preset's
acceptance figures, and one-line errors."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from report_browser import find_chromium, inspect_report, problems

KEYS = {"cnn-scratch", "cnn-torch", "mlp-scratch", "mlp-torch"}
SMALL = ["--epochs", "2", "--seeds", "2", "--train-size", "200", "--test-size", "100", "--quiet"]


def compare(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "scratchnn", "compare", *args], capture_output=True, text=True, cwd=cwd, timeout=900
    )


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = compare(*SMALL, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1]), out


def test_run_directory_holds_the_contract_files(small_run):
    run_dir, _ = small_run
    assert run_dir.name.endswith("-compare")
    for name in ("config.json", "metrics.json", "metrics.csv", "report.html", "report.md"):
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "plots").glob("*.png"))) == 8
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["summary"]) == KEYS
    for key, entry in metrics["summary"].items():
        assert entry["params"] == (11_146 if key.startswith("cnn") else 12_730)
        assert {"test_loss_mean", "test_loss_std", "test_accuracy_mean", "test_accuracy_std"} <= set(entry)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["epochs"] == 2 and config["seeds"] == 2 and config["preset"] == "quick"
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert len(rows) == 6 * 2 * 2  # runs (four models, two controls) x seeds x epochs
    assert {(r["model"], r["impl"]) for r in rows} == {
        (arch, impl) for arch in ("cnn", "mlp") for impl in ("scratch", "torch", "control")
    }


def test_metrics_json_holds_the_gaps_and_the_verdict(small_run):
    run_dir, _ = small_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for arch in ("cnn", "mlp"):
        twins = metrics["twins"][arch]
        assert [s["seed"] for s in twins["seeds"]] == [0, 1]
        for s in twins["seeds"]:
            assert {role: len(s["gaps"][role]["max_abs_dw"]) for role in s["gaps"]} == {"scratch": 2, "control": 2}
            assert s["first_step"]["scratch"]["grad"] <= twins["verdict"]["first_step_bound"]
        assert twins["verdict"]["agrees"] and twins["verdict"]["factor"] == 10
        assert metrics["twin_gap"][arch]["final_max_param_diff"] == max(
            s["gaps"]["scratch"]["max_abs_dw"][-1] for s in twins["seeds"]
        )
    assert set(metrics["controls"]) == {"cnn-control", "mlp-control"}


def test_no_control_trains_only_the_four_models(tmp_path):
    result = compare(*SMALL, "--seeds", "1", "--epochs", "1", "--no-control", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["controls"] == {} and "control" not in metrics["twins"]["cnn"]["seeds"][0]["gaps"]
    assert "No control was run" in metrics["twins"]["cnn"]["verdict"]["text"]
    assert json.loads((run_dir / "config.json").read_text())["control"] is False


def test_a_second_run_gets_a_new_directory(small_run):
    run_dir, out = small_run
    again = compare(*SMALL, "--epochs", "1", "--seeds", "1", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert Path(again.stdout.strip().splitlines()[-1]) != run_dir
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2  # the first run is untouched


def test_real_report_shows_every_figure_and_table_in_chromium(small_run):
    pytest.importorskip("playwright.sync_api", reason="playwright not installed: pip install -e '.[test]'")
    try:
        find_chromium()
    except FileNotFoundError as error:
        pytest.skip(f"{error}: apt-get install chromium")
    run_dir, _ = small_run
    assert problems(inspect_report(run_dir / "report.html"), figures=8) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "fast"], "invalid choice: 'fast'"),
        (["--seeds", "0"], "argument --seeds: expected a positive integer, got '0'"),
        (["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["--cnn-lr", "0"], "invalid cnn_lr"),
        (["--batch-size", "-3"], "expected a positive integer"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
        (["--dataset", "fashion-mnist", "--data-dir", "{tmp}/none"], "pass --download"),
        (["--out", "/proc/nope"], "cannot create a run directory"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(tmp_path, args, message):
    result = compare(*SMALL, "--out", str(tmp_path / "runs"), *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_quick_preset_three_seeds_meets_the_study_targets(tmp_path):
    """The quick preset: CNN accuracy >= 0.95, MLP >= 0.88; twins end within 1e-3 in test loss and the verdict
    finds both architectures consistent with rounding."""
    result = compare("--seeds", "3", "--quiet", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((Path(result.stdout.strip().splitlines()[-1]) / "metrics.json").read_text())
    summary = metrics["summary"]
    assert summary["cnn-scratch"]["test_accuracy_mean"] >= 0.95
    assert summary["mlp-scratch"]["test_accuracy_mean"] >= 0.88
    for arch in ("cnn", "mlp"):
        for seed in range(3):
            ours, theirs = (metrics["models"][f"{arch}-{impl}"]["runs"][seed]["final"] for impl in ("scratch", "torch"))
            assert abs(ours["test_loss"] - theirs["test_loss"]) < 1e-3, (arch, seed)
        assert metrics["twins"][arch]["verdict"]["agrees"], metrics["twins"][arch]["verdict"]["text"]
