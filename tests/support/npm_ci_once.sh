# Sourced by the Node test folders' run.sh: npm_ci_once <folder> <label> <module>... installs the
# folder's pinned node_modules (npm ci) unless every named module is already there. Two tests of
# one folder may start at once (ctest -j): the first installs, holding a file lock, and the second
# finds node_modules there once it gets it.
npm_ci_once() {
  local folder=$1 label=$2
  shift 2
  local lock missing=0 module
  exec {lock}>"$folder/.npm-install.lock"
  flock "$lock"
  for module in "$@"; do
    [ -d "$folder/node_modules/$module" ] || missing=1
  done
  if [ "$missing" = 1 ] && ! npm ci --prefix "$folder" --no-audit --no-fund --loglevel=error >&2; then
    echo "$label: 'npm ci' failed: installing its pinned packages needs the npm registry (offline?)" >&2
    exec {lock}>&-
    return 1
  fi
  exec {lock}>&-
}
