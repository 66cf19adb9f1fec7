"""Tornado handlers: the partner API, the OAuth endpoints and the web pages."""
