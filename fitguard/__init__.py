"""fitguard."""
