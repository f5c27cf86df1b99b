"""Simulation tooling, not the product: a seeded sales floor, its delivery distortions and a producer."""
