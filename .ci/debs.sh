# Debian packages the project needs, in one place; sourced by run.sh and test.sh (bash).
#
#   DEBS_STAND    what the default stand needs to run at all (also headless): a venv (the pty pair
#                 of its simulated RS-485 line is made in Python, hil/ptypair.py: no socat)
#   DEBS_CONSOLE  what the console (PySide6) needs to open a window: Qt's own libraries and the xcb
#                 ones. Qt blames libxcb-cursor0 even when libxcb-icccm4 or libxcb-keysyms1 is the
#                 one missing (QT_DEBUG_PLUGINS=1 shows the real one), so all are listed and checked
#   DEBS_TEST     what the test suite adds: mbpoll (a Modbus master written by others), Xvfb
#
# need_debs WHO PACKAGE...  installs the missing ones (as root, or with sudo when it can), or
# prints them with the exact apt-get command and returns 1.

DEBS_STAND=(python3-venv)
DEBS_CONSOLE=(libgl1 libegl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 libx11-6 libxkbcommon0
              libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0
              libxcb-render0 libxcb-shape0 libxcb-util1 libxcb-xkb1)
DEBS_TEST=(mbpoll xvfb xauth)

need_debs() {
  local who=$1
  shift
  if ! command -v dpkg >/dev/null 2>&1; then
    echo "$who: not a Debian system (no dpkg): make sure these are installed: $*" >&2
    return 0
  fi
  local missing=() d
  for d in "$@"; do
    dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then
      sudo="sudo"
    else
      echo "$who: these Debian packages are missing: ${missing[*]}" >&2
      echo "$who: install them as root (or with sudo), then run $who again:" >&2
      echo "    sudo apt-get install -y ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "$who: installing Debian packages: ${missing[*]}"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    echo "$who: installing failed; as root, run:" >&2
    echo "    apt-get install -y ${missing[*]}" >&2
    return 1
  fi
}
