"""Webhooks: events and effects POSTed to other systems over HTTP (the standard library's
``http.client``)."""
