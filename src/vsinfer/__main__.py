"""``python -m vsinfer info``."""

from .cli import main

raise SystemExit(main())
