"""Watching services over time: scheduling and debouncing checks, history, the popup policy."""
