"""Homework 9's case modules, one per problem (the manifest lists them): declared with autograder.registry's @case."""
