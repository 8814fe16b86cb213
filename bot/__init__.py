"""Nik's platform-free core, in rooms: core, agent, offline, photos and runtime (see each room's docstring)."""
