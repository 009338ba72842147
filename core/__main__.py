"""`python -m core`: the Portrait Studio command line (see core/cli.py)."""

from core.cli import main

if __name__ == "__main__":
    main()
