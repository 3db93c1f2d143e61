"""What an operator runs: the tt-storage CLI, adopting a database."""
