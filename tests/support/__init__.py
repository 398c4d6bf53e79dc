"""Helpers more than one suite uses; a suite's own helpers stay in its folder."""
