"""Chat commands, platform-free: the table, the request and reply values, the service."""
