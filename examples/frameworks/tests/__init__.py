"""Tests that serve each framework example under a real server and drive it over HTTP."""
