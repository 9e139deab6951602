# Sourced by tools/setup.sh and tools/fuzz.sh: `apt_install TAG PKG...` installs (apt-get, sudo
# when not root) those of the Debian packages that are not installed yet; nothing when all are.
apt_install() {
  local tag=$1; shift
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$tag: installing ${missing[*]}" >&2
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
