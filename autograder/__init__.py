"""The EECS 182 Homework 9 autograder: student code runs in worker processes, verdicts in the parent."""
