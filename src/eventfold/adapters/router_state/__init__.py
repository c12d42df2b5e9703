"""Where the router keeps checkpoints, applied versions and parked streams."""
