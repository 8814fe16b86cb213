"""What runs the core in a process: the dispatcher, the schedules, metrics, logging and the one composition root."""
