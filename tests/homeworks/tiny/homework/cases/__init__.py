"""The tiny homework's case modules, one per problem."""
