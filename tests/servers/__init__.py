"""Throwaway server processes the test suite starts itself (Redis Cluster, private Redis)."""
