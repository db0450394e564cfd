"""Log files: following them by name (tail -F), reading JSON log lines, the bounded store the views share."""
