"""The domain kit: deciders, event types, codecs and validation. Stdlib only; no I/O."""
