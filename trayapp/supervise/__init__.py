"""Managed services: starting, stopping and restarting children; safe kill of a port's holders."""
