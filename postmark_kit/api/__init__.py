"""One module per API area; each holds a small resource class used by the clients."""
