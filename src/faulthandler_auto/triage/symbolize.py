"""``faulthandler-auto symbolize FILE|-``: names for the C frames a dump
could not name, and ``file:line`` where debug information exists.

A dump names only exported functions (``dladdr``); each C frame also
carries its object's path, GNU build id and module offset (the address
less the object's load bias: the link-time address), which is all that is
needed here, after the process is gone and on another machine:

- the object is found by build id, Debian-style, as
  ``DEBUG_DIR/.build-id/xx/yyyy.debug`` (``--debug-dir``, default
  /usr/lib/debug), then at the path the dump names -- a file is used only
  when its build id is the dump's (when the dump has one), so a library
  upgraded since the crash gives no names rather than wrong ones;
- ``.symtab`` (static functions too) or ``.dynsym`` gives the function,
  DWARF line tables give ``file:line``, read with pyelftools (the
  ``faulthandler-auto[symbolize]`` extra).

Only files are read; nothing in the dump is executed, and a path named
in it is opened only when it is an absolute path to a regular ELF file.
Text dumps keep their layout (a named frame reads as ``dladdr`` would have
printed it, plus `` at FILE:LINE``); JSON dumps get ``symbol``/``offset``
filled and ``source_file``/``source_line`` added.  A fatal dump without a
``Crash signature:`` gets one, computed before any name is added, so that
symbolising never changes which group a dump falls in.
"""
import bisect
import gzip
import io
import itertools
import json
import operator
import os
import stat
import struct
import sys

from faulthandler_auto.triage import parse, signature

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)
ELF_MAGIC = b"\x7fELF"
_FUNCTION_TYPES = (2, 10)     # STT_FUNC, STT_GNU_IFUNC


class MissingDependency(Exception):
    pass


def _elftools():
    try:
        from elftools.elf.elffile import ELFFile
    except ImportError:
        raise MissingDependency(
            "symbolize needs pyelftools: pip install 'faulthandler-auto[symbolize]'") from None
    return ELFFile


def _regular_elf(path):
    """True for an absolute path to a regular file that starts as ELF."""
    if not path or not path.startswith("/"):
        return False
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return False
        with parse.open_regular(path) as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


