"""The ``gan-viz`` command line.

Each command is a module in this package with ``NAME``, ``HELP``, ``EXAMPLES``,
``add_arguments(parser)`` and ``run(args) -> int``; add a command by adding its module
name to ``COMMANDS``. Bad input raises :class:`~gan_viz.errors.UserError`: one line on
stderr, exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__
from ..errors import UserError

COMMANDS = [  # module names; a missing module is simply not offered
    "train", "generate", "samples", "layers", "data", "parser_cmd",
    "guided_backprop", "filter_audit", "forget", "latent_walk", "arithmetic", "directions",
    "classify", "neighbors", "modes", "upsampling", "toy", "checkerboard", "filters",
    "evaluate", "report", "export", "explore",
]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of usage dumps."""

    def error(self, message):  # noqa: D401
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)

    def add_subparsers(self, **kw):
        """Subcommands that record their own parser (``_parser``): an unknown option is reported
        by the innermost command's parser, naming its ``--help``."""
        action = super().add_subparsers(**kw)
        add = action.add_parser

        def add_parser(name, **k):
            p = add(name, **k)
            p.set_defaults(_parser=p)
            return p

        action.add_parser = add_parser
        return action


def _load(name: str):
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"{__name__}.{name}":
            return None  # a command added by a later issue, not installed here
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gan-viz", description="Train DCGANs and audit what their filters learned.",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="Run `gan-viz COMMAND --help` for each command's options and examples.")
    parser.add_argument("--version", action="version", version=f"gan-viz {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP,
                           epilog="examples:\n" + "\n".join(f"  {e}" for e in mod.EXAMPLES),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--version", action="version", version=f"gan-viz {__version__}")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the command's own parser says it, so the error names `gan-viz COMMAND --help`
        getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2 if args.command is None and argv != [] else 0
    try:
        code = int(args._run(args) or 0)
        if code == 0:
            from .common import write_pending_record

            write_pending_record(args)  # run.json once the outputs are written
        return code
    except UserError as e:
        sys.stderr.write(f"gan-viz {args.command}: error: {e}\n")
        return UserError.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("gan-viz: interrupted\n")
        return 130
