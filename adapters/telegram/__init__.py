"""Telegram: the adapter, its HTML format, its rate limiter and its settings."""
