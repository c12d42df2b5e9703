"""The reservation service's domain: pure deciders, no I/O (stdlib + eventfold only).

One module per aggregate holds its commands, its events and its decider
(:mod:`~reservations.domain.reservation`, :mod:`~reservations.domain.stock`);
:mod:`~reservations.domain.events` registers the events of both. Import from those modules:
this package re-exports nothing, so a new command or event is written in one place.
"""
