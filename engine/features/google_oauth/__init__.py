"""Built-in Google sign-in (OpenID Connect authorization code flow with PKCE) into a browser session."""
