"""`python -m gan_viz`: the same command line as `gan-viz`."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
