"""The web port: /metrics, the JSON API, health and the wallboard."""
