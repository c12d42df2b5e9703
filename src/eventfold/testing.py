"""Test helpers shipped with eventfold: given/when/then for deciders."""

from eventfold.domain.testing import DeciderSpec, spec

__all__ = ["DeciderSpec", "spec"]
