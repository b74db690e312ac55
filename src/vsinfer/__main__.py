"""``python -m vsinfer ...``: the ``vsinfer`` command (see ``vsinfer.cli``)."""

from .cli import main

raise SystemExit(main())
