#!/usr/bin/env bash
# Builds the libFuzzer harnesses for the text parsers of ws.hlc and
# ws.vclock (test/fuzz/fuzz_*.c) and runs each for FUZZ_SECONDS seconds
# (default 60).  Installs clang and the libFuzzer runtime when missing (as
# root; otherwise prints the apt-get command and fails).
#
# Everything it writes goes to test/fuzz/build/ (git-ignored): the binaries,
# one log per harness, crash inputs under artifacts/, and the working corpus,
# which starts as a copy of test/fuzz/corpus/<name>/ and keeps what the
# fuzzer finds from run to run (delete build/ to start over) without touching
# the seeds in the repository.
#
# Prints one summary line per harness and exits non-zero if any crashed.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-60}
build=$PWD/test/fuzz/build
harnesses=(hlc vclock)

packages=(clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "fuzzing needs these Debian packages; run as root:" >&2
		echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "== installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "== building harnesses"
mkdir -p "$build"
for h in "${harnesses[@]}"; do
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-Wall -Wextra -Werror -Wno-unused-parameter -I src \
		"test/fuzz/fuzz_$h.c" "src/${h}_parse.c" -o "$build/fuzz_$h"
done

# UBSan only reports by default; make undefined behaviour a crash too.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

summary=()
crashed=0
for h in "${harnesses[@]}"; do
	corpus=$build/corpus/$h
	artifacts=$build/artifacts/$h
	log=$build/fuzz_$h.log
	mkdir -p "$corpus" "$artifacts"
	cp test/fuzz/corpus/"$h"/* "$corpus"/

	echo "== fuzzing $h for $seconds s (log: $log)"
	rc=0
	"$build/fuzz_$h" -max_total_time="$seconds" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" \
		"$corpus" >"$log" 2>&1 || rc=$?

	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
	[ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+)[[:space:]]+DONE.*/\1/p' "$log" | tail -1)
	execs=${execs:-unknown}

	if [ "$rc" -eq 0 ]; then
		summary+=("fuzz_$h: $execs executions in $seconds s, no crash")
	else
		crashed=1
		input=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -1)
		# the sanitizer's report and stack, then the input that caused it
		sed -n '/^==[0-9]*== *ERROR\|runtime error/,/^SUMMARY: /p' "$log"
		if [ -n "$input" ]; then
			echo "crashing input (hex): $(od -An -v -tx1 "$input" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')"
		fi
		summary+=("fuzz_$h: $execs executions, CRASH (exit $rc), input ${input:-not saved}, log $log")
	fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit $crashed
