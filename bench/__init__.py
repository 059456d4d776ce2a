"""Benchmarks of the voicecore HTTP service against direct livekit-api calls (issue 6).

``python -m bench.run [--quick] [--profile]``; see docs/benchmarks.md.
"""
