"""Example survey documents, shipped as package data (see README.md here)."""
