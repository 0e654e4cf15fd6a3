#!/usr/bin/env bash
# Installs everything the project needs into .venv next to this script, idempotently.
#
# Which of two cases applies is decided by what lies next to this script, never by where it lies:
#   A grader bundle (the zip of `python -m autograder build gradescope`, which has no requirements-dev.txt;
#   on Gradescope it is unpacked to /autograder/source and run as root):
#     - installs python3 and its venv module with apt-get when either is missing (as root);
#     - builds .venv from the image's python3 (3.10 to 3.13; PYTHON names another), never touching the
#       system Python: torch first, without its dependencies, from TORCH_INDEX_URL (unset: torch's CPU
#       index https://download.pytorch.org/whl/cpu; set but empty: pip's own configuration), then requirements.txt;
#     - builds it in a temporary folder next to .venv and renames it into place only after numpy, torch,
#       pydantic, yaml and gradescope_utils import, with the ready stamp .venv/.requirements.sha256 inside: a failed set-up
#       leaves the previous .venv (or none) and exits non-zero; run_autograder uses .venv only when stamped;
#     - makes the venv readable by every user (student code runs as hw9worker) and creates that user (as root).
#   A checkout (requirements-dev.txt present): creates .venv with requirements-dev.txt (which includes
#   requirements.txt), then installs the project itself editable (pyproject.toml: the `autograder` command),
#   stamped on success; as root it also installs Debian's chromium (the report's browser
#   test) and debootstrap (the fresh-image test, tests/test_fresh_image.py) when they are missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
python="${PYTHON:-python3}"
stamp=.venv/.requirements.sha256
is_root() { [ "$(id -u)" = 0 ]; }

if [ ! -f requirements-dev.txt ]; then
  # ---- A grader bundle --------------------------------------------------------------------------------------
  umask 022
  fail() { echo "setup.sh: $*" >&2; exit 1; }
  wanted="$(sha256sum requirements.txt | cut -d' ' -f1)"
  if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    echo "setup.sh: .venv is ready already"; exit 0
  fi
  if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    is_root && command -v apt-get >/dev/null || fail "$python or its venv module is missing, and apt-get cannot install them (not root, or no apt-get)"
    echo "setup.sh: installing python3 and python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null \
      || fail "apt-get could not install python3 python3-venv"
  fi
  version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  case "$version" in
    3.10|3.11|3.12|3.13) ;;
    *) fail "$python is Python $version; the pins of requirements.txt have wheels for Python 3.10 to 3.13 (set PYTHON to one)" ;;
  esac
  torch_pin="$(sed -n 's/^torch==\([^ #]*\).*/\1/p' requirements.txt)"
  [ -n "$torch_pin" ] || fail "requirements.txt pins no torch==VERSION"
  index=(--index-url "${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}")
  [ -n "${TORCH_INDEX_URL-unset}" ] || index=()  # set but empty: pip's own configuration

  building="$(mktemp -d "$here/.venv-building.XXXXXX")"
  trap 'rm -rf "$building"' EXIT
  pip=("$building/bin/python" -m pip install --no-cache-dir --disable-pip-version-check --quiet)
  "$python" -m venv "$building" || fail "$python -m venv failed"
  "${pip[@]}" --no-deps ${index[@]+"${index[@]}"} "torch==$torch_pin" || fail "could not install torch==$torch_pin (index: ${index[*]:-from the pip configuration})"
  "${pip[@]}" -r requirements.txt || fail "could not install requirements.txt"
  "$building/bin/python" -c 'import numpy, torch, pydantic, yaml, gradescope_utils' || fail "the new environment cannot import numpy, torch, pydantic, yaml and gradescope_utils"
  # Scripts pip wrote name the temporary folder on their first line; only bin/python is used, but keep them working.
  for script in "$building"/bin/*; do
    if [ -f "$script" ] && [ ! -L "$script" ] && [ "$(head -c 2 "$script")" = '#!' ]; then
      sed -i "1s|^#!$building/|#!$here/.venv/|" "$script"
    fi
  done
  echo "$wanted" > "$building/.requirements.sha256"
  chmod -R go+rX,go-w "$building"
  chmod 755 "$building"  # mktemp made it 0700
  if [ -e .venv ]; then mv .venv "$building.old"; fi
  mv "$building" .venv
  rm -rf "$building.old"
  chmod go+x "$here"  # the worker user must reach .venv even when the zip was unpacked under a strict umask
  if is_root; then
    # The unprivileged user that runs student code (docs/SECURITY.md).
    id hw9worker >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin hw9worker
  fi
  echo "setup.sh: .venv is ready ($(.venv/bin/python --version), torch $torch_pin)"
  exit 0
fi

# ---- A checkout ---------------------------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
wanted="$(cat requirements.txt requirements-dev.txt requirements-notebook.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  rm -f "$stamp"  # no stamp while the install runs: a failed one leaves none
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  # The project itself, editable (the `autograder` command; the code stays this checkout's), built with the
  # setuptools just installed from requirements.txt: its dependencies are those pins, installed above.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$wanted" > "$stamp"
fi
# Debian packages some tests need: chromium renders the class report (tests/test_report.py), debootstrap builds the
# fresh image (tests/test_fresh_image.py).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if is_root; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup.sh: note: some tests need ${missing[*]} (tests/test_report.py, tests/test_fresh_image.py); install as root: apt-get install ${missing[*]}"
  fi
fi
echo "setup.sh: .venv is ready ($(.venv/bin/python --version), torch $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("torch"))'))"
