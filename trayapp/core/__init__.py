"""The engine: config, probes, port owners, diagnosis, monitor, safe kill. Never imports Qt."""
