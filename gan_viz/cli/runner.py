"""A command that is one registered analysis: parsed options -> ``registry.run(name, ctx, **options)``.

The options passed are the runner's option names (its options dataclass's fields, or its
keyword parameters), read from the parsed arguments by name (argparse dest names are the runner's option names). The output folder is
created by :func:`~gan_viz.cli.common.context_of`; when the analysis then refuses (bad
input, :class:`~gan_viz.errors.UserError`) or fails, a folder this call created is
removed again, so bad input leaves nothing half-written. ``run.json`` (how the outputs
were made) is written like every other output, once the analysis has finished: until
then the folder keeps the record of its earlier run (or none), and a refused or failed
run leaves it as it was.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..analyses import registry
from .common import context_of, write_pending_record


def options_of(args: argparse.Namespace, name: str) -> dict:
    """The keyword options of analysis ``name``'s runner, taken from ``args`` where present."""
    return {n: getattr(args, n) for n in registry.get(name).option_names() if hasattr(args, n)}


def run_analysis(args: argparse.Namespace, name: str, subject=None, **record) -> tuple:
    """Run analysis ``name`` on the parsed options: returns (Context, summary)."""
    out = Path(args.out)
    fresh = not out.exists()
    options = options_of(args, name)
    try:
        ctx = context_of(args, subject, **record)  # this run's run.json is held back until it is done
        summary = registry.run(name, ctx, **options)
    except BaseException:
        if fresh and out.is_dir():
            shutil.rmtree(out)
        raise
    write_pending_record(args)
    return ctx, summary
