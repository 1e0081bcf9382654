"""Reusable prompt templates for the Stable Diffusion WebUI: template language, wildcards, template library."""

__version__ = "0.1.0"
