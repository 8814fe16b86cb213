"""The conversation core: messages in and replies out, commands, the gate and the turn an engine answers."""