class ElfInfo:
    """Function symbols and line tables of one ELF file, read lazily."""

    def __init__(self, path):
        self.path = path
        self._file = parse.open_regular(path)
        self.elf = _elftools()(self._file)
        self._symbols = None
        self._dwarf = False     # False: not read yet; None: there is none
        self._cu_rows = {}      # CU offset -> sorted rows
        self._cu_index = None   # sorted (start, end, CU offset) from the CUs' own ranges
        self._cu_reach = None
        self._unranged_rows = None

    def close(self):
        self._file.close()

    def build_id(self):
        for section in self.elf.iter_sections():
            if section["sh_type"] != "SHT_NOTE":
                continue
            for note in section.iter_notes():
                if note["n_type"] == "NT_GNU_BUILD_ID":
                    return note["n_desc"]
        return None

    def _load_symbols(self):
        rows = []
        for name in (".symtab", ".dynsym"):
            table = self.elf.get_section_by_name(name)
            if table is None:
                continue
            rows = self._function_symbols(table)
            if rows:
                break       # .symtab holds everything .dynsym does
        rows.sort()
        self._symbols = rows
        self._starts = [r[0] for r in rows]

    def _function_symbols(self, table):
        """(value, size, name) of each named function of a symbol table.

        The entries are unpacked from the section's bytes with ``struct``:
        pyelftools parses each one as an object, which took 3.6 s of the
        5.5 s that one dump through Debian's libpython3.14 (41,730
        symbols) cost to symbolize.
        """
        # Elf64_Sym and Elf32_Sym; the fields wanted: name, info, value, size
        layout, wanted = ("IBBHQQ", (0, 1, 4, 5)) if self.elf.elfclass == 64 else ("IIIBBH", (0, 3, 1, 2))
        entry = struct.Struct(("<" if self.elf.little_endian else ">") + layout)
        pick = operator.itemgetter(*wanted)
        # a separate debug file keeps .dynsym's header but not its bytes
        if (table["sh_type"] == "SHT_NOBITS" or table["sh_entsize"] != entry.size
                or table["sh_link"] >= self.elf.num_sections()):
            return []
        data = table.data()
        names = self.elf.get_section(table["sh_link"]).data()
        rows = []
        for fields in entry.iter_unpack(data[:len(data) - len(data) % entry.size]):
            name_at, info, value, size = pick(fields)
            if info & 0xF in _FUNCTION_TYPES and value and 0 < name_at < len(names):
                end = names.find(b"\0", name_at)
                name = names[name_at:end if end >= 0 else len(names)]
                rows.append((value, size, name.decode("utf-8", "replace")))
        return rows

    def function(self, vaddr):
        """(name, start) of the function holding ``vaddr``, or None."""
        if self._symbols is None:
            self._load_symbols()
        i = bisect.bisect_right(self._starts, vaddr) - 1
        # the innermost of functions starting at the same place, then any
        # earlier one that still spans the address
        while i >= 0:
            start, size, name = self._symbols[i]
            if start <= vaddr < start + max(size, 1):
                return name, start
            if size == 0 and start <= vaddr:
                return name, start
            if vaddr - start > 1 << 24:
                break
            i -= 1
        return None

    def _dwarf_info(self):
        if self._dwarf is False:
            self._dwarf = self.elf.get_dwarf_info() if self.elf.has_dwarf_info() else None
        return self._dwarf

    def source(self, vaddr):
        """(file, line) for ``vaddr`` from the DWARF line tables, or None."""
        dwarf = self._dwarf_info()
        if dwarf is None:
            return None
        aranges = dwarf.get_aranges()
        offset = aranges.cu_offset_at_addr(vaddr) if aranges is not None else None
        if offset is None:
            offset = self._cu_offset_by_ranges(dwarf, vaddr)
        if offset is not None:
            rows = self._cu_rows.get(offset)
            if rows is None:
                rows = self._cu_rows[offset] = _line_rows(dwarf, dwarf.get_CU_at(offset))
        else:
            rows = self._unranged_rows
        i = bisect.bisect_right(rows, (vaddr, float("inf"))) - 1
        if i < 0:
            return None
        start, end, file, line = rows[i]
        return (file, line) if start <= vaddr < end else None

    def _cu_offset_by_ranges(self, dwarf, vaddr):
        """The CU whose own address ranges hold ``vaddr``, for an address
        .debug_aranges leaves out (LTO partitions: most of a distribution's
        libpython; clang emits no .debug_aranges at all).  Reading the CUs'
        top DIEs costs seconds; decoding every line program, as a lookup
        without this would, costs a minute."""
        if self._cu_index is None:
            index, unranged = [], []
            for cu in dwarf.iter_CUs():
                try:
                    ranges = _cu_ranges(dwarf, cu)
                except Exception:   # one damaged unit: the others still count
                    ranges = None
                if ranges is None:
                    unranged.append(cu)
                index.extend((start, end, cu.cu_offset) for start, end in ranges or ())
            index.sort()
            self._cu_index = index
            # how far the ranges up to each one reach: a lookup walks back
            # only while an earlier range may still hold the address
            self._cu_reach = list(itertools.accumulate((end for _, end, _ in index), max))
            # a CU whose ranges cannot be read can only be searched through
            # its line program
            rows = []
            for cu in unranged:
                try:
                    rows.extend(_line_rows(dwarf, cu))
                except Exception:
                    continue
            self._unranged_rows = sorted(rows)
        i = bisect.bisect_right(self._cu_index, (vaddr, float("inf"), 0)) - 1
        while i >= 0 and self._cu_reach[i] > vaddr:
            start, end, offset = self._cu_index[i]
            if vaddr < end:
                return offset
            i -= 1
        return None


