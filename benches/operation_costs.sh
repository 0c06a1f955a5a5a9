#!/usr/bin/env bash
# Instructions per operation, from valgrind's callgrind: repeatable on a noisy
# machine where wall-clock times are not. Counts only the measured loop of
# examples/operation_cost.rs (set-up excluded) and divides by the count.
#   bash benches/operation_costs.sh            # every kind, 200,000 operations each
#   bash benches/operation_costs.sh get-hit    # one kind
set -euo pipefail
cd "$(dirname "$0")/.."
count=200000
kinds=("$@")
if [ ${#kinds[@]} -eq 0 ]; then
    kinds=(get-hit get-miss peek-hit insert-new get-or-insert-hit seen-repeat seen-new
        fingerprint-repeat fingerprint-new)
fi
cargo build --release --quiet --example operation_cost
binary="${CARGO_TARGET_DIR:-target}/release/examples/operation_cost"
out="$(mktemp -d)"
printf '| operation | instructions per operation |\n|---|---|\n'
for kind in "${kinds[@]}"; do
    valgrind --tool=callgrind --callgrind-out-file="$out/$kind" \
        --toggle-collect='*operation_cost*measured*' "$binary" "$kind" "$count" 2>/dev/null
    total="$(grep -m1 '^summary:' "$out/$kind" | awk '{print $2}')"
    awk -v kind="$kind" -v total="$total" -v count="$count" \
        'BEGIN { printf "| %s | %.1f |\n", kind, total / count }'
done
rm -rf "$out"
