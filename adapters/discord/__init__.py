"""Discord: the adapter, its embed format, its slash commands and its settings."""
