"""Example postmark-kit plugin distribution: suppressed addresses to CSV."""
