"""The prefix every Redis key and channel of irisq starts with."""

KEY_PREFIX = "irisq"
