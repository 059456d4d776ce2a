"""Development tools of this repository (``make serve``, the dev agent worker); never shipped."""
