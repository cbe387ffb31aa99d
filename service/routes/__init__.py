"""One router per resource: chat completions, models, memories, health, the web page."""
