"""Shared by the command-line tests: run `python -m core` in this process and capture what it says."""

from __future__ import annotations

import io

from core.cli import run


def cli(*args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command line with `args` (paths and numbers are turned into text)."""
    out, err = io.StringIO(), io.StringIO()
    status = run([str(a) for a in args], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()
