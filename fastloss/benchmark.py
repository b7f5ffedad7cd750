"""Moved: ``fastloss bench`` lives in the package :mod:`fastloss.bench`."""

from fastloss.bench import add_arguments, main  # noqa: F401
