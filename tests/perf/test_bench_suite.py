"""The benchmark suite: a quick run covers every case, phase and contender with consistent numbers; the CPU memory
method measures known allocations; the JSON never overwrites; the command line's mistakes are one line, exit 2."""

import json
import math
import mmap

import pytest
import torch

from scratchnn.cli.main import main
from scratchnn.perf import (
    CASES,
    BenchConfig,
    LayerCase,
    cpu_peak_bytes,
    cuda_peak_bytes,
    format_table,
    measure,
    run_bench,
    select_cases,
    timing,
    write_json,
)
from scratchnn.perf.cases import pin_engine
from scratchnn.perf.tasks import Task, phases

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
QUICK = BenchConfig(device="cpu", quick=True, repeats=2, warmup=1)


@pytest.fixture(scope="module")
def quick_result():
    return run_bench(QUICK)


def test_quick_run_has_every_case_phase_and_contender(quick_result):
    cases = select_cases(quick=True)
    expected = {(c.name, p, k.name) for c in cases for p in phases(c, compile=False) for k in c.contenders()}
    assert {(r["case"], r["phase"], r["contender"]) for r in quick_result["rows"]} == expected
    assert len(quick_result["rows"]) == len(expected)
    assert not any(c.heavy for c in cases) and any(c.heavy for c in CASES)


def test_quick_run_times_and_ratios_are_consistent(quick_result):
    rows = quick_result["rows"]
    torch_rows = {(r["case"], r["phase"]): r for r in rows if r["contender"] == "torch"}
    for r in rows:
        reference = torch_rows[r["case"], r["phase"]]
        assert r["median_ms"] > 0 and len(r["samples_ms"]) == QUICK.repeats
        if timing.faults_counted():
            assert isinstance(r["page_faults"], (int, float)) and r["page_faults"] >= 0
        else:
            assert r["page_faults"] is None
        assert math.isclose(r["ratio_vs_torch"], r["median_ms"] / reference["median_ms"])
        assert r["peak_mb"] > 0
        assert math.isclose(r["mem_ratio"], r["peak_mb"] / reference["peak_mb"])


def test_table_shows_every_row_with_two_decimal_ratios(quick_result):
    lines = format_table(quick_result).splitlines()
    assert "cpu" in lines[0] and quick_result["versions"]["torch"] in lines[0]
    for r in quick_result["rows"]:
        assert any(
            line.split()[:3] == [r["case"], r["phase"], r["contender"]]
            and f"{r['ratio_vs_torch']:.2f}" in line
            and line.split()[-1] == ("-" if r["page_faults"] is None else f"{r['page_faults']:.0f}")
            for line in lines
        )
    assert lines[1].split()[-2:] == ["page", "faults"]


def test_measure_interleaves_contenders_and_rotates_the_first():
    calls = []
    tasks = {name: Task(lambda: None, lambda _, n=name: calls.append(n)) for name in "abc"}
    samples = measure(tasks, torch.device("cpu"), repeats=3, warmup=1)
    assert "".join(calls) == "abc" + "abc" + "bca" + "cab"
    assert all(len(s) == 3 and min(s) >= 0 for s in samples.values())


def _write_fresh_mapping(size: int = 64 << 20) -> None:
    """Map ``size`` bytes of fresh anonymous memory straight from the kernel and write one byte to each page."""
    with mmap.mmap(-1, size) as fresh:
        for offset in range(0, size, mmap.PAGESIZE):
            fresh[offset] = 1


def test_measure_counts_the_page_faults_of_each_call():
    """A call that writes every page of a fresh 64 MB anonymous mapping faults once per page it touches (16,384
    pages of 4 KB; at least 32 if the system gives it 2 MB huge pages); a call that allocates nothing hardly faults.
    The mapping comes from ``mmap`` itself, not from an allocator that may keep freed memory for the next call."""
    if not timing.faults_counted():
        pytest.skip("this system does not count page faults: a fresh 8 MB mapping, written page by page, counted 0")
    tasks = {"fresh": Task(lambda: None, lambda _: _write_fresh_mapping()), "idle": Task(lambda: None, lambda _: None)}
    faults: dict[str, list[int]] = {}
    measure(tasks, torch.device("cpu"), repeats=3, warmup=1, faults=faults)
    assert len(faults["fresh"]) == len(faults["idle"]) == 3
    assert min(faults["fresh"]) >= (64 << 20) // (2 << 20), faults
    assert min(faults["fresh"]) > 10 * max(*faults["idle"], 1), faults


def test_faults_are_left_out_not_reported_as_zero_where_the_system_does_not_count_them(monkeypatch):
    """Some sandboxes leave ``ru_minflt`` at 0. The probe notices, and the suite shows ``-`` instead of a false 0."""
    frozen = timing.resource.getrusage(timing.resource.RUSAGE_SELF)
    monkeypatch.setattr(timing.resource, "getrusage", lambda who: frozen)
    timing.faults_counted.cache_clear()
    try:
        assert not timing.faults_counted()
        faults: dict[str, list[int]] = {}
        measure({"fresh": Task(lambda: None, lambda _: torch.ones(16 << 20))}, torch.device("cpu"), 2, 1, faults)
        assert faults == {"fresh": []}
        result = run_bench(BenchConfig(device="cpu", quick=True, repeats=1, warmup=1, cases="mlp.relu"))
        assert result["rows"] and all(r["page_faults"] is None for r in result["rows"])
        assert all(line.split()[-1] == "-" for line in format_table(result).splitlines()[3:] if line.strip())
    finally:
        timing.faults_counted.cache_clear()


