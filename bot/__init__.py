"""Nik's platform-free core: configuration, the command line, and (next) the conversation."""
