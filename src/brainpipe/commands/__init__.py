"""The ``brainpipe`` subcommands, one module per stage; :mod:`brainpipe.cli` assembles them.

Every subcommand has the same parts: explicit input and output paths, a JSON
``--opts`` object holding the step's slice of the config (its keys are the
keyword arguments of the Python function behind the step), ``--fragment``
for the report, one worker call. The argument helpers are in
:mod:`brainpipe.commands._args`.
"""
