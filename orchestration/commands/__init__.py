"""One module per `ferry` subcommand, each with `register(subparsers)`."""
