"""Helpers the CI workflow (.github/workflows/preview.yml) runs; not part of meshplan."""
