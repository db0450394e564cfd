"""trayapp.toml: finding it, validating it into values, writing settings back, redacting secrets."""
