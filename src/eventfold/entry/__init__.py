"""Entry points: the HTTP app, the CLI and the Lambda handlers. They compose everything."""
