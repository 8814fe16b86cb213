"""What runs the core in a process: the dispatcher, schedules, retries, metrics, logging, the one composition root."""