_INDEX_FORMS = ("DW_FORM_addrx", "DW_FORM_addrx1", "DW_FORM_addrx2", "DW_FORM_addrx3", "DW_FORM_addrx4",
                "DW_FORM_rnglistx")


def _indirect(attr):
    """The value of an attribute whose form may be an index into
    .debug_addr or .debug_rnglists (DWARF 5, clang): newer pyelftools
    resolve those of a top DIE; None when this one did not."""
    if attr.form in _INDEX_FORMS and attr.value == attr.raw_value:
        return None
    return attr.value


def _cu_ranges(dwarf, cu):
    """[(start, end)] of a CU from its top DIE (DW_AT_ranges, or
    DW_AT_low_pc/DW_AT_high_pc); [] for a CU without code; None when they
    cannot be read."""
    attrs = cu.get_top_DIE().attributes
    low = attrs.get("DW_AT_low_pc")
    base = _indirect(low) if low is not None else 0
    if base is None:
        return None
    ranges = attrs.get("DW_AT_ranges")
    if ranges is not None:
        lists, offset = dwarf.range_lists(), _indirect(ranges)
        if lists is None or offset is None:
            return None
        out = []
        for entry in lists.get_range_list_at_offset(offset, cu=cu):
            if hasattr(entry, "base_address"):
                base = entry.base_address
            elif entry.is_absolute:
                out.append((entry.begin_offset, entry.end_offset))
            else:
                out.append((base + entry.begin_offset, base + entry.end_offset))
        return out
    high = attrs.get("DW_AT_high_pc")
    if low is None or high is None:
        # no code of its own: types and abstract functions only, as LTO's
        # early-debug units (three quarters of Debian's libpython)
        return []
    # an address-class high_pc is the end, a constant one (DWARF 4+) the length
    if high.form.startswith("DW_FORM_addr"):
        end = _indirect(high)
        return None if end is None else [(base, end)]
    return [(base, base + high.value)]


