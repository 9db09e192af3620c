#!/usr/bin/env bash
# TAP: the compiler flags the Makefile gives (make -n, nothing is built).
# Flags the user gives are kept and the warnings are always there:
# PG_CFLAGS on make's command line or in the environment, CFLAGS in the
# environment; ASSERTS=1 adds -DUSE_ASSERT_CHECKING.
set -uo pipefail
cd "$(dirname "$0")/.."

n=0
fails=0

# compile_line [VAR=VALUE...] [-- MAKE-ARGUMENT...]: the command line that
# would compile src/hlc.c, for make run with these environment variables and
# arguments (and nothing inherited from an outer make).
compile_line() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u CFLAGS -u PG_CFLAGS -u PG_CPPFLAGS -u ASSERTS "${envs[@]}" \
		make --no-print-directory -n -W src/hlc.c "$@" src/hlc.o 2>&1 | grep -E -- ' -c -o src/hlc\.o '
}

# check DESCRIPTION LINE REGEX [absent]: one TAP result; the line matches
# REGEX (or, with "absent", does not).
check() {
	local desc=$1 line=$2 regex=$3 want=${4:-present} found=absent
	n=$((n + 1))
	[[ " $line " =~ $regex ]] && found=present
	if [ "$found" = "$want" ]; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		echo "#   compile line: $line"
		echo "#   expected $regex to be $want"
		fails=$((fails + 1))
	fi
}

warnings=' -Wall -Wextra -Werror '
after_o2=' -O2 .* -O0 '

line=$(compile_line)
check "default build has the warnings" "$line" "$warnings"
check "default build has no USE_ASSERT_CHECKING" "$line" 'USE_ASSERT_CHECKING' absent

line=$(compile_line -- PG_CFLAGS=-O0)
check "make PG_CFLAGS=-O0 keeps the warnings" "$line" "$warnings"
check "make PG_CFLAGS=-O0 adds -O0 after the server's -O2" "$line" "$after_o2"

line=$(compile_line PG_CFLAGS=-O0)
check "PG_CFLAGS=-O0 in the environment keeps the warnings" "$line" "$warnings"
check "PG_CFLAGS=-O0 in the environment adds -O0 after the server's -O2" "$line" "$after_o2"

line=$(compile_line CFLAGS=-O0)
check "CFLAGS=-O0 in the environment keeps the warnings" "$line" "$warnings"
check "CFLAGS=-O0 in the environment adds -O0 after the server's -O2" "$line" "$after_o2"

line=$(compile_line ASSERTS=1)
check "ASSERTS=1 keeps the warnings" "$line" "$warnings"
check "ASSERTS=1 defines USE_ASSERT_CHECKING" "$line" ' -DUSE_ASSERT_CHECKING '

echo "1..$n"
[ "$fails" -eq 0 ]
