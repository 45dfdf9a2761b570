"""Offline tools for dumps already written: read them (``parse``), name a
crash (``signature``), group a fleet's dumps (``report``) and put names on
native frames (``symbolize``).

Nothing here is imported at start-up or by the core; these modules read
files that may be truncated or written by someone hostile, so they never
execute, evaluate or import anything named in a dump.
"""