def _line_rows(dwarf, cu):
    """(start, end, file, line) of each address range of a CU's line program."""
    program = dwarf.line_program_for_CU(cu)
    if program is None:
        return []
    version = program.header["version"]
    files = program.header["file_entry"]
    dirs = program.header["include_directory"]
    comp_dir = cu.get_top_DIE().attributes.get("DW_AT_comp_dir")
    comp_dir = _text(comp_dir.value) if comp_dir is not None else ""

    def name(index):
        # DWARF 5 counts files and directories from 0, earlier versions from 1
        i = index if version >= 5 else index - 1
        if not 0 <= i < len(files):
            return "?"
        entry = files[i]
        filename = _text(entry.name)
        d = entry.dir_index if version >= 5 else entry.dir_index - 1
        if not filename.startswith("/") and 0 <= d < len(dirs):
            filename = os.path.join(_text(dirs[d]), filename)
        # relative to the directory it was compiled in
        return os.path.join(comp_dir, filename) if comp_dir else filename

    rows = []
    previous = None
    for entry in program.get_entries():
        state = entry.state
        if state is None:
            continue
        if previous is not None and state.address > previous.address:
            rows.append((previous.address, state.address, name(previous.file), previous.line))
        previous = None if state.end_sequence else state
    # sequences come in the order the compiler wrote them, not by address
    # (a function's .cold part, -ffunction-sections)
    rows.sort()
    return rows


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class Symbolizer:
    def __init__(self, debug_dirs=DEFAULT_DEBUG_DIRS, warn=None):
        self.debug_dirs = list(debug_dirs)
        self.warn = warn or (lambda message: None)
        self._objects = {}      # (module, build_id) -> [ElfInfo] or []

    def close(self):
        for infos in self._objects.values():
            for info in infos:
                info.close()

    def _open(self, path, build_id):
        """ElfInfo of ``path`` if it is an ELF file with the build id."""
        if not _regular_elf(path):
            return None
        try:
            info = ElfInfo(path)
            if build_id is not None and info.build_id() != build_id:
                info.close()
                return None
            return info
        except Exception:   # a damaged or hostile file: pyelftools may raise anything
            return None

    def objects(self, module, build_id):
        """The files to read for ``module``: its separate debug file first,
        then the object itself; [] when none matches."""
        key = (module, build_id)
        if key in self._objects:
            return self._objects[key]
        found = []
        if build_id and len(build_id) > 2 and all(c in "0123456789abcdef" for c in build_id):
            for d in self.debug_dirs:
                info = self._open(os.path.join(d, ".build-id", build_id[:2], build_id[2:] + ".debug"), build_id)
                if info is not None:
                    found.append(info)
                    break
        info = self._open(module, build_id)
        if info is not None:
            found.append(info)
        if not found and build_id:
            self.warn("no file with build id %s for %s (looked in %s and at that path)"
                      % (build_id, signature.escape(module or "?"),
                         ", ".join(os.path.join(d, ".build-id") for d in self.debug_dirs)))
        elif not found:
            self.warn("no ELF file at %s" % signature.escape(module or "?"))
        self._objects[key] = found
        return found

    def lookup(self, frame, return_address):
        """(symbol, offset, source_file, source_line) for a CFrame, any of
        them None when unknown; None when the frame cannot be looked up."""
        if frame.module is None or frame.module_offset is None:
            return None
        infos = self.objects(frame.module, frame.build_id)
        if not infos:
            return None
        vaddr = frame.module_offset
        # a return address is just after the call: look up the call itself
        probe = vaddr - 1 if return_address and vaddr > 0 else vaddr
        symbol = offset = source = None
        for info in infos:
            try:
                if symbol is None:
                    found = info.function(probe)
                    if found is not None:
                        symbol, offset = found[0], vaddr - found[1]
                if source is None:
                    source = info.source(probe)
            except Exception:   # damaged debug information: keep what we have
                continue
        return symbol, offset, source[0] if source else None, source[1] if source else None


def _frame_text(frame):
    """The text line of a CFrame (the grammar of docs/triage.md)."""
    line = '  Binary file "%s"' % (frame.module if frame.module is not None else "<unknown>")
    if frame.symbol:
        line += ", at %s+0x%x" % (frame.symbol, frame.offset or 0)
    line += " [0x%x]" % (frame.address or 0)
    if frame.module_offset is not None:
        line += " (+0x%x" % frame.module_offset
        if frame.build_id:
            line += ", build-id %s" % frame.build_id
        line += ")"
    if frame.source_file:
        line += " at %s:%d" % (frame.source_file, frame.source_line or 0)
    return line


def _apply(frame, found):
    symbol, offset, source_file, source_line = found
    if frame.symbol is None and symbol is not None:
        frame.symbol, frame.offset = symbol, offset
    if frame.source_file is None and source_file is not None:
        frame.source_file, frame.source_line = source_file, source_line


def _text_frames(symbolizer, lines):
    """Rewrite the C frame lines of a text stream; returns the new lines."""
    dumps = list(parse.iter_dumps(lines))
    starts = [d.lineno for d in dumps]
    out = []
    index = 0       # frame index within the current C stack
    fatal = False
    for lineno, line in enumerate(lines, 1):
        if line == parse.C_STACK_HEADER:
            i = bisect.bisect_right(starts, lineno) - 1
            dump = dumps[i] if i >= 0 else None
            fatal = dump is not None and dump.event == "fatal_signal"
            if fatal and dump.signature is None:
                sig = signature.compute(dump)
                if sig is not None:
                    out.append("Crash signature: %s" % sig)
                    out.append("")
            index = 0
            out.append(line)
            continue
        if line.startswith("  Binary file "):
            m = parse.C_FRAME_RE.match(line)
            if m:
                frame = parse.CFrame(m.group(1), m.group(2), int(m.group(3), 16) if m.group(3) else None,
                                     int(m.group(4), 16), int(m.group(5), 16) if m.group(5) else None,
                                     m.group(6), m.group(7), int(m.group(8)) if m.group(8) else None)
                found = symbolizer.lookup(frame, return_address=not (fatal and index == 0))
                index += 1
                if found is not None:
                    _apply(frame, found)
                    line = _frame_text(frame)
        out.append(line)
    return out


