"""The competing load of ``scratchnn bench --contend N``: its processes spin while the bench runs and are gone
afterwards however it ends: normally, through an exception, by SIGINT or SIGTERM sent to the bench, and even when
their parent is killed outright (they notice and exit by themselves)."""

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import scratchnn
from scratchnn.perf import BenchConfig, Contention, format_table, run_bench
from scratchnn.perf import contention as contention_module
from scratchnn.perf import run as run_module
from scratchnn.perf.contention import cores

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
SRC = str(Path(scratchnn.__file__).resolve().parents[1])


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (ended, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_competitors_spin_until_the_block_ends_then_are_gone():
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    with Contention(1) as load:
        pids = load.pids
        assert len(pids) == 1 and load.running() and running(pids[0])
        time.sleep(1.0)
    assert not running(pids[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # reaped, not a zombie
    spun = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before
    assert spun > 0.05, f"the competitor used {spun:.3f} s of CPU in 1 s: it did not spin"
    assert signal.getsignal(signal.SIGTERM) is not contention_module._exit_on_sigterm


def test_an_exception_inside_stops_them_and_propagates():
    with pytest.raises(RuntimeError, match="measurement failed"), Contention(min(2, cores())) as load:
        pids = load.pids
        assert all(running(p) for p in pids)
        raise RuntimeError("measurement failed")
    assert pids and not any(running(p) for p in pids)


def test_an_exception_inside_the_bench_stops_them(monkeypatch):
    started = []

    def broken(*args):
        raise RuntimeError("a case failed")

    monkeypatch.setattr(run_module, "_measure_phase", broken)
    config = BenchConfig(device="cpu", quick=True, repeats=1, cases="mlp.fc2", contend=1)
    with pytest.raises(RuntimeError, match="a case failed"):
        run_bench(config, on_contention=lambda load: started.extend(load.pids))
    assert len(started) == 1 and not running(started[0])


def test_a_competitor_ends_by_itself_after_its_time_limit():
    load = Contention(1, limit_s=0.3).start()
    pid = load.pids[0]
    assert wait_until(lambda: not load.running())
    load.stop()
    assert not running(pid)


def test_competitors_end_by_themselves_when_their_parent_is_killed():
    """SIGKILL runs no handler in the parent: the competitor sees its parent change and exits within moments."""
    code = (
        "import importlib.util, sys, time\n"
        f"spec = importlib.util.spec_from_file_location('contention', {str(contention_module.__file__)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(*module.Contention(1).start().pids, flush=True); time.sleep(60)\n"
    )  # the module alone (it imports only the standard library): no torch to load
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    assert running(pid)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    assert wait_until(lambda: not running(pid)), f"competitor {pid} outlived its killed parent"


def test_bench_records_the_load_and_stops_it(tmp_path, capsys):
    from scratchnn.cli.main import main

    path = tmp_path / "loaded.json"
    args = ["bench", "--device", "cpu", "--cases", "mlp.fc2", "--quick", "--repeats", "1", "--contend", "1"]
    assert main([*args, "--json", str(path)]) == 0
    out, err = capsys.readouterr()
    pids = _pids(err.splitlines())
    assert len(pids) == 1 and not running(pids[0])
    result = json.loads(path.read_text())
    assert result["config"]["contend"] == 1 and result["contention"] == {"processes": 1, "held": True}
    assert out.splitlines()[0] == format_table(result).splitlines()[0]
    assert "beside 1 busy process it started, one per core" in out.splitlines()[0]
    assert len(result["load_average"]["start"]) == len(result["load_average"]["end"]) == 3


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_an_interrupted_bench_leaves_no_competitor_behind(signum, code):
    """``scratchnn bench --contend 1`` in a process of its own, signalled in the middle of its timed rounds."""
    script = (  # Python ignores SIGINT in a process started with SIGINT ignored (a background job): restore it
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from scratchnn.cli.main import main\n"
        "sys.exit(main(['bench', '--device', 'cpu', '--contend', '1', '--quick', '--cases', 'step.mlp.b256', "
        "'--repeats', '1000000']))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    bench = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    lines = _lines(bench.stderr)
    try:
        pids = _pids(lines)
        assert len(pids) == 1 and running(pids[0])
        while not lines.get(timeout=120).startswith("[1/1]"):
            pass
        time.sleep(1.0)  # inside the timed rounds of the step
        bench.send_signal(signum)
        assert bench.wait(timeout=60) == code
        assert signum != signal.SIGINT or lines.get(timeout=5).startswith("scratchnn bench: interrupted; competing")
    finally:
        bench.kill()
        bench.wait()
        bench.stdout.close()
    assert not running(pids[0]), f"competitor {pids[0]} outlived the interrupted bench"


def _lines(stream) -> queue.Queue:
    """The lines of ``stream``, decoded, in a queue filled by a background thread (so reads can time out)."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.decode())

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _pids(lines: list[str] | queue.Queue) -> list[int]:
    """The competitors' pids from the bench's ``contention: ... pids 12 34, ...`` line on stderr."""
    for line in lines if isinstance(lines, list) else iter(lambda: lines.get(timeout=120), None):
        if line.startswith("contention:"):
            return [int(p) for p in line.split("pids ", 1)[1].split(",", 1)[0].split()]
    raise AssertionError("no 'contention:' line on stderr")
