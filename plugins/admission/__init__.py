"""Admission (入群): the family of plugins that take a newcomer from the door to a member like any other.

- ``join_threshold`` (priority 10): join requests decided on an answer, an invite code or an admin's
  review; newcomers who did not come through an approved request answer a quiz after joining, by a
  deadline, or wait muted for an admin; repeated failures turn a user away at once.
- ``welcome`` (20): one combined welcome per burst of newcomers, and /群规.
- ``self_intro`` (30): newcomers introduce themselves by a deadline, with reminders; the fields become
  member tags (/who, /tags).
- ``nickname`` (40): group nicknames follow a pattern, filled from the introduction where it can be.

Each is a plugin of its own (its rule file rules/<name>.toml, its templates under templates/<name>/, its
own ``Plugin`` object and state). What they share lives in ``cases``: one vocabulary of case kinds (the
rows of ``admission_cases``), the timer names, and the steps more than one of them takes, as plain
functions over a database connection and effects a handler returns. No plugin of the family calls
another's handlers or touches its state: a newcomer let in by join_threshold gets the welcome and the
introduction window through ``cases.let_in``, in join_threshold's own transaction, and the timers it
returns fire to welcome's and self_intro's handlers. One /pending (/待审核) lists every open case.
"""