@pytest.mark.parametrize(
    ("setup", "run", "expected"),
    [
        (lambda: None, lambda _: torch.empty(1_000_000), 4_000_000),
        (lambda: None, lambda _: [torch.empty(n) for n in (1_000_000, 500_000, 250_000)], 7_000_000),
        (lambda: torch.empty(2_000_000), lambda big: torch.empty(250_000), 1_000_000),  # setup not counted
        (lambda: [torch.empty(2_000_000)], lambda s: (s.clear(), torch.empty(3_000_000)), 4_000_000),  # 12 - 8 MB
    ],
)
def test_cpu_peak_memory_measures_a_known_allocation(setup, run, expected):
    assert cpu_peak_bytes(run, setup) == pytest.approx(expected, rel=0.1)


def test_cpu_peak_memory_sees_frees_inside_the_call():
    def churn(_):
        a = torch.empty(1_000_000)  # 4 MB
        b = torch.empty(500_000)  # 6 MB in use: the peak
        del a
        c = torch.empty(250_000)  # 3 MB
        return b, c

    assert cpu_peak_bytes(churn) == pytest.approx(6_000_000, rel=0.1)


def test_scratch_and_torch_contenders_start_from_the_same_weights():
    cpu = torch.device("cpu")
    for case in CASES:
        models = [case.build(c, cpu) for c in case.contenders()]
        for model in models[:-1]:
            reference = models[-1].state_dict()
            assert model.state_dict().keys() == reference.keys()
            assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())


def test_each_scratch_contender_runs_its_own_engine():
    case = next(c for c in CASES if c.name == "step.cnn.b256")
    for contender in case.contenders()[:-1]:
        engines = {m.backward for m in case.build(contender, torch.device("cpu")).modules() if hasattr(m, "backward")}
        assert engines == {contender.engine}
    assert pin_engine(torch.nn.ReLU(), "autograd").__class__ is torch.nn.ReLU


def test_case_selection_by_glob_and_quick():
    assert [c.name for c in select_cases("mlp.*")] == ["mlp.fc1", "mlp.relu", "mlp.fc2"]
    assert [c.name for c in select_cases("step.*", quick=True)] == ["step.cnn.b256", "step.mlp.b256"]
    assert isinstance(select_cases("big.conv")[0], LayerCase)
    with pytest.raises(ValueError, match="no benchmark case matches"):
        select_cases("big.*", quick=True)


def test_config_defaults_resolve_per_device_and_mode():
    cpu = BenchConfig(device="cpu").resolved()
    assert (cpu.repeats, cpu.warmup, cpu.compile) == (15, 3, False)
    quick = BenchConfig(device="cpu", quick=True, compile=True).resolved()
    assert (quick.repeats, quick.warmup, quick.compile) == (3, 1, True)
    assert BenchConfig().resolved().device == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="repeats"):
        BenchConfig(repeats=0)


def test_json_has_the_machine_and_is_never_overwritten(quick_result, tmp_path):
    path = write_json(quick_result, tmp_path / "bench.json")
    saved = json.loads(path.read_text())
    assert saved["device"] == "cpu" and saved["device_name"] and saved["date"]
    assert {"torch", "python", "scratchnn"} <= saved["versions"].keys()
    assert saved["rows"] == quick_result["rows"]
    path.write_text("the user's own file")
    with pytest.raises(FileExistsError):
        write_json(quick_result, path)
    assert path.read_text() == "the user's own file"
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # no temp file left behind


def cli(capsys, *args):
    """``scratchnn bench ARGS`` in-process: exit code, stdout, stderr."""
    try:
        code = main(["bench", *args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_table_and_writes_a_new_json(capsys, tmp_path):
    path = tmp_path / "out.json"
    code, out, _ = cli(
        capsys, "--device", "cpu", "--cases", "mlp.fc2", "--quick", "--repeats", "1", "--json", f"{path}"
    )
    assert code == 0
    assert "mlp.fc2" in out and out.strip().splitlines()[-1] == f"json: {path}"
    assert json.loads(path.read_text())["config"]["cases"] == "mlp.fc2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cases", "no-such-case"], "no benchmark case matches"),
        (["--repeats", "0"], "--repeats"),
        (["--warmup", "x"], "--warmup"),
        (["--device", "tpu"], "--device"),
        (["--contend", "-1"], "contend must be an integer from 0 to the"),
        (["--contend", "4096"], "but got contend=4096"),
        (["--contend", "x"], "--contend"),
        (["--json", "{existing}"], "already exists"),
        (["--json", "{missing_dir}/out.json"], "does not exist"),
        pytest.param(
            ["--device", "cuda"], "not available", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="gpu")
        ),
    ],
)
def test_cli_mistakes_are_one_line_and_exit_2(capsys, tmp_path, args, message):
    existing = tmp_path / "mine.json"
    existing.write_text("{}")
    args = [a.format(existing=existing, missing_dir=tmp_path / "nope") for a in args]
    device = [] if "--device" in args else ["--device", "cpu"]
    code, out, err = cli(capsys, "--quick", *device, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("scratchnn bench: error:") and message in err
    assert existing.read_text() == "{}"


@needs_cuda
def test_cuda_peak_memory_measures_a_known_allocation():
    device = torch.device("cuda")
    assert cuda_peak_bytes(lambda: torch.empty(1_000_000, device=device), device) == pytest.approx(4e6, rel=0.1)


@needs_cuda
def test_quick_cuda_run_times_and_measures_on_the_gpu():
    result = run_bench(BenchConfig(device="cuda", quick=True, repeats=2, compile=False, cases="mlp.*"))
    assert result["device"] == "cuda" and result["versions"]["cuda"]
    assert all(r["median_ms"] > 0 and r["peak_mb"] > 0 for r in result["rows"])
