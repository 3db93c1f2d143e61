"""The service functions: the seed's sixteen, their fixes, and the new atomic ones."""
