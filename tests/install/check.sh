# SPDX-License-Identifier: MIT
# Sourced by the install tests: check DESCRIPTION COMMAND... runs COMMAND, prints
# "ok:   DESCRIPTION" when it succeeds, else "FAIL: DESCRIPTION" and its output, indented,
# and counts the failure in $failures. The caller sets $check_out, a file for the output.
failures=0

check() {
	what=$1
	shift
	if "$@" >"$check_out" 2>&1; then
		echo "ok:   $what"
	else
		echo "FAIL: $what"
		sed 's/^/      /' "$check_out"
		failures=$((failures + 1))
	fi
}
