"""Reference solutions of EECS 182 Homework 9: the folder is itself a full-marks submission."""
