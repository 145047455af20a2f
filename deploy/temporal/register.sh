#!/bin/sh
# Makes the Temporal server ready for storycheck once it answers: the namespace (when missing) and the search
# attributes the workflows set, BatchId and BatchStatus (Keyword). Idempotent: what exists is left alone.
set -eu
address=${TEMPORAL_ADDRESS:?}
namespace=${TEMPORAL_NAMESPACE:-default}
retention=${TEMPORAL_NAMESPACE_RETENTION:-7d}

tries=0
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 90 ]; then echo "Temporal at $address did not become healthy" >&2; exit 1; fi
  sleep 2
done

if temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; then
  echo "namespace $namespace exists"
else
  temporal operator namespace create --address "$address" --namespace "$namespace" --retention "$retention"
  echo "namespace $namespace created (retention $retention)"
fi

for name in BatchId BatchStatus; do
  # a namespace just created can take a moment to be known everywhere: a few tries before giving up
  tries=0
  while ! out=$(temporal operator search-attribute create --address "$address" --namespace "$namespace" \
      --name "$name" --type Keyword 2>&1); do
    case $out in
      *'different type'*) printf '%s\n' "$out" >&2; exit 1 ;;
      *'already exists'*) break ;;
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge 15 ]; then printf '%s\n' "$out" >&2; exit 1; fi
    sleep 2
  done
  echo "search attribute $name (Keyword) registered"
done
