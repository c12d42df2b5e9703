"""Event codecs backed by SDKs: Protocol Buffers, the outbound formats, the schema gate."""
