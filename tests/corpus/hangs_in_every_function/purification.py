"""Every function of purification.py sleeps for an hour."""
import time


def reconstruction_loss(*args, **kwargs):
    time.sleep(3600)


def regularization_loss(*args, **kwargs):
    time.sleep(3600)


def purification_loss(*args, **kwargs):
    time.sleep(3600)


def optimal_purifier(*args, **kwargs):
    time.sleep(3600)


def purifier_lambda_range(*args, **kwargs):
    time.sleep(3600)
