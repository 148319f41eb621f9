"""identity-sweeper: find identities nobody has used for too long, and disable them safely."""

__version__ = "0.1.0"
