# Sourced by the build scripts beside it: where binaries go, and helpers to build mains from Go modules in small
# wrapper modules generated under .cache/control-plane/.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/.cache/control-plane"
BIN="$OUT/bin"
export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
mkdir -p "$BIN"

# Path of the go.mod of module@version $1 (downloads the module into the module cache).
gomod() {
  local f
  f="$(cd "$OUT" && go mod download -json "$1" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')"
  [ -f "$f" ] || { echo "cannot read the go.mod of $1" >&2; return 1; }
  echo "$f"
}
# The 'go' line of go.mod $1, after checking that the installed Go is at least that.
go_line() {
  local want have
  want="$(awk '$1 == "go" { print $2; exit }' "$1")" have="$(go env GOVERSION)"; have="${have#go}"
  if [ "$(printf '%s\n' "$want" "$have" | sort -V | head -1)" != "$want" ]; then
    echo "$1 needs Go >= $want; installed: go$have" >&2; return 1
  fi
  echo "$want"
}
# True when binary $1, run with $2, prints something containing $3.
has_version() { [ -x "$1" ] && "$1" "$2" 2>/dev/null | grep -F -- "$3" >/dev/null; }
