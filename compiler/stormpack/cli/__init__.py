"""The ``stormpack`` command line. Each sub-command lives in its own module of this package and
is imported only when it runs, so one command's heavy imports do not slow the others."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from typing import Any

import click

from .. import __version__
from ..errors import StormpackError

# command name -> (module inside stormpack.cli, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "compile": ("compile_cmd", "compile_cmd"),
    "build": ("build_cmd", "build_cmd"),
    "golden": ("golden_cmd", "golden_cmd"),
    "test": ("test_cmd", "test_cmd"),
    "hunt": ("hunt_cmd", "hunt_cmd"),
    "validate": ("validate_cmd", "validate_cmd"),
    "coverage": ("coverage_cmd", "coverage_cmd"),
    "fmt": ("fmt_cmd", "fmt_cmd"),
    "new": ("new_cmd", "new_cmd"),
    "baseline": ("baseline_cmd", "baseline_cmd"),
}


def _available() -> list[str]:
    names = []
    for name, (mod, _) in COMMANDS.items():
        if importlib.util.find_spec(f"{__name__}.{mod}") is not None:
            names.append(name)
    return names


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return _available()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or cmd_name not in _available():
            return None
        mod, attr = COMMANDS[cmd_name]
        module = importlib.import_module(f"{__name__}.{mod}")
        cmd: click.Command = getattr(module, attr)
        return cmd


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="stormpack")
def cli() -> None:
    """Storm-0558 Sigma pack: compile to KQL/SPL, replay fixtures, hunt through audit logs."""


BUG_EXIT_STATUS = 70  # sysexits.h EX_SOFTWARE, "an internal software error has been detected"
BUG_NOTE = (
    "this is a stormpack bug, please report it with the traceback above and the command that "
    "caused it (stormpack {version})"
)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: a StormpackError (or an OSError: disk full, permission denied) becomes one clear
    line on stderr and exit code 2; any other exception is a bug of ours, shown as its traceback, a
    request to report it, and exit code 70."""
    try:
        return cli.main(args=argv, prog_name="stormpack", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except StormpackError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # the machine's answer (disk full, permission denied...), not ours
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception:  # not a user's error: show where it happened, and say it is ours
        traceback.print_exc()
        click.echo(f"error: {BUG_NOTE.format(version=__version__)}", err=True)
        sys.exit(BUG_EXIT_STATUS)
