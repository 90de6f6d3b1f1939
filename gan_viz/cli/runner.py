"""A command that is one registered analysis: parsed options -> ``registry.run(name, ctx, **options)``.

The options passed are the runner's keyword parameters, read from the parsed arguments
by name (argparse dest names are the runner's option names). The output folder is
created by :func:`~gan_viz.cli.common.context_of`; when the analysis then refuses (bad
input, :class:`~gan_viz.errors.UserError`) or fails, a folder this call created is
removed again, so bad input leaves nothing half-written. ``run.json`` (how the outputs
were made) is written like every other output, once the analysis has finished: until
then the folder keeps the record of its earlier run (or none), and a refused or failed
run leaves it as it was.
"""

from __future__ import annotations

import argparse
import inspect
import shutil
from pathlib import Path

from ..analyses import registry
from ..io import write_bytes
from .common import context_of


def options_of(args: argparse.Namespace, name: str) -> dict:
    """The keyword options of analysis ``name``'s runner, taken from ``args`` where present."""
    params = inspect.signature(registry.get(name).run).parameters.values()
    return {p.name: getattr(args, p.name) for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY and hasattr(args, p.name)}


def run_analysis(args: argparse.Namespace, name: str, subject=None, **record) -> tuple:
    """Run analysis ``name`` on the parsed options: returns (Context, summary)."""
    out = Path(args.out)
    fresh = not out.exists()
    options = options_of(args, name)
    earlier = _read(out / "run.json")
    try:
        ctx = context_of(args, subject, **record)  # writes this run's run.json: held back until done
        record_now = _read(out / "run.json")
        _put_back(out / "run.json", earlier)
        summary = registry.run(name, ctx, **options)
    except BaseException:
        if fresh and out.is_dir():
            shutil.rmtree(out)
        raise
    if record_now is not None:
        write_bytes(out / "run.json", record_now)
    return ctx, summary


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _put_back(path: Path, content: bytes | None) -> None:
    """``path`` as it was before this run: its earlier bytes, or no file."""
    if content is None:
        path.unlink(missing_ok=True)
    else:
        write_bytes(path, content)
