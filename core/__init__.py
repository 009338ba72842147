"""Portrait Studio core: U²-Net segmentation, mask refinement and compositing on numpy arrays.

Nothing in this package imports Streamlit; the dashboard (`Home.py`, `pages/`, `ui/`), the command
line (`python -m core`) and the benchmarks (`bench/`) all call these functions.
"""
