"""Benchmarks of the voicecore HTTP service against direct livekit-api calls (issues 6, 12, 13, 14).

``python -m bench.run [--quick] [--profile] [--compare ...] [--target ...]``; the modules and
what each does are listed in docs/benchmarks.md.
"""
