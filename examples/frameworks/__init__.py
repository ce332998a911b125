"""Framework examples: one small app per framework, wiring every web-facing buttress package."""
