#!/bin/sh
# The sanitizer runtimes a core built with -fsanitize=address,undefined needs
# loaded first in an interpreter that was not built with them (tox -e asan).
cc=${CC:-cc}
printf '%s %s\n' "$($cc -print-file-name=libasan.so)" "$($cc -print-file-name=libubsan.so)"
