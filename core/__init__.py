"""Portrait Studio core: U²-Net segmentation, mask refinement and compositing on numpy arrays.

Nothing in this package imports Streamlit; the dashboard (`Home.py`, `pages/`, `ui/`), the command
line (`python -m core`) and the benchmarks (`bench/`) all call these functions.
"""

import os

# PyTorch's OpenMP threads spin while waiting for work by default; next to Streamlit's threads and other
# processes that spinning steals the CPU they wait for (a u2netp pass took 0.82 s instead of 0.34 s
# under load, bench/results/speed.md). Passive waiting is the better default for a shared machine;
# set OMP_WAIT_POLICY yourself to override. It must be set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
