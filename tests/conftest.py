"""Session-wide test settings."""

import torch

# pytest-xdist runs one worker per core; torch's own thread pool on top of that oversubscribes the cores and makes
# the many tiny ops of these tests about ten times slower. Subprocesses (the CLI tests) keep torch's default.
torch.set_num_threads(1)
