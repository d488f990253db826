"""Count what one training step asks of the CPU's thread pool: OpenMP parallel regions and operator calls, for each
contender of a ``scratchnn bench`` step case (scratchnn with either backward engine, and torch.nn).

    python benchmarks/parallel_regions.py [--case step.cnn.b256] [--steps 3] [--per-product]

Runtime: about 10 seconds on 2 cores. Linux only, with a C compiler (``cc``) and PyTorch's CPU build on GNU OpenMP
(``torch.__config__.parallel_info()`` says ``ATen parallel backend: OpenMP``).

Every OpenMP parallel region starts with one call of libgomp's ``GOMP_parallel``: an ATen kernel whose
``at::parallel_for`` splits its work, each threaded MKL GEMM, each oneDNN primitive. Small kernels (fewer elements
than ATen's grain size, 32,768) run inline and open none. At the end of a region every thread waits for the others;
a thread that the system has descheduled (because another process holds its core) holds them all up, so the number
of regions per step is what a competing load multiplies. The count is taken by interposition: a ten-line C library,
compiled here into a temporary directory and preloaded (``LD_PRELOAD``), counts the calls and forwards each to
libgomp; a region whose team is a single thread (a thread set to one, as the workers of the plane path's parallel
shares are) waits for no other thread and is not counted. Operator calls come from ``torch.profiler`` (every ATen
operator, nested ones included, on every thread). ``--per-product`` runs the plane path's loops in the calling
thread, so that each matrix product is a parallel region of MKL's.

Each step runs after one untimed warm-up step; the counts of ``--steps`` steps must agree (they are deterministic
for a fixed thread count) and are printed once per contender.
"""

import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

COUNTER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
static unsigned long regions;
unsigned long scratchnn_regions(void) { return __atomic_load_n(&regions, __ATOMIC_RELAXED); }
void GOMP_parallel(void (*fn)(void *), void *data, unsigned threads, unsigned flags) {
    static void (*real)(void (*)(void *), void *, unsigned, unsigned);
    static int (*max_threads)(void);
    if (!real) real = dlsym(RTLD_NEXT, "GOMP_parallel");
    if (!max_threads) max_threads = dlsym(RTLD_NEXT, "omp_get_max_threads");
    if ((threads ? threads : (unsigned)max_threads()) > 1)  /* a team of one thread waits for no other */
        __atomic_add_fetch(&regions, 1, __ATOMIC_RELAXED);
    real(fn, data, threads, flags);
}
"""
MARK = "SCRATCHNN_REGION_COUNTER"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="step.cnn.b256", help="a step case of scratchnn bench (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=3, help="counted steps per contender (default: %(default)s)")
    parser.add_argument(
        "--per-product",
        action="store_true",
        help="run the plane path's loops in the calling thread, each product a parallel region of its own, instead "
        "of on parallel shares (scratchnn.functional._parallel)",
    )
    args = parser.parse_args()
    if MARK not in os.environ:
        _rerun_with_counter()
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # the profiler's C++ side otherwise logs start/stop to stderr
    import torch
    from torch._C._profiler import _ExperimentalConfig
    from torch.profiler import ProfilerActivity, profile

    from scratchnn.functional import _parallel
    from scratchnn.perf import select_cases
    from scratchnn.perf.tasks import build_tasks

    if args.per_product:
        _parallel.shares = lambda device: 1

    regions = ctypes.CDLL(os.environ[MARK]).scratchnn_regions
    regions.restype = ctypes.c_ulong
    before = regions()
    torch.ones(1 << 22).mul_(2)  # 4M elements, far above the grain size: one region on more than one thread
    if torch.get_num_threads() > 1 and regions() == before:
        sys.exit("no OpenMP parallel region was counted: this PyTorch does not call libgomp's GOMP_parallel")
    (case,) = select_cases(args.case)
    tasks = build_tasks(case, "step", torch.device("cpu"))
    loops = "each product its own region" if args.per_product else "parallel shares"
    print(f"{case.name}: {case.description}; torch {torch.__version__}, {torch.get_num_threads()} threads; {loops}")
    print(f"{'contender':18} {'parallel regions':>17} {'operator calls':>15}")
    for name, task in tasks.items():
        task.run(task.setup())  # warm-up: lazy initialisation opens regions of its own
        counts = set()
        for _ in range(args.steps):
            state = task.setup()
            before = regions()
            with profile(
                activities=[ProfilerActivity.CPU], experimental_config=_ExperimentalConfig(profile_all_threads=True)
            ) as prof:
                task.run(state)
            counts.add((regions() - before, len(prof.events())))
        shown = " / ".join(f"{r:>5} {o:>6}" for r, o in sorted(counts))  # one pair unless the steps differed
        print(f"{name:18} {shown}")


def _rerun_with_counter() -> None:
    """Compile the counter and run this script again with it preloaded (the loader reads LD_PRELOAD at start)."""
    build = Path(tempfile.mkdtemp(prefix="scratchnn-regions-"))
    source, library = build / "counter.c", build / "counter.so"
    source.write_text(COUNTER)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source), "-ldl"], check=True)
    env = {**os.environ, MARK: str(library), "LD_PRELOAD": str(library)}
    try:
        code = subprocess.run([sys.executable, *sys.argv], env=env).returncode
    finally:
        source.unlink()
        library.unlink()
        build.rmdir()
    sys.exit(code)


if __name__ == "__main__":
    main()
