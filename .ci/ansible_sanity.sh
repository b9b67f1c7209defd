#!/usr/bin/env bash
# Run `ansible-test sanity` on the overdue.emr collection that lives at the repo root.
#
# Usage: .ci/ansible_sanity.sh [REPO_ROOT] [VENV_PYTHON] [extra ansible-test args...]
#   REPO_ROOT    default: the parent of this script's directory
#   VENV_PYTHON  default: REPO_ROOT/.venv/bin/python (a venv with ansible-core from constraints.txt)
#   extra args   passed on, e.g. `--test pylint` or `-v`
# Env: SANITY_PYTHON (default 3.11), KEEP_SANITY_TMP=1 keeps the temp copy (path is printed).
#
# Exit codes: ansible-test's own (0 = all sanity tests passed, 1 = some failed),
#             2 = this script could not set up the run.
#
# Why a copy: ansible-test must run from .../ansible_collections/<ns>/<name>/, and when that
# directory is not a git work tree it tests every file under it (.venv, fsm/, tests/*.py,
# pyproject.toml, .ci/ ...). Only the collection's own content is copied, so the project's
# Python package and pytest suite are not linted with Ansible's plugin rules.
#
# Why the bootstrap: for each sanity venv ansible-test runs ~/.ansible/test/cache/get_pip_<ver>.py
# and otherwise downloads it from a host outside the package registries. .ci/get_pip_offline.py
# stands in for it (ensurepip + `pip install` from PyPI). The sanity venvs themselves are cached
# in ~/.ansible/test/venv/ (first run ~2 min, later runs ~15 s).
set -euo pipefail

die() { echo "ansible_sanity.sh: $*" >&2; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${1:-$here/..}" 2>/dev/null && pwd)" || die "repo root not found: ${1:-}"
py="${2:-$root/.venv/bin/python}"
shift $(( $# > 2 ? 2 : $# ))
sanity_python="${SANITY_PYTHON:-3.11}"

[[ -x "$py" ]] || die "no venv python at $py (make a venv and 'pip install -c constraints.txt ansible-core' first)"
bin_dir="$(cd "$(dirname "$py")" && pwd)"            # no symlink resolution: stay in the venv
ansible_test="$bin_dir/ansible-test"
[[ -x "$ansible_test" ]] || die "no ansible-test beside $py (is ansible-core installed in that venv?)"
[[ -f "$root/galaxy.yml" ]] || die "no galaxy.yml in $root"

# namespace/name from galaxy.yml
read -r ns name < <("$py" - "$root/galaxy.yml" <<'PY'
import sys, yaml
with open(sys.argv[1], encoding="utf-8") as f:
    g = yaml.safe_load(f)
print(g["namespace"], g["name"])
PY
) || die "cannot read namespace/name from galaxy.yml"

# pip version ansible-test bootstraps -> cache file name get_pip_<X_Y>.py
at_dir="$("$py" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')" \
    || die "ansible_test package not importable with $py"
pip_ver="$(sed -n "s/^[[:space:]]*pip='\([0-9.]*\)',.*/\1/p" "$at_dir/_internal/python_requirements.py" | head -n1)"
[[ -n "$pip_ver" ]] || die "cannot find the bootstrap pip version in $at_dir/_internal/python_requirements.py"
cache_dir="$HOME/.ansible/test/cache"
boot="$cache_dir/get_pip_${pip_ver//./_}.py"
mkdir -p "$cache_dir"
if ! cmp -s "$here/get_pip_offline.py" "$boot"; then
    cp "$here/get_pip_offline.py" "$boot"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ansible-sanity.XXXXXX")"
cleanup() {
    if [[ "${KEEP_SANITY_TMP:-0}" == 1 ]]; then echo "ansible_sanity.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

dest="$tmp/ansible_collections/$ns/$name"
mkdir -p "$dest"
# What belongs to the collection (everything else at the root is the Python project).
collection_paths=(
    galaxy.yml meta plugins roles playbooks changelogs docs/docsite
    tests/integration tests/unit/plugins tests/sanity tests/config.yml
    README.md LICENSE COPYING LICENSES CHANGELOG.rst CHANGELOG.md
)
present=()
for p in "${collection_paths[@]}"; do
    [[ -e "$root/$p" ]] && present+=("$p")
done
(cd "$root" && rsync -aR \
    --exclude='__pycache__/' --exclude='*.py[co]' --exclude='.pytest_cache/' \
    --exclude='.mypy_cache/' --exclude='.ruff_cache/' --exclude='tests/output/' \
    "${present[@]}" "$dest/")
if compgen -G "$dest/tests/sanity/ignore-*.txt" >/dev/null; then
    echo "ansible_sanity.sh: WARNING: tests/sanity/ignore-*.txt present; fix the code instead" >&2
fi

echo "ansible_sanity.sh: $ns.$name (${present[*]}) -> $dest; bootstrap $boot" >&2
cd "$dest"
start=$SECONDS
rc=0
PATH="$bin_dir:$PATH" "$ansible_test" sanity --python "$sanity_python" --requirements "$@" || rc=$?
echo "ansible_sanity.sh: ansible-test sanity exit $rc after $(( SECONDS - start ))s" >&2
exit "$rc"
