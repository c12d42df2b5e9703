"""Development-time tools (the published language's breaking-change gate). Outside the
runtime layers: no service, adapter or entry point depends on them at run time; only the
``eventfold schema`` commands load them, when called."""
