"""Topics, event models, the Faust app and its state."""
