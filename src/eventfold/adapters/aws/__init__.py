"""AWS adapters: the DynamoDB event store (and, later, the Streams/Kinesis/SQS feeds and the
SQS/SNS targets). Importing this package needs boto3 (the ``eventfold[aws]`` extra)."""
