"""The one error every SASL mechanism raises when an exchange fails."""

from __future__ import annotations


class AuthenticationFailed(Exception):
    """The exchange failed. The message is safe to log and to send to the client: it
    never contains a password, a proof or key material."""
