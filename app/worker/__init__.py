"""The scoring worker: the loop over claimed items (``loop``), the scoring child process
(``scoring_parent`` is the worker's end of the pipe, ``scoring_child`` the child's) and the
scoring of one item inside the child (``item_scorer``)."""

from .loop import Worker, main, start_embedded

__all__ = ["Worker", "main", "start_embedded"]
