"""{worker} and {prog} in multiprocessing children.

Imported only by a process that may be one: a spawn child (its command line
says so) or a fork from a process that has imported multiprocessing.  So
nothing here costs an ordinary program anything at start-up.
"""

# Whether this process has asked multiprocessing to name it (a forked child
# inherits the request with the flag).
_watching = False
_name_worker = _name_program = None


def watch(name_worker, name_program):
    """Have multiprocessing name this process when it becomes one of its
    children: ``name_worker(name)`` with its process name ("Process-2",
    "SpawnPoolWorker-3"), and, unless ``name_program`` is None,
    ``name_program(argv0, module)`` with what its parent ran.

    Two ways in, as the start methods differ: spawn and forkserver children
    receive their name and their parent's ``sys.argv`` and ``-m`` module in
    the preparation data (spawn.prepare, wrapped here); fork and forkserver
    children run the after-fork callbacks once the Process is the current
    one (spawn children do not, on 3.12+).  A process that already is such
    a child is named now."""
    global _watching, _name_worker, _name_program
    _name_worker, _name_program = name_worker, name_program
    from multiprocessing import process, spawn, util

    if not _watching:
        _watching = True
        util.register_after_fork(_after_fork, _after_fork)
        _wrap_prepare(spawn)
    if process.parent_process() is not None:
        _after_fork(None)


def _after_fork(_):
    from multiprocessing import process

    _name_worker(process.current_process().name)


def _wrap_prepare(spawn):
    prepare = spawn.prepare

    def prepare_and_name(data):
        prepare(data)
        try:
            _name_from_preparation(data)
        except Exception:
            pass  # a name for dump files never stops a child from starting

    spawn.prepare = prepare_and_name


def _name_from_preparation(data):
    name = data.get("name")
    if isinstance(name, str):
        _name_worker(name)
    if _name_program is None:
        return
    module = data.get("init_main_from_name")
    if isinstance(module, str):
        # `-m pkg` runs pkg.__main__, and the parent was named "pkg"
        _name_program(None, module[:-len(".__main__")] if module.endswith(".__main__") else module)
        return
    argv = data.get("sys_argv")
    argv0 = argv[0] if isinstance(argv, list) and argv and isinstance(argv[0], str) else ""
    _name_program(argv0, None)
