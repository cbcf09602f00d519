"""Adapters that make other libraries' environments speak tripod's env APIs."""
