"""``python -m scratchnn``: the same command line as the ``scratchnn`` console script."""

from .cli import main

raise SystemExit(main())
