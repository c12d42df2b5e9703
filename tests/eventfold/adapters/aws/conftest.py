from tests.aws_support.moto_server import aws, moto_server

__all__ = ["aws", "moto_server"]
