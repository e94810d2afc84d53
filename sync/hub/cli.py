"""`classroom-hub`: the national platform's reference service. Grows with the sync issues."""
from __future__ import annotations

import click

from sync import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="classroom-hub")
def main() -> None:
    """The national platform's reference service. Its commands arrive with the sync release."""
