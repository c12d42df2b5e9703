"""The write side's application layer: load -> decide -> append, with retries."""
