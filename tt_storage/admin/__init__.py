"""What a bot's admin runs: broadcasts."""
