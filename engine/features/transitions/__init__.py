"""Built-in `transitions:`: the moves a field's value may make on update (a state machine, declared)."""
