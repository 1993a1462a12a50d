"""``python -m app.cli``: the same as the ``zero-cost`` command."""

from . import main

main()
