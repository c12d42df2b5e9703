"""Protocol Buffers: the protobuf event codec (``codec``) and the outbound envelope
(``outbound``) that subscriptions publish as protobuf or as its proto3 JSON mapping."""
