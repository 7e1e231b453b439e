"""Built-in access control: roles per action from `permissions`, and ownership as a SQL predicate."""
