"""The benchmark harness: its settings, goals, plots and call counting."""
