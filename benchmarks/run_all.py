"""Run the whole benchmark suite with plain Python: ``python benchmarks/run_all.py [flags of scratchnn bench]``.

The same code as ``scratchnn bench`` (see ``scratchnn bench --help`` and README.md beside this file), run from
this checkout's ``src/``, so an uninstalled working tree benchmarks itself. Runtime on 2 CPU cores: about
3 minutes (``--quick``: about 10 seconds; ``--compile`` adds several minutes: compiling, and the compiled steps).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from scratchnn.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
