"""The PyInstaller bundle's entry point: the same ``trayapp`` command as the console script."""

from trayapp.cli import entry

if __name__ == "__main__":
    entry()
