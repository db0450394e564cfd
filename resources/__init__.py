"""Icons and other package data, loaded with importlib.resources as ``trayapp.resources``."""
