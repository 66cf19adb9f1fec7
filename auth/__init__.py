"""The authentication and OAuth 2.0 core, one module per concern."""
