#!/bin/sh
# make check: unit tests, the same under ASan+UBSan, then integration tests
# with real processes.  Exits non-zero if anything failed.
rc=0
make --no-print-directory unit || rc=1
make --no-print-directory unit-asan || rc=1
make --no-print-directory integration || rc=1
if [ $rc -ne 0 ]; then
	echo "check: FAILED"
else
	echo "check: all passed"
fi
exit $rc
