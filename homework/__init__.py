"""EECS 182 Homework 9: its cases, mistakes and worker recipes, read by the engine in autograder/ (manifest.yaml says
what is where)."""
