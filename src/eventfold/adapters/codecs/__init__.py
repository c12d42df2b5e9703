"""Event codecs backed by SDKs: Protocol Buffers and the outbound formats."""
