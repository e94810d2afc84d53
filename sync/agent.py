"""`classroom-sync`: the school's sync agent (records up, content down). Grows with the sync issues."""
from __future__ import annotations

import click

from sync import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="classroom-sync")
def main() -> None:
    """The school's sync agent. Enrolment and syncing arrive with the sync release."""
