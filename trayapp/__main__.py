from trayapp.cli import entry

entry()
