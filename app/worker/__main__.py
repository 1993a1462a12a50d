"""``python -m app.worker``: one worker, until SIGTERM/SIGINT."""

from .loop import main

main()
