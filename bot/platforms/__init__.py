"""Chat platforms as the core sees them: the port, the shared lifecycle and the platform descriptor."""
