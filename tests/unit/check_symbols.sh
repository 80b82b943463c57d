#!/bin/sh
# libcmabuf exports the public API and nothing else: exactly the names in
# include/cmabuf.h's functions, listed in lib/libcmabuf.sym.
# Usage: check_symbols.sh LIBRARY SYMFILE
set -eu
lib=$1 sym=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
listed=$(sed -n 's/^[[:space:]]*\(cmabuf_[a-z0-9_]*\);.*/\1/p' "$sym" | sort)
stray=$(nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | grep -v '^cmabuf_' || true)
[ -z "$stray" ] || { echo "FAIL: exported outside the cmabuf_ namespace: $stray"; exit 1; }
[ "$exported" = "$listed" ] || {
	echo "FAIL: exported symbols differ from $sym"
	echo "exported:"; echo "$exported"; echo "listed:"; echo "$listed"; exit 1; }
echo "ok: $(echo "$exported" | wc -l) symbols"
