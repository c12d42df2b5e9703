"""eventfold's facade for workflows (process managers, sagas with compensation).

A workflow is defined like a decider — plain data and pure functions (see
:mod:`eventfold.domain.workflow`): which events start it and which instance an event belongs
to, its state and ``evolve``, and ``react(state, event) -> actions`` (Send a command, Call
another system, Set/Clear a deadline, Owe/Forgive a compensation, Fail, Finish). The
:class:`WorkflowRunner` is the subscription target that drives the instances, each a stream
in the event store; see :mod:`eventfold.core.workflows.runner` for its guarantees. Its
deadlines wait in a :class:`SqlDeadlineIndex` (or :class:`MemoryDeadlineIndex` in tests)
and fire through :meth:`WorkflowRunner.fire_due`, run as a periodic job.
"""

from eventfold.adapters.sql.deadlines import SqlDeadlineIndex, deadlines_table
from eventfold.core.workflows.deadlines import DeadlineIndex, MemoryDeadlineIndex
from eventfold.core.workflows.runner import (
    REFUSALS,
    CallPerformer,
    Dispatch,
    WorkflowCodec,
    WorkflowRunner,
)
from eventfold.domain.workflow import (
    INSTANCE_EVENTS,
    Action,
    Call,
    ClearDeadline,
    DeadlineReached,
    Fail,
    Finish,
    Forgive,
    Instance,
    Owe,
    PlannedStep,
    Send,
    SetDeadline,
    Status,
    StepCompleted,
    StepRefused,
    Workflow,
    WorkflowAdvanced,
    instance_decider,
)
from eventfold.errors import CallRefused

__all__ = [
    "INSTANCE_EVENTS",
    "REFUSALS",
    "Action",
    "Call",
    "CallPerformer",
    "CallRefused",
    "ClearDeadline",
    "DeadlineIndex",
    "DeadlineReached",
    "Dispatch",
    "Fail",
    "Finish",
    "Forgive",
    "Instance",
    "MemoryDeadlineIndex",
    "Owe",
    "PlannedStep",
    "Send",
    "SetDeadline",
    "SqlDeadlineIndex",
    "Status",
    "StepCompleted",
    "StepRefused",
    "Workflow",
    "WorkflowAdvanced",
    "WorkflowCodec",
    "WorkflowRunner",
    "deadlines_table",
    "instance_decider",
]
