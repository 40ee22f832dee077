"""Rules: which notifications a change in an account's state causes."""
