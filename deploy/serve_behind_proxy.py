"""`classroom-server serve` behind nginx on the same machine (install.sh --with-nginx).

nginx connects from 127.0.0.1, so without this every device would have that address and the
sign-in limits per address would count the whole school as one device. Here waitress takes the
address from the X-Forwarded-For header that nginx sets, and only from a peer at 127.0.0.1.

This wraps waitress.create_server until classroom-server has a setting for a trusted proxy (it
would pass the same three arguments); everything else is `classroom-server serve` unchanged.
"""
from __future__ import annotations

import sys

import waitress

from classroom_server import cli

TRUSTED = {"trusted_proxy": "127.0.0.1", "trusted_proxy_count": 1,
           "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"}}

_create_server = waitress.create_server


def create_server(application, **kwargs):
    """waitress.create_server with nginx on 127.0.0.1 trusted for the client's address."""
    return _create_server(application, **{**TRUSTED, **kwargs})


if __name__ == "__main__":
    waitress.create_server = create_server
    sys.exit(cli.main(["serve", *sys.argv[1:]], prog_name="classroom-server"))
