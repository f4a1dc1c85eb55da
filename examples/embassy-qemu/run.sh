#!/usr/bin/env bash
# Builds the firmware in release mode and runs it under QEMU (lm3s6965evb, Cortex-M3).
# Passes when QEMU exits with status 0 and the last line of the trace is "$EXPECT".
#
# Usage: run.sh [CARGO BUILD ARGS...]      for example: run.sh --features breaker
# Environment: EXPECT (default "scenario: ok"), QEMU_TIMEOUT in seconds (default 60),
#              LOG (default: qemu.log in the target directory).
# Installs what is missing (Rust target, qemu-system-arm, binutils-arm-none-eabi); as root or
# with passwordless sudo on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=tools.sh
source ./tools.sh

EXPECT=${EXPECT:-scenario: ok}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-60}

ensure_tools qemu-system-arm arm-none-eabi-size

cargo build --release --target "$TARGET" "$@"
elf=$(firmware_elf)
[ -f "$elf" ] || die "no firmware at $elf"
log=${LOG:-${CARGO_TARGET_DIR:-target}/qemu.log}

# shellcheck disable=SC2054 # the commas belong to QEMU's option syntax
qemu=(qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic
    -semihosting-config enable=on,target=native -kernel "$elf")
echo "+ timeout $QEMU_TIMEOUT ${qemu[*]}"
set +e
timeout "$QEMU_TIMEOUT" "${qemu[@]}" </dev/null 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

if [ "$status" -eq 124 ]; then
    die "QEMU did not exit within ${QEMU_TIMEOUT}s (log: $log)"
elif [ "$status" -ne 0 ]; then
    die "firmware exited with status $status (log: $log)"
fi
last=$(tr -d '\r' <"$log" | grep -v '^[[:space:]]*$' | tail -n 1 || true)
if [ "$last" != "$EXPECT" ]; then
    die "the trace ends with '$last', expected '$EXPECT' (log: $log)"
fi
echo "PASS: QEMU exited 0 and the trace ends with '$EXPECT'"
