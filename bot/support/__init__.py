"""Hand-off to a human: support cases between a technician's chat and the support team's chat."""
