"""Every option of every command explains itself in ``--help``, with its default; near-miss flags get a hint."""

from __future__ import annotations

import argparse
import json

import pytest

from scratchnn.cli.main import build_parser, main

COMMANDS = ("check", "train", "compare", "bench")


def _options(command: str) -> list[argparse.Action]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return [a for a in sub._actions if a.option_strings and "-h" not in a.option_strings]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_a_description_and_its_default(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps lines (even at hyphens): drop whitespace
    for action in _options(command):
        flag = action.option_strings[-1]
        assert action.help and len(action.help.split()) >= 2, f"{command} {flag} has no description"
        assert "".join(action.help.split()) in shown, f"{command} {flag}: its description is not in --help"
        has_default = action.nargs != 0 or action.default not in (False, None, argparse.SUPPRESS)
        if has_default and "required" not in action.help:
            assert "default" in action.help, f"{command} {flag}: --help does not show its default"


def test_compare_help_explains_each_preset(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "quick: 8 epochs of Adam at batch 256" in shown
    assert "seed: the original schedule: full-batch Adam for 2,000 epochs" in shown
    assert "resnet: the ResNet-8 twins" in shown
    assert "(default: 8 in quick, 2000 in seed, 3 in resnet)" in shown  # --epochs under each preset
    assert "(default: cnn mlp in quick, cnn mlp in seed, resnet in resnet)" in shown  # --models
    assert "(default: on in quick, on in seed, off in resnet)" in shown  # --control


def test_train_help_shows_the_config_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for text in ("(default: cnn)", "(default: 10)", "(default: 64)", "(default: 0.01)", "(default: relu)"):
        assert text in shown


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["compare", "--lr", "0.1"], "unrecognized arguments: --lr 0.1 (did you mean --cnn-lr/--mlp-lr/--resnet-lr?)"),
        (["compare", "--models", "vgg"], "argument --models: invalid choice: 'vgg'"),
        (["train", "--learning-rate", "0.1"], "unrecognized arguments: --learning-rate 0.1"),
        (["train", "--optimiser", "sgd"], "(did you mean --optimizer?)"),
        (["train", "--batch-size", "fulll"], "expected a positive integer or 'full', got 'fulll'"),
        (["train", "--train-size", "every"], "expected at least 10 examples or 'all', got 'every'"),
        (["compare", "--test-size", "5"], "expected at least 10 examples or 'all', got '5'"),
    ],
)
def test_mistyped_flags_are_one_line_usage_errors_with_a_hint(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"scratchnn {argv[0]}: error:")
    assert hint in err


def test_both_sizes_all_on_the_embedded_digits_is_a_usage_error(tmp_path, capsys):
    code = main(["train", "--train-size", "all", "--test-size", "all", "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "only one of them may be 'all'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_train_size_all_takes_what_the_test_part_leaves():
    from scratchnn.data import prepare_data

    data, _ = prepare_data("mnist", None, False, None, 1000)
    assert (len(data.y_train), len(data.y_test)) == (9000, 1000)


@pytest.mark.parametrize(
    ("flag", "value", "key"), [("--batch-size", "full", "batch_size"), ("--test-size", "all", "test_size")]
)
def test_flags_whose_value_means_none_reach_the_config(flag, value, key, tmp_path, capsys):
    code = main(["train", "--epochs", "1", "--train-size", "100", flag, value, "--out", str(tmp_path), "--quiet"])
    assert code == 0
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "config.json").read_text())[key] is None
