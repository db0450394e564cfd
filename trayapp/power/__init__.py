"""Sleep and wake, Qt-free: event sources per platform, the clock-gap fallback, what happens around a wake."""