def _json_dump(symbolizer, obj):
    dump = parse.dump_from_json(obj)
    if dump.event == "fatal_signal" and not isinstance(obj.get("signature"), str):
        sig = signature.compute(dump)
        if sig is not None:
            obj["signature"] = sig
    c_stack = obj.get("c_stack")
    if not isinstance(c_stack, list):
        return obj
    fatal = dump.event == "fatal_signal"
    index = 0
    for entry in c_stack:
        if not isinstance(entry, dict) or "repeat" in entry:
            continue
        frame = parse.cframe_from_json(entry)
        found = symbolizer.lookup(frame, return_address=not (fatal and index == 0))
        index += 1
        if found is None:
            continue
        symbol, offset, source_file, source_line = found
        if entry.get("symbol") is None and symbol is not None:
            entry["symbol"] = symbol
            entry["offset"] = offset
        if source_file is not None and "source_file" not in entry:
            entry["source_file"] = source_file
            entry["source_line"] = source_line
    return obj


def symbolize_text(text, symbolizer):
    """The dumps of ``text`` (any mix of text and JSON lines) with names."""
    lines = text.split("\n")
    out = []
    plain = []

    def flush():
        out.extend(_text_frames(symbolizer, plain))
        plain.clear()

    for line in lines:
        if line.startswith("{"):
            obj = parse.loads_json(line)
            if parse.is_dump_object(obj):
                flush()
                out.append(json.dumps(_json_dump(symbolizer, obj), separators=(",", ":")))
                continue
        plain.append(line)
    flush()
    return "\n".join(out)


def add_arguments(parser):
    parser.add_argument("file", metavar="FILE|-", help="a dump file, a log holding dumps, or - for stdin")
    parser.add_argument("--debug-dir", action="append", metavar="DIR",
                        help="root of a build-id tree of debug files (DIR/.build-id/xx/yyyy.debug); "
                             "repeatable; default /usr/lib/debug")


def run(args, stdout=None, stderr=None):
    """Run ``symbolize`` with parsed ``args``; returns the exit status."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr

    def say(message):
        stderr.write("faulthandler-auto: symbolize: %s\n" % message)

    if args.file == "-" and sys.stdin is None:  # started with fd 0 closed (`<&-`)
        say("standard input is closed: nothing to read the dump from")
        return 2
    try:
        _elftools()
    except MissingDependency as e:
        say(str(e))
        return 1
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with parse.open_regular(args.file) as f:
                data = f.read()
    except OSError as e:
        say("cannot read %s: %s" % (signature.escape(args.file), e.strerror or e))
        return 1
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(parse.MAX_GZIP)
        except (OSError, EOFError) as e:
            say("cannot read %s: %s" % (signature.escape(args.file), e))
            return 1
    warned = set()

    def warn(message):
        if message not in warned:
            warned.add(message)
            say(message)

    symbolizer = Symbolizer(args.debug_dir or DEFAULT_DEBUG_DIRS, warn)
    try:
        # bytes that are not UTF-8 go out as they came in
        out = symbolize_text(data.decode("utf-8", "surrogateescape"), symbolizer)
    finally:
        symbolizer.close()
    binary = getattr(stdout, "buffer", None)
    if binary is not None:
        stdout.flush()
        binary.write(out.encode("utf-8", "surrogateescape"))
        binary.flush()
    else:
        stdout.write(out)
    return 0
