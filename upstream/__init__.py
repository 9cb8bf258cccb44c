"""The upstream artifacts the tests compare the project with: manifest.json pins them,
fetch.py (`make upstream`) downloads them into artifacts/. Not part of the program."""
