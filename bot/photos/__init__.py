"""Photos from the field: the intake that checks, strips and keeps them, and the reader that finds their error codes."""
